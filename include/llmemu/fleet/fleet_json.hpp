#pragma once
/// \file fleet_json.hpp
/// Fleet files: a heterogeneous fleet as pools of identical replicas, read from JSON
/// (`llmemu simulate --fleet FILE.json`). Needs nlohmann-json (the core headers do not).
///
/// ```json
/// {"router": "least_loaded",
///  "pools": [{"name": "a40", "replicas": 4, "profile": "llm-emu-A40-Qwen3-8B-subset.json",
///             "tensor_parallel_size": 1, "cost_per_gpu_hour": 0.39, "role": "mixed",
///             "engine": {"max_num_seqs": 128, "max_num_batched_tokens": 4096}}]}
/// ```
/// Every key is checked: a wrong type, a bad value or an unknown key throws config_error
/// naming the file, the pool and the key, and the fix.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/error.hpp"
#include "llmemu/fleet/layout.hpp"

namespace llmemu {

/// A pool's engine settings (vLLM's names); unset = the command line's (or the default).
struct PoolEngineSettings {
    std::optional<std::uint32_t> max_num_seqs, max_num_batched_tokens, num_gpu_blocks, block_size, max_model_len,
        long_prefill_token_threshold;
    std::optional<bool> enable_prefix_caching, async_scheduling;
    std::optional<double> gpu_memory_utilization;
};

/// One pool of identical replicas.
struct PoolSpec {
    std::string name;
    std::uint32_t replicas = 1;
    /// A pack path (relative paths are relative to the fleet file), const:<ms> or
    /// affine:...; empty = the command line's --profile (or the bundled pack).
    std::string profile;
    /// GPUs per replica (the profile must have been measured at this degree; used for cost).
    std::uint32_t tensor_parallel_size = 1;
    double cost_per_gpu_hour = 0.0;
    /// "mixed" (prefill and decode on the same replica), "prefill" or "decode"
    /// (disaggregation: see FleetLayout).
    std::string role = "mixed";
    /// A Hugging Face config.json (relative paths: to the fleet file) giving the model's KV
    /// shape; empty = the profile's. P/D pools need one of them (KV bytes per token).
    std::string model_config;
    PoolEngineSettings engine;
    /// The pool's autoscaler; `replicas` is then the count at the start.
    std::optional<AutoscalePolicy> autoscale;
    /// `llmemu plan`'s search range for the pool's replica count ("replica_range": [lo, hi]);
    /// `replicas` is then the pool's share when several pools scale together. A single run
    /// (`simulate --fleet`) uses `replicas`.
    std::optional<std::pair<std::uint32_t, std::uint32_t>> replica_range;
};

/// A fleet file's content.
struct FleetSpec {
    std::vector<PoolSpec> pools;
    /// make_router's name; empty = the command line's --router (or round_robin).
    std::string router;
    /// The prefill-to-decode KV link ("kv_transfer"; required with P/D pools).
    std::optional<KvLink> kv_transfer;
    /// Whether the pools are prefill and decode ones.
    [[nodiscard]] bool disaggregated() const noexcept {
        for (const auto& p : pools)
            if (p.role != "mixed") return true;
        return false;
    }
    /// Engines the fleet builds: each pool's replicas (an autoscaled pool's max_replicas).
    [[nodiscard]] std::uint32_t num_replicas() const noexcept {
        std::uint32_t n = 0;
        for (const auto& p : pools) n += p.autoscale ? p.autoscale->max_replicas : p.replicas;
        return n;
    }
};

namespace detail {

[[noreturn, gnu::cold]] inline void fleet_bad(const std::string& source, const std::string& where,
                                              const std::string& what) {
    throw_error<config_error>("fleet file '" + source + "': " + where + what);
}

inline std::uint32_t fleet_uint(const nlohmann::json& v, const std::string& source, const std::string& where,
                                std::uint32_t min) {
    if (!v.is_number_integer() && !v.is_number_unsigned())
        fleet_bad(source, where, "expected an integer >= " + std::to_string(min) + ", got " + v.dump());
    const auto x = v.get<std::int64_t>();
    if (x < static_cast<std::int64_t>(min) || x > 0xFFFFFFFFLL)
        fleet_bad(source, where, "expected an integer >= " + std::to_string(min) + ", got " + v.dump());
    return static_cast<std::uint32_t>(x);
}

inline double fleet_number(const nlohmann::json& v, const std::string& source, const std::string& where) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0.0)
        fleet_bad(source, where, "expected a number >= 0, got " + v.dump());
    return v.get<double>();
}

