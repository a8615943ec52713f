#pragma once
/// \file drift.hpp
/// Is a profile pack stale? Two-sample Kolmogorov-Smirnov tests per region between an old
/// pack and a new one (or fresh step traces built into one), Benjamini-Hochberg over the
/// regions, and the traffic-weighted share of step mass that moved (`llmemu profile drift`).
///
/// Regions: every bucket present in both packs with at least `min_samples` samples on
/// each side is its own region; the other shared buckets are pooled into coarse regions
/// (powers of two of tt and conc). Samples are compared as ratios to the old bucket's
/// median, so pooling buckets never mistakes a different traffic mix for a drift.
/// A region moved when BH rejects at `fdr` AND its median moved by at least
/// `min_shift_pct`; the moved mass is the new pack's share of samples in moved regions.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/store.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Settings of run_drift.
struct DriftOptions {
    /// False discovery rate of the Benjamini-Hochberg procedure over regions.
    double fdr = 0.05;
    /// Samples each side needs for a bucket to be its own region (and a pooled region to be tested).
    std::uint32_t min_samples = 20;
    /// Smallest |median shift| (percent) that counts as moved.
    double min_shift_pct = 1.0;
    /// The pack is stale when more than this share of the new samples lies in moved regions.
    double threshold = 0.05;

    void validate() const {
        if (!(fdr > 0.0 && fdr < 1.0)) detail::throw_error<config_error>("drift: --fdr must be in (0, 1), e.g. 0.05");
        if (min_samples < 2) detail::throw_error<config_error>("drift: --min-samples must be at least 2");
        if (!(min_shift_pct >= 0.0)) detail::throw_error<config_error>("drift: --min-shift must be >= 0 (percent)");
        if (!(threshold >= 0.0 && threshold <= 1.0))
            detail::throw_error<config_error>("drift: --threshold must be in [0, 1] (share of the traffic)");
    }
};

/// One tested region.
struct DriftRegion {
    TableKind table = TableKind::step_cycle;
    /// Bucket-centre ranges covered (one bucket: lo == hi).
    std::uint32_t tt_lo = 0;
    std::uint32_t tt_hi = 0;
    std::uint32_t conc_lo = 0;
    std::uint32_t conc_hi = 0;
    std::size_t buckets = 0;
    std::size_t old_samples = 0;
    std::size_t new_samples = 0;
    double ks = 0.0;
    double p_value = 1.0;
    /// Median of the new samples over the median of the old (as ratios to the old bucket
    /// medians), minus 1, in percent.
    double median_shift_pct = 0.0;
    bool moved = false;
};

/// Result of a drift check.
struct DriftReport {
    std::vector<DriftRegion> regions;
    /// Shared buckets too sparse to test (even pooled), and buckets in one pack only.
    std::size_t untested_buckets = 0;
    std::size_t only_old_buckets = 0;
    std::size_t only_new_buckets = 0;
    /// New-pack samples in tested regions, and the share of them in moved regions.
    std::size_t tested_samples = 0;
    double moved_mass = 0.0;
    /// moved_mass > threshold.
    bool stale = false;
};

namespace detail {

// Two-sample KS statistic of sorted samples.
inline double drift_ks(const std::vector<double>& a, const std::vector<double>& b) {
    std::size_t i = 0;
    std::size_t j = 0;
    double d = 0.0;
    const double na = static_cast<double>(a.size());
    const double nb = static_cast<double>(b.size());
    while (i < a.size() && j < b.size()) {
        const double x = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= x) ++i;
        while (j < b.size() && b[j] <= x) ++j;
        d = std::max(d, std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
    }
    return d;
}

// Asymptotic p-value of the two-sample KS statistic (Kolmogorov distribution with
// Stephens' small-sample correction of the effective size).
inline double drift_ks_p(double d, std::size_t n, std::size_t m) {
    const double ne = static_cast<double>(n) * static_cast<double>(m) / static_cast<double>(n + m);
    const double s = std::sqrt(ne);
    const double lambda = (s + 0.12 + 0.11 / s) * d;
    if (lambda < 0.2) return 1.0;
    double sum = 0.0;
    for (int k = 1; k <= 100; ++k) {
        const double term = std::exp(-2.0 * k * k * lambda * lambda);
        sum += (k % 2 == 1 ? 2.0 : -2.0) * term;
        if (term < 1e-12) break;
    }
    return std::clamp(sum, 0.0, 1.0);
}

inline std::uint32_t drift_band(std::uint32_t v) {
    std::uint32_t b = 0;
    while (v > 1) {
        v >>= 1U;
        ++b;
    }
    return b;
}

} // namespace detail

