#pragma once
/// \file live_engine.hpp
/// LiveEngine<E>: the reference engine serving in real time on its own thread, for
/// servers. Any thread may submit, abort, snapshot or shut down; tokens are streamed to
/// each request's handler on the engine thread as the executor's steps resolve on the
/// wall clock.
///
/// Exception barrier: a step whose executor or latency model throws fails only its own
/// requests (they finish with FinishReason::error and the message; last_error() keeps
/// it) and the engine keeps serving the others. An exception that fails no step (a
/// handler that throws, an engine that cannot schedule) stops the engine cleanly: every
/// request left finishes with FinishReason::error, later submissions are refused with the
/// reason, and stopped_reason() says why. Nothing escapes the engine thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/kv_events.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/error.hpp"
#include "llmemu/time/wall_clock.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A thread-safe, real-time Engine over a WallClock. E: a StepExecutor on that clock
/// (e.g. EmulatedExecutor<AnyLatencyModel, WallClock>).
template <class E>
class LiveEngine {
public:
    using engine_type = Engine<E, WallClock>;

    /// Builds the engine on the calling thread (throws config_error as Engine does), then
    /// starts the engine thread. Times are measured from construction.
    LiveEngine(E executor, WallClock& clock, const EngineConfig& config, const ModelConfig* model = nullptr)
        : m_engine(std::forward<E>(executor), clock, config, model), m_config(m_engine.config()) {
        m_engine.add_observer(&m_failure_note);
        m_snapshot = m_engine.stats();
        m_thread = std::thread([this] { run(); });
    }

    LiveEngine(const LiveEngine&) = delete;
    LiveEngine& operator=(const LiveEngine&) = delete;

    /// Shuts down (see shutdown).
    ~LiveEngine() { shutdown(); }

    /// The configuration in use (num_gpu_blocks resolved).
    [[nodiscard]] const EngineConfig& config() const noexcept { return m_config; }

    /// Queues a request arriving now. spec.id == 0 asks the engine for a fresh id.
    /// on_event runs on the engine thread for every token and for the final event; it
    /// must not block (it may call abort). Throws request_error for a request that can
    /// never run (e.g. prompt + max_tokens > max_model_len; counted as rejected), whose
    /// id is already in flight, or after shutdown. Returns the request's id.
    RequestId submit(RequestSpec spec, std::function<void(const TokenEvent&)> on_event) {
        const std::chrono::nanoseconds arrival = m_engine.now();
        if (auto why = Scheduler::check_spec(spec, m_config)) {
            {
                std::lock_guard lock(m_mutex);
                ++m_rejected;
            }
            detail::throw_error<request_error>("request " + std::to_string(spec.id) + " refused: " + *why);
        }
        std::lock_guard lock(m_mutex);
        if (m_stopping)
            detail::throw_error<request_error>(m_stopped_reason.empty()
                                                   ? std::string("request refused: the engine is shut down")
                                                   : "request refused: the engine stopped after an internal error (" +
                                                         m_stopped_reason + "); restart it");
        if (spec.id == 0) {
            do {
                spec.id = m_next_id++;
            } while (spec.id == 0 || m_live.count(spec.id) != 0);
        } else if (m_live.count(spec.id) != 0) {
            ++m_rejected;
            detail::throw_error<request_error>("request " + std::to_string(spec.id) +
                                               " refused: that id is already in flight");
        }
        const RequestId id = spec.id;
        m_live.insert(id);
        m_submits.push_back(Pending{std::move(spec), arrival, std::move(on_event)});
        m_wake.notify_one();
        return id;
    }

    /// Aborts a request (no-op when unknown or finished): it finishes with
    /// FinishReason::abort at the engine's next iteration, which frees its KV blocks
    /// before scheduling the next step.
    /// `reason` is the finish reason recorded (stop: the caller matched a stop string).
    void abort(RequestId id, FinishReason reason = FinishReason::abort) {
        std::lock_guard lock(m_mutex);
        if (m_live.count(id) == 0) return;
        m_aborts.emplace_back(id, reason);
        m_wake.notify_one();
    }

    /// The engine statistics as of its last iteration (requests refused by submit are
    /// counted as received and rejected).
    [[nodiscard]] EngineStats snapshot() const {
        std::lock_guard lock(m_mutex);
        EngineStats s = m_snapshot;
        s.requests_received += m_rejected;
        s.finished[static_cast<std::size_t>(FinishReason::rejected)] += m_rejected;
        return s;
    }

    /// Requests submitted and not yet finished.
    [[nodiscard]] std::size_t num_unfinished() const {
        std::lock_guard lock(m_mutex);
        return m_live.size();
    }

