#pragma once
/// \file step.hpp
/// The step vocabulary every layer shares: what a host scheduler hands over for one engine
/// step (StepBatch of ScheduledRequest), the oracle's key of it (StepShape), and what comes
/// back (StepOutput of RequestOutput). In core/ because tokens/ (emitters read a request),
/// oracle/ (latency models read the shape or the whole batch) and executor/ all use it and
/// none of them should include another to get it; it depends on the standard library only.
/// executor/step.hpp and oracle/step_shape.hpp forward here.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/coverage.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Identifies a request across the host scheduler and the executor.
using RequestId = std::uint64_t;
/// A (synthetic) token id.
using TokenId = std::int32_t;

/// What work a step or one request's chunk is. For a step: the profile table it is drawn
/// from (decode = a pure decode step, every request decoding; prefill = any prompt work in
/// the step, the prefill / mixed table). For a request: its chunk is prompt work
/// (prefill, first chunk or not, also a recompute after preemption) or one decode token.
enum class Phase : std::uint8_t { decode = 0, prefill = 1 };

/// "decode" or "prefill".
constexpr const char* to_string(Phase p) noexcept {
    return p == Phase::prefill ? "prefill" : "decode";
}

/// The key of one step: phase, total scheduled tokens (LLM-Emu's `tt`) and scheduled
/// requests (LLM-Emu's `conc`), plus the optional total KV depth of the batch.
struct StepShape {
    Phase phase = Phase::decode;
    std::uint32_t total_tokens = 0;
    std::uint32_t num_requests = 0;
    std::uint64_t kv_depth = 0;

    friend constexpr bool operator==(const StepShape&, const StepShape&) = default;
};

/// One request's part in a step. Built only by its named constructors, so that no field
/// can be forgotten and no default makes a chunk emit a token:
///
///     ScheduledRequest::prefill_chunk(id, chunk_tokens, computed_tokens, prompt_tokens)
///     ScheduledRequest::decode(id, context_tokens, output_tokens)
///
/// The fields are public for reading (latency models, emitters, hosts); a host that edits
/// them afterwards can check the step with StepBatch::validate().
struct ScheduledRequest {
    RequestId id = 0;
    /// Tokens computed for this request in this step: the chunk (1 for a decode).
    std::uint32_t num_scheduled_tokens = 0;
    /// Tokens of this request already in the KV cache before this step: the context the
    /// chunk attends to.
    std::uint32_t num_computed_tokens = 0;
    /// Output tokens the request has produced before this step.
    std::uint32_t num_output_tokens = 0;
    /// What the chunk is: prompt work (Phase::prefill) or one decode token.
    Phase phase = Phase::prefill;
    /// The request samples a token at the end of this step: its chunk completes the
    /// prompt, or it is decoding. False for a chunk that leaves prompt work to do.
    bool samples_token = false;
    /// Admitted for the first time in this step (vLLM's scheduled_new_reqs, which
    /// LLM-Emu's num_new_reqs counts; a request resumed after preemption is one of vLLM's
    /// cached requests, not new). Statistics only: it does not choose the table. Set it on
    /// the first chunk of a first admission.
    bool is_new = false;

    /// A chunk of prompt work: `chunk_tokens` tokens computed this step on top of
    /// `computed_tokens` already in the KV cache. `prompt_tokens` is how many tokens the
    /// request must have computed before it samples: its prompt (after a preemption: the
    /// prompt plus the tokens it had generated, recomputed). The request samples a token
    /// iff the chunk reaches that count. `output_tokens`: tokens produced before (non-zero
    /// only for a recompute after preemption). Mark the first chunk of an admission with
    /// `.admitted()`.
    [[nodiscard]] static constexpr ScheduledRequest prefill_chunk(RequestId id, std::uint32_t chunk_tokens,
                                                                  std::uint32_t computed_tokens,
                                                                  std::uint32_t prompt_tokens,
                                                                  std::uint32_t output_tokens = 0) noexcept {
        ScheduledRequest r;
        r.id = id;
        r.num_scheduled_tokens = chunk_tokens;
        r.num_computed_tokens = computed_tokens;
        r.num_output_tokens = output_tokens;
        r.phase = Phase::prefill;
        r.samples_token = std::uint64_t{computed_tokens} + chunk_tokens >= prompt_tokens;
        return r;
    }