/// Compares `fresh` against `old` table by table (tables present in both). Throws
/// profile_error when the packs share no bucket, config_error for bad options.
inline DriftReport run_drift(const ProfileStore& old, const ProfileStore& fresh, const DriftOptions& opt = {}) {
    opt.validate();
    DriftReport report;
    struct Pool {
        DriftRegion region;
        std::vector<double> a;
        std::vector<double> b;
    };
    std::vector<Pool> pools;
    std::size_t shared = 0;
    for (TableKind kind : all_table_kinds) {
        const ProfileTable* to = old.table(kind);
        const ProfileTable* tn = fresh.table(kind);
        if (!to || !tn) continue;
        std::map<std::tuple<std::uint32_t, std::uint32_t>, std::size_t> coarse;
        std::vector<float> tmp;
        for (std::size_t i = 0; i < to->size(); ++i)
            if (tn->find(to->tt(i), to->conc(i)) == ProfileTable::npos) ++report.only_old_buckets;
        for (std::size_t jn = 0; jn < tn->size(); ++jn) {
            const std::uint32_t io = to->find(tn->tt(jn), tn->conc(jn));
            if (io == ProfileTable::npos) {
                ++report.only_new_buckets;
                continue;
            }
            ++shared;
            const auto so = to->samples(io);
            const auto sn = tn->samples(jn);
            tmp.assign(so.begin(), so.end());
            double med = median_unsorted<float>(tmp);
            if (!(med > 0.0)) med = 1.0;
            Pool* p = nullptr;
            const bool own = so.size() >= opt.min_samples && sn.size() >= opt.min_samples;
            if (own) {
                pools.push_back({});
                p = &pools.back();
            } else {
                const auto key = std::tuple{detail::drift_band(tn->tt(jn)), detail::drift_band(tn->conc(jn))};
                auto it = coarse.find(key);
                if (it == coarse.end()) {
                    it = coarse.emplace(key, pools.size()).first;
                    pools.push_back({});
                    pools.back().region.tt_lo = pools.back().region.conc_lo = 0xFFFFFFFFU;
                }
                p = &pools[it->second];
            }
            DriftRegion& r = p->region;
            r.table = kind;
            if (r.buckets == 0 && own) r.tt_lo = r.conc_lo = 0xFFFFFFFFU;
            r.tt_lo = std::min(r.tt_lo, tn->tt(jn));
            r.tt_hi = std::max(r.tt_hi, tn->tt(jn));
            r.conc_lo = std::min(r.conc_lo, tn->conc(jn));
            r.conc_hi = std::max(r.conc_hi, tn->conc(jn));
            ++r.buckets;
            for (float v : so) p->a.push_back(static_cast<double>(v) / med);
            for (float v : sn) p->b.push_back(static_cast<double>(v) / med);
        }
    }
    if (shared == 0)
        detail::throw_error<profile_error>(
            "drift: the two packs share no (table, tt, conc) bucket, so nothing can be compared; profile the same "
            "engine settings, or check both packs use the same bucketing");
    std::vector<Pool*> tested;
    for (Pool& p : pools) {
        if (p.a.size() < opt.min_samples || p.b.size() < opt.min_samples) {
            report.untested_buckets += p.region.buckets;
            continue;
        }
        std::sort(p.a.begin(), p.a.end());
        std::sort(p.b.begin(), p.b.end());
        DriftRegion& r = p.region;
        r.old_samples = p.a.size();
        r.new_samples = p.b.size();
        r.ks = detail::drift_ks(p.a, p.b);
        r.p_value = detail::drift_ks_p(r.ks, p.a.size(), p.b.size());
        const double ma = quantile_sorted<double>(p.a, 0.5);
        r.median_shift_pct = ma > 0.0 ? (quantile_sorted<double>(p.b, 0.5) / ma - 1.0) * 100.0 : 0.0;
        tested.push_back(&p);
        report.tested_samples += r.new_samples;
    }
    // Benjamini-Hochberg: reject the k smallest p-values, k the largest with p_(k) <= k q / m.
    std::vector<Pool*> order = tested;
    std::sort(order.begin(), order.end(),
              [](const Pool* x, const Pool* y) { return x->region.p_value < y->region.p_value; });
    const double m = static_cast<double>(order.size());
    std::size_t k = 0;
    for (std::size_t i = 0; i < order.size(); ++i)
        if (order[i]->region.p_value <= static_cast<double>(i + 1) * opt.fdr / m) k = i + 1;
    std::size_t moved = 0;
    for (std::size_t i = 0; i < k; ++i) {
        DriftRegion& r = order[i]->region;
        if (std::abs(r.median_shift_pct) >= opt.min_shift_pct) {
            r.moved = true;
            moved += r.new_samples;
        }
    }
    for (Pool* p : tested) report.regions.push_back(p->region);
    report.moved_mass =
        report.tested_samples > 0 ? static_cast<double>(moved) / static_cast<double>(report.tested_samples) : 0.0;
    report.stale = report.moved_mass > opt.threshold;
    return report;
}

LLMEMU_END_NAMESPACE
