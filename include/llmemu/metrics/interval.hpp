#pragma once
/// \file interval.hpp
/// Mean and 95 % Student-t confidence interval of a value measured over replicates (runs
/// that differ only in their seed): `simulate --replicates`, `sweep --slo --replicates` and
/// `plan --replicates` all report their answers this way.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace llmemu {

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (0 for df = 0).
[[nodiscard]] inline double student_t975(std::size_t df) noexcept {
    static constexpr double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                       2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                       2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df == 0) return 0.0;
    if (df <= 30) return table[df - 1];
    return 1.95996 + 2.4 / static_cast<double>(df); // within 0.1 % above 30
}

/// A value over n replicates: mean +- half_width is its 95 % confidence interval (Student t
/// on the sample standard deviation; half_width 0 for a single replicate).
struct MeanInterval {
    std::size_t n = 0;
    double mean = 0.0;
    double half_width = 0.0;
    double min = 0.0;
    double max = 0.0;
    [[nodiscard]] double low() const noexcept { return mean - half_width; }
    [[nodiscard]] double high() const noexcept { return mean + half_width; }
};

/// The mean and 95 % interval of `values` (all zero for an empty list).
[[nodiscard]] inline MeanInterval mean_interval(std::span<const double> values) noexcept {
    MeanInterval s;
    s.n = values.size();
    if (values.empty()) return s;
    s.min = s.max = values[0];
    double sum = 0.0;
    for (const double v : values) {
        sum += v;
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
    }
    s.mean = sum / static_cast<double>(s.n);
    if (s.n > 1) {
        double sq = 0.0;
        for (const double v : values) sq += (v - s.mean) * (v - s.mean);
        const double sd = std::sqrt(sq / static_cast<double>(s.n - 1));
        s.half_width = student_t975(s.n - 1) * sd / std::sqrt(static_cast<double>(s.n));
    }
    return s;
}

} // namespace llmemu
