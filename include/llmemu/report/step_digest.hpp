#pragma once
/// \file step_digest.hpp
/// StepDigest: a bounded summary of every step a run drew from its latency model, for the
/// HTML report: a histogram of step latency (log-spaced bins) and a coverage grid over
/// (scheduled tokens, scheduled requests) counting how the oracle answered each step
/// (exact bucket, interpolated from neighbours, out of the profiled range). Its size does
/// not depend on the run's length. ObservedModel feeds one from any latency model without
/// touching the engine. Needs nlohmann-json for to_json (the core headers do not).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/coverage.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace report {

/// Step-latency histogram and oracle coverage grid of one run, in fixed memory.
class StepDigest {
public:
    /// Histogram bins per decade of milliseconds, and the decades covered: bin i holds
    /// latencies in [10^(lo + i / per_decade), 10^(lo + (i + 1) / per_decade)) ms; lower
    /// and higher latencies go to the first and last bins.
    static constexpr int bins_per_decade = 20;
    static constexpr int lowest_decade = -3; // 1 µs
    static constexpr int highest_decade = 6; // 1000 s
    static constexpr std::size_t num_latency_bins =
        static_cast<std::size_t>((highest_decade - lowest_decade) * bins_per_decade);
    /// Coverage grid bins: index k holds [2^k, 2^(k+1)) tokens (k = 0 also holds 0).
    static constexpr std::size_t num_token_bins = 24;   // up to 16M tokens
    static constexpr std::size_t num_request_bins = 16; // up to 64K requests

    /// Counts one step that took `latency_ms` for `shape`, answered as `kind`. Safe to call
    /// from several threads (a fleet's replicas share one digest and may run in parallel),
    /// and the result does not depend on the order of the calls: counts, minimum, maximum
    /// and a sum in whole nanoseconds.
    void add(const StepShape& shape, double latency_ms, CoverageKind kind) noexcept {
        const std::lock_guard<std::mutex> lock(m_mutex);
        ++m_steps;
        if (std::isfinite(latency_ms)) {
            m_sum_ns += std::llround(latency_ms * 1e6);
            if (m_finite++ == 0 || latency_ms < m_min_ms) m_min_ms = latency_ms;
            if (m_finite == 1 || latency_ms > m_max_ms) m_max_ms = latency_ms;
        }
        ++m_latency[latency_bin(latency_ms)];
        const std::size_t t = pow2_bin(shape.total_tokens, num_token_bins);
        const std::size_t r = pow2_bin(shape.num_requests, num_request_bins);
        ++m_grid[static_cast<std::size_t>(kind)][t * num_request_bins + r];
    }

    /// The histogram bin of a latency in ms.
    [[nodiscard]] static std::size_t latency_bin(double ms) noexcept {
        if (!(ms > 0.0)) return 0;
        const double pos = (std::log10(ms) - lowest_decade) * bins_per_decade;
        if (!(pos >= 0.0)) return 0;
        if (pos >= static_cast<double>(num_latency_bins)) return num_latency_bins - 1;
        return static_cast<std::size_t>(pos);
    }
    /// The lower edge of histogram bin i, in ms.
    [[nodiscard]] static double latency_edge_ms(std::size_t i) noexcept {
        return std::pow(10.0, lowest_decade + static_cast<double>(i) / bins_per_decade);
    }

    [[nodiscard]] std::uint64_t steps() const noexcept { return m_steps; }
    [[nodiscard]] std::uint64_t latency_count(std::size_t bin) const noexcept { return m_latency[bin]; }
    [[nodiscard]] std::uint64_t grid_count(CoverageKind kind, std::size_t token_bin,
                                           std::size_t request_bin) const noexcept {
        return m_grid[static_cast<std::size_t>(kind)][token_bin * num_request_bins + request_bin];
    }