inline std::string fleet_string(const nlohmann::json& v, const std::string& source, const std::string& where) {
    if (!v.is_string()) fleet_bad(source, where, "expected a string, got " + v.dump());
    return v.get<std::string>();
}

inline bool fleet_bool(const nlohmann::json& v, const std::string& source, const std::string& where) {
    if (!v.is_boolean()) fleet_bad(source, where, "expected true or false, got " + v.dump());
    return v.get<bool>();
}

inline double fleet_positive(const nlohmann::json& v, const std::string& source, const std::string& where) {
    const double x = fleet_number(v, source, where);
    if (!(x > 0.0)) fleet_bad(source, where, "expected a number > 0, got " + v.dump());
    return x;
}

inline std::chrono::nanoseconds fleet_duration(double seconds) {
    return std::chrono::nanoseconds(std::llround(std::min(seconds, 1e9) * 1e9));
}

inline AutoscalePolicy fleet_autoscale(const nlohmann::json& a, const std::string& source, const std::string& pool) {
    if (!a.is_object())
        fleet_bad(source, pool + "key 'autoscale': ",
                  "expected an object like {\"max_replicas\": 8, \"metric\": \"waiting\", \"target\": 4}");
    AutoscalePolicy p;
    bool have_max = false, have_metric = false, have_target = false, have_slo = false;
    for (const auto& [key, v] : a.items()) {
        const std::string where = pool + "key 'autoscale." + key + "': ";
        if (key == "min_replicas") {
            p.min_replicas = fleet_uint(v, source, where, 1);
        } else if (key == "max_replicas") {
            p.max_replicas = fleet_uint(v, source, where, 1);
            have_max = true;
        } else if (key == "metric") {
            const std::string m = fleet_string(v, source, where);
            if (m == "waiting")
                p.metric = AutoscalePolicy::Metric::waiting;
            else if (m == "kv_usage")
                p.metric = AutoscalePolicy::Metric::kv_usage;
            else if (m == "ttft_slo")
                p.metric = AutoscalePolicy::Metric::ttft_slo;
            else
                fleet_bad(source, where, "unknown metric '" + m + "'; use waiting, kv_usage or ttft_slo");
            have_metric = true;
        } else if (key == "target") {
            p.target = fleet_positive(v, source, where);
            have_target = true;
        } else if (key == "interval_s") {
            p.interval = fleet_duration(fleet_positive(v, source, where));
            if (p.interval.count() <= 0) fleet_bad(source, where, "the interval is shorter than a nanosecond");
        } else if (key == "cold_start_s") {
            p.cold_start = fleet_duration(fleet_number(v, source, where));
        } else if (key == "window_s") {
            p.window = fleet_duration(fleet_positive(v, source, where));
            if (p.window.count() <= 0) fleet_bad(source, where, "the window is shorter than a nanosecond");
        } else if (key == "slo_ttft_ms") {
            p.slo_ttft = fleet_duration(fleet_positive(v, source, where) / 1000.0);
            have_slo = true;
        } else {
            fleet_bad(source, where,
                      "unknown autoscale key; use min_replicas, max_replicas, metric, target, interval_s, "
                      "cold_start_s, window_s or slo_ttft_ms");
        }
    }
    const std::string where = pool + "key 'autoscale': ";
    if (!have_max || !have_metric || !have_target) fleet_bad(source, where, "give max_replicas, metric and target");
    if (p.min_replicas > p.max_replicas)
        fleet_bad(source, where,
                  "min_replicas " + std::to_string(p.min_replicas) + " > max_replicas " +
                      std::to_string(p.max_replicas));
    if (p.metric == AutoscalePolicy::Metric::ttft_slo && !have_slo)
        fleet_bad(source, where, "metric ttft_slo needs slo_ttft_ms (the TTFT SLO in milliseconds)");
    if (p.metric != AutoscalePolicy::Metric::waiting && p.target > 1.0)
        fleet_bad(source, where, std::string("the target of ") + to_string(p.metric) + " is a share in (0, 1]");
    return p;
}

inline KvLink fleet_kv_link(const nlohmann::json& k, const std::string& source) {
    if (!k.is_object())
        fleet_bad(source,
                  "key 'kv_transfer': ", "expected an object like {\"bandwidth_gbps\": 100, \"latency_ms\": 1}");
    KvLink l;
    bool have_bw = false;
    for (const auto& [key, v] : k.items()) {
        const std::string where = "key 'kv_transfer." + key + "': ";
        if (key == "bandwidth_gbps") {
            l.bandwidth_gbps = fleet_positive(v, source, where);
            have_bw = true;
        } else if (key == "latency_ms") {
            l.latency = fleet_duration(fleet_number(v, source, where) / 1000.0);
        } else {
            fleet_bad(source, where, "unknown key; use bandwidth_gbps and latency_ms");
        }
    }
    if (!have_bw) fleet_bad(source, "key 'kv_transfer': ", "give bandwidth_gbps (the link's gigabits per second)");
    return l;
}