    /// Called on the engine thread with each finished request's record (for per-request
    /// histograms: queue, prefill, decode, inference, E2E). Set before submitting.
    void set_on_finish(std::function<void(const RequestRecord&)> fn) {
        std::lock_guard lock(m_mutex);
        m_on_finish = std::move(fn);
    }

    /// The message of the latest failed step (empty when none failed): why its requests
    /// finished with FinishReason::error. Thread-safe.
    [[nodiscard]] std::string last_error() const {
        std::lock_guard lock(m_mutex);
        return m_last_error;
    }
    /// Why the engine stopped on its own (empty while it serves, or after a shutdown()).
    [[nodiscard]] std::string stopped_reason() const {
        std::lock_guard lock(m_mutex);
        return m_stopped_reason;
    }

    /// KV-cache events (kv_events.hpp): from the engine's next iteration on, its KV cache
    /// records vLLM's events and each step's events go to `sink` on the engine thread
    /// (never an empty batch; the sink may move them out and must not block). Set it before
    /// submitting; an empty function stops the events.
    void set_kv_event_sink(std::function<void(KVEventLog&)> sink) {
        std::lock_guard lock(m_mutex);
        m_kv_sink = std::move(sink);
        m_kv_sink_changed = true;
        m_wake.notify_one();
    }

    /// Runs fn(const engine_type&) on the engine thread between two iterations and returns
    /// its result (waits up to one step); after the engine thread ended, on the calling
    /// thread. For inspection, e.g. the prefix cache's contents.
    template <class F>
    auto inspect(F fn) -> std::invoke_result_t<F&, const engine_type&> {
        using R = std::invoke_result_t<F&, const engine_type&>;
        // Shared with the queued call, so the engine thread never touches a task the
        // caller has already destroyed after get() returned.
        auto task = std::make_shared<std::packaged_task<R()>>(
            [&fn, this] { return fn(static_cast<const engine_type&>(m_engine)); });
        auto result = task->get_future();
        bool queued = false;
        {
            std::lock_guard lock(m_mutex);
            if (!m_thread_done) {
                m_inspects.emplace_back([task] { (*task)(); });
                m_wake.notify_one();
                queued = true;
            }
        }
        if (!queued) (*task)();
        return result.get();
    }

    /// Time since construction on the engine's clock.
    [[nodiscard]] std::chrono::nanoseconds now() const { return m_engine.now(); }

    /// Stops the engine: refuses new submissions, aborts every request in flight (each
    /// gets its final abort event), waits for the step in flight and joins the thread.
    /// Idempotent.
    void shutdown() {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
            m_wake.notify_one();
        }
        if (m_thread.joinable()) m_thread.join();
    }

