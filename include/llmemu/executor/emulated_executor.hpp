#pragma once
/// \file emulated_executor.hpp
/// EmulatedExecutor: the StepExecutor that stands in for the GPU. Each step's latency is
/// drawn from a LatencyModel (a real profile through LatencyOracle, or an analytic one),
/// the step resolves on a Clock at its emulated end time, and a TokenEmitter supplies the
/// synthetic token ids.

#include <atomic>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/step_executor.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/random.hpp"
#include "llmemu/time/clock.hpp"
#include "llmemu/time/timer_future.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/tokens/token_emitter.hpp"
#include "llmemu/tokens/uniform_vocab_emitter.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {
// Set while execute() runs: a second, overlapping call is refused. Copies and moves start
// clear (an executor is moved only before use).
struct DispatchFlag {
    std::atomic<bool> busy{false};
    DispatchFlag() = default;
    DispatchFlag(const DispatchFlag&) noexcept {}
    DispatchFlag& operator=(const DispatchFlag&) noexcept { return *this; }
    ~DispatchFlag() = default;
};
[[gnu::cold, gnu::noinline]] inline std::exception_ptr executor_concurrent_dispatch(std::uint64_t step_id) {
    return std::make_exception_ptr(config_error(
        "EmulatedExecutor::execute: step " + std::to_string(step_id) +
        " was dispatched while another execute() call on the same executor was running (two threads, or a "
        "model / emitter calling back into it); dispatch from one thread at a time, or guard execute() with a mutex"));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void executor_throw_bad_latency(double us, const StepShape& s) {
    throw_error<profile_error>("EmulatedExecutor::execute: the latency model returned " + std::to_string(us) +
                               " us for a " + (s.phase == Phase::prefill ? "prefill" : "decode") + " step (tokens=" +
                               std::to_string(s.total_tokens) + ", requests=" + std::to_string(s.num_requests) +
                               "); a latency must be >= 0 and at most one day: check the profile or model");
}
} // namespace detail

/// Emulates the GPU side of an engine step by step.
///
/// For each `execute(batch)`:
/// 1. the step shape is `batch.shape()` (prefill iff any request's chunk is prompt work,
///    decode for a pure decode step; conc = scheduled requests; tt = total scheduled tokens — LLM-Emu's keys;
///    computed in the same pass as the tokens, asserted equal to batch.shape() in debug);
/// 2. the latency (µs) is drawn with sample_latency() — a StepBatch model sees the whole
///    batch, a StepShape model the shape — with the executor's own latency stream;
/// 3. the step starts at max(dispatch time, end of the previous step) and ends latency
///    later — never "now + latency" after host work, since a profile's step time already
///    includes the engine's own overhead; the executor is a serial resource like a GPU and
///    accepts the next dispatch before the previous step resolves (async scheduling);
/// 4. each request whose chunk completes its prompt, or that is decoding
///    (ScheduledRequest::samples_token), gets a token from the emitter (own token
///    stream, so the emitter never changes step timings); a partial prefill chunk gets
///    an output without a token. Outputs follow the batch's request order.
///
/// The returned future resolves at the step's end with a StepOutput whose start / end are
/// nanoseconds since the clock's epoch, its latency and the model's coverage kind. A
/// batch StepBatch::validate() refuses (no requests, 0 scheduled tokens, a duplicate id, a
/// decode without a token ...), an invalid latency (NaN, negative, infinite or over a day), or an exception from
/// the model or emitter yields a future that is already resolved with that exception;
/// such a step does not occupy the executor.
///
/// Thread-safety: execute() is for one thread at a time: a call that overlaps another on
/// the same executor (a second thread, or a model or emitter calling back into it) is
/// refused with a config_error future and changes nothing; calls from different threads
/// that do not overlap are ordered (acquire / release) and fine. The accessors are for
/// the dispatching thread; the futures may be waited on from anywhere the clock allows.
/// The clock must outlive the executor and its futures.
template <class M, Clock C = WallClock, class E = UniformVocabEmitter>
class EmulatedExecutor {
    // Not a requires-clause: a static_assert names the signature a wrong type lacks.
    static_assert(detail::diagnose_latency_model<M>(), "EmulatedExecutor<M, C, E>: M must model llmemu::LatencyModel");
    static_assert(detail::diagnose_token_emitter<E>(), "EmulatedExecutor<M, C, E>: E must model llmemu::TokenEmitter");

public:
    using model_type = M;
    using clock_type = C;
    using emitter_type = E;
    using time_point = typename C::time_point;
    using future_type = TimerFuture<StepOutput, C>;
    /// The largest latency accepted from a model (one day): larger, NaN or negative values
    /// are reported as profile_error rather than overflowing the clock.
    static constexpr double max_latency_us = 86400.0 * 1e6;

