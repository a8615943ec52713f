// libFuzzer target for the fleet-file reader (llmemu/fleet/fleet_json.hpp): any byte
// string either parses into a fleet that satisfies the reader's promises or raises
// llmemu::config_error — never a crash, hang, other exception or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/fleet/fleet_json.hpp"
#include "llmemu/fleet/router.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    llmemu::FleetSpec f;
    try {
        f = llmemu::parse_fleet_json(text, "fuzz.json");
    } catch (const llmemu::config_error&) {
        return 0; // rejected with a message: fine
    }
    if (f.pools.empty() || f.num_replicas() == 0 || f.num_replicas() > 100000) std::abort();
    std::set<std::string> names;
    for (const auto& p : f.pools) {
        if (p.name.empty() || !names.insert(p.name).second) std::abort();
        if (p.replicas == 0 || p.tensor_parallel_size == 0) std::abort();
        if (p.role != "mixed" && p.role != "prefill" && p.role != "decode") std::abort();
        if (f.disaggregated() && (p.role == "mixed" || !f.kv_transfer)) std::abort();
        if (p.autoscale) {
            const llmemu::AutoscalePolicy& a = *p.autoscale;
            if (a.min_replicas == 0 || a.min_replicas > a.max_replicas || p.replicas < a.min_replicas ||
                p.replicas > a.max_replicas || !(a.target > 0.0) || a.interval.count() <= 0 || a.window.count() <= 0 ||
                a.cold_start.count() < 0)
                std::abort();
            if (a.metric == llmemu::AutoscalePolicy::Metric::ttft_slo && a.slo_ttft.count() <= 0) std::abort();
        }
        if (!(p.cost_per_gpu_hour >= 0.0)) std::abort();
        if (p.replica_range && (p.replica_range->first == 0 || p.replica_range->first > p.replica_range->second ||
                                p.replica_range->second > 100000 || p.autoscale))
            std::abort();
        if (p.engine.gpu_memory_utilization &&
            !(*p.engine.gpu_memory_utilization > 0.0 && *p.engine.gpu_memory_utilization <= 1.0))
            std::abort();
    }
    if (f.kv_transfer && !(f.kv_transfer->bandwidth_gbps > 0.0 && f.kv_transfer->latency.count() >= 0)) std::abort();
    if (f.kv_transfer && !f.disaggregated()) std::abort();
    if (!f.router.empty()) {
        try {
            (void)llmemu::make_router(f.router);
        } catch (const llmemu::config_error&) {
        }
    }
    return 0;
}