    /// One decode token: the request has `context_tokens` tokens in the KV cache (prompt
    /// plus the outputs computed so far) and has produced `output_tokens` tokens; it
    /// computes one token and samples the next.
    [[nodiscard]] static constexpr ScheduledRequest decode(RequestId id, std::uint32_t context_tokens,
                                                           std::uint32_t output_tokens) noexcept {
        ScheduledRequest r;
        r.id = id;
        r.num_scheduled_tokens = 1;
        r.num_computed_tokens = context_tokens;
        r.num_output_tokens = output_tokens;
        r.phase = Phase::decode;
        r.samples_token = true;
        return r;
    }

    /// The same request marked as newly admitted in this step (`is_new`).
    [[nodiscard]] constexpr ScheduledRequest admitted(bool is_new_in_step = true) const noexcept {
        ScheduledRequest r = *this;
        r.is_new = is_new_in_step;
        return r;
    }

    /// The chunk is prompt work (first chunk or not).
    [[nodiscard]] constexpr bool is_prefill() const noexcept { return phase == Phase::prefill; }
    /// The chunk is one decode token.
    [[nodiscard]] constexpr bool is_decode() const noexcept { return phase == Phase::decode; }

    friend constexpr bool operator==(const ScheduledRequest&, const ScheduledRequest&) = default;

private:
    constexpr ScheduledRequest() noexcept = default;
};

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void step_invalid(std::uint64_t step_id, const std::string& what) {
    throw_error<request_error>("step " + std::to_string(step_id) + ": " + what);
}
[[noreturn, gnu::cold, gnu::noinline]] inline void step_invalid_request(std::uint64_t step_id, RequestId id,
                                                                        const std::string& what) {
    step_invalid(step_id, "request " + std::to_string(id) + " " + what);
}
} // namespace detail

/// A step as the host scheduler describes it.
struct StepBatch {
    std::uint64_t step_id = 0;
    std::vector<ScheduledRequest> requests;

    /// Total scheduled tokens (LLM-Emu's `tt`).
    [[nodiscard]] std::uint32_t total_tokens() const noexcept {
        std::uint32_t n = 0;
        for (const auto& r : requests) n += r.num_scheduled_tokens;
        return n;
    }
    /// Newly admitted requests in the step.
    [[nodiscard]] std::uint32_t num_new() const noexcept {
        std::uint32_t n = 0;
        for (const auto& r : requests) n += r.is_new ? 1U : 0U;
        return n;
    }
    /// The step has prompt work: a prefill chunk of any request, first or not.
    [[nodiscard]] bool has_prefill() const noexcept {
        return std::any_of(requests.begin(), requests.end(),
                           [](const ScheduledRequest& r) { return r.phase == Phase::prefill; });
    }
    /// The oracle key. phase: prefill when any request's chunk is prompt work (the first
    /// chunk or a later one), decode only for a pure decode step — how LLM-Emu's packs
    /// split their tables (decode = pure decode steps on the CUDA-graph path, tt ~ conc;
    /// every step with prefill work ran eagerly and is in the prefill / mixed table).
    /// conc = scheduled requests; tt = scheduled tokens; kv_depth = tokens already computed.
    [[nodiscard]] StepShape shape() const noexcept {
        StepShape s;
        std::uint64_t kv = 0;
        for (const auto& r : requests) {
            s.total_tokens += r.num_scheduled_tokens;
            if (r.phase == Phase::prefill) s.phase = Phase::prefill;
            kv += r.num_computed_tokens;
        }
        s.num_requests = static_cast<std::uint32_t>(requests.size());
        s.kv_depth = kv;
        return s;
    }

