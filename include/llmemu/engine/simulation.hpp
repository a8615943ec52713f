#pragma once
/// \file simulation.hpp
/// run_simulation: replay a list of timed requests through an Engine and collect every
/// request's record, the engine statistics and (optionally) every step. On a VirtualClock
/// it runs as fast as the CPU allows (the same seed gives the same records, run after
/// run); on a WallClock the same code runs in real time, each request joining the engine
/// at its arrival time.

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/engine/timeseries.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A request and when it arrives (since the start of the run).
struct TimedRequest {
    std::chrono::nanoseconds arrival{0};
    RequestSpec spec;
    /// The source wants this request's TokenEvents (FeedbackRequestSource::on_event).
    bool notify = false;
};

/// A source of timed requests in arrival order: next(r) fills r and returns true, or
/// returns false once there are no more (a trace read as the run goes, a generator, or
/// VectorRequestSource over a list). A driver never holds more than the next request.
template <class S>
concept RequestSource = requires(S& s, TimedRequest& r) {
    { s.next(r) } -> std::convertible_to<bool>;
};

/// A RequestSource that learns what becomes of its requests, so it can release requests
/// that depend on them (a closed-loop client: a session's next turn is sent after the
/// previous one finished and the user thought). The driver gives on_event every TokenEvent
/// of each request taken with `notify` set. When on_event returns true, the source has
/// released a request that may arrive before the one the driver holds: the driver hands the
/// held request back with put_back and takes the next again (so a source may get several
/// requests back before it gives them again, and must keep them all). A released request
/// must not arrive before the event that released it.
template <class S>
concept FeedbackRequestSource = RequestSource<S> && requires(S& s, const TokenEvent& e, TimedRequest&& r) {
    { s.on_event(e) } -> std::convertible_to<bool>;
    s.put_back(std::move(r));
};

namespace detail {
/// The driver's side of a FeedbackRequestSource: the on_event handler for a request taken
/// from it, and the re-take after a release. A no-op for other sources.
template <class S>
class SourceFeedback {
public:
    explicit SourceFeedback(S& source) : m_source(&source) {}
    /// The on_event handler for `r` (empty unless the source asked for its events).
    std::function<void(const TokenEvent&)> handler(const TimedRequest& r) {
        if constexpr (FeedbackRequestSource<S>) {
            if (r.notify)
                return [this](const TokenEvent& e) {
                    if (m_source->on_event(e)) m_released = true;
                };
        }
        (void)r;
        return {};
    }
    /// After events: when the source released something, give back `pending` and take the
    /// earliest request again.
    void refresh(TimedRequest& pending, bool& has_pending) {
        if constexpr (FeedbackRequestSource<S>) {
            if (!m_released) return;
            m_released = false;
            if (has_pending) m_source->put_back(std::move(pending));
            has_pending = m_source->next(pending);
        }
        (void)pending;
        (void)has_pending;
    }

private:
    S* m_source;
    bool m_released = false;
};
} // namespace detail

/// A RequestSource over a list (stably sorted by arrival on construction).
class VectorRequestSource {
public:
    explicit VectorRequestSource(std::vector<TimedRequest> requests) : m_requests(std::move(requests)) {
        std::stable_sort(m_requests.begin(), m_requests.end(),
                         [](const TimedRequest& a, const TimedRequest& b) { return a.arrival < b.arrival; });
    }
    bool next(TimedRequest& r) {
        if (m_next == m_requests.size()) return false;
        r = std::move(m_requests[m_next++]);
        return true;
    }
    [[nodiscard]] std::size_t size() const noexcept { return m_requests.size(); }

private:
    std::vector<TimedRequest> m_requests;
    std::size_t m_next = 0;
};

