#pragma once
/// \file holdout.hpp
/// Holdout validation of the oracle on a pack: hide a fraction of each table's buckets
/// (at random, or the largest token counts for the extrapolation test), predict every
/// hidden bucket from the rest of its table, and score the predicted latency
/// distribution against the real samples — for the oracle, a nearest-bucket baseline,
/// and optionally the learned model and the oracle with its learned fallback, each fitted
/// on the rest only (`llmemu profile holdout`).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/learned_fit.hpp"
#include "llmemu/oracle/neighbours.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/oracle/shepard.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Scores of one predictor over a table's hidden buckets.
struct HoldoutScore {
    /// Median over hidden buckets of |predicted median - real median| / real median, in
    /// percent (4.2 means 4.2 %).
    double median_abs_pct_error = 0.0;
    /// Mean over hidden buckets of the Kolmogorov-Smirnov distance between the predicted
    /// distribution (the oracle's exact mixture) and the bucket's real samples.
    double mean_ks = 0.0;
    /// Share of the hidden buckets' real samples inside the predictor's central 80% and
    /// 95% intervals (0.8 and 0.95 when calibrated).
    double coverage_80 = 0.0;
    double coverage_95 = 0.0;
};

/// Which buckets a holdout hides.
enum class HoldoutMode : std::uint8_t {
    /// A random `fraction` of each table's buckets.
    random,
    /// The buckets with the largest `fraction` of each table's distinct token counts
    /// (the extrapolation test: predict beyond the remaining range).
    extrapolate,
};

/// What a holdout hides and which predictors it scores.
struct HoldoutSpec {
    double fraction = 0.2;
    std::uint64_t seed = 0;
    HoldoutMode mode = HoldoutMode::random;
    /// Also fit the learned model on the rest and score it and the oracle with fallback.
    bool learned = false;
    /// Scope of the fallback scored as `oracle_fallback`.
    FallbackScope fallback = FallbackScope::out_of_range;
    LearnedFitOptions fit{};
    /// Also score `leave_one_out`: the oracle predicting each hidden bucket from every
    /// other bucket of the full table (the other hidden ones included). Not a predictor a
    /// holdout may use (it sees hidden buckets) but the noise floor of the protocol: what
    /// is left of the error when no neighbour is missing is the hidden buckets' own
    /// sampling noise (few samples of multi-modal cells), which no model removes.
    bool leave_one_out = false;
};

/// Holdout result of one table.
struct HoldoutTable {
    TableKind table = TableKind::step_cycle;
    std::size_t buckets = 0;
    std::size_t hidden_buckets = 0;
    HoldoutScore oracle;
    HoldoutScore nearest_bucket;
    /// Filled when HoldoutSpec::learned is set.
    HoldoutScore learned;
    HoldoutScore oracle_fallback;
    /// Filled when HoldoutSpec::leave_one_out is set.
    HoldoutScore leave_one_out;
};

/// Holdout result of a pack (tables with fewer than two buckets are skipped).
struct HoldoutReport {
    double fraction = 0.2;
    std::uint64_t seed = 0;
    HoldoutMode mode = HoldoutMode::random;
    bool learned = false;
    bool leave_one_out = false;
    std::vector<HoldoutTable> tables;
};

