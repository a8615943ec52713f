#pragma once
/// \file emulation.hpp
/// run_emulation: one emulated run as `llmemu simulate` (and `sweep`, `plan`, the
/// replicates of `--replicates`) does it. A workload goes through one reference engine,
/// or a fleet of them behind a router, each on an EmulatedExecutor<AnyLatencyModel, C>,
/// and comes back summarised the way `vllm bench serve` summarises a real run (the whole
/// run's BenchResult, and per replica / per pool ones for a fleet), with the engine
/// statistics, the oracle's coverage and the resolved configuration. Memory stays that of
/// the requests in flight unless FleetSettings asks for details or records.
/// run_replicates repeats a run over K seeds and replicate_stats gives each metric's mean
/// and 95 % interval (`simulate --replicates`).
/// Needs AnyLatencyModel (the readers, simdjson): not part of the umbrella header.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/parallel.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/interval.hpp"
#include "llmemu/metrics/request_metrics.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/workload/source.hpp"
#include "llmemu/workload/stream.hpp"
#include "llmemu/workload/workload.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The longest prompt + output of a workload.
inline std::uint32_t longest_request(const WorkloadStream& w) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(w.stats().longest, 0xFFFFFFFFULL));
}
inline std::uint32_t longest_request(const Workload& w) {
    return longest_request(WorkloadStream(w));
}

/// One replica of a heterogeneous fleet (--fleet): its model, engine settings and pool.
struct ReplicaPlan {
    const AnyLatencyModel* model = nullptr;
    EngineConfig config;
    std::uint32_t pool = 0;
};

/// How a run is laid out: replicas behind a router (virtual time only) and what is kept.
struct FleetSettings {
    /// Per-replica models and settings (--fleet); empty = `replicas` copies of the run's.
    std::vector<ReplicaPlan> plans;
    /// Pools of `plans` (their names), for per-pool summaries.
    std::vector<std::string> pools;
    /// Engine replicas (1: the single-engine loop unless `router` is set).
    std::uint32_t replicas = 1;
    /// make_router's name; empty = no router (one replica, or round_robin for several).
    std::string router;
    RouterOptions router_options;
    /// Keep every request's token times for the per-request lists (--save-detailed).
    bool detailed = false;
    /// Keep every request's record (RunOutcome::sim.records).
    bool keep_records = false;
    /// observers[i] (when not null) is attached to replica i's engine for the run, e.g. a
    /// ChromeTraceObserver per replica for --chrome-trace.
    std::vector<EngineObserver*> observers;
    /// Roles, KV link and autoscalers of the replicas (--fleet; empty: all mixed, serving).
    FleetLayout layout;
    /// Threads advancing the replicas of a fleet (0 = every core; --jobs). A fleet of mixed
    /// replicas without autoscaling, on an open-loop workload, runs each replica on a clock
    /// of its own window by window (run_fleet_simulation), with results that do not depend
    /// on this; other fleets run on one clock and one thread.
    unsigned threads = 1;
};

/// What one run produced: the simulation, its summary, the model's coverage and the
/// engine's resolved configuration; with several replicas also each one's summary.
struct RunOutcome {
    SimulationResult sim;
    BenchResult bench;
    Coverage coverage;
    EngineConfig config;
    /// Wall-clock seconds the run took.
    double wall_s = 0.0;
    /// Per pool (only with --fleet): summary.
    std::vector<BenchResult> pool_bench;
    /// Per replica (only with a fleet): summary, engine statistics, steps, requests routed.
    std::vector<BenchResult> replica_bench;
    std::vector<EngineStats> replica_stats;
    std::vector<std::vector<StepRecord>> replica_steps;
    std::vector<std::uint64_t> replica_routed;
    std::vector<EngineTimeSeries> replica_timeseries;
    /// replica of sim.records[i] (with a fleet and kept records).
    std::vector<std::uint32_t> record_replica;
    /// Per replica: KV sent (P/D prefill replicas) and seconds provisioned.
    std::vector<KvTransferStats> replica_kv_sent;
    std::vector<double> replica_seconds;
    /// Autoscaled pools' replica counts over time; per pool TTFT-SLO attainment counts.
    std::vector<ScalePoint> scale;
    std::vector<std::uint64_t> pool_slo_finished, pool_slo_met;
    bool fleet = false;
    /// The whole run's streaming summary (its digests give the report's latency CDFs).
    std::optional<StreamingSummary> summary;
};