/// What run_simulation records beyond the request records, and the hooks through which a
/// streaming consumer (a summary built as the run goes, see StreamingSummary) sees it.
/// Hooks run on the driver's thread; `replica` is 0 for run_simulation.
struct SimulationOptions {
    /// Keep every step (SimulationResult::steps) and the per-step gauges
    /// (EngineStats::series).
    bool record_steps = false;
    /// Called with the share of requests finished (0..1), about every 1% and at the end
    /// (with a RequestSource of unknown size: only at the end).
    std::function<void(double fraction)> progress;
    /// Keep every token's time in the records (needed for per-request ITL lists; the
    /// summary's ITL comes from on_tokens without it); off saves memory.
    bool record_token_times = true;
    /// Keep every request's record in SimulationResult::records; off (with on_record)
    /// keeps memory to the requests in flight.
    bool keep_records = true;
    /// Each request as it enters a replica: its arrival and whether it was accepted
    /// (a refused request is recorded at once with FinishReason::rejected).
    std::function<void(std::uint32_t replica, RequestId id, std::chrono::nanoseconds arrival, bool accepted)> on_added;
    /// Each finished (or refused) request's record, as it finishes.
    std::function<void(std::uint32_t replica, const RequestRecord&)> on_record;
    /// The output tokens of each processed step (see StepTokenTimes).
    std::function<void(std::uint32_t replica, const StepTokenTimes&)> on_tokens;
    /// The driver is at `now`: no later hook reports an arrival, token or finish before it.
    std::function<void(std::chrono::nanoseconds now)> on_advance;
    /// Called with each request just before it joins the engine, e.g. to fill its
    /// prompt_tokens from a compact description, so that a long trace never holds every
    /// prompt's token ids at once.
    std::function<void(RequestSpec&)> prepare;
    /// Keep the engine's per-interval time series (SimulationResult::timeseries; bounded
    /// memory, see timeseries.hpp) with this interval; 0 = off.
    std::chrono::nanoseconds timeseries_interval{0};
    /// run_fleet_simulation with every replica on a clock of its own: threads that advance
    /// the replicas (0 = every core; the driver's thread is one). Results do not depend on
    /// it; hooks still run on the driver's thread, an engine's observers on the thread
    /// advancing it. Ignored otherwise.
    unsigned threads = 1;
};

/// Everything a run produced.
struct SimulationResult {
    /// One record per request, rejected ones included, in order of finishing (empty
    /// without SimulationOptions::keep_records).
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
    /// Requests run.
    std::size_t num_requests = 0;
};

namespace detail {
/// Attaches a run's recording options to one engine (record flags, step log, time series,
/// token observer) and, when destroyed, leaves the engine as it found it, also when a
/// step throws. One per engine of run_simulation and run_fleet_simulation.
template <class Eng>
class RunRecording {
public:
    RunRecording(Eng& engine, const SimulationOptions& options, std::vector<StepRecord>* steps,
                 EngineTimeSeries* series, std::function<void(const StepTokenTimes&)> on_tokens)
        : m_engine(&engine) {
        engine.set_record_series(options.record_steps);
        engine.set_record_token_times(options.record_token_times);
        engine.set_step_log(options.record_steps ? steps : nullptr);
        if (series != nullptr) engine.set_timeseries(series);
        if (on_tokens) engine.set_token_observer(std::move(on_tokens));
    }
    RunRecording(RunRecording&& o) noexcept : m_engine(std::exchange(o.m_engine, nullptr)) {}
    RunRecording(const RunRecording&) = delete;
    RunRecording& operator=(const RunRecording&) = delete;
    RunRecording& operator=(RunRecording&&) = delete;
    ~RunRecording() {
        if (m_engine == nullptr) return;
        m_engine->set_timeseries(nullptr);
        m_engine->set_step_log(nullptr);
        m_engine->set_record_series(false);
        m_engine->set_record_token_times(true);
        m_engine->set_token_observer({});
    }

private:
    Eng* m_engine;
};

/// A run's progress hook: count() the requests finished, report() calls the hook each
/// time another 1% of `total` finished (never when total is unknown), done() with 1.0.
class RunProgress {
public:
    RunProgress(const std::function<void(double)>& hook, std::size_t total) noexcept
        : m_hook(&hook), m_total(total), m_every(std::max<std::size_t>(1, total / 100)), m_next(m_every) {}
    void count(std::size_t n = 1) noexcept { m_finished += n; }
    void report() const {
        if (*m_hook && m_total > 0 && m_finished >= m_next) {
            (*m_hook)(static_cast<double>(m_finished) / static_cast<double>(m_total));
            m_next = m_finished + m_every;
        }
    }
    void done() const {
        if (*m_hook) (*m_hook)(1.0);
    }
    [[nodiscard]] std::size_t finished() const noexcept { return m_finished; }

private:
    const std::function<void(double)>* m_hook;
    std::size_t m_total;
    std::size_t m_every;
    mutable std::size_t m_next;
    std::size_t m_finished = 0;
};

inline void simulation_bad_order(std::chrono::nanoseconds prev, std::chrono::nanoseconds next) {
    throw_error<contract_error>("request source: an arrival at " + std::to_string(next.count()) +
                                " ns comes after one at " + std::to_string(prev.count()) +
                                " ns; a source must give requests in arrival order");
}
} // namespace detail

