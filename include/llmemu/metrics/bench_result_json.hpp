#pragma once
/// \file bench_result_json.hpp
/// A BenchResult as the result JSON `vllm bench serve --save-result --save-detailed` writes,
/// with the same keys, so that notebooks and scripts written for vLLM read it unchanged.
/// Needs nlohmann-json (the core headers do not).

#include <cmath>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmemu/metrics/bench_result.hpp"

namespace llmemu {

namespace detail {
inline nlohmann::json metrics_number(double v) {
    if (!std::isfinite(v)) return nullptr; // vLLM would write NaN; JSON has no NaN
    return v;
}
} // namespace detail

/// The vLLM result JSON of `r`: run configuration (date when set, endpoint_type, backend,
/// label, model_id, tokenizer_id, num_prompts, request_rate ("inf" or a number), burstiness,
/// max_concurrency), the benchmark metrics (duration, completed, failed, total_input_tokens,
/// total_output_tokens, request_throughput, request_goodput (null without SLOs),
/// output_throughput, total_token_throughput, max_output_tokens_per_s,
/// max_concurrent_requests), the per-request lists (input_lens, output_lens, ttfts, itls,
/// latencies, start_times, errors), and mean/median/std/pNN_<metric>_ms for each metric.
/// Deterministic: the same result gives the same bytes.
inline nlohmann::json to_vllm_json(const BenchResult& r) {
    nlohmann::json j;
    if (!r.date.empty()) j["date"] = r.date;
    j["endpoint_type"] = r.backend;
    j["backend"] = r.backend;
    j["label"] = r.label.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.label);
    j["model_id"] = r.model_id;
    j["tokenizer_id"] = r.model_id;
    j["num_prompts"] = r.num_prompts;
    j["request_rate"] = r.request_rate ? nlohmann::json(*r.request_rate) : nlohmann::json("inf");
    j["burstiness"] = detail::metrics_number(r.burstiness);
    j["max_concurrency"] = r.max_concurrency ? nlohmann::json(*r.max_concurrency) : nlohmann::json(nullptr);

    j["duration"] = r.duration_s;
    j["completed"] = r.completed;
    j["failed"] = r.failed;
    j["total_input_tokens"] = r.total_input_tokens;
    j["total_output_tokens"] = r.total_output_tokens;
    j["request_throughput"] = r.request_throughput;
    j["request_goodput"] = r.request_goodput ? nlohmann::json(*r.request_goodput) : nlohmann::json(nullptr);
    j["output_throughput"] = r.output_throughput;
    j["total_token_throughput"] = r.total_token_throughput;
    if (r.detailed) {
        j["input_lens"] = r.input_lens;
        j["output_lens"] = r.output_lens;
        j["ttfts"] = r.ttfts;
        j["itls"] = r.itls;
        j["latencies"] = r.latencies;
        j["start_times"] = r.start_times;
        j["errors"] = r.errors;
    }
    j["max_output_tokens_per_s"] = r.max_output_tokens_per_s;
    j["max_concurrent_requests"] = r.max_concurrent_requests;
    j["rtfx"] = 0.0;
    for (const auto& name : r.options.percentile_metrics) {
        const MetricStats& m = metric_stats(r, name);
        // Keys built by append: GCC 12 warns (-Wrestrict, a false positive) on "lit" + string&&.
        auto key = [&name](std::string_view prefix, const std::string& middle) {
            std::string k(prefix);
            k.append(middle).append(middle.empty() ? "" : "_").append(name).append("_ms");
            return k;
        };
        j[key("mean_", "")] = m.mean_ms;
        j[key("median_", "")] = m.median_ms;
        j[key("std_", "")] = m.std_ms;
        for (const auto& [p, v] : m.percentiles_ms) j[key("p", detail::metrics_percentile_word(p))] = v;
    }
    return j;
}

} // namespace llmemu