namespace detail {

// (value, probability) pairs of a resolution's mixture; probabilities sum to 1.
inline std::vector<std::pair<double, double>> holdout_mixture(const ProfileTable& t, const Resolution& r) {
    std::vector<std::pair<double, double>> m;
    for (std::size_t j = 0; j < r.neighbours.size(); ++j) {
        const auto s = t.samples(r.neighbours[j].bucket);
        const double w = r.probability[j] / static_cast<double>(s.size());
        for (float v : s) m.emplace_back(static_cast<double>(v) * r.scale, w);
    }
    std::sort(m.begin(), m.end());
    return m;
}

// Weighted median of a sorted mixture (the midpoint when the CDF sits exactly on 1/2,
// so equal weights give the ordinary median). Not weighted_quantile_sorted(m, 0.5) on
// purpose: that step-CDF inverse gives the lower middle value for equal weights, and the
// holdout compares this median with the real samples' ordinary (numpy) median.
inline double holdout_weighted_median(const std::vector<std::pair<double, double>>& m) {
    double total = 0.0;
    for (const auto& p : m) total += p.second;
    double cum = 0.0;
    for (std::size_t i = 0; i < m.size(); ++i) {
        cum += m[i].second;
        if (std::abs(cum - 0.5 * total) <= 1e-12 * total && i + 1 < m.size())
            return 0.5 * (m[i].first + m[i + 1].first);
        if (cum > 0.5 * total) return m[i].first;
    }
    return m.back().first;
}

inline double holdout_ks(const std::vector<std::pair<double, double>>& m, std::vector<double> real) {
    std::sort(real.begin(), real.end());
    double total = 0.0;
    for (const auto& p : m) total += p.second;
    const double n = static_cast<double>(real.size());
    std::size_t i = 0;
    std::size_t j = 0;
    double cum = 0.0;
    double d = 0.0;
    while (i < m.size() || j < real.size()) {
        const double x = std::min(i < m.size() ? m[i].first : std::numeric_limits<double>::infinity(),
                                  j < real.size() ? real[j] : std::numeric_limits<double>::infinity());
        while (i < m.size() && m[i].first <= x) cum += m[i++].second;
        while (j < real.size() && real[j] <= x) ++j;
        d = std::max(d, std::abs(cum / total - static_cast<double>(j) / n));
    }
    return d;
}

inline double holdout_median(std::vector<double> v) {
    return median_unsorted<double>(v);
}

// Weighted quantile of a sorted mixture (the first value whose CDF reaches p, within a
// rounding of it: the neighbours' probabilities sum to 1 only up to rounding).
inline double holdout_mixture_quantile(const std::vector<std::pair<double, double>>& m, double p) {
    return weighted_quantile_sorted(m, p, 1e-12);
}

// KS distance between a continuous model CDF and the real samples.
template <class Cdf>
double holdout_ks_cdf(Cdf cdf, std::vector<double> real) {
    std::sort(real.begin(), real.end());
    const double n = static_cast<double>(real.size());
    double d = 0.0;
    for (std::size_t i = 0; i < real.size(); ++i) {
        if (i + 1 < real.size() && real[i + 1] == real[i]) continue;
        const double f = cdf(real[i]);
        const auto below = static_cast<double>(std::lower_bound(real.begin(), real.end(), real[i]) - real.begin());
        d = std::max({d, std::abs(f - static_cast<double>(i + 1) / n), std::abs(f - below / n)});
    }
    return d;
}

// Accumulates one predictor's scores over hidden buckets.
struct HoldoutAccumulator {
    std::vector<double> err;
    double ks = 0.0;
    std::size_t in80 = 0;
    std::size_t in95 = 0;
    std::size_t samples = 0;