    /// Refuses a step no engine could run, with a request_error naming the step and the
    /// request: no requests; a request with 0 scheduled tokens; a decode that schedules
    /// other than 1 token or samples no token; a context or step token count past 2^32-1;
    /// the same request id twice. O(n) (a small open-addressing table on the stack up to
    /// 512 requests); EmulatedExecutor::execute runs it on every step.
    void validate() const {
        if (requests.empty())
            detail::step_invalid(step_id,
                                 "schedules no requests; dispatch a step only when it schedules at least one request");
        std::uint64_t total = 0;
        for (const ScheduledRequest& r : requests) {
            if (r.num_scheduled_tokens == 0)
                detail::step_invalid_request(
                    step_id, r.id,
                    "has num_scheduled_tokens = 0; leave requests with nothing to compute out of the batch");
            if (r.phase == Phase::decode && r.num_scheduled_tokens != 1)
                detail::step_invalid_request(step_id, r.id,
                                             "is a decode of " + std::to_string(r.num_scheduled_tokens) +
                                                 " tokens; a decode computes exactly 1 (describe prompt work with "
                                                 "ScheduledRequest::prefill_chunk)");
            if (r.phase == Phase::decode && !r.samples_token)
                detail::step_invalid_request(step_id, r.id,
                                             "is a decode that samples no token; build it with "
                                             "ScheduledRequest::decode (a decode always samples)");
            if (std::uint64_t{r.num_computed_tokens} + r.num_scheduled_tokens >
                std::numeric_limits<std::uint32_t>::max())
                detail::step_invalid_request(step_id, r.id,
                                             "has num_computed_tokens + num_scheduled_tokens past 2^32-1");
            total += r.num_scheduled_tokens;
        }
        if (total > std::numeric_limits<std::uint32_t>::max())
            detail::step_invalid(step_id, "schedules more than 2^32-1 tokens in total");
        check_unique_ids();
    }

private:
    void check_unique_ids() const {
        const std::size_t n = requests.size();
        // A scheduler's batch is mostly in admission order, so ids usually ascend: unique.
        std::size_t ascending = 1;
        while (ascending < n && requests[ascending - 1].id < requests[ascending].id) ++ascending;
        if (ascending >= n) return;
        if (n <= 16) { // quadratic is cheapest for small steps
            for (std::size_t i = 1; i < n; ++i)
                for (std::size_t j = 0; j < i; ++j)
                    if (requests[i].id == requests[j].id) duplicate(requests[i].id);
            return;
        }
        constexpr std::size_t stack_slots = 1024;
        std::size_t slots = 32;
        while (slots < 2 * n) slots *= 2;
        std::array<RequestId, stack_slots> local;           // NOLINT: filled as used
        std::array<std::uint64_t, stack_slots / 64> used{}; // occupancy bits
        std::vector<RequestId> heap_ids;
        std::vector<std::uint64_t> heap_used;
        RequestId* table = local.data();
        std::uint64_t* occupied = used.data();
        if (slots > stack_slots) {
            heap_ids.resize(slots);
            heap_used.assign(slots / 64, 0);
            table = heap_ids.data();
            occupied = heap_used.data();
        }
        const std::size_t mask = slots - 1;
        for (const ScheduledRequest& r : requests) {
            std::uint64_t h = r.id * 0x9E3779B97F4A7C15ULL;
            std::size_t i = static_cast<std::size_t>(h ^ (h >> 32U)) & mask;
            while ((occupied[i / 64] >> (i % 64)) & 1U) {
                if (table[i] == r.id) duplicate(r.id);
                i = (i + 1) & mask;
            }
            occupied[i / 64] |= std::uint64_t{1} << (i % 64);
            table[i] = r.id;
        }
    }
    [[noreturn]] void duplicate(RequestId id) const {
        detail::step_invalid_request(step_id, id,
                                     "appears twice; schedule each request at most once per step (merge its chunks)");
    }
};

/// One request's result of a step: a sampled token, or none for a partial prefill chunk.
struct RequestOutput {
    RequestId id = 0;
    std::optional<TokenId> token;
    /// The emitter decided this token ends the sequence (EOS).
    bool is_eos = false;
};

/// What a step returns: its emulated start and end (nanoseconds since the executor's
/// clock epoch), the latency the model drew for it and how the model answered (exact
/// profile bucket, interpolated, or outside the profiled range), and the oracle key.
struct StepOutput {
    std::uint64_t step_id = 0;
    std::vector<RequestOutput> outputs;
    std::chrono::nanoseconds start{0};
    std::chrono::nanoseconds end{0};
    StepShape shape{};
    /// The sampled step latency (end - start).
    std::chrono::nanoseconds latency{0};
    /// How the latency model answered this step (exact profile bucket, interpolated, out
    /// of range; a model that does not say answers `exact`).
    CoverageKind coverage = CoverageKind::exact;
};

LLMEMU_END_NAMESPACE
