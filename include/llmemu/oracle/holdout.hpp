#pragma once
/// \file holdout.hpp
/// Holdout validation of the oracle on a pack: hide a fraction of each table's buckets,
/// predict every hidden bucket from the rest of its table, and score the predicted
/// latency distribution against the real samples — for the oracle and for a
/// nearest-bucket baseline side by side (`llmemu profile holdout`).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/oracle/neighbours.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/oracle/shepard.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

namespace llmemu {

/// Scores of one predictor over a table's hidden buckets.
struct HoldoutScore {
    /// Median over hidden buckets of |predicted median - real median| / real median, in
    /// percent (4.2 means 4.2 %).
    double median_abs_pct_error = 0.0;
    /// Mean over hidden buckets of the Kolmogorov-Smirnov distance between the predicted
    /// distribution (the oracle's exact mixture) and the bucket's real samples.
    double mean_ks = 0.0;
};

/// Holdout result of one table.
struct HoldoutTable {
    TableKind table = TableKind::step_cycle;
    std::size_t buckets = 0;
    std::size_t hidden_buckets = 0;
    HoldoutScore oracle;
    HoldoutScore nearest_bucket;
};

/// Holdout result of a pack (tables with fewer than two buckets are skipped).
struct HoldoutReport {
    double fraction = 0.2;
    std::uint64_t seed = 0;
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
// so equal weights give the ordinary median).
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
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

} // namespace detail

/// Runs the holdout on every table of `store`: hides round(fraction * buckets) buckets
/// per table (at least 1, at most all but 1) chosen with `seed`, and predicts each from
/// the rest with the oracle's policies and with the nearest remaining bucket.
template <NeighbourPolicy N = AdaptiveKNeighbours, WeightPolicy W = ShepardWeights>
HoldoutReport run_holdout(const ProfileStore& store, double fraction, std::uint64_t seed,
                          const OracleOptions& options = {}, const N& neighbours = {}, const W& weights = {}) {
    if (!(fraction > 0.0 && fraction < 1.0))
        detail::throw_error<config_error>("holdout: --fraction must be in (0, 1), e.g. 0.2");
    options.validate();
    HoldoutReport report;
    report.fraction = fraction;
    report.seed = seed;
    for (TableKind kind : all_table_kinds) {
        const ProfileTable* table = store.table(kind);
        if (!table || table->size() < 2) continue;
        const std::size_t n = table->size();
        const auto want = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
        const std::size_t h = std::clamp<std::size_t>(want, 1, n - 1);
        // Partial Fisher-Yates with llmemu's own draws: the same on every platform.
        Rng rng(seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(kind) + 1)));
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i) order[i] = i;
        for (std::size_t i = 0; i < h; ++i) std::swap(order[i], order[i + uniform_index(rng, n - i)]);
        std::vector<bool> hidden(n, false);
        for (std::size_t i = 0; i < h; ++i) hidden[order[i]] = true;
        std::vector<BucketKey> keys;
        std::vector<std::uint32_t> counts;
        std::vector<float> samples;
        for (std::size_t i = 0; i < n; ++i) {
            if (hidden[i]) continue;
            keys.push_back(table->key(i));
            counts.push_back(table->count(i));
            const auto s = table->samples(i);
            samples.insert(samples.end(), s.begin(), s.end());
        }
        const ProfileTable rest(table->bucketing(), std::move(keys), std::move(counts), std::move(samples));
        const detail::OracleTableState state(rest, options);
        HoldoutTable out;
        out.table = kind;
        out.buckets = n;
        out.hidden_buckets = h;
        std::vector<double> err_oracle;
        std::vector<double> err_base;
        double ks_oracle = 0.0;
        double ks_base = 0.0;
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
            const double denom = real_median > 0.0 ? real_median : 1.0;
            err_oracle.push_back(std::abs(detail::holdout_weighted_median(mo) - real_median) / denom * 100.0);
            err_base.push_back(std::abs(detail::holdout_weighted_median(mb) - real_median) / denom * 100.0);
            ks_oracle += detail::holdout_ks(mo, real);
            ks_base += detail::holdout_ks(mb, real);
        }
        out.oracle = {detail::holdout_median(err_oracle), ks_oracle / static_cast<double>(h)};
        out.nearest_bucket = {detail::holdout_median(err_base), ks_base / static_cast<double>(h)};
        report.tables.push_back(out);
    }
    if (report.tables.empty())
        detail::throw_error<profile_error>("holdout: no table has two or more buckets, so nothing can be held out");
    return report;
}

} // namespace llmemu