    void add(double predicted_median, double real_median, double ks_d, const std::vector<double>& real,
             std::array<double, 4> bounds) {
        const double denom = real_median > 0.0 ? real_median : 1.0;
        err.push_back(std::abs(predicted_median - real_median) / denom * 100.0);
        ks += ks_d;
        for (double v : real) {
            in80 += v >= bounds[1] && v <= bounds[2] ? 1 : 0;
            in95 += v >= bounds[0] && v <= bounds[3] ? 1 : 0;
        }
        samples += real.size();
    }
    [[nodiscard]] HoldoutScore score() const {
        HoldoutScore s;
        if (err.empty()) return s;
        std::vector<double> e = err;
        const std::size_t n = e.size();
        s.median_abs_pct_error = median_unsorted<double>(e);
        s.mean_ks = ks / static_cast<double>(n);
        s.coverage_80 = samples > 0 ? static_cast<double>(in80) / static_cast<double>(samples) : 0.0;
        s.coverage_95 = samples > 0 ? static_cast<double>(in95) / static_cast<double>(samples) : 0.0;
        return s;
    }
};

// Which buckets of `t` the holdout hides (true = hidden); none when the table is too small.
inline std::vector<bool> holdout_hidden(const ProfileTable& t, TableKind kind, const HoldoutSpec& spec) {
    const std::size_t n = t.size();
    std::vector<bool> hidden(n, false);
    if (spec.mode == HoldoutMode::random) {
        const auto want = static_cast<std::size_t>(std::llround(spec.fraction * static_cast<double>(n)));
        const std::size_t h = std::clamp<std::size_t>(want, 1, n - 1);
        // Partial Fisher-Yates with llmemu's own draws: the same on every platform.
        Rng rng(spec.seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(kind) + 1)));
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i) order[i] = i;
        for (std::size_t i = 0; i < h; ++i) std::swap(order[i], order[i + uniform_index(rng, n - i)]);
        for (std::size_t i = 0; i < h; ++i) hidden[order[i]] = true;
        return hidden;
    }
    std::vector<std::uint32_t> tts;
    for (std::size_t i = 0; i < n; ++i) tts.push_back(t.tt(i));
    std::sort(tts.begin(), tts.end());
    tts.erase(std::unique(tts.begin(), tts.end()), tts.end());
    if (tts.size() < 3) return hidden;
    const auto k = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::llround(spec.fraction * static_cast<double>(tts.size()))), 1, tts.size() - 2);
    const std::uint32_t threshold = tts[tts.size() - k];
    for (std::size_t i = 0; i < n; ++i) hidden[i] = t.tt(i) >= threshold;
    return hidden;
}
// `t` without the buckets marked in `hidden`.
inline ProfileTable holdout_without(const ProfileTable& t, const std::vector<bool>& hidden) {
    std::vector<BucketKey> keys;
    std::vector<std::uint32_t> counts;
    std::vector<float> samples;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (hidden[i]) continue;
        keys.push_back(t.key(i));
        counts.push_back(t.count(i));
        const auto s = t.samples(i);
        samples.insert(samples.end(), s.begin(), s.end());
    }
    return {t.bucketing(), std::move(keys), std::move(counts), std::move(samples)};
}
} // namespace detail

