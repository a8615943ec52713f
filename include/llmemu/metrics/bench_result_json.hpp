#pragma once
/// \file bench_result_json.hpp
/// A BenchResult as the result JSON `vllm bench serve --save-result --save-detailed` writes,
/// with the same keys, so that notebooks and scripts written for vLLM read it unchanged.
/// Needs nlohmann-json (the core headers do not).

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/metrics/bench_result.hpp"

LLMEMU_BEGIN_NAMESPACE

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
        for (const auto& [p, v] : m.percentiles_ms) j[key("p", metrics_percentile_word(p))] = v;
    }
    return j;
}

/// vLLM's ramp-up keys (`vllm bench serve --ramp-up-strategy`): the strategy name and the
/// start and end rates, and the requests' send times and rates (request i's rate is the one
/// its gap was drawn at), in send order.
struct RampUpRecord {
    std::string strategy; ///< "linear" or "exponential"
    double start_rps = 0.0;
    double end_rps = 0.0;
    std::vector<double> send_times_s; ///< seconds since the start of the benchmark
    std::vector<double> rates;        ///< requests/s, one per request
};

namespace detail {
/// Python's datetime.isoformat() of `t0 + offset_s` ("YYYY-MM-DDTHH:MM:SS[.ffffff]", the
/// fraction left out when it is 0, as Python does): local time of `t0`, or, without one,
/// UTC counted from the Unix epoch (a virtual run's clock starts at 1970-01-01T00:00:00).
inline std::string metrics_isoformat(std::optional<std::chrono::system_clock::time_point> t0, double offset_s) {
    std::int64_t us = static_cast<std::int64_t>(std::llround(offset_s * 1e6));
    if (t0) us += std::chrono::duration_cast<std::chrono::microseconds>(t0->time_since_epoch()).count();
    std::int64_t sec = us / 1'000'000, frac = us % 1'000'000;
    if (frac < 0) {
        frac += 1'000'000;
        --sec;
    }
    const auto tt = static_cast<std::time_t>(sec);
    std::tm tm{};
    if (t0)
        localtime_r(&tt, &tm);
    else
        gmtime_r(&tt, &tm);
    char buf[48];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out(buf, n);
    if (frac != 0) {
        std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
        out += buf;
    }
    return out;
}

/// A rate as vLLM writes its int flags: an integer when it is one.
inline nlohmann::json metrics_rate_number(double v) {
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9e15) return static_cast<std::int64_t>(v);
    return metrics_number(v);
}
} // namespace detail

/// Adds vLLM's ramp-up keys to result JSON `j`: `ramp_up_strategy`, `ramp_up_start_rps`,
/// `ramp_up_end_rps` and `rps_change_events`, a list of {"rps", "timestamp"} as vLLM builds
/// it: the start rate (rounded down) at the start of the benchmark, then, whenever a
/// request is sent at a rate whose integer part is above the last event's, one event per
/// integer rate passed, all at that request's send time. `wall_start` is the wall-clock
/// start of a live run (timestamps in local time, like vLLM's datetime.now()); a virtual
/// run gives none and its timestamps count from 1970-01-01T00:00:00 (deterministic).
inline void add_ramp_up_json(nlohmann::json& j, const RampUpRecord& ramp,
                             std::optional<std::chrono::system_clock::time_point> wall_start = std::nullopt) {
    j["ramp_up_strategy"] = ramp.strategy;
    j["ramp_up_start_rps"] = detail::metrics_rate_number(ramp.start_rps);
    j["ramp_up_end_rps"] = detail::metrics_rate_number(ramp.end_rps);
    nlohmann::json events = nlohmann::json::array();
    auto last = static_cast<std::int64_t>(std::floor(ramp.start_rps));
    events.push_back({{"rps", last}, {"timestamp", detail::metrics_isoformat(wall_start, 0.0)}});
    for (std::size_t i = 0; i < ramp.rates.size() && i < ramp.send_times_s.size(); ++i) {
        if (!std::isfinite(ramp.rates[i])) continue;
        const auto now = static_cast<std::int64_t>(std::floor(ramp.rates[i]));
        if (now <= last) continue;
        const std::string ts = detail::metrics_isoformat(wall_start, ramp.send_times_s[i]);
        for (std::int64_t r = last + 1; r <= now; ++r) events.push_back({{"rps", r}, {"timestamp", ts}});
        last = now;
    }
    j["rps_change_events"] = std::move(events);
}

LLMEMU_END_NAMESPACE