private:
    struct Pending {
        RequestSpec spec;
        std::chrono::nanoseconds arrival;
        std::function<void(const TokenEvent&)> on_event;
    };

    void take_commands(std::vector<Pending>& submits, std::vector<std::pair<RequestId, FinishReason>>& aborts) {
        for (auto& p : submits) m_engine.add_request(std::move(p.spec), p.arrival, std::move(p.on_event));
        for (const auto& [id, reason] : aborts) m_engine.abort(id, reason);
        submits.clear();
        aborts.clear();
    }

    void publish() {
        // Taken out first, so that an on_finish that throws cannot deliver a record twice
        // (the two vectors trade buffers: no allocation in steady state).
        m_published.clear();
        m_published.swap(m_engine.finished_records());
        std::function<void(const RequestRecord&)> on_finish;
        {
            std::lock_guard lock(m_mutex);
            for (const auto& r : m_published) m_live.erase(r.id);
            m_snapshot = m_engine.stats();
            on_finish = m_on_finish;
        }
        if (on_finish)
            for (const auto& r : m_published) on_finish(r);
    }

    static std::string describe(const std::exception_ptr& e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            return x.what();
        } catch (...) {
            return "an exception that is not a std::exception";
        }
    }

    /// One engine step behind the barrier; false when the engine must stop (the exception
    /// failed no step, so stepping again would meet it again).
    bool guarded_step() {
        const std::uint64_t failed_before = m_engine.stats().failed_steps;
        try {
            m_engine.step();
            return true;
        } catch (...) {
            const std::string why = describe(std::current_exception());
            const bool step_failed = m_engine.stats().failed_steps != failed_before;
            std::lock_guard lock(m_mutex);
            if (!step_failed) m_stopped_reason = why; // a failed step's message is in m_last_error already
            return step_failed;
        }
    }

    void deliver_kv_events() {
        if (m_kv_log.empty()) return;
        if (m_kv_sink_local) m_kv_sink_local(m_kv_log);
        m_kv_log.clear();
    }

    void run() {
        try {
            serve();
        } catch (...) { // a handler (on_event, on_finish) threw
            const std::string why = describe(std::current_exception());
            std::lock_guard lock(m_mutex);
            m_stopped_reason = why;
        }
        stop_engine();
        std::vector<std::function<void()>> inspects; // queued while stopping: run here
        {
            std::lock_guard lock(m_mutex);
            m_thread_done = true;
            inspects.swap(m_inspects);
        }
        for (auto& fn : inspects) fn();
    }

    /// The engine loop, until shutdown() or an exception that failed no step.
    void serve() {
        std::vector<Pending> submits;
        std::vector<std::pair<RequestId, FinishReason>> aborts;
        std::vector<std::function<void()>> inspects;
        for (;;) {
            bool stop = false;
            {
                std::unique_lock lock(m_mutex);
                if (!m_engine.busy())
                    m_wake.wait(lock, [&] {
                        return m_stopping || !m_submits.empty() || !m_aborts.empty() || !m_inspects.empty() ||
                               m_kv_sink_changed;
                    });
                stop = m_stopping;
                submits.swap(m_submits);
                aborts.swap(m_aborts);
                inspects.swap(m_inspects);
                if (m_kv_sink_changed) {
                    m_kv_sink_changed = false;
                    m_kv_sink_local = m_kv_sink;
                    m_engine.scheduler().kv_cache().set_event_log(m_kv_sink_local ? &m_kv_log : nullptr);
                }
            }
            for (auto& fn : inspects) fn();
            inspects.clear();
            const bool had_commands = !submits.empty() || !aborts.empty();
            take_commands(submits, aborts);
            if (stop) break;
            if (had_commands) publish(); // rejections and aborts show at once
            const bool stepped = guarded_step();
            publish();
            deliver_kv_events();
            if (!stepped) break;
        }
    }

    /// Ends every request left (each gets its final event) and the steps in flight, then
    /// publishes; never throws.
    void stop_engine() noexcept {
        std::string reason;
        std::vector<Pending> submits;
        decltype(m_aborts) aborts; // none taken: the engine stops
        // Each attempt ends at least one request or step before a handler can throw again.
        for (int attempt = 0; attempt < 1000; ++attempt) {
            try {
                {
                    std::lock_guard lock(m_mutex);
                    m_stopping = true;
                    reason = m_stopped_reason;
                    for (auto& p : m_submits) submits.push_back(std::move(p));
                    m_submits.clear();
                    m_aborts.clear();
                }
                take_commands(submits, aborts);
                if (reason.empty())
                    m_engine.abort_all();
                else
                    m_engine.fail_all("the engine stopped: " + reason);
                m_engine.finish_in_flight();
                publish();
                deliver_kv_events();
                return;
            } catch (...) {
                const std::string why = describe(std::current_exception());
                std::lock_guard lock(m_mutex);
                if (m_stopped_reason.empty()) m_stopped_reason = why;
            }
        }
        std::lock_guard lock(m_mutex);
        m_live.clear();
        m_snapshot = m_engine.stats();
    }

    // Keeps a failed step's message in m_last_error before the step's requests get their
    // final events, so that a client woken by one (the server's 500 body) can read it.
    struct FailureNote final : EngineObserver {
        LiveEngine* self;
        explicit FailureNote(LiveEngine* s) noexcept : self(s) {}
        void on_step_failed(std::uint64_t, const std::string& why) override {
            const std::lock_guard lock(self->m_mutex);
            self->m_last_error = why;
        }
    };
    FailureNote m_failure_note{this};
    engine_type m_engine; // touched by the engine thread only (after construction)
    const EngineConfig m_config;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<Pending> m_submits;
    std::vector<std::pair<RequestId, FinishReason>> m_aborts;
    std::unordered_set<RequestId> m_live;
    EngineStats m_snapshot;
    std::uint64_t m_rejected = 0;
    RequestId m_next_id = 1;
    bool m_stopping = false;
    std::string m_last_error;               // guarded by m_mutex
    std::string m_stopped_reason;           // guarded by m_mutex
    std::vector<RequestRecord> m_published; // engine thread only
    std::function<void(const RequestRecord&)> m_on_finish;
    std::function<void(KVEventLog&)> m_kv_sink;       // guarded by m_mutex
    bool m_kv_sink_changed = false;                   // guarded by m_mutex
    std::vector<std::function<void()>> m_inspects;    // guarded by m_mutex
    bool m_thread_done = false;                       // guarded by m_mutex
    std::function<void(KVEventLog&)> m_kv_sink_local; // engine thread
    KVEventLog m_kv_log;                              // engine thread
    std::thread m_thread;
};

LLMEMU_END_NAMESPACE
