#pragma once
/// \file stats.hpp
/// EngineStats: the reference engine's counters and gauges, enough to print a run's
/// engine statistics and to export vLLM's Prometheus metrics (vllm:num_requests_running,
/// vllm:num_requests_waiting, vllm:kv_cache_usage_perc, vllm:prompt_tokens,
/// vllm:generation_tokens, vllm:request_success{finished_reason}, vllm:num_preemptions,
/// vllm:prefix_cache_queries, vllm:prefix_cache_hits). Per-request times
/// (queue/prefill/decode/inference) are in RequestRecord.

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/request.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The engine's state after one step (one point of the time series).
struct StepStat {
    /// When the step's output was processed, since the run's origin.
    std::chrono::nanoseconds time{0};
    /// Requests in the step and tokens scheduled in it.
    std::uint32_t num_requests = 0;
    std::uint32_t num_tokens = 0;
    /// Newly admitted requests in the step (resumed ones are not new).
    std::uint32_t num_new = 0;
    /// Queue depths and KV usage after the step was scheduled.
    std::uint32_t running = 0;
    std::uint32_t waiting = 0;
    double kv_usage = 0.0;
};

/// Counters (monotonic over a run), gauges (current) and an optional per-step series.
struct EngineStats {
    // ---- steps ----
    /// Steps dispatched to the executor, split by the oracle's phase (a step with any
    /// prompt work, a later chunk too, is a prefill step; a pure decode step is decode).
    std::uint64_t steps = 0;
    std::uint64_t prefill_steps = 0;
    std::uint64_t decode_steps = 0;
    /// Sum over steps of scheduled tokens and of scheduled requests.
    std::uint64_t scheduled_tokens = 0;
    std::uint64_t scheduled_requests = 0;
    /// Largest step seen (tokens, requests).
    std::uint32_t max_step_tokens = 0;
    std::uint32_t max_step_requests = 0;
    /// Steps whose dispatch or output threw (their requests finished with reason error).
    std::uint64_t failed_steps = 0;

    // ---- requests ----
    /// Requests handed to the engine (accepted or rejected).
    std::uint64_t requests_received = 0;
    /// Finished requests per FinishReason (index with static_cast<std::size_t>(reason));
    /// finished[rejected] counts refusals on arrival.
    std::array<std::uint64_t, num_finish_reasons> finished{};
    /// Preemptions (recompute) over the run (vllm:num_preemptions).
    std::uint64_t preemptions = 0;
    /// Prompt tokens of requests that produced their first token (vllm:prompt_tokens).
    std::uint64_t prompt_tokens = 0;
    /// Output tokens delivered (vllm:generation_tokens).
    std::uint64_t generation_tokens = 0;
    /// Async scheduling: slots of requests that finished while their next step was
    /// already in flight (the token is computed and discarded, as in vLLM).
    std::uint64_t discarded_tokens = 0;

    // ---- prefix cache (tokens) ----
    /// Tokens looked up and found on first admissions (vllm:prefix_cache_queries / _hits).
    std::uint64_t prefix_cache_queries = 0;
    std::uint64_t prefix_cache_hits = 0;
    /// Prefix-cache lookups those tokens came from (vLLM's PrefixCacheStats.requests: one
    /// per first admission with caching on); the window of the logged hit rate counts these.
    std::uint64_t prefix_cache_requests = 0;
    /// The same for requests resumed after preemption (vLLM keeps them apart).
    std::uint64_t preempted_prefix_cache_queries = 0;
    std::uint64_t preempted_prefix_cache_hits = 0;

    // ---- gauges ----
    std::uint32_t running = 0;
    std::uint32_t waiting = 0;
    /// KV cache usage in [0, 1] (vllm:kv_cache_usage_perc): 1 - free / usable blocks.
    double kv_usage = 0.0;
    /// Peaks of the gauges over the run.
    std::uint32_t max_running = 0;
    std::uint32_t max_waiting = 0;
    double max_kv_usage = 0.0;
    /// The pool the engine runs with (vLLM's count, its null block included) and block size.
    std::uint32_t num_gpu_blocks = 0;
    std::uint32_t block_size = 0;

    /// One StepStat per step when the engine records them (Engine::set_record_series,
    /// SimulationOptions::record_steps); empty otherwise.
    std::vector<StepStat> series;

    /// finished[reason].
    [[nodiscard]] std::uint64_t num_finished(FinishReason r) const noexcept {
        return finished[static_cast<std::size_t>(r)];
    }
    /// Requests rejected on arrival (e.g. prompt + max_tokens > max_model_len).
    [[nodiscard]] std::uint64_t rejected() const noexcept { return num_finished(FinishReason::rejected); }
    /// Requests finished with length or stop.
    [[nodiscard]] std::uint64_t succeeded() const noexcept {
        return num_finished(FinishReason::length) + num_finished(FinishReason::stop);
    }
    /// Share of prefix-cache queried tokens that hit (0 when nothing was queried).
    [[nodiscard]] double prefix_cache_hit_rate() const noexcept {
        return prefix_cache_queries == 0
                   ? 0.0
                   : static_cast<double>(prefix_cache_hits) / static_cast<double>(prefix_cache_queries);
    }
    /// Mean tokens per step (0 without steps).
    [[nodiscard]] double mean_step_tokens() const noexcept {
        return steps == 0 ? 0.0 : static_cast<double>(scheduled_tokens) / static_cast<double>(steps);
    }
    /// Mean requests per step (0 without steps).
    [[nodiscard]] double mean_step_requests() const noexcept {
        return steps == 0 ? 0.0 : static_cast<double>(scheduled_requests) / static_cast<double>(steps);
    }
};

LLMEMU_END_NAMESPACE
