#pragma once
/// \file layout.hpp
/// How a fleet's replicas are organised (fleet.hpp runs it; fleet_json.hpp reads it from a
/// fleet file): replica roles for prefill/decode disaggregation, the KV link between the
/// roles, and autoscaled pools. Standard library only.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// What a replica does in a fleet: both phases (mixed), or one side of prefill/decode
/// disaggregation.
enum class ReplicaRole : std::uint8_t { mixed, prefill, decode };

/// "mixed", "prefill" or "decode".
[[nodiscard]] inline const char* to_string(ReplicaRole r) noexcept {
    return r == ReplicaRole::prefill ? "prefill" : r == ReplicaRole::decode ? "decode" : "mixed";
}

/// The link a disaggregated request's KV crosses from its prefill to its decode replica:
/// each transfer takes latency + bytes / bandwidth, independently of the others (no
/// contention between transfers).
struct KvLink {
    /// Gigabits per second (> 0).
    double bandwidth_gbps = 100.0;
    std::chrono::nanoseconds latency{0};
    [[nodiscard]] std::chrono::nanoseconds transfer_time(std::uint64_t bytes) const noexcept {
        const double ns = static_cast<double>(bytes) * 8.0 / bandwidth_gbps; // Gbit/s = bit/ns
        return latency + std::chrono::nanoseconds(std::llround(ns));
    }
};

/// A pool's autoscaler (a what-if): every `interval` it compares a metric with `target`
/// and sets the pool's desired replicas within [min_replicas, max_replicas].
///   - waiting: waiting requests per serving replica; desired = ceil(current x value / target)
///     (Kubernetes' HPA rule; current = serving + starting);
///   - kv_usage: mean KV-cache usage of the serving replicas, same rule;
///   - ttft_slo: the share of the requests finished in the last `window` whose TTFT met
///     `slo_ttft`; below target: one more replica; every one met (or none finished): one fewer.
/// A new replica serves after `cold_start`; a replica scaled in drains (takes no new
/// request, leaves when empty). Scaling out first takes back draining replicas (warm).
struct AutoscalePolicy {
    enum class Metric : std::uint8_t { waiting, kv_usage, ttft_slo };
    std::uint32_t min_replicas = 1;
    std::uint32_t max_replicas = 1;
    Metric metric = Metric::waiting;
    double target = 1.0;
    std::chrono::nanoseconds interval = std::chrono::seconds(30);
    std::chrono::nanoseconds cold_start{0};
    std::chrono::nanoseconds window = std::chrono::seconds(60);
    /// TTFT SLO (ttft_slo's, and the attainment reported for any metric); 0 = none.
    std::chrono::nanoseconds slo_ttft{0};
};

/// "waiting", "kv_usage" or "ttft_slo".
[[nodiscard]] inline const char* to_string(AutoscalePolicy::Metric m) noexcept {
    return m == AutoscalePolicy::Metric::kv_usage   ? "kv_usage"
           : m == AutoscalePolicy::Metric::ttft_slo ? "ttft_slo"
                                                    : "waiting";
}

/// How a fleet's replicas are organised beyond "all serve behind one router" (the default).
struct FleetLayout {
    /// Per replica (empty: all mixed). With prefill replicas every request is prefilled on
    /// one (max_tokens 1, as vLLM's P/D proxies send it), its KV crosses `link`, and it
    /// decodes on a decode replica that admits it with its prompt computed; the fleet's
    /// router picks within each role.
    std::vector<ReplicaRole> role;
    /// Per replica: KV bytes per prompt token (prefill replicas; see kv_bytes_per_token).
    std::vector<std::uint64_t> kv_bytes_per_token;
    KvLink link;
    /// Per replica: its pool (empty: one pool).
    std::vector<std::uint32_t> pool;
    /// Per pool: replicas serving at the start (the pool's first ones; empty: all).
    std::vector<std::uint32_t> initial;
    /// Per pool: its autoscaler, if any (its replicas in `pool` are max_replicas).
    std::vector<std::optional<AutoscalePolicy>> autoscale;
};

LLMEMU_END_NAMESPACE
