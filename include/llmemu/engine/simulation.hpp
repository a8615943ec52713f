#pragma once
/// \file simulation.hpp
/// run_simulation: replay a list of timed requests through an Engine and collect every
/// request's record, the engine statistics and (optionally) every step. On a VirtualClock
/// it runs as fast as the CPU allows (the same seed gives the same records, run after
/// run); on a WallClock the same code runs in real time, each request joining the engine
/// at its arrival time.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/engine/timeseries.hpp"

namespace llmemu {

/// A request and when it arrives (since the start of the run).
struct TimedRequest {
    std::chrono::nanoseconds arrival{0};
    RequestSpec spec;
};

/// What run_simulation records beyond the request records.
struct SimulationOptions {
    /// Keep every step (SimulationResult::steps) and the per-step gauges
    /// (EngineStats::series).
    bool record_steps = false;
    /// Called with the share of requests finished (0..1), about every 1% and at the end.
    std::function<void(double fraction)> progress;
    /// Keep every token's time in the records (needed for ITL); off saves memory.
    bool record_token_times = true;
    /// Keep the engine's per-interval time series (SimulationResult::timeseries; bounded
    /// memory, see timeseries.hpp) with this interval; 0 = off.
    std::chrono::nanoseconds timeseries_interval{0};
};

/// Everything a run produced.
struct SimulationResult {
    /// One record per request, rejected ones included, in order of finishing.
    std::vector<RequestRecord> records;
    /// One per executed step when SimulationOptions::record_steps.
    std::vector<StepRecord> steps;
    /// The engine's counters and gauges at the end of the run.
    EngineStats stats;
    /// Running, waiting, KV usage, preemptions and token throughput per interval, when
    /// SimulationOptions::timeseries_interval was set (empty otherwise).
    EngineTimeSeries timeseries;
    /// From the start of the run to its last event.
    std::chrono::nanoseconds duration{0};
};

/// Runs `requests` (any order; stably sorted by arrival) through `engine`, which must be
/// idle, until every request has finished. The run's origin is the clock's time at the
/// call. Throws what the engine throws.
template <class E, class C>
SimulationResult run_simulation(Engine<E, C>& engine, std::vector<TimedRequest> requests,
                                const SimulationOptions& options = {}) {
    if (engine.busy())
        detail::throw_error<error>(
            "run_simulation: the engine still has requests from an earlier run; use an idle engine");
    std::stable_sort(requests.begin(), requests.end(),
                     [](const TimedRequest& a, const TimedRequest& b) { return a.arrival < b.arrival; });
    SimulationResult result;
    result.records.reserve(requests.size());
    engine.set_origin(engine.clock().now());
    engine.set_record_series(options.record_steps);
    engine.set_record_token_times(options.record_token_times);
    engine.set_step_log(options.record_steps ? &result.steps : nullptr);
    if (options.timeseries_interval.count() > 0) {
        result.timeseries = EngineTimeSeries(options.timeseries_interval);
        engine.set_timeseries(&result.timeseries);
    }
    struct Restore { // leave the engine as we found it, even when a step throws
        Engine<E, C>& e;
        ~Restore() {
            e.set_timeseries(nullptr);
            e.set_step_log(nullptr);
            e.set_record_series(false);
            e.set_record_token_times(true);
        }
    } restore{engine};

    const std::size_t total = requests.size();
    const std::size_t progress_every = std::max<std::size_t>(1, total / 100);
    std::size_t next_progress = progress_every;
    std::size_t next = 0;
    auto collect = [&] {
        auto& done = engine.finished_records();
        if (done.empty()) return;
        for (auto& r : done) result.records.push_back(std::move(r));
        done.clear();
        if (options.progress && result.records.size() >= next_progress) {
            options.progress(static_cast<double>(result.records.size()) / static_cast<double>(total));
            next_progress = result.records.size() + progress_every;
        }
    };
    for (;;) {
        const std::chrono::nanoseconds t = engine.now();
        while (next < total && requests[next].arrival <= t) {
            engine.add_request(std::move(requests[next].spec), requests[next].arrival);
            ++next;
        }
        collect();
        if (engine.step()) continue;
        collect();
        if (next == total) break;
        engine.clock().sleep_until(engine.to_time_point(requests[next].arrival));
    }
    collect();
    if (options.progress) options.progress(1.0);
    result.duration = engine.now();
    result.stats = engine.stats();
    return result;
}

} // namespace llmemu
