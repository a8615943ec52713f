#pragma once
/// \file engine.hpp
/// Engine<E, C>: the reference engine's loop over any StepExecutor and Clock. Each step()
/// schedules a batch (vLLM v1 rules, see scheduler.hpp), dispatches it to the executor
/// and processes the output of the step before it. With async scheduling (vLLM's default)
/// step N+1 is scheduled and dispatched while step N executes, so the executor, a serial
/// resource, starts it the moment N ends; without it, the engine waits for each step's
/// output before scheduling the next. The same code runs on a WallClock (real time) and
/// on a VirtualClock (waiting a future advances simulated time instantly).
///
/// Single-threaded: one thread calls add_request/abort/step (LiveEngine wraps it in a
/// thread of its own). Times given to and reported by the engine are nanoseconds since
/// its origin (the clock's time at construction, or set_origin).

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/scheduler.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/step.hpp"
#include "llmemu/executor/step_executor.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/time/clock.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {
/// The ModelConfig an executor's latency model carries (EmulatedExecutor over an
/// AnyLatencyModel loaded from a pack), or nullptr.
template <class X>
const ModelConfig* engine_model_config_of(X& executor) {
    if constexpr (requires { executor.model().model_config(); }) {
        return executor.model().model_config();
    } else if constexpr (requires { executor.model().model_config; }) {
        return &executor.model().model_config;
    } else {
        (void)executor;
        return nullptr;
    }
}
} // namespace detail

/// The reference engine. E: a StepExecutor (held by value; pass a reference type, e.g.
/// Engine<MyExecutor&, VirtualClock>, to share one). C: the Clock the executor runs on.
template <class E, Clock C>
requires StepExecutor<std::remove_reference_t<E>>
class Engine {
public:
    using executor_type = std::remove_reference_t<E>;
    using clock_type = C;
    using time_point = typename C::time_point;
    using future_type = step_future_t<executor_type>;

    /// Builds the engine. config.num_gpu_blocks == 0 derives the pool from `model` if
    /// given, else from the executor's latency model (a profile pack's model_config);
    /// throws config_error when neither exists or the config cannot work.
    Engine(E executor, C& clock, const EngineConfig& config, const ModelConfig* model = nullptr)
        : m_executor(std::forward<E>(executor)), m_clock(&clock),
          m_config(resolved(config, model != nullptr ? model : detail::engine_model_config_of(m_executor))),
          m_scheduler(m_config), m_origin(clock.now()) {}

    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// The configuration in use (num_gpu_blocks resolved).
    [[nodiscard]] const EngineConfig& config() const noexcept { return m_config; }
    [[nodiscard]] executor_type& executor() noexcept { return m_executor; }
    [[nodiscard]] C& clock() const noexcept { return *m_clock; }
    [[nodiscard]] Scheduler& scheduler() noexcept { return m_scheduler; }
    [[nodiscard]] const Scheduler& scheduler() const noexcept { return m_scheduler; }

