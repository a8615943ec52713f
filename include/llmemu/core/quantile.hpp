#pragma once
/// \file quantile.hpp
/// The one quantile rule of llmemu: numpy.percentile's default ("linear"), the rule vLLM's
/// benchmark uses for its median_* and p*_ keys. The exact sample summaries, the
/// streaming digest (metrics/bench_result_sketch.hpp), profile outlier fences, drift,
/// holdout and learned-fit medians and the report's CDFs all call it, so one input gives
/// one answer everywhere. Weighted samples (mixtures) use the step-CDF inverse,
/// weighted_quantile_sorted.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <utility>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The q-quantile (q in [0, 1], clamped) of n sorted values, `at(i)` giving the i-th
/// smallest: the value at fractional rank q·(n−1), interpolated linearly between its two
/// neighbours (numpy.percentile with method="linear"). 0 when n is 0.
template <class At>
[[nodiscard]] double quantile_at_rank(std::size_t n, double q, At&& at) {
    if (n == 0) return 0.0;
    q = std::clamp(q, 0.0, 1.0);
    const double pos = q * static_cast<double>(n - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = static_cast<std::size_t>(std::ceil(pos));
    const double frac = pos - static_cast<double>(lo);
    const auto a = static_cast<double>(at(lo));
    const double b = hi == lo ? a : static_cast<double>(at(hi));
    return a + (b - a) * frac;
}

/// The q-quantile of a SORTED sample (see quantile_at_rank); 0 when it is empty.
template <class T>
[[nodiscard]] double quantile_sorted(std::span<const T> sorted, double q) {
    return quantile_at_rank(sorted.size(), q, [&](std::size_t i) { return sorted[i]; });
}

/// The median of `values` in any order, found by selection (std::nth_element, O(n); the
/// values are reordered): quantile_sorted(sorted, 0.5) without the sort, so for an even
/// count the two middle values interpolated half way. 0 when empty.
template <class T>
[[nodiscard]] double median_unsorted(std::span<T> values) {
    const std::size_t n = values.size();
    if (n == 0) return 0.0;
    const auto mid = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(values.begin(), mid, values.end());
    const auto hi = static_cast<double>(*mid);
    if (n % 2 == 1) return hi;
    const auto lo = static_cast<double>(*std::max_element(values.begin(), mid));
    return lo + (hi - lo) * 0.5; // quantile_at_rank's interpolation at frac 1/2
}

/// The weighted q-quantile of (value, weight) pairs SORTED by value: the first value whose
/// cumulative weight reaches q of the total (the inverse of the step CDF), or comes within
/// `slack` of it relatively (for weights that should sum to the level exactly but may fall
/// a rounding short). The last value when rounding keeps the sum short of it; 0 when there
/// are no pairs.
[[nodiscard]] inline double weighted_quantile_sorted(std::span<const std::pair<double, double>> sorted, double q,
                                                     double slack = 0.0) {
    if (sorted.empty()) return 0.0;
    double total = 0.0;
    for (const auto& x : sorted) total += x.second;
    const double level = q * total * (1.0 - slack);
    double cum = 0.0;
    for (const auto& x : sorted) {
        cum += x.second;
        if (cum >= level) return x.first;
    }
    return sorted.back().first;
}

LLMEMU_END_NAMESPACE