/// Runs the requests of `source` (in arrival order) through `engine`, which must be idle,
/// until every request has finished. The run's origin is the clock's time at the call.
/// `total` (0 = unknown) scales the progress hook. Throws what the engine throws, and
/// contract_error for a source out of arrival order.
template <class E, class C, RequestSource S>
SimulationResult run_simulation(Engine<E, C>& engine, S& source, const SimulationOptions& options,
                                std::size_t total = 0) {
    if (engine.busy())
        detail::throw_error<contract_error>(
            "run_simulation: the engine still has requests from an earlier run; use an idle engine");
    SimulationResult result;
    if (options.keep_records && total > 0) result.records.reserve(total);
    engine.set_origin(engine.clock().now());
    if (options.timeseries_interval.count() > 0) result.timeseries = EngineTimeSeries(options.timeseries_interval);
    std::function<void(const StepTokenTimes&)> on_tokens;
    if (options.on_tokens) on_tokens = [&options](const StepTokenTimes& t) { options.on_tokens(0, t); };
    const detail::RunRecording<Engine<E, C>> recording(
        engine, options, &result.steps, options.timeseries_interval.count() > 0 ? &result.timeseries : nullptr,
        std::move(on_tokens));

    detail::RunProgress progress(options.progress, total);
    auto collect = [&] {
        auto& done = engine.finished_records();
        if (done.empty()) return;
        progress.count(done.size());
        for (auto& r : done) {
            if (options.on_record) options.on_record(0, r);
            if (options.keep_records) result.records.push_back(std::move(r));
        }
        done.clear();
        progress.report();
    };
    TimedRequest pending;
    bool has_pending = source.next(pending);
    detail::SourceFeedback<S> feedback(source);
    std::chrono::nanoseconds last_arrival{0};
    for (;;) {
        const std::chrono::nanoseconds t = engine.now();
        feedback.refresh(pending, has_pending);
        while (has_pending && pending.arrival <= t) {
            if (pending.arrival < last_arrival) detail::simulation_bad_order(last_arrival, pending.arrival);
            last_arrival = pending.arrival;
            if (options.prepare) options.prepare(pending.spec);
            const RequestId id = pending.spec.id;
            const bool ok = engine.add_request(std::move(pending.spec), pending.arrival, feedback.handler(pending));
            if (options.on_added) options.on_added(0, id, pending.arrival, ok);
            ++result.num_requests;
            has_pending = source.next(pending);
            feedback.refresh(pending, has_pending); // a refused request may release another
        }
        collect();
        if (options.on_advance) options.on_advance(t);
        if (engine.step()) continue;
        collect();
        feedback.refresh(pending, has_pending);
        if (!has_pending) break;
        if (pending.arrival < last_arrival) detail::simulation_bad_order(last_arrival, pending.arrival);
        engine.clock().sleep_until(engine.to_time_point(pending.arrival));
    }
    collect();
    progress.done();
    result.duration = engine.now();
    result.stats = engine.stats();
    return result;
}

/// Runs `requests` (any order; stably sorted by arrival) through `engine`, which must be
/// idle, until every request has finished. The run's origin is the clock's time at the
/// call. Throws what the engine throws.
template <class E, class C>
SimulationResult run_simulation(Engine<E, C>& engine, std::vector<TimedRequest> requests,
                                const SimulationOptions& options = {}) {
    VectorRequestSource source(std::move(requests));
    const std::size_t total = source.size();
    return run_simulation(engine, source, options, total);
}

LLMEMU_END_NAMESPACE