    /// The run's origin on the clock.
    [[nodiscard]] time_point origin() const noexcept { return m_origin; }
    /// Moves the origin (only while idle: no request in the engine). Throws contract_error
    /// otherwise.
    void set_origin(time_point origin) {
        if (busy())
            detail::throw_error<contract_error>(
                "Engine::set_origin: the engine still has requests; set the origin while idle");
        m_origin = origin;
    }
    /// Time since the origin.
    [[nodiscard]] std::chrono::nanoseconds now() const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(m_clock->now() - m_origin);
    }
    /// A time since the origin as a clock time point.
    [[nodiscard]] time_point to_time_point(std::chrono::nanoseconds t) const {
        return m_origin + std::chrono::duration_cast<typename C::duration>(t);
    }

    /// Why `spec` can never run on this engine, or nullopt (see Scheduler::check_spec).
    [[nodiscard]] std::optional<std::string> check(const RequestSpec& spec) const {
        return Scheduler::check_spec(spec, m_config);
    }

    /// Queues a request that arrived at `arrival` (since the origin; not in the future of
    /// now()). A request that can never run is refused: recorded with
    /// FinishReason::rejected and its reason, counted, and on_event gets a final event.
    /// on_event runs on this thread for every token and must not call into the engine.
    bool add_request(RequestSpec spec, std::chrono::nanoseconds arrival,
                     std::function<void(const TokenEvent&)> on_event = {}) {
        return m_scheduler.add_request(std::move(spec), arrival, std::move(on_event));
    }
    /// Queues a request arriving now.
    bool add_request(RequestSpec spec, std::function<void(const TokenEvent&)> on_event = {}) {
        return m_scheduler.add_request(std::move(spec), now(), std::move(on_event));
    }

    /// Aborts a request: finished with `reason` (FinishReason::abort, or stop for a stop
    /// string matched outside the engine), its blocks free for the next step; an output of
    /// it still in flight is discarded. False if unknown or finished.
    bool abort(RequestId id, FinishReason reason = FinishReason::abort) { return m_scheduler.abort(id, now(), reason); }

    /// One engine iteration: schedule and dispatch the next step, then (async) process the
    /// output of the step in flight or (sync) wait for the new step and process it.
    /// Returns false when there was nothing to do (no request can be scheduled and no step
    /// is in flight). When the executor's execute() or its future throws (a latency model
    /// that throws, say), the step is never applied: its requests finish with
    /// FinishReason::error and the message in their records (Scheduler::fail_step),
    /// stats().failed_steps counts it, and the exception is rethrown. The engine stays
    /// consistent (no placeholder of the failed step remains) and may keep stepping.
    bool step() {
        const bool dispatched = m_count < capacity() && dispatch_next();
        bool completed = false;
        if (m_count > 0 && (!m_config.async_scheduling || m_count >= 2 || !dispatched)) {
            complete_oldest();
            completed = true;
        }
        if (!dispatched && !completed) {
            if (m_scheduler.has_unfinished()) stalled();
            return false;
        }
        return true;
    }

    /// Never blocks: processes the oldest step if its output is ready, and schedules and
    /// dispatches while the pipeline has room (async: two steps in flight, the second
    /// scheduled with placeholders; sync: one). Returns whether it did anything. For
    /// drivers that multiplex several engines on one clock (see router.hpp).
    bool poll() {
        bool did = false;
        for (;;) {
            if (m_count > 0 && m_futures[static_cast<std::size_t>(m_fifo[0])]->ready()) {
                complete_oldest();
                did = true;
                continue;
            }
            if (m_count < capacity() && (m_count == 0 || m_config.async_scheduling) && dispatch_next()) {
                did = true;
                continue;
            }
            return did;
        }
    }

    /// Aborts every request in the engine (see abort); returns how many.
    std::size_t abort_all() {
        std::size_t n = 0;
        for (const RequestId id : m_scheduler.unfinished_ids()) n += abort(id) ? 1U : 0U;
        return n;
    }
    /// Finishes every request in the engine with FinishReason::error, `why` in its record
    /// (each gets its final event; an output still in flight is discarded); returns how
    /// many.
    std::size_t fail_all(const std::string& why) { return m_scheduler.fail_all(now(), why); }
    /// Waits for the steps in flight, if any, and processes their outputs (nothing new is
    /// scheduled).
    void finish_in_flight() {
        while (m_count > 0) complete_oldest();
    }

    /// A step is dispatched and not yet processed.
    [[nodiscard]] bool in_flight() const noexcept { return m_count > 0; }
    /// The oldest step in flight has its output ready: poll() would process it. (Without
    /// this, a new request or a poll() that did something, poll() has nothing to do: fleet
    /// drivers poll only such engines.)
    [[nodiscard]] bool output_ready() const {
        return m_count > 0 && m_futures[static_cast<std::size_t>(m_fifo[0])]->ready();
    }
    /// Whether the executor's futures say when they resolve (output_deadline works).
    static constexpr bool has_output_deadline = requires(const future_type& f) {
        { f.deadline() } -> std::convertible_to<time_point>;
    };
    /// When the oldest step in flight resolves (output_ready() from then on, once its timer
    /// has run); nullopt with no step in flight or a future that does not say.
    [[nodiscard]] std::optional<time_point> output_deadline() const {
        if constexpr (has_output_deadline) {
            if (m_count > 0) return m_futures[static_cast<std::size_t>(m_fifo[0])]->deadline();
        }
        return std::nullopt;
    }
    /// Steps dispatched and not yet processed (0, 1, or 2 with async scheduling).
    [[nodiscard]] int steps_in_flight() const noexcept { return m_count; }
    /// When the second step in flight resolves; nullopt with fewer than two in flight or a
    /// future that does not say.
    [[nodiscard]] std::optional<time_point> second_output_deadline() const {
        if constexpr (has_output_deadline) {
            if (m_count > 1) return m_futures[static_cast<std::size_t>(m_fifo[1])]->deadline();
        }
        return std::nullopt;
    }
    /// How many requests processing the oldest step in flight will finish (leave running
    /// + waiting), when its output is already known (a virtual clock's future made by
    /// resolve_at, as EmulatedExecutor's are) and nothing but new requests reaches the
    /// engine first; nullopt otherwise. For fleet drivers that route ahead of time.
    /// Counted once per step (a driver may ask again after each new request).
    [[nodiscard]] std::optional<std::uint32_t> finishing_at_oldest() const {
        if constexpr (C::is_virtual && requires(const future_type& f) { f.preloaded(); }) {
            if (m_count == 0) return std::nullopt;
            const auto index = static_cast<std::size_t>(m_fifo[0]);
            const std::uint64_t step = m_steps[index].batch.step_id;
            if (m_finishing.first == step) return m_finishing.second;
            const auto* out = m_futures[index]->preloaded();
            if (out == nullptr) return std::nullopt;
            if constexpr (std::is_convertible_v<decltype(*out), const StepOutput&>) {
                m_finishing = {step, m_scheduler.count_finishing(m_steps[index], *out)};
                return m_finishing.second;
            }
        }
        return std::nullopt;
    }
    /// Requests in the engine, or a step in flight.
    [[nodiscard]] bool busy() const noexcept { return m_count > 0 || m_scheduler.has_unfinished(); }
    /// Steps until every request has finished.
    void run_until_idle() {
        while (busy()) step();
    }

    /// Records of requests finished (or rejected) since the caller last cleared it.
    [[nodiscard]] std::vector<RequestRecord>& finished_records() noexcept { return m_scheduler.finished_records(); }
    /// Counters and gauges since construction.
    [[nodiscard]] const EngineStats& stats() const noexcept { return m_scheduler.stats(); }
    /// Keep one StepStat per step in stats().series (off by default).
    void set_record_series(bool on) noexcept { m_scheduler.set_record_series(on); }
    /// Keep every token's time in RequestRecord::token_times (on by default).
    void set_record_token_times(bool on) noexcept { m_scheduler.set_record_token_times(on); }
    /// Called after each processed step that emitted tokens (see StepTokenTimes; empty: off).
    void set_token_observer(std::function<void(const StepTokenTimes&)> f) {
        m_scheduler.set_token_observer(std::move(f));
    }
    /// Attaches an observer (see observer.hpp; not owned, it must outlive its attachment):
    /// step begun / ended / failed and request arrived / scheduled / preempted / first
    /// token / finished, on this thread. Any number may be attached.
    void add_observer(EngineObserver* o) { m_scheduler.add_observer(o); }
    /// Detaches an observer; false if it was not attached.
    bool remove_observer(EngineObserver* o) noexcept { return m_scheduler.remove_observer(o); }
    /// Feed the engine's state after every step to *series (nullptr: off; see
    /// timeseries.hpp): attaches the engine's TimeSeriesObserver.
    void set_timeseries(EngineTimeSeries* series) { attach(m_series_observer, series); }
    /// Append a StepRecord per executed step to *log (nullptr: off): attaches the engine's
    /// StepLogObserver.
    void set_step_log(std::vector<StepRecord>* log) { attach(m_step_logger, log); }

