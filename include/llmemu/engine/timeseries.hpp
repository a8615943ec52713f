#pragma once
/// \file timeseries.hpp
/// EngineTimeSeries: the engine's state per fixed interval of time, like vLLM's periodic
/// engine log (LoggingStatLogger: running and waiting requests, KV-cache usage,
/// preemptions, prompt and generation throughput), in bounded memory. Each point covers
/// [k * interval, (k + 1) * interval) since the run's origin: the gauges as of the last
/// step output processed in it (carried over when no step ended in it), and the counters'
/// growth in it (prompt tokens count, as in vLLM's log, once per request, in the step
/// that produced its first token). When a run would need more than `max_points` points,
/// neighbouring points are merged pairwise and the interval doubles, so memory never
/// grows with simulated time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// See the file comment.
class EngineTimeSeries {
public:
    /// One interval of the series.
    struct Point {
        /// Counters' growth within the interval.
        std::uint64_t prompt_tokens = 0;
        std::uint64_t generation_tokens = 0;
        std::uint64_t preemptions = 0;
        /// Gauges as of the last observation in (or before) the interval.
        std::uint32_t running = 0;
        std::uint32_t waiting = 0;
        /// KV-cache usage in [0, 1].
        double kv_usage = 0.0;
    };

    /// `interval` > 0 (vLLM logs every VLLM_LOG_STATS_INTERVAL; the recorded runs use 1 s);
    /// `max_points` >= 2.
    explicit EngineTimeSeries(std::chrono::nanoseconds interval = std::chrono::seconds(1),
                              std::size_t max_points = 4096)
        : m_interval(interval), m_max_points(max_points) {
        if (interval.count() <= 0)
            detail::throw_error<config_error>("engine time series: the interval must be positive");
        if (max_points < 2) detail::throw_error<config_error>("engine time series: max_points must be >= 2");
    }

    /// Records the engine's state `s` at `now` (since the run's origin; non-decreasing).
    void observe(std::chrono::nanoseconds now, const EngineStats& s) {
        const std::int64_t t = now.count() < 0 ? 0 : now.count();
        std::uint64_t k = static_cast<std::uint64_t>(t / m_interval.count());
        while (k >= m_max_points) {
            merge_pairs();
            k = static_cast<std::uint64_t>(t / m_interval.count());
        }
        while (m_points.size() <= k) {
            Point p;
            if (!m_points.empty()) {
                p.running = m_points.back().running;
                p.waiting = m_points.back().waiting;
                p.kv_usage = m_points.back().kv_usage;
            }
            m_points.push_back(p);
        }
        Point& p = m_points[k];
        p.prompt_tokens += s.prompt_tokens - m_last_prompt;
        p.generation_tokens += s.generation_tokens - m_last_generation;
        p.preemptions += s.preemptions - m_last_preemptions;
        p.running = s.running;
        p.waiting = s.waiting;
        p.kv_usage = s.kv_usage;
        m_last_prompt = s.prompt_tokens;
        m_last_generation = s.generation_tokens;
        m_last_preemptions = s.preemptions;
    }

    /// The points, oldest first (point k covers [k * interval(), (k + 1) * interval())).
    [[nodiscard]] const std::vector<Point>& points() const noexcept { return m_points; }
    /// The current interval (the one given, doubled once per merge).
    [[nodiscard]] std::chrono::nanoseconds interval() const noexcept { return m_interval; }
    [[nodiscard]] std::size_t max_points() const noexcept { return m_max_points; }
    [[nodiscard]] bool empty() const noexcept { return m_points.empty(); }

private:
    void merge_pairs() {
        std::size_t out = 0;
        for (std::size_t i = 0; i < m_points.size(); i += 2, ++out) {
            Point p = m_points[i];
            if (i + 1 < m_points.size()) {
                const Point& q = m_points[i + 1];
                p.prompt_tokens += q.prompt_tokens;
                p.generation_tokens += q.generation_tokens;
                p.preemptions += q.preemptions;
                p.running = q.running;
                p.waiting = q.waiting;
                p.kv_usage = q.kv_usage;
            }
            m_points[out] = p;
        }
        m_points.resize(out);
        m_interval *= 2;
    }

    std::chrono::nanoseconds m_interval;
    std::size_t m_max_points;
    std::vector<Point> m_points;
    std::uint64_t m_last_prompt = 0;
    std::uint64_t m_last_generation = 0;
    std::uint64_t m_last_preemptions = 0;
};

LLMEMU_END_NAMESPACE