    /// An executor drawing latencies from `model`, resolving steps on `clock` and tokens
    /// from `emitter`; `seed` fixes both random streams (latency and tokens).
    EmulatedExecutor(M model, C& clock, E emitter = {}, std::uint64_t seed = 0)
        : m_model(std::move(model)), m_clock(&clock), m_emitter(std::move(emitter)) {
        reseed(seed);
    }

    /// Dispatches one step; the future resolves at the step's emulated end.
    future_type execute(const StepBatch& batch) {
        // acquire / release: calls from different threads that do not overlap are ordered.
        if (m_dispatch.busy.exchange(true, std::memory_order_acquire)) [[unlikely]]
            return make_exceptional_future<StepOutput>(*m_clock, detail::executor_concurrent_dispatch(batch.step_id));
        struct Release {
            std::atomic<bool>& busy;
            ~Release() { busy.store(false, std::memory_order_release); }
        } release{m_dispatch.busy};
        const time_point dispatch = m_clock->now();
        try {
            batch.validate();
            StepOutput out;
            out.step_id = batch.step_id;
            // One pass over the batch: the step shape (by StepBatch::shape()'s rule, checked
            // against it in debug builds) and each request's token.
            out.outputs.reserve(batch.requests.size());
            // A local copy of the token stream lets the compiler keep it in registers
            // (stores to the outputs could otherwise alias it); written back on success.
            Rng token_rng = m_token_rng;
            std::uint32_t total_tokens = 0;
            std::uint64_t kv_depth = 0;
            bool any_prefill = false;
            for (const ScheduledRequest& r : batch.requests) {
                total_tokens += r.num_scheduled_tokens;
                kv_depth += r.num_computed_tokens;
                any_prefill |= r.phase == Phase::prefill;
                RequestOutput& o = out.outputs.emplace_back();
                o.id = r.id;
                if (r.samples_token) {
                    const EmittedToken t = m_emitter.emit(r, token_rng);
                    o.token = t.id;
                    o.is_eos = t.eos;
                }
            }
            StepShape& shape = out.shape;
            shape.phase = any_prefill ? Phase::prefill : Phase::decode;
            shape.total_tokens = total_tokens;
            shape.num_requests = static_cast<std::uint32_t>(batch.requests.size());
            shape.kv_depth = kv_depth;
            assert(shape == batch.shape());
            const LatencySample drawn = sample_latency(m_model, batch, shape, m_latency_rng);
            const double us = drawn.us;
            if (!(us >= 0.0 && us <= max_latency_us)) detail::executor_throw_bad_latency(us, shape);

            const time_point start = dispatch > m_busy_until ? dispatch : m_busy_until;
            const std::chrono::nanoseconds latency(std::llround(us * 1000.0));
            const time_point end = start + latency;
            out.start = since_epoch(start);
            out.end = since_epoch(end);
            out.latency = latency;
            out.coverage = drawn.coverage;
            auto future = resolve_at(*m_clock, end, std::move(out));
            m_busy_until = end;
            m_token_rng = token_rng;
            ++m_steps;
            return future;
        } catch (...) {
            return make_exceptional_future<StepOutput>(*m_clock, std::current_exception());
        }
    }

    /// The latency model (e.g. to read an oracle's coverage counters).
    [[nodiscard]] M& model() noexcept { return m_model; }
    [[nodiscard]] const M& model() const noexcept { return m_model; }
    /// The clock steps resolve on.
    [[nodiscard]] C& clock() const noexcept { return *m_clock; }
    /// The token emitter (e.g. to set EOS targets; on the dispatching thread).
    [[nodiscard]] E& emitter() noexcept { return m_emitter; }
    [[nodiscard]] const E& emitter() const noexcept { return m_emitter; }
    /// The end of the last dispatched step: the emulated GPU is busy until then.
    [[nodiscard]] time_point busy_until() const noexcept { return m_busy_until; }
    /// Steps dispatched successfully so far.
    [[nodiscard]] std::uint64_t steps() const noexcept { return m_steps; }
    /// Restarts both random streams from `seed` (the GPU's busy time is kept).
    void reseed(std::uint64_t seed) noexcept {
        Rng base(seed);
        m_latency_rng = base.split();
        m_token_rng = base.split();
    }

private:
    M m_model;
    C* m_clock;
    E m_emitter;
    Rng m_latency_rng;
    Rng m_token_rng;
    time_point m_busy_until{};
    std::uint64_t m_steps = 0;
    detail::DispatchFlag m_dispatch;
};

LLMEMU_END_NAMESPACE