private:
    static EngineConfig resolved(EngineConfig c, const ModelConfig* model) {
        c.validate();
        c.num_gpu_blocks = resolve_num_gpu_blocks(c, model);
        return c;
    }

    [[noreturn, gnu::cold, gnu::noinline]] void stalled() const {
        detail::throw_error<contract_error>("engine stalled: " + std::to_string(m_scheduler.num_waiting()) +
                                            " waiting and " + std::to_string(m_scheduler.num_running()) +
                                            " running requests but nothing can be scheduled (KV pool of " +
                                            std::to_string(m_config.num_gpu_blocks) + " blocks)");
    }

    [[nodiscard]] int capacity() const noexcept { return m_config.async_scheduling ? 2 : 1; }

    template <class O, class T>
    void attach(O& observer, T* target) {
        if constexpr (std::is_same_v<O, StepLogObserver>)
            observer.set_log(target);
        else
            observer.set_series(target);
        if (target != nullptr)
            m_scheduler.add_observer(&observer);
        else
            (void)m_scheduler.remove_observer(&observer);
    }

    /// Schedules into the free buffer and dispatches; false when nothing was scheduled.
    bool dispatch_next() {
        const int index = m_count == 0 ? m_next_buffer : 1 - m_fifo[0];
        ScheduledStep& s = m_steps[static_cast<std::size_t>(index)];
        const std::chrono::nanoseconds t = now();
        m_scheduler.schedule(s, t);
        if (s.empty()) return false;
        try {
            m_futures[static_cast<std::size_t>(index)].emplace(m_executor.execute(s.batch));
        } catch (...) {
            fail_step(s, std::current_exception());
            throw;
        }
        m_fifo[static_cast<std::size_t>(m_count++)] = index;
        m_next_buffer = 1 - index;
        m_scheduler.notify([&](EngineObserver& o) { o.on_step_begin(s.batch, t, m_scheduler.stats()); });
        return true;
    }

    void pop_oldest(int index) noexcept {
        m_fifo[0] = m_fifo[1];
        --m_count;
        m_futures[static_cast<std::size_t>(index)].reset();
    }

    [[gnu::cold, gnu::noinline]] void fail_step(const ScheduledStep& s, const std::exception_ptr& e) {
        std::string why = "step " + std::to_string(s.batch.step_id) + " failed: ";
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            why += x.what();
        } catch (...) {
            why += "an exception that is not a std::exception";
        }
        m_scheduler.notify([&](EngineObserver& o) { o.on_step_failed(s.batch.step_id, why); });
        m_scheduler.fail_step(s, now(), why);
    }

    void complete_oldest() {
        const int index = m_fifo[0];
        auto& fut = m_futures[static_cast<std::size_t>(index)];
        const ScheduledStep& s = m_steps[static_cast<std::size_t>(index)];
        // The step leaves the pipeline only once its output is in hand; a throwing future
        // fails the step's requests instead of leaving their placeholders behind.
        StepOutput out = [&] {
            try {
                fut->wait();
                return fut->get();
            } catch (...) {
                pop_oldest(index);
                fail_step(s, std::current_exception());
                throw;
            }
        }();
        pop_oldest(index);
        const std::chrono::nanoseconds t = now();
        m_scheduler.update_from_output(s, out, t);
        if (!m_scheduler.observers().empty()) [[unlikely]] {
            const auto origin = since_epoch(m_origin);
            const StepRecord rec{out.start - origin, out.end - origin, out.shape, s.batch.num_new()};
            m_scheduler.notify([&](EngineObserver& o) { o.on_step_end(rec, t, m_scheduler.stats()); });
        }
    }

    E m_executor;
    C* m_clock;
    EngineConfig m_config;
    Scheduler m_scheduler;
    time_point m_origin;
    std::array<ScheduledStep, 2> m_steps;
    mutable std::pair<std::uint64_t, std::uint32_t> m_finishing{~std::uint64_t{0}, 0}; // finishing_at_oldest's
    std::array<std::optional<future_type>, 2> m_futures;
    std::array<int, 2> m_fifo{}; // buffers in flight, oldest first
    int m_count = 0;
    int m_next_buffer = 0;
    StepLogObserver m_step_logger;
    TimeSeriesObserver m_series_observer;
};

LLMEMU_END_NAMESPACE