namespace detail {
/// The hooks that feed streaming summaries (the fleet's and each replica's) as a run goes.
/// With `client_view` (P/D) the whole run's summary takes only the fleet_client calls.
inline void attach_summaries(SimulationOptions& opts, std::vector<StreamingSummary>& sums, std::size_t replicas,
                             const std::vector<std::uint32_t>& pool_of, bool client_view = false) {
    // sums[0]: the whole run; sums[1 + i]: replica i (when there are several); then one per pool.
    auto each = [&sums, replicas, &pool_of, client_view](std::uint32_t replica, auto&& f) {
        if (replica == fleet_client) {
            f(sums[0]);
            return;
        }
        if (!client_view) f(sums[0]);
        if (sums.size() > 1) f(sums[1 + replica]);
        if (!pool_of.empty()) f(sums[1 + replicas + pool_of[replica]]);
    };
    opts.on_added = [each](std::uint32_t replica, RequestId, std::chrono::nanoseconds arrival, bool accepted) {
        if (accepted) each(replica, [&](StreamingSummary& s) { s.started(arrival); });
    };
    opts.on_tokens = [each, &sums, replicas](std::uint32_t replica, const StepTokenTimes& t) {
        each(replica, [&](StreamingSummary& s) {
            s.tokens(t.time, t.tokens);
            if (t.run_tokens > 0) s.itl(t.run_gap, t.run_tokens);
            for (const auto g : t.other_gaps) s.itl(g);
        });
        // A replica's summary moves on with its own steps (on_advance would touch every one).
        if (replica != fleet_client && replicas > 0) sums[1 + replica].advance(t.time);
    };
    opts.on_record = [each](std::uint32_t replica, const RequestRecord& r) {
        const RequestTiming t = timing_from_record(r);
        each(replica, [&](StreamingSummary& s) { s.add(t, r.reason != FinishReason::rejected, r.id); });
    };
    opts.on_advance = [&sums, replicas](std::chrono::nanoseconds now) {
        sums[0].advance(now);
        for (std::size_t i = 1 + replicas; i < sums.size(); ++i) sums[i].advance(now); // the pools'
    };
}
} // namespace detail

