#pragma once
/// \file bench_result_sketch.hpp
/// MetricDigest: the distribution of one benchmark metric (TTFT, TPOT, ITL, E2EL) in bounded
/// memory. Values (optionally weighted: one value standing for many equal observations) are
/// kept exactly up to a limit, so a small run's mean, median, std and percentiles are
/// numpy's to the last digit of its sorted sample; past the limit they fold into a
/// mergeable logarithmic sketch (the DDSketch mapping): every percentile is then within a
/// stated relative error (default 0.5%) of the exact numpy value, while count, mean, min
/// and max stay exact and the standard deviation comes from Welford's running moments.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One metric's distribution, exact up to `exact_limit` distinct (value, weight) entries,
/// then a logarithmic sketch of relative accuracy `relative_error` (see the file comment).
/// Deterministic: the same values in the same order give the same results.
class MetricDigest {
public:
    /// Default relative error of a percentile once the digest is a sketch (0.5%).
    static constexpr double default_relative_error = 0.005;
    /// Default number of (value, weight) entries kept exactly (4 MiB).
    static constexpr std::size_t default_exact_limit = std::size_t{1} << 18;

    explicit MetricDigest(std::size_t exact_limit = default_exact_limit, double relative_error = default_relative_error)
        : m_limit(exact_limit), m_alpha(relative_error) {
        if (!(relative_error > 0.0 && relative_error < 0.5))
            detail::throw_error<config_error>("MetricDigest: relative_error must be in (0, 0.5), e.g. 0.005");
        const double gamma = (1.0 + m_alpha) / (1.0 - m_alpha);
        m_log_gamma = std::log(gamma);
        m_gamma = gamma;
    }

    /// Adds `weight` observations of `v` (a non-finite value is refused).
    void add(double v, std::uint64_t weight = 1) {
        if (weight == 0) return;
        if (!std::isfinite(v)) detail::throw_error<contract_error>("MetricDigest: a metric value is not finite");
        moments(v, static_cast<double>(weight));
        m_count += weight;
        m_min = m_count == weight ? v : std::min(m_min, v);
        m_max = m_count == weight ? v : std::max(m_max, v);
        if (m_exact) {
            m_values.emplace_back(v, weight);
            m_sorted = false;
            if (m_values.size() > m_limit) to_sketch();
        } else {
            bucket(v, weight);
        }
    }

    /// Adds every observation of `other` (which must have the same relative error).
    void merge(const MetricDigest& other) {
        if (other.m_count == 0) return;
        if (other.m_alpha != m_alpha)
            detail::throw_error<config_error>("MetricDigest::merge: digests of different relative errors");
        // Chan et al.'s pairwise update of the running moments.
        if (m_count == 0) {
            m_mean = other.m_mean;
            m_m2 = other.m_m2;
            m_min = other.m_min;
            m_max = other.m_max;
        } else {
            const double na = static_cast<double>(m_count), nb = static_cast<double>(other.m_count);
            const double delta = other.m_mean - m_mean;
            m_mean += delta * nb / (na + nb);
            m_m2 += other.m_m2 + delta * delta * na * nb / (na + nb);
            m_min = std::min(m_min, other.m_min);
            m_max = std::max(m_max, other.m_max);
        }
        m_sum.add(other.m_sum);
        m_count += other.m_count;
        if (m_exact && other.m_exact && m_values.size() + other.m_values.size() <= m_limit) {
            m_values.insert(m_values.end(), other.m_values.begin(), other.m_values.end());
            m_sorted = false;
            return;
        }
        if (m_exact) to_sketch();
        if (other.m_exact) {
            for (const auto& [v, w] : other.m_values) bucket(v, w);
        } else {
            for (std::size_t i = 0; i < other.m_pos.size(); ++i)
                if (other.m_pos[i] != 0)
                    bucket_index(m_pos, m_pos_offset, other.m_pos_offset + static_cast<int>(i), other.m_pos[i]);
            for (std::size_t i = 0; i < other.m_neg.size(); ++i)
                if (other.m_neg[i] != 0)
                    bucket_index(m_neg, m_neg_offset, other.m_neg_offset + static_cast<int>(i), other.m_neg[i]);
            m_zero += other.m_zero;
        }
    }

    /// Observations added.
    [[nodiscard]] std::uint64_t count() const noexcept { return m_count; }
    /// Whether every value is still held exactly.
    [[nodiscard]] bool exact() const noexcept { return m_exact; }
    /// The relative error bound of percentiles once no longer exact.
    [[nodiscard]] double relative_error() const noexcept { return m_alpha; }
    /// Entries held (exact values, or non-empty sketch buckets): the digest's memory.
    [[nodiscard]] std::size_t size() const noexcept {
        if (m_exact) return m_values.size();
        return static_cast<std::size_t>(std::count_if(m_pos.begin(), m_pos.end(), [](auto c) { return c != 0; }) +
                                        std::count_if(m_neg.begin(), m_neg.end(), [](auto c) { return c != 0; })) +
               (m_zero != 0 ? 1U : 0U);
    }
    [[nodiscard]] double min() const noexcept { return m_count == 0 ? 0.0 : m_min; }
    [[nodiscard]] double max() const noexcept { return m_count == 0 ? 0.0 : m_max; }

    /// The mean (0 when empty, as numpy's `np.mean(x or 0)` gives): a compensated sum, so
    /// it is the correctly rounded mean to within an ulp or two.
    [[nodiscard]] double mean() const noexcept {
        return m_count == 0 ? 0.0 : m_sum.value() / static_cast<double>(m_count);
    }