inline void fleet_engine(const nlohmann::json& e, PoolEngineSettings& s, const std::string& source,
                         const std::string& pool) {
    if (!e.is_object()) fleet_bad(source, pool + "key 'engine': ", "expected an object of vLLM engine settings");
    for (const auto& [key, v] : e.items()) {
        const std::string where = pool + "key 'engine." + key + "': ";
        if (key == "max_num_seqs")
            s.max_num_seqs = fleet_uint(v, source, where, 1);
        else if (key == "max_num_batched_tokens")
            s.max_num_batched_tokens = fleet_uint(v, source, where, 1);
        else if (key == "num_gpu_blocks")
            s.num_gpu_blocks = fleet_uint(v, source, where, 2);
        else if (key == "block_size")
            s.block_size = fleet_uint(v, source, where, 1);
        else if (key == "max_model_len")
            s.max_model_len = fleet_uint(v, source, where, 2);
        else if (key == "long_prefill_token_threshold")
            s.long_prefill_token_threshold = fleet_uint(v, source, where, 0);
        else if (key == "enable_prefix_caching")
            s.enable_prefix_caching = fleet_bool(v, source, where);
        else if (key == "async_scheduling")
            s.async_scheduling = fleet_bool(v, source, where);
        else if (key == "gpu_memory_utilization") {
            const double u = fleet_number(v, source, where);
            if (!(u > 0.0 && u <= 1.0)) fleet_bad(source, where, "expected a share in (0, 1], got " + v.dump());
            s.gpu_memory_utilization = u;
        } else
            fleet_bad(source, where,
                      "unknown engine setting; use max_num_seqs, max_num_batched_tokens, num_gpu_blocks, block_size, "
                      "max_model_len, long_prefill_token_threshold, enable_prefix_caching, async_scheduling or "
                      "gpu_memory_utilization");
    }
}

} // namespace detail

