#pragma once
/// \file engine_json.hpp
/// llmemu's own sections of a result JSON (`llmemu simulate --result-json`, key "llmemu"):
/// the engine statistics, the engine configuration that ran, the oracle's coverage and the
/// KV transfers of a disaggregated fleet, each as the JSON object the command line writes.
/// An embedding program that runs an Engine or a Fleet itself gets the same documents.
/// Needs nlohmann-json (the core headers do not).

#include <chrono>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/core/coverage.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/fleet/fleet.hpp"

LLMEMU_BEGIN_NAMESPACE

/// EngineStats as "engine_stats": step and token counts, finished requests by reason
/// ("finished": length, stop, abort, rejected), prefix-cache queries and hits, peaks of the
/// running/waiting sets and KV usage (a fraction in [0, 1]), the KV pool's size.
[[nodiscard]] inline nlohmann::json to_json(const EngineStats& s) {
    nlohmann::json j;
    j["steps"] = s.steps;
    j["prefill_steps"] = s.prefill_steps;
    j["decode_steps"] = s.decode_steps;
    j["scheduled_tokens"] = s.scheduled_tokens;
    j["mean_step_tokens"] = s.mean_step_tokens();
    j["mean_step_requests"] = s.mean_step_requests();
    j["max_step_tokens"] = s.max_step_tokens;
    j["max_step_requests"] = s.max_step_requests;
    j["requests_received"] = s.requests_received;
    j["finished"] = {{"length", s.num_finished(FinishReason::length)},
                     {"stop", s.num_finished(FinishReason::stop)},
                     {"abort", s.num_finished(FinishReason::abort)},
                     {"rejected", s.num_finished(FinishReason::rejected)}};
    j["preemptions"] = s.preemptions;
    j["prompt_tokens"] = s.prompt_tokens;
    j["generation_tokens"] = s.generation_tokens;
    j["prefix_cache_queries"] = s.prefix_cache_queries;
    j["prefix_cache_hits"] = s.prefix_cache_hits;
    j["preempted_prefix_cache_queries"] = s.preempted_prefix_cache_queries;
    j["preempted_prefix_cache_hits"] = s.preempted_prefix_cache_hits;
    j["discarded_tokens"] = s.discarded_tokens;
    j["max_running"] = s.max_running;
    j["max_waiting"] = s.max_waiting;
    j["max_kv_usage"] = s.max_kv_usage;
    j["num_gpu_blocks"] = s.num_gpu_blocks;
    j["block_size"] = s.block_size;
    return j;
}

/// EngineConfig as "config", with vLLM's option names (scheduling_policy as "fcfs" or
/// "priority").
[[nodiscard]] inline nlohmann::json to_json(const EngineConfig& c) {
    return {{"max_num_seqs", c.max_num_seqs},
            {"max_num_batched_tokens", c.max_num_batched_tokens},
            {"block_size", c.block_size},
            {"num_gpu_blocks", c.num_gpu_blocks},
            {"max_model_len", c.max_model_len},
            {"long_prefill_token_threshold", c.long_prefill_token_threshold},
            {"enable_prefix_caching", c.enable_prefix_caching},
            {"async_scheduling", c.async_scheduling},
            {"scheduling_policy", to_string(c.policy)},
            {"gpu_memory_utilization", c.gpu_memory_utilization}};
}

/// Coverage as "oracle_coverage": how many step latencies came from an exact bucket, from
/// neighbours, from outside the profiled range, from the learned model, of how many.
[[nodiscard]] inline nlohmann::json to_json(const Coverage& c) {
    return {{"exact", c.exact},
            {"interpolated", c.interpolated},
            {"out_of_range", c.out_of_range},
            {"learned", c.learned},
            {"total", c.total}};
}

/// KvTransferStats as "kv_transfer": transfers, bytes, total / mean / max time in ms
/// (mean 0 when nothing was sent).
[[nodiscard]] inline nlohmann::json to_json(const KvTransferStats& k) {
    const double total_ms = std::chrono::duration<double, std::milli>(k.total_time).count();
    return {{"transfers", k.transfers},
            {"bytes", k.bytes},
            {"total_time_ms", total_ms},
            {"mean_time_ms", k.transfers == 0 ? 0.0 : total_ms / static_cast<double>(k.transfers)},
            {"max_time_ms", std::chrono::duration<double, std::milli>(k.max_time).count()}};
}

LLMEMU_END_NAMESPACE
