#pragma once
/// \file request.hpp
/// What a client asks the reference engine for (RequestSpec), how a request ended
/// (FinishReason), what the engine records about it (RequestRecord), and the streaming
/// event each emitted token produces (TokenEvent).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One generation request.
struct RequestSpec {
    /// Caller-chosen identifier, unique among the requests alive in one engine.
    RequestId id = 0;
    /// Prompt length in tokens (when prompt_tokens is given, 0 or its size).
    std::uint32_t prompt_len = 0;
    /// Prompt token ids; empty = synthetic prompt, unique to this request (never shares
    /// a prefix-cache block with another request).
    std::vector<TokenId> prompt_tokens;
    /// Most output tokens to generate (>= 1).
    std::uint32_t max_tokens = 16;
    /// EOS is ignored until this many tokens were generated.
    std::uint32_t min_tokens = 0;
    /// Never stop at EOS: generate exactly max_tokens.
    bool ignore_eos = false;
    /// Priority policy only: lower values are served first (vLLM's convention).
    int priority = 0;
    /// Prompt tokens whose KV arrives computed from another engine (the decode side of
    /// prefill/decode disaggregation, vLLM's do_remote_prefill): at its first admission the
    /// request gets blocks for them and computes only the rest, at least the last prompt
    /// token (vLLM recomputes it to sample). <= the prompt length; a preempted request
    /// recomputes everything.
    std::uint32_t num_external_computed_tokens = 0;

    /// Prompt length as the engine uses it (prompt_tokens.size() when given).
    [[nodiscard]] std::uint32_t effective_prompt_len() const noexcept {
        return prompt_tokens.empty() ? prompt_len : static_cast<std::uint32_t>(prompt_tokens.size());
    }
};

/// Why a request left the engine. none: still in flight. error: a step it was in failed
/// (the executor or its latency model threw; RequestRecord::error holds why).
enum class FinishReason : std::uint8_t { none = 0, length = 1, stop = 2, abort = 3, rejected = 4, error = 5 };

/// Number of FinishReason values (for per-reason counters indexed by the enum).
inline constexpr std::size_t num_finish_reasons = 6;

/// "none", "length", "stop", "abort", "rejected", "error" (vLLM's finished_reason labels).
[[nodiscard]] inline const char* to_string(FinishReason r) noexcept {
    switch (r) {
    case FinishReason::length:
        return "length";
    case FinishReason::stop:
        return "stop";
    case FinishReason::abort:
        return "abort";
    case FinishReason::rejected:
        return "rejected";
    case FinishReason::error:
        return "error";
    case FinishReason::none:
        break;
    }
    return "none";
}

/// What the engine recorded about one request. Times are nanoseconds since the run's
/// origin (run_simulation: the clock at its start; LiveEngine: its construction);
/// `unset` (-1 ns) marks an event that never happened (e.g. first_token of a request
/// rejected or aborted before its first token).
struct RequestRecord {
    static constexpr std::chrono::nanoseconds unset{-1};

    RequestId id = 0;
    std::uint32_t prompt_len = 0;
    /// Output tokens delivered to the client.
    std::uint32_t output_len = 0;
    std::chrono::nanoseconds arrival{0};
    /// First step that scheduled any of its tokens (end of queueing).
    std::chrono::nanoseconds first_scheduled = unset;
    std::chrono::nanoseconds first_token = unset;
    /// When it finished (for rejected requests: its arrival).
    std::chrono::nanoseconds finish = unset;
    /// Emission time of every output token (token_times[0] == first_token).
    std::vector<std::chrono::nanoseconds> token_times;
    FinishReason reason = FinishReason::none;
    /// Why it was rejected, or why the step it failed in threw (empty otherwise).
    std::string error;
    std::uint32_t num_preemptions = 0;
    /// Prompt tokens found in the prefix cache at its first admission.
    std::uint32_t num_cached_tokens = 0;

    /// Finished with length or stop (vLLM counts these as successful).
    [[nodiscard]] bool success() const noexcept {
        return reason == FinishReason::length || reason == FinishReason::stop;
    }
    /// vLLM's request_queue_time: arrival to first scheduled (0 when never scheduled).
    [[nodiscard]] std::chrono::nanoseconds queue_time() const noexcept {
        return first_scheduled == unset ? std::chrono::nanoseconds{0} : first_scheduled - arrival;
    }
    /// vLLM's request_prefill_time: first scheduled to first token.
    [[nodiscard]] std::chrono::nanoseconds prefill_time() const noexcept {
        return first_token == unset || first_scheduled == unset ? std::chrono::nanoseconds{0}
                                                                : first_token - first_scheduled;
    }
    /// vLLM's request_decode_time: first token to finish.
    [[nodiscard]] std::chrono::nanoseconds decode_time() const noexcept {
        return first_token == unset || finish == unset ? std::chrono::nanoseconds{0} : finish - first_token;
    }
    /// vLLM's request_inference_time: first scheduled to finish.
    [[nodiscard]] std::chrono::nanoseconds inference_time() const noexcept {
        return first_scheduled == unset || finish == unset ? std::chrono::nanoseconds{0} : finish - first_scheduled;
    }
    /// Time to first token (arrival to first token), 0 when there was none.
    [[nodiscard]] std::chrono::nanoseconds ttft() const noexcept {
        return first_token == unset ? std::chrono::nanoseconds{0} : first_token - arrival;
    }
    /// End-to-end latency: arrival to finish.
    [[nodiscard]] std::chrono::nanoseconds e2e() const noexcept {
        return finish == unset ? std::chrono::nanoseconds{0} : finish - arrival;
    }
};

/// One streamed token (or the end of a request). Delivered on the engine's thread; the
/// handler must not block.
struct TokenEvent {
    RequestId id = 0;
    /// The token; meaningless when num_output_tokens did not grow (a final event of an
    /// abort or rejection carries no token).
    TokenId token = 0;
    /// Time since the run's origin.
    std::chrono::nanoseconds time{0};
    /// Output tokens delivered so far, this one included.
    std::uint32_t num_output_tokens = 0;
    /// Last event of this request.
    bool finished = false;
    FinishReason reason = FinishReason::none;
    /// Whether this event carries a new token (false for a bare abort/rejection event).
    bool has_token = true;
    /// Which engine behind a router produced it (server::RoutedBackend sets it; 0 for a
    /// single engine), so a front end can keep per-engine metrics.
    std::uint16_t engine = 0;
};

LLMEMU_END_NAMESPACE
