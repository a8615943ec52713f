#pragma once
/// \file observer.hpp
/// EngineObserver: hooks into an Engine's loop (Taskflow's ObserverInterface is the
/// model). Attach any number with Engine::add_observer; each gets the step events (begun
/// when dispatched, ended when its output is applied, failed when it threw) and the
/// request events (arrived, first scheduled, preempted, first token, finished). The
/// step log (StepLogObserver), the metrics time series (TimeSeriesObserver) and the
/// Chrome trace (ChromeTraceObserver, chrome_trace.hpp) are observers too. With no
/// observer attached the engine pays one empty-list test per step and per request event.
///
/// Every hook runs on the engine's thread, inside the engine's loop: it must be short,
/// must not call into the engine, and must not throw (an exception from a hook leaves the
/// step half applied; LiveEngine then stops with it as the reason). Times are nanoseconds
/// since the engine's origin.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/engine/timeseries.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One executed step as the executor reported it (times since the run's origin).
struct StepRecord {
    std::chrono::nanoseconds start{0};
    std::chrono::nanoseconds end{0};
    StepShape shape{};
    /// Newly admitted requests in the step (resumed ones are not new).
    std::uint32_t num_new = 0;
};

/// Engine hooks; override the ones you need (each default does nothing).
class EngineObserver {
public:
    EngineObserver() = default;
    EngineObserver(const EngineObserver&) = default;
    EngineObserver& operator=(const EngineObserver&) = default;
    virtual ~EngineObserver() = default;

    /// A step was scheduled and dispatched to the executor at `now`; `stats` are the
    /// engine's after scheduling it (its gauges: running, waiting, kv_usage).
    virtual void on_step_begin(const StepBatch& batch, std::chrono::nanoseconds now, const EngineStats& stats) {
        (void)batch;
        (void)now;
        (void)stats;
    }
    /// A step's output was applied at `now`; `stats` are the engine's after it.
    virtual void on_step_end(const StepRecord& step, std::chrono::nanoseconds now, const EngineStats& stats) {
        (void)step;
        (void)now;
        (void)stats;
    }
    /// A step's dispatch or output threw: it is never applied, and its requests finish
    /// with FinishReason::error (their on_request_finished follow).
    virtual void on_step_failed(std::uint64_t step_id, const std::string& why) {
        (void)step_id;
        (void)why;
    }
    /// A request reached the engine at `arrival` (accepted or about to be rejected).
    virtual void on_request_arrived(RequestId id, std::chrono::nanoseconds arrival) {
        (void)id;
        (void)arrival;
    }
    /// A request was scheduled for the first time (end of its queueing).
    virtual void on_request_scheduled(RequestId id, std::chrono::nanoseconds now) {
        (void)id;
        (void)now;
    }
    /// A running request was preempted (its KV freed; it will recompute).
    virtual void on_request_preempted(RequestId id, std::chrono::nanoseconds now) {
        (void)id;
        (void)now;
    }
    /// A request's first output token was emitted.
    virtual void on_first_token(RequestId id, std::chrono::nanoseconds now) {
        (void)id;
        (void)now;
    }
    /// A request finished (any FinishReason, rejections included); `record` is what the
    /// engine keeps of it.
    virtual void on_request_finished(const RequestRecord& record) { (void)record; }
};

/// Appends a StepRecord per executed step to a vector (what Engine::set_step_log attaches).
class StepLogObserver final : public EngineObserver {
public:
    explicit StepLogObserver(std::vector<StepRecord>* log = nullptr) noexcept : m_log(log) {}
    void set_log(std::vector<StepRecord>* log) noexcept { m_log = log; }
    [[nodiscard]] std::vector<StepRecord>* log() const noexcept { return m_log; }
    void on_step_end(const StepRecord& step, std::chrono::nanoseconds, const EngineStats&) override {
        if (m_log != nullptr) m_log->push_back(step);
    }

private:
    std::vector<StepRecord>* m_log;
};

/// Feeds the engine's state after every step to an EngineTimeSeries (what
/// Engine::set_timeseries attaches; see timeseries.hpp).
class TimeSeriesObserver final : public EngineObserver {
public:
    explicit TimeSeriesObserver(EngineTimeSeries* series = nullptr) noexcept : m_series(series) {}
    void set_series(EngineTimeSeries* series) noexcept { m_series = series; }
    [[nodiscard]] EngineTimeSeries* series() const noexcept { return m_series; }
    void on_step_end(const StepRecord&, std::chrono::nanoseconds now, const EngineStats& stats) override {
        if (m_series != nullptr) m_series->observe(now, stats);
    }

private:
    EngineTimeSeries* m_series;
};

LLMEMU_END_NAMESPACE