/// Parses a fleet file's text (`source` names it in errors). Throws config_error.
inline FleetSpec parse_fleet_json(std::string_view text, const std::string& source) {
    using detail::fleet_bad;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fleet_bad(source, "", std::string("not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) fleet_bad(source, "", "expected an object with a 'pools' list");
    FleetSpec f;
    bool have_pools = false;
    for (const auto& [key, v] : j.items()) {
        if (key == "router") {
            f.router = detail::fleet_string(v, source, "key 'router': ");
        } else if (key == "pools") {
            have_pools = true;
            if (!v.is_array() || v.empty()) fleet_bad(source, "key 'pools': ", "expected a non-empty list of pools");
            std::set<std::string> names;
            for (std::size_t i = 0; i < v.size(); ++i) {
                const nlohmann::json& p = v[i];
                std::string pool = "pools[" + std::to_string(i) + "]";
                if (!p.is_object()) fleet_bad(source, pool + ": ", "expected an object");
                PoolSpec s;
                if (!p.contains("name")) fleet_bad(source, pool + ": ", "key 'name' is missing; give each pool a name");
                s.name = detail::fleet_string(p["name"], source, pool + " key 'name': ");
                if (s.name.empty()) fleet_bad(source, pool + " key 'name': ", "the name is empty");
                if (!names.insert(s.name).second)
                    fleet_bad(source, pool + " key 'name': ", "pool name '" + s.name + "' is used twice");
                pool = "pool '" + s.name + "' (" + pool + ") ";
                for (const auto& [k, x] : p.items()) {
                    const std::string where = pool + "key '" + k + "': ";
                    if (k == "name") {
                    } else if (k == "replicas") {
                        s.replicas = detail::fleet_uint(x, source, where, 1);
                    } else if (k == "profile") {
                        s.profile = detail::fleet_string(x, source, where);
                    } else if (k == "tensor_parallel_size") {
                        s.tensor_parallel_size = detail::fleet_uint(x, source, where, 1);
                    } else if (k == "cost_per_gpu_hour") {
                        s.cost_per_gpu_hour = detail::fleet_number(x, source, where);
                    } else if (k == "role") {
                        s.role = detail::fleet_string(x, source, where);
                        if (s.role != "mixed" && s.role != "prefill" && s.role != "decode")
                            fleet_bad(source, where,
                                      "unknown role '" + s.role + "'; use \"mixed\", \"prefill\" or \"decode\"");
                    } else if (k == "model_config") {
                        s.model_config = detail::fleet_string(x, source, where);
                        if (s.model_config.empty()) fleet_bad(source, where, "the path is empty");
                    } else if (k == "engine") {
                        detail::fleet_engine(x, s.engine, source, pool);
                    } else if (k == "autoscale") {
                        s.autoscale = detail::fleet_autoscale(x, source, pool);
                    } else if (k == "replica_range") {
                        if (!x.is_array() || x.size() != 2)
                            fleet_bad(source, where,
                                      "expected [LO, HI], the replica counts llmemu plan tries, e.g. [1, 32]");
                        const std::uint32_t lo = detail::fleet_uint(x[0], source, where, 1);
                        const std::uint32_t hi = detail::fleet_uint(x[1], source, where, 1);
                        if (lo > hi)
                            fleet_bad(source, where,
                                      "LO " + std::to_string(lo) + " > HI " + std::to_string(hi) +
                                          "; give [LO, HI] with LO <= HI");
                        if (hi > 100000) fleet_bad(source, where, "more than 100,000 replicas");
                        s.replica_range = std::make_pair(lo, hi);
                    } else {
                        fleet_bad(source, where,
                                  "unknown pool key; use name, replicas, profile, model_config, tensor_parallel_size, "
                                  "cost_per_gpu_hour, role, engine, autoscale or replica_range");
                    }
                }
                if (s.autoscale && (s.replicas < s.autoscale->min_replicas || s.replicas > s.autoscale->max_replicas))
                    fleet_bad(source, pool + "key 'replicas': ",
                              "the starting count " + std::to_string(s.replicas) + " is outside autoscale's [" +
                                  std::to_string(s.autoscale->min_replicas) + ", " +
                                  std::to_string(s.autoscale->max_replicas) + "]");
                if (s.autoscale && s.replica_range)
                    fleet_bad(source, pool + "key 'replica_range': ",
                              "an autoscaled pool sets its own count; drop autoscale or replica_range");
                f.pools.push_back(std::move(s));
            }
        } else if (key == "kv_transfer") {
            f.kv_transfer = detail::fleet_kv_link(v, source);
        } else {
            fleet_bad(source,
                      "key '" + key + "': ", "unknown key; a fleet file has 'pools', 'router' and 'kv_transfer'");
        }
    }
    if (!have_pools) fleet_bad(source, "", "key 'pools' is missing; list at least one pool");
    if (f.disaggregated()) {
        bool prefill = false, decode = false;
        for (const auto& p : f.pools) {
            if (p.role == "mixed")
                fleet_bad(source, "pool '" + p.name + "' key 'role': ",
                          "a fleet with prefill/decode pools cannot also have a mixed one; make it prefill or decode");
            prefill |= p.role == "prefill";
            decode |= p.role == "decode";
        }
        if (!prefill || !decode)
            fleet_bad(source, "key 'pools': ",
                      std::string("prefill/decode disaggregation needs a ") + (prefill ? "decode" : "prefill") +
                          " pool too");
        if (!f.kv_transfer)
            fleet_bad(source, "key 'kv_transfer': ",
                      "missing; prefill/decode pools need the link, e.g. \"kv_transfer\": {\"bandwidth_gbps\": 100, "
                      "\"latency_ms\": 1}");
    } else if (f.kv_transfer) {
        fleet_bad(source, "key 'kv_transfer': ", "given without prefill/decode pools; drop it or set the pools' roles");
    }
    std::uint64_t total = 0;
    for (const auto& p : f.pools) total += p.autoscale ? p.autoscale->max_replicas : p.replicas;
    if (total > 100000) fleet_bad(source, "key 'pools': ", "more than 100,000 replicas in all");
    return f;
}

/// Reads a fleet file; pool profiles given as relative pack paths become relative to the
/// file's directory. Throws config_error.
inline FleetSpec read_fleet_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::throw_error<config_error>("fleet file '" + path.string() +
                                          "': cannot open the file; check the path (--fleet FILE.json)");
    std::ostringstream ss;
    ss << in.rdbuf();
    FleetSpec f = parse_fleet_json(ss.str(), path.string());
    for (auto& p : f.pools) {
        const bool spec = p.profile.rfind("const:", 0) == 0 || p.profile.rfind("affine:", 0) == 0;
        if (!p.profile.empty() && !spec && std::filesystem::path(p.profile).is_relative())
            p.profile = (path.parent_path() / p.profile).string();
        if (!p.model_config.empty() && std::filesystem::path(p.model_config).is_relative())
            p.model_config = (path.parent_path() / p.model_config).string();
    }
    return f;
}

} // namespace llmemu