/// Runs `workload` on `model` (copied per replica; coverage summed) with `config`, on the
/// clock C (VirtualClock: as fast as possible; WallClock: real time, one replica), engine
/// i seeded `seed + i`; `summary` gives the percentiles and SLOs of the summaries,
/// `record_steps` keeps every step (RunOutcome::sim.steps), `progress` gets the share of
/// requests finished. Memory stays that of the requests in flight unless `fleet` asks for
/// details or records. Throws config_error for no replicas, or a fleet on the wall clock.
template <class C>
RunOutcome run_emulation(const AnyLatencyModel& model, const EngineConfig& config, WorkloadStream& workload,
                         std::uint64_t seed, const SummaryOptions& summary, bool record_steps,
                         std::function<void(double)> progress = {}, const FleetSettings& fleet = {}) {
    const auto wall_start = std::chrono::steady_clock::now();
    C clock;
    using Exec = EmulatedExecutor<AnyLatencyModel, C>;
    const bool several = fleet.replicas > 1 || !fleet.router.empty() || !fleet.plans.empty();
    if (fleet.replicas == 0) detail::throw_error<config_error>("--replicas 0: give at least one replica");
    if constexpr (!std::is_same_v<C, VirtualClock>) {
        if (several)
            detail::throw_error<config_error>(
                "--replicas/--router: fleets run in virtual time only; drop --mode realtime");
    }
    std::vector<ReplicaPlan> plans = fleet.plans;
    if (plans.empty())
        for (std::uint32_t i = 0; i < (several ? fleet.replicas : 1U); ++i) plans.push_back({&model, config, 0});
    const auto n = static_cast<std::uint32_t>(plans.size());
    const bool pd = std::any_of(fleet.layout.role.begin(), fleet.layout.role.end(),
                                [](ReplicaRole r) { return r != ReplicaRole::mixed; });
    // Replicas on clocks of their own (advanced in parallel, see run_fleet_simulation) where
    // the fleet allows it: no P/D, no autoscaler, no closed-loop client.
    const bool own_clocks = std::is_same_v<C, VirtualClock> && several && !pd && fleet.layout.autoscale.empty() &&
                            !workload.stats().sessions;
    std::vector<std::unique_ptr<C>> clocks;
    for (std::uint32_t i = 0; own_clocks && i < n; ++i) clocks.push_back(std::make_unique<C>());
    std::vector<std::unique_ptr<Engine<Exec, C>>> engines;
    engines.reserve(n);
    std::vector<std::uint32_t> pool_of;
    for (std::uint32_t i = 0; i < n; ++i) {
        AnyLatencyModel m = *plans[i].model;
        m.reset_coverage();
        C& c = own_clocks ? *clocks[i] : clock;
        engines.push_back(std::make_unique<Engine<Exec, C>>(Exec(std::move(m), c, {}, seed + i), c, plans[i].config));
        if (i < fleet.observers.size() && fleet.observers[i] != nullptr)
            engines.back()->add_observer(fleet.observers[i]);
        if (!fleet.pools.empty()) pool_of.push_back(plans[i].pool);
    }
    std::vector<StreamingSummary> sums;
    sums.reserve(1 + (several ? n : 0) + fleet.pools.size());
    sums.emplace_back(summary, fleet.detailed);
    if (several)
        for (std::uint32_t i = 0; i < n; ++i) sums.emplace_back(summary.for_part(), fleet.detailed);
    for (std::size_t p = 0; p < fleet.pools.size(); ++p) sums.emplace_back(summary.for_part(), fleet.detailed);
    SimulationOptions opts;
    opts.record_steps = record_steps;
    opts.timeseries_interval = std::chrono::seconds(1); // vLLM's 1 s engine log (bounded memory)
    opts.progress = std::move(progress);
    opts.record_token_times = fleet.detailed;
    opts.keep_records = fleet.keep_records || record_steps;
    opts.threads = fleet.threads;
    detail::attach_summaries(opts, sums, several ? n : 0, pool_of, pd);

    RunOutcome out;
    out.config = engines[0]->config();
    WorkloadSource source(workload);
    const std::size_t total = workload.size();
    if (!several) {
        out.sim = run_simulation(*engines[0], source, opts, total);
    } else {
        if constexpr (std::is_same_v<C, VirtualClock>) {
            std::vector<Engine<Exec, C>*> ptrs;
            for (auto& e : engines) ptrs.push_back(e.get());
            RouterOptions ro = fleet.router_options;
            ro.block_size = out.config.block_size;
            const std::string name = fleet.router.empty() ? "round_robin" : fleet.router;
            AnyRouter router = make_router(name, ro);
            AnyRouter decode_router = make_router(name, ro); // P/D: the same policy within the decode role
            FleetResult fr =
                run_fleet_simulation(ptrs, clock, source, router, opts, total, &fleet.layout, &decode_router);
            out.fleet = true;
            out.sim.records = std::move(fr.records);
            out.record_replica = std::move(fr.replica);
            out.sim.duration = fr.duration;
            out.sim.num_requests = fr.num_requests;
            out.sim.stats = fleet_stats(fr.stats);
            out.replica_stats = std::move(fr.stats);
            out.replica_steps = std::move(fr.steps);
            out.replica_routed = std::move(fr.routed);
            out.replica_timeseries = std::move(fr.timeseries);
            out.sim.timeseries = std::move(fr.fleet_timeseries);
            out.replica_kv_sent = std::move(fr.kv_sent);
            out.replica_seconds = std::move(fr.replica_seconds);
            out.scale = std::move(fr.scale);
            out.pool_slo_finished = std::move(fr.slo_finished);
            out.pool_slo_met = std::move(fr.slo_met);
        }
    }
    for (auto& e : engines) out.coverage += e->executor().model().coverage();
    const double duration = std::chrono::duration<double>(out.sim.duration).count();
    const double d = duration > 0.0 ? duration : 1e-9;
    out.bench = sums[0].result(d);
    for (std::size_t i = 1; i < 1 + (several ? n : 0); ++i) out.replica_bench.push_back(sums[i].result(d));
    for (std::size_t i = 1 + (several ? n : 0); i < sums.size(); ++i) out.pool_bench.push_back(sums[i].result(d));
    out.summary = std::move(sums[0]);
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return out;
}

/// run_emulation of a built workload (in its own order).
template <class C>
RunOutcome run_emulation(const AnyLatencyModel& model, const EngineConfig& config, const Workload& workload,
                         std::uint64_t seed, const SummaryOptions& summary, bool record_steps,
                         std::function<void(double)> progress = {}, const FleetSettings& fleet = {}) {
    WorkloadStream s(workload);
    return run_emulation<C>(model, config, s, seed, summary, record_steps, std::move(progress), fleet);
}

/// What a pool of a fleet run cost.
struct PoolCost {
    double replica_hours = 0.0, gpu_hours = 0.0, cost = 0.0;
};