/// Runs a holdout on every table of `store` (see HoldoutSpec): predicts each hidden bucket
/// from the rest with the oracle's policies, with the nearest remaining bucket, and (with
/// spec.learned) with the learned model and the oracle-with-fallback fitted on the rest.
/// Tables too small to hide anything from are skipped.
template <NeighbourPolicy N = AdaptiveKNeighbours, WeightPolicy W = ShepardWeights>
HoldoutReport run_holdout(const ProfileStore& store, const HoldoutSpec& spec, const OracleOptions& options = {},
                          const N& neighbours = {}, const W& weights = {}) {
    if (!(spec.fraction > 0.0 && spec.fraction < 1.0))
        detail::throw_error<config_error>("holdout: --fraction must be in (0, 1), e.g. 0.2");
    options.validate();
    HoldoutReport report;
    report.fraction = spec.fraction;
    report.seed = spec.seed;
    report.mode = spec.mode;
    report.learned = spec.learned;
    report.leave_one_out = spec.leave_one_out;
    const RooflineTerms roof = RooflineTerms::from(store.model_config());
    for (TableKind kind : all_table_kinds) {
        const ProfileTable* table = store.table(kind);
        if (!table || table->size() < 2) continue;
        const std::size_t n = table->size();
        const std::vector<bool> hidden = detail::holdout_hidden(*table, kind, spec);
        const auto h = static_cast<std::size_t>(std::count(hidden.begin(), hidden.end(), true));
        if (h == 0 || h == n) continue;
        const ProfileTable rest = detail::holdout_without(*table, hidden);
        const detail::OracleTableState state(rest, options);
        std::optional<detail::LearnedTable> lt;
        if (spec.learned) lt = detail::fit_learned_table(rest, kind, roof, spec.fit);
        HoldoutTable out;
        out.table = kind;
        out.buckets = n;
        out.hidden_buckets = h;
        detail::HoldoutAccumulator acc_oracle;
        detail::HoldoutAccumulator acc_base;
        detail::HoldoutAccumulator acc_learned;
        detail::HoldoutAccumulator acc_fallback;
        detail::HoldoutAccumulator acc_loo;
        std::vector<bool> only(n, false);
        for (std::size_t i = 0; i < n; ++i) {
            if (!hidden[i]) continue;
            const auto s = table->samples(i);
            std::vector<double> real(s.begin(), s.end());
            const double real_median = detail::holdout_median(real);
            const Resolution ro =
                detail::resolve_on_table(state, kind, table->tt(i), table->conc(i), options, neighbours, weights);
            const Resolution rb = detail::resolve_on_table(state, kind, table->tt(i), table->conc(i), options,
                                                           NearestBucket{}, UniformWeights{});
            const auto mo = detail::holdout_mixture(rest, ro);
            const auto mb = detail::holdout_mixture(rest, rb);
            auto bounds = [](const std::vector<std::pair<double, double>>& m) {
                return std::array<double, 4>{
                    detail::holdout_mixture_quantile(m, 0.025), detail::holdout_mixture_quantile(m, 0.1),
                    detail::holdout_mixture_quantile(m, 0.9), detail::holdout_mixture_quantile(m, 0.975)};
            };
            acc_oracle.add(detail::holdout_weighted_median(mo), real_median, detail::holdout_ks(mo, real), real,
                           bounds(mo));
            acc_base.add(detail::holdout_weighted_median(mb), real_median, detail::holdout_ks(mb, real), real,
                         bounds(mb));
            if (spec.leave_one_out) {
                only[i] = true;
                const ProfileTable others = detail::holdout_without(*table, only);
                only[i] = false;
                const detail::OracleTableState os(others, options);
                const Resolution rl =
                    detail::resolve_on_table(os, kind, table->tt(i), table->conc(i), options, neighbours, weights);
                const auto ml = detail::holdout_mixture(others, rl);
                acc_loo.add(detail::holdout_weighted_median(ml), real_median, detail::holdout_ks(ml, real), real,
                            bounds(ml));
            }
            if (!lt) continue;
            const double tt = table->tt(i);
            const double conc = table->conc(i);
            const double base = lt->base(tt, conc, roof);
            const double* q = lt->region_quantiles(tt, conc);
            const std::array<double, 4> lb{base * lt->ratio_at(q, 0.025), base * lt->ratio_at(q, 0.1),
                                           base * lt->ratio_at(q, 0.9), base * lt->ratio_at(q, 0.975)};
            const double lmed = base * lt->ratio_at(q, 0.5);
            const double lks = detail::holdout_ks_cdf([&](double x) { return lt->cdf(tt, conc, roof, x); }, real);
            acc_learned.add(lmed, real_median, lks, real, lb);
            const bool inside = table->tt(i) >= rest.tt_min() && table->tt(i) <= rest.tt_max() &&
                                table->conc(i) >= rest.conc_min() && table->conc(i) <= rest.conc_max();
            if (spec.fallback == FallbackScope::out_of_range && inside)
                acc_fallback.add(detail::holdout_weighted_median(mo), real_median, detail::holdout_ks(mo, real), real,
                                 bounds(mo));
            else
                acc_fallback.add(lmed, real_median, lks, real, lb);
        }
        out.oracle = acc_oracle.score();
        out.nearest_bucket = acc_base.score();
        if (spec.leave_one_out) out.leave_one_out = acc_loo.score();
        if (lt) {
            out.learned = acc_learned.score();
            out.oracle_fallback = acc_fallback.score();
        }
        report.tables.push_back(out);
    }
    if (report.tables.empty())
        detail::throw_error<profile_error>("holdout: no table has enough buckets (or distinct token counts) to hold "
                                           "any out");
    return report;
}

/// Random holdout of the oracle against the nearest-bucket baseline: hides
/// round(fraction * buckets) buckets per table (at least 1, at most all but 1) chosen
/// with `seed`.
template <NeighbourPolicy N = AdaptiveKNeighbours, WeightPolicy W = ShepardWeights>
HoldoutReport run_holdout(const ProfileStore& store, double fraction, std::uint64_t seed,
                          const OracleOptions& options = {}, const N& neighbours = {}, const W& weights = {}) {
    HoldoutSpec spec;
    spec.fraction = fraction;
    spec.seed = seed;
    return run_holdout(store, spec, options, neighbours, weights);
}

LLMEMU_END_NAMESPACE