    /// `{"step_latency_histogram": {...}, "coverage_grid": {...}}`, trimmed to the bins that
    /// were hit (at most a few hundred numbers whatever the run's length):
    /// - step_latency_histogram: unit "ms", edges_ms (n + 1 edges), counts (n), steps,
    ///   mean_ms, min_ms, max_ms;
    /// - coverage_grid: tokens_edges and requests_edges (lower edges of each row/column,
    ///   powers of two; a bin spans [edge, next edge)), and exact, interpolated,
    ///   out_of_range as rows (tokens) of columns (requests) of step counts.
    [[nodiscard]] nlohmann::json to_json() const {
        nlohmann::json out = nlohmann::json::object();
        nlohmann::json h;
        h["unit"] = "ms";
        h["steps"] = m_steps;
        h["mean_ms"] = m_steps == 0 ? 0.0 : static_cast<double>(m_sum_ns) / 1e6 / static_cast<double>(m_steps);
        h["min_ms"] = m_min_ms;
        h["max_ms"] = m_max_ms;
        std::size_t lo = num_latency_bins, hi = 0;
        for (std::size_t i = 0; i < num_latency_bins; ++i)
            if (m_latency[i] != 0) {
                lo = std::min(lo, i);
                hi = i;
            }
        nlohmann::json edges = nlohmann::json::array(), counts = nlohmann::json::array();
        if (lo <= hi) {
            for (std::size_t i = lo; i <= hi + 1; ++i) edges.push_back(latency_edge_ms(i));
            for (std::size_t i = lo; i <= hi; ++i) counts.push_back(m_latency[i]);
        }
        h["edges_ms"] = std::move(edges);
        h["counts"] = std::move(counts);
        out["step_latency_histogram"] = std::move(h);

        std::size_t tmax = 0, rmax = 0;
        bool any = false;
        for (const auto& g : m_grid)
            for (std::size_t t = 0; t < num_token_bins; ++t)
                for (std::size_t r = 0; r < num_request_bins; ++r)
                    if (g[t * num_request_bins + r] != 0) {
                        tmax = std::max(tmax, t);
                        rmax = std::max(rmax, r);
                        any = true;
                    }
        nlohmann::json c;
        nlohmann::json te = nlohmann::json::array(), re = nlohmann::json::array();
        if (any) {
            for (std::size_t t = 0; t <= tmax + 1; ++t) te.push_back(std::uint64_t{1} << t);
            for (std::size_t r = 0; r <= rmax + 1; ++r) re.push_back(std::uint64_t{1} << r);
        }
        c["tokens_edges"] = std::move(te);
        c["requests_edges"] = std::move(re);
        for (CoverageKind k : {CoverageKind::exact, CoverageKind::interpolated, CoverageKind::out_of_range}) {
            nlohmann::json rows = nlohmann::json::array();
            if (any)
                for (std::size_t t = 0; t <= tmax; ++t) {
                    nlohmann::json row = nlohmann::json::array();
                    for (std::size_t r = 0; r <= rmax; ++r) row.push_back(grid_count(k, t, r));
                    rows.push_back(std::move(row));
                }
            c[to_string(k)] = std::move(rows);
        }
        out["coverage_grid"] = std::move(c);
        return out;
    }

private:
    static std::size_t pow2_bin(std::uint64_t v, std::size_t bins) noexcept {
        std::size_t k = 0;
        while (v > 1 && k + 1 < bins) {
            v >>= 1U;
            ++k;
        }
        return k;
    }

    std::mutex m_mutex;
    std::uint64_t m_steps = 0, m_finite = 0;
    std::int64_t m_sum_ns = 0;
    double m_min_ms = 0.0, m_max_ms = 0.0;
    std::array<std::uint64_t, num_latency_bins> m_latency{};
    std::array<std::array<std::uint64_t, num_token_bins * num_request_bins>, 3> m_grid{};
};

/// A latency model that forwards to `inner` (shape or whole-batch model) and records every
/// draw in a shared StepDigest, with the kind of answer the inner model reports. Copies
/// share the digest (one run at a time: not for concurrent use).
class ObservedModel {
public:
    ObservedModel(AnyLatencyModel inner, std::shared_ptr<StepDigest> digest)
        : m_inner(std::move(inner)), m_digest(std::move(digest)) {}

    /// One step latency from the inner model (µs, with how it was answered).
    LatencySample sample(const StepBatch& batch, const StepShape& shape, Rng& rng) {
        return record(shape, m_inner.sample(batch, shape, rng));
    }
    LatencySample sample(const StepBatch& batch, Rng& rng) { return sample(batch, batch.shape(), rng); }
    LatencySample sample(const StepShape& shape, Rng& rng) { return record(shape, m_inner.sample(shape, rng)); }

    [[nodiscard]] Coverage coverage() const { return m_inner.coverage(); }
    void reset_coverage() { m_inner.reset_coverage(); }
    [[nodiscard]] std::string describe() const { return m_inner.describe(); }
    [[nodiscard]] const AnyLatencyModel& inner() const noexcept { return m_inner; }

private:
    LatencySample record(const StepShape& shape, LatencySample s) {
        if (m_digest) m_digest->add(shape, s.us / 1000.0, s.coverage);
        return s;
    }

    AnyLatencyModel m_inner;
    std::shared_ptr<StepDigest> m_digest;
};

static_assert(LatencyModel<ObservedModel>);

} // namespace report
LLMEMU_END_NAMESPACE