/// Replica-hours, GPU-hours and cost of pool `pool` (FleetSettings::plans' pool index) of
/// the fleet run `run`: each of its replicas counts while it was provisioned
/// (RunOutcome::replica_seconds: the whole run unless autoscaled, cold starts and drains
/// included), with `tensor_parallel_size` GPUs each at `cost_per_gpu_hour` (the `simulate
/// --fleet` pools table and the result JSON's pools).
[[nodiscard]] inline PoolCost pool_cost(const RunOutcome& run, const FleetSettings& fleet, std::uint32_t pool,
                                        std::uint32_t tensor_parallel_size, double cost_per_gpu_hour) noexcept {
    PoolCost c;
    for (std::size_t i = 0; i < fleet.plans.size() && i < run.replica_seconds.size(); ++i)
        if (fleet.plans[i].pool == pool) c.replica_hours += run.replica_seconds[i] / 3600.0;
    c.gpu_hours = c.replica_hours * tensor_parallel_size;
    c.cost = c.gpu_hours * cost_per_gpu_hour;
    return c;
}

/// Mean and 95 % confidence interval of one metric over replicates.
struct ReplicateStat {
    std::string name;
    double mean = 0.0;
    double half_width = 0.0; // mean +- half_width is the 95 % CI
    double min = 0.0;
    double max = 0.0;
};

/// The summary metrics of `runs` (request and output throughput, mean and median TTFT and
/// TPOT, mean ITL and E2EL, duration), each as mean +- 95 % Student-t CI (mean_interval),
/// named as `vllm bench serve` prints them.
inline std::vector<ReplicateStat> replicate_stats(const std::vector<BenchResult>& runs) {
    struct Metric {
        const char* name;
        double (*get)(const BenchResult&);
    };
    static const Metric metrics[] = {
        {"Request throughput (req/s)", [](const BenchResult& r) { return r.request_throughput; }},
        {"Output token throughput (tok/s)", [](const BenchResult& r) { return r.output_throughput; }},
        {"Mean TTFT (ms)", [](const BenchResult& r) { return r.ttft.mean_ms; }},
        {"Median TTFT (ms)", [](const BenchResult& r) { return r.ttft.median_ms; }},
        {"Mean TPOT (ms)", [](const BenchResult& r) { return r.tpot.mean_ms; }},
        {"Median TPOT (ms)", [](const BenchResult& r) { return r.tpot.median_ms; }},
        {"Mean ITL (ms)", [](const BenchResult& r) { return r.itl.mean_ms; }},
        {"Mean E2EL (ms)", [](const BenchResult& r) { return r.e2el.mean_ms; }},
        {"Benchmark duration (s)", [](const BenchResult& r) { return r.duration_s; }},
    };
    std::vector<ReplicateStat> out;
    std::vector<double> values(runs.size());
    for (const Metric& m : metrics) {
        for (std::size_t i = 0; i < runs.size(); ++i) values[i] = m.get(runs[i]);
        const MeanInterval ci = mean_interval(values);
        out.push_back({m.name, ci.mean, ci.half_width, ci.min, ci.max});
    }
    return out;
}

/// How the replicates of run_replicates run.
struct ReplicateOptions {
    /// Replicate i runs on bootstrap_model(model, seed + i) (a pack model only).
    bool bootstrap_profile = false;
    /// Keep each replicate's per-request lists (--save-detailed; for `validate --replicates`).
    bool detailed = false;
};

/// `simulate --replicates K`: K virtual runs of `spec` (the workload redrawn per seed where
/// it is synthetic) on `model` with `config`, seeds seed..seed+K-1, in parallel on up to
/// `threads` threads (0 = every core). Each run depends only on its seed, so the results
/// do not depend on the thread count. With bootstrap_profile each run also samples a
/// bootstrap resample of the pack (seeded by its seed), so replicate_stats's intervals
/// cover the profile's sampling uncertainty too.
inline std::vector<BenchResult> run_replicates(const AnyLatencyModel& model, const EngineConfig& config,
                                               WorkloadSpec spec, std::uint64_t seed, std::size_t k,
                                               const SummaryOptions& summary, unsigned threads,
                                               const ReplicateOptions& opts = {}) {
    std::vector<BenchResult> out(k);
    parallel_for(k, threads, [&](std::size_t i) {
        WorkloadSpec s = spec;
        s.seed = seed + i;
        const Workload w = build_workload(s);
        const AnyLatencyModel m = opts.bootstrap_profile ? bootstrap_model(model, seed + i) : model;
        FleetSettings one;
        one.detailed = opts.detailed;
        out[i] = run_emulation<VirtualClock>(m, config, w, seed + i, summary, false, {}, one).bench;
    });
    return out;
}

LLMEMU_END_NAMESPACE