    /// Population standard deviation (ddof = 0): two-pass over the exact values, else from
    /// the running moments.
    [[nodiscard]] double stddev() const {
        if (m_count == 0) return 0.0;
        if (!m_exact) return std::sqrt(std::max(0.0, m_m2 / static_cast<double>(m_count)));
        const double mu = mean();
        Sum sq;
        for (const auto& [v, w] : m_values) sq.add((v - mu) * (v - mu) * static_cast<double>(w));
        return std::sqrt(sq.value() / static_cast<double>(m_count));
    }

    /// numpy.percentile(values, p) with linear interpolation (0 when empty). Exact while
    /// exact(); afterwards within relative_error() of it. Sorts the exact values (hence
    /// not const-free; the digest stays valid).
    [[nodiscard]] double percentile(double p) {
        return quantile_at_rank(static_cast<std::size_t>(m_count), p / 100.0,
                                [this](std::size_t i) { return at_rank(static_cast<std::uint64_t>(i)); });
    }

private:
    /// Neumaier's compensated sum.
    struct Sum {
        double s = 0.0, c = 0.0;
        void add(double x) noexcept {
            const double t = s + x;
            c += std::abs(s) >= std::abs(x) ? (s - t) + x : (x - t) + s;
            s = t;
        }
        void add(const Sum& o) noexcept {
            add(o.s);
            add(o.c);
        }
        [[nodiscard]] double value() const noexcept { return s + c; }
    };

    void moments(double v, double w) noexcept {
        m_sum.add(v * w);
        const double n = static_cast<double>(m_count) + w;
        const double delta = v - m_mean;
        m_mean += delta * w / n;
        m_m2 += w * delta * (v - m_mean);
    }

    // ---- exact values ----
    double at_rank(std::uint64_t rank) {
        if (m_exact) {
            if (!m_sorted) {
                std::sort(m_values.begin(), m_values.end());
                m_sorted = true;
            }
            // Binary search would need prefix sums; ranks asked are few, a scan is fine for
            // unit weights (direct index) and cheap otherwise.
            if (m_values.size() == m_count) return m_values[static_cast<std::size_t>(rank)].first;
            std::uint64_t seen = 0;
            for (const auto& [v, w] : m_values) {
                seen += w;
                if (rank < seen) return v;
            }
            return m_values.back().first;
        }
        // Sketch: negatives (most negative first), zeros, positives.
        std::uint64_t seen = 0;
        for (std::size_t i = m_neg.size(); i-- > 0;) {
            seen += m_neg[i];
            if (rank < seen) return clamp(-value_of(m_neg_offset + static_cast<int>(i)));
        }
        seen += m_zero;
        if (rank < seen) return clamp(0.0);
        for (std::size_t i = 0; i < m_pos.size(); ++i) {
            seen += m_pos[i];
            if (rank < seen) return clamp(value_of(m_pos_offset + static_cast<int>(i)));
        }
        return m_max;
    }

    [[nodiscard]] double clamp(double v) const noexcept { return std::min(std::max(v, m_min), m_max); }

    // ---- sketch ----
    /// Values of magnitude below this count as zero (1 ns in seconds, far below any metric).
    static constexpr double tiny = 1e-12;

    void to_sketch() {
        m_exact = false;
        for (const auto& [v, w] : m_values) bucket(v, w);
        m_values.clear();
        m_values.shrink_to_fit();
    }

    [[nodiscard]] int index_of(double magnitude) const noexcept {
        return static_cast<int>(std::ceil(std::log(magnitude) / m_log_gamma));
    }
    /// Bucket i holds (gamma^(i-1), gamma^i]; its representative 2 gamma^i / (gamma + 1) is
    /// within alpha of every value in it.
    [[nodiscard]] double value_of(int i) const noexcept {
        return 2.0 * std::exp(static_cast<double>(i) * m_log_gamma) / (m_gamma + 1.0);
    }

    void bucket(double v, std::uint64_t w) {
        if (std::abs(v) < tiny) {
            m_zero += w;
        } else if (v > 0) {
            bucket_index(m_pos, m_pos_offset, index_of(v), w);
        } else {
            bucket_index(m_neg, m_neg_offset, index_of(-v), w);
        }
    }

    static void bucket_index(std::vector<std::uint64_t>& store, int& offset, int i, std::uint64_t w) {
        if (store.empty()) {
            store.assign(1, 0);
            offset = i;
        } else if (i < offset) {
            store.insert(store.begin(), static_cast<std::size_t>(offset - i), 0);
            offset = i;
        } else if (i - offset >= static_cast<int>(store.size())) {
            store.resize(static_cast<std::size_t>(i - offset) + 1, 0);
        }
        store[static_cast<std::size_t>(i - offset)] += w;
    }

    std::size_t m_limit;
    double m_alpha;
    double m_gamma = 1.0;
    double m_log_gamma = 0.0;
    std::uint64_t m_count = 0;
    Sum m_sum;
    double m_mean = 0.0, m_m2 = 0.0;
    double m_min = 0.0, m_max = 0.0;
    bool m_exact = true;
    bool m_sorted = false;
    std::vector<std::pair<double, std::uint64_t>> m_values;
    std::vector<std::uint64_t> m_pos, m_neg;
    int m_pos_offset = 0, m_neg_offset = 0;
    std::uint64_t m_zero = 0;
};

LLMEMU_END_NAMESPACE
