#pragma once
// A fleet file's pools as the replicas of a run (`simulate --fleet`, `plan`): each pool's
// latency model and engine settings (the command line's where the pool is silent), its
// role, and its autoscaler.

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "engine_options.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/fleet_json.hpp"
#include "llmemu/fleet/plan.hpp" // PoolModels
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/profile/hf_config.hpp"

namespace llmemu::cli {

/// Adds the replicas of `spec` (read from `file`) to `fleet` (plans, layout, pool names):
/// pools without a profile use `model`; `longest` sizes max_model_len as the flags do.
/// Models of pools with their own profile come from (or go into) `pool_models` (PoolModels), which must
/// outlive the run. Throws usage_error naming the file and the pool.
inline void add_fleet_pools(const FleetSpec& spec, const std::string& file, const EngineFlags& flags,
                            const AnyLatencyModel& model, std::uint32_t longest, FleetSettings& fleet,
                            PoolModels& pool_models) {
    const FleetSpec& fleet_spec = spec;
    const bool disaggregated = fleet_spec.disaggregated();
    std::uint64_t pd_bytes_per_token = 0;
    std::string pd_bytes_pool;
    if (fleet_spec.kv_transfer) fleet.layout.link = *fleet_spec.kv_transfer;
    for (std::uint32_t pi = 0; pi < fleet_spec.pools.size(); ++pi) {
        const PoolSpec& p = fleet_spec.pools[pi];
        try {
            const AnyLatencyModel* pm = &model;
            if (!p.profile.empty()) {
                auto& slot = pool_models[p.profile];
                if (!slot) slot = std::make_unique<AnyLatencyModel>(AnyLatencyModel::from_spec(p.profile));
                pm = slot.get();
            }
            const ModelConfig* pmc = pm->model_config();
            // The KV a P/D transfer moves per token: the pool's model_config, else the profile's.
            std::uint64_t bytes_per_token = 0;
            if (disaggregated) {
                ModelConfig kvm;
                if (!p.model_config.empty())
                    kvm = load_hf_config(p.model_config);
                else if (pmc != nullptr)
                    kvm = *pmc;
                else
                    throw usage_error("role " + p.role + ": no model config to size the KV transfer (profile " +
                                      pm->describe() +
                                      " records none); give the pool \"model_config\": \"config.json\" (a Hugging "
                                      "Face config.json)");
                bytes_per_token = kv_bytes_per_token(kvm);
                if (pd_bytes_per_token != 0 && bytes_per_token != pd_bytes_per_token)
                    throw usage_error("its model holds " + std::to_string(bytes_per_token) +
                                      " KV bytes per token, pool '" + pd_bytes_pool + "' " +
                                      std::to_string(pd_bytes_per_token) +
                                      "; prefill and decode pools must serve the same model");
                pd_bytes_per_token = bytes_per_token;
                pd_bytes_pool = p.name;
            }
            EngineConfig c = make_engine_config(flags, pmc, longest);
            const PoolEngineSettings& e = p.engine;
            if (e.max_num_seqs) c.max_num_seqs = *e.max_num_seqs;
            if (e.max_num_batched_tokens) c.max_num_batched_tokens = *e.max_num_batched_tokens;
            if (e.block_size) c.block_size = *e.block_size;
            if (e.max_model_len) c.max_model_len = *e.max_model_len;
            if (e.long_prefill_token_threshold) c.long_prefill_token_threshold = *e.long_prefill_token_threshold;
            if (e.enable_prefix_caching) c.enable_prefix_caching = *e.enable_prefix_caching;
            if (e.async_scheduling) c.async_scheduling = *e.async_scheduling;
            if (e.gpu_memory_utilization) c.gpu_memory_utilization = *e.gpu_memory_utilization;
            if (e.num_gpu_blocks) c.num_gpu_blocks = *e.num_gpu_blocks;
            (void)resolve_kv_pool(c, *pm, flags);
            c.validate();
            const std::uint32_t engines = p.autoscale ? p.autoscale->max_replicas : p.replicas;
            const ReplicaRole role = p.role == "prefill"  ? ReplicaRole::prefill
                                     : p.role == "decode" ? ReplicaRole::decode
                                                          : ReplicaRole::mixed;
            for (std::uint32_t r = 0; r < engines; ++r) {
                fleet.plans.push_back({pm, c, pi});
                fleet.layout.role.push_back(role);
                fleet.layout.pool.push_back(pi);
                fleet.layout.kv_bytes_per_token.push_back(bytes_per_token);
            }
            fleet.layout.initial.push_back(p.replicas);
            fleet.layout.autoscale.push_back(p.autoscale);
        } catch (const std::exception& ex) {
            throw usage_error("fleet file '" + file + "': pool '" + p.name + "': " + ex.what());
        }
        fleet.pools.push_back(p.name);
    }
}

} // namespace llmemu::cli
