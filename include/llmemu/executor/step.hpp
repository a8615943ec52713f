#pragma once
/// \file step.hpp
/// StepBatch and StepOutput: what a host scheduler hands to a StepExecutor for one
/// engine step, and what comes back.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "llmemu/oracle/step_shape.hpp"

namespace llmemu {

/// Identifies a request across the host scheduler and the executor.
using RequestId = std::uint64_t;
/// A (synthetic) token id.
using TokenId = std::int32_t;

/// One request's part in a step.
struct ScheduledRequest {
    RequestId id = 0;
    /// Tokens scheduled for this request in this step (a prefill chunk, or 1 to decode).
    std::uint32_t num_scheduled_tokens = 0;
    /// Tokens of this request already in the KV cache before this step.
    std::uint32_t num_computed_tokens = 0;
    /// Output tokens the request has produced before this step.
    std::uint32_t num_output_tokens = 0;
    /// Admitted for the first time in this step (vLLM's scheduled_new_reqs, which LLM-Emu's
    /// num_new_reqs counts); a request resuming after preemption is not new.
    bool is_new = false;
    /// This chunk completes the prompt, so the request samples a token in this step.
    bool completes_prompt = true;
};

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
    /// The oracle key, by the rule LLM-Emu's packs are built with: phase is prefill when
    /// the step schedules a newly admitted request; conc = scheduled requests (>= 1).
    [[nodiscard]] StepShape shape() const noexcept {
        StepShape s;
        std::uint64_t kv = 0;
        for (const auto& r : requests) {
            s.total_tokens += r.num_scheduled_tokens;
            if (r.is_new) s.phase = Phase::prefill;
            kv += r.num_computed_tokens;
        }
        s.num_requests = static_cast<std::uint32_t>(requests.size());
        s.kv_depth = kv;
        return s;
    }
};

/// One request's result of a step: a sampled token, or none for a partial prefill chunk.
struct RequestOutput {
    RequestId id = 0;
    std::optional<TokenId> token;
    /// The emitter decided this token ends the sequence (EOS).
    bool is_eos = false;
};

/// What a step returns, with its emulated start and end (nanoseconds since the
/// executor's clock epoch) and sampled latency.
struct StepOutput {
    std::uint64_t step_id = 0;
    std::vector<RequestOutput> outputs;
    std::chrono::nanoseconds start{0};
    std::chrono::nanoseconds end{0};
    StepShape shape{};
};

} // namespace llmemu
