// `llmemu simulate`: run a workload through the reference engine on an emulated GPU and
// report it as `vllm bench serve` would. With no flags: the bundled A40 Qwen3-8B profile and
// one hour of Azure conversation traffic, in virtual time.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "engine_options.hpp"
#include "fleet_setup.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/engine/chrome_trace.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/fleet_json.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/metrics/engine_json.hpp"
#include "llmemu/metrics/validation_timeseries.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "llmemu/report/html_report.hpp"
#include "llmemu/report/latency_quantiles.hpp"
#include "llmemu/report/step_digest.hpp"
#include "llmemu/version.hpp"
#include "progress.hpp"
#include "replicates.hpp"
#include "report.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct SimulateArgs {
    EngineFlags engine;
    WorkloadFlags workload;
    std::string mode = "virtual";
    std::string percentiles = "99";
    std::string goodput;
    std::string result_json;
    std::string chrome_trace;
    std::string report;
    std::string label;
    bool quiet = false;
    bool save_detailed = false;
    std::uint32_t replicas = 1;
    std::uint32_t data_parallel_size = 0;
    std::string router;
    std::string router_weights;
    std::uint32_t prefix_blocks = 1;
    std::string fleet_file;
    CLI::Option* opt_replicas = nullptr;
    std::size_t replicates = 0;
    unsigned jobs = 0;
    bool bootstrap_profile = false;
};

/// "--router-weights queue=1,kv=1,prefix=2" (any subset).
ScorerWeights parse_router_weights(const std::string& spec) {
    ScorerWeights w;
    std::size_t pos = 0;
    while (pos <= spec.size()) {
        std::size_t end = spec.find(',', pos);
        if (end == std::string::npos) end = spec.size();
        const std::string pair = spec.substr(pos, end - pos);
        pos = end + 1;
        const std::size_t eq = pair.find('=');
        const std::string key = pair.substr(0, eq);
        double v = -1.0;
        bool ok = eq != std::string::npos;
        if (ok) {
            const std::optional<double> w = parse_number<double>(std::string_view(pair).substr(eq + 1));
            ok = w && *w >= 0.0;
            v = w.value_or(-1.0);
        }
        if (!ok || (key != "queue" && key != "kv" && key != "prefix"))
            throw usage_error(
                "--router-weights '" + spec + "': '" + pair +
                "' is not KEY=W with KEY one of queue, kv, prefix and W >= 0, e.g. queue=1,kv=1,prefix=2");
        (key == "queue" ? w.queue : key == "kv" ? w.kv_cache : w.prefix) = v;
        if (end == spec.size()) break;
    }
    return w;
}

/// The per-replica section of a fleet's result JSON.
nlohmann::json fleet_json(const RunOutcome& run, const std::string& router, const ScorerWeights& w) {
    nlohmann::json f;
    f["replicas"] = run.replica_bench.size();
    f["router"] = router;
    if (router == "scored") f["router_weights"] = {{"queue", w.queue}, {"kv", w.kv_cache}, {"prefix", w.prefix}};
    nlohmann::json per = nlohmann::json::array();
    for (std::size_t i = 0; i < run.replica_bench.size(); ++i) {
        nlohmann::json r = to_vllm_json(run.replica_bench[i]);
        for (const char* k : {"endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
                              "request_rate", "burstiness", "max_concurrency"})
            r.erase(k);
        r["replica"] = i;
        r["routed"] = run.replica_routed[i];
        r["engine_stats"] = to_json(run.replica_stats[i]);
        if (i < run.replica_seconds.size()) r["provisioned_s"] = run.replica_seconds[i];
        if (i < run.replica_kv_sent.size() && run.replica_kv_sent[i].transfers > 0)
            r["kv_transfer"] = to_json(run.replica_kv_sent[i]);
        if (i < run.replica_timeseries.size()) r["timeseries"] = to_json(run.replica_timeseries[i]);
        per.push_back(std::move(r));
    }
    f["per_replica"] = std::move(per);
    f["timeseries"] = "llmemu.timeseries is the fleet's: counts and throughput summed over the replicas, "
                      "kv_cache_pct the mean over the replicas provisioned at the time";
    return f;
}

void run_simulate(SimulateArgs& a) {
    if (a.mode != "virtual" && a.mode != "realtime")
        throw usage_error("--mode '" + a.mode + "': use virtual (simulated time, fast) or realtime (wall clock)");
    FleetSettings fleet;
    fleet.detailed = a.save_detailed;
    fleet.replicas = a.replicas;
    fleet.router = a.router;
    fleet.threads = a.jobs;
    if (a.replicas == 0) throw usage_error("--replicas 0: give at least one replica");
    if (a.data_parallel_size > 0) {
        if (a.opt_replicas->count() > 0)
            throw usage_error("--data-parallel-size with --replicas: give one of them (--data-parallel-size N is N "
                              "engines behind vLLM's own load balancer, --replicas N behind --router)");
        if (!a.router.empty() && a.router != "data_parallel")
            throw usage_error("--data-parallel-size with --router " + a.router +
                              ": vLLM's data-parallel balancer is the router; drop --router");
        fleet.replicas = a.data_parallel_size;
        fleet.router = "data_parallel";
    }
    if (!a.router_weights.empty() && fleet.router != "scored")
        throw usage_error("--router-weights applies to --router scored; add --router scored or drop it");
    if (!a.router_weights.empty()) fleet.router_options.weights = parse_router_weights(a.router_weights);
    if (a.prefix_blocks == 0) throw usage_error("--prefix-blocks 0: hash at least one block");
    fleet.router_options.prefix_blocks = a.prefix_blocks;
    FleetSpec fleet_spec;
    if (!a.fleet_file.empty()) {
        if (a.opt_replicas->count() > 0 || a.data_parallel_size > 0)
            throw usage_error("--fleet with --replicas/--data-parallel-size: the fleet file gives the replicas; drop "
                              "the flag or give one pool without --fleet");
        fleet_spec = read_fleet_file(a.fleet_file);
        if (fleet.router.empty()) fleet.router = fleet_spec.router.empty() ? "round_robin" : fleet_spec.router;
        fleet.replicas = fleet_spec.num_replicas();
    }
    if (!fleet.router.empty()) (void)make_router(fleet.router, fleet.router_options); // names the choices
    if (fleet.replicas > 1 && fleet.router.empty()) fleet.router = "round_robin";
    if (a.mode == "realtime" && (fleet.replicas > 1 || !fleet.router.empty()))
        throw usage_error(
            "--replicas/--router/--data-parallel-size: fleets run in virtual time only; drop --mode realtime");
    if (a.replicates > 1 && a.mode == "realtime")
        throw usage_error("--replicates runs in virtual time; drop --mode realtime");
    if (a.replicates > 1 && (fleet.replicas > 1 || !fleet.router.empty()))
        throw usage_error(
            "--replicates with a fleet (--replicas/--router/--fleet): the replicate seeds run one engine; "
            "drop one of them");
    if (a.bootstrap_profile && a.replicates < 2)
        throw usage_error("--bootstrap-profile resamples the pack once per replicate; add --replicates K (K >= 2)");
    SummaryOptions summary;
    summary.percentiles = parse_percentiles(a.percentiles);
    if (!a.goodput.empty()) parse_slo(a.goodput, summary);
    if (!a.report.empty()) { // fail before the run, not after it
        const auto dir = std::filesystem::path(a.report).parent_path();
        std::error_code ec;
        if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
            throw usage_error("--report '" + a.report + "': the directory '" + dir.string() +
                              "' does not exist; create it or give another path");
    }

    const bool default_profile = a.engine.profile.empty();
    const std::string profile_spec = default_profile ? bundled_pack_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    const ModelConfig* mc = model.model_config();
    if (a.bootstrap_profile && !bootstrappable(model))
        throw usage_error("--bootstrap-profile resamples a profile pack's buckets, but --profile '" + profile_spec +
                          "' is " + model.describe() + "; give a pack JSON or drop --bootstrap-profile");

    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    const std::filesystem::path fallback_trace =
        default_trace && a.workload.dataset != "random" ? bundled_trace_path() : std::filesystem::path{};
    WorkloadSpec wspec;
    WorkloadStream workload = load_cli_stream(a.workload, fallback_trace, a.engine.seed, wspec);
    const bool spec_file = !a.workload.workload_file.empty();
    if (spec_file && a.replicates > 1)
        throw usage_error("--replicates reruns one workload's flags with new seeds; with --workload run the spec "
                          "with several --seed values instead");
    const std::uint32_t longest = longest_request(workload);
    EngineConfig config = make_engine_config(a.engine, mc, longest);
    // Resolve the KV pool now, so a configuration that cannot run fails before any output.
    const std::string blocks_note = resolve_kv_pool(config, model, a.engine);
    // A fleet file: each pool's model and engine settings (the flags' where the pool is silent).
    PoolModels pool_models;
    add_fleet_pools(fleet_spec, a.fleet_file, a.engine, model, longest, fleet, pool_models);
    const bool disaggregated = fleet_spec.disaggregated();

    // What is about to run, defaults included, so a bare `llmemu simulate` explains itself.
    std::ostream& os = std::cout;
    const bool auto_len = a.engine.max_model_len == 0;
    const bool realtime = a.mode == "realtime";
    os << "llmemu " << LLMEMU_VERSION_STRING << " simulate (" << (realtime ? "real time" : "virtual time") << ", seed "
       << a.engine.seed << ")\n";
    os << "  profile:  " << (default_profile ? "bundled " : "") << profile_spec << "\n            " << model.describe()
       << '\n';
    os << "  workload: " << workload.description() << '\n';
    if (realtime && workload.size() != 0 && workload.stats().last_arrival_s > 60.0)
        os << "  note:     real-time mode takes at least " << fmt("%.0f", workload.stats().last_arrival_s)
           << " s of wall time; use --num-prompts or --mode virtual for a quick run\n";

    const auto wall_start = std::chrono::steady_clock::now();
    const auto wall_start_date = std::chrono::system_clock::now(); // rps_change_events of real-time runs
    ProgressBar bar(!a.quiet, "simulating");
    auto progress = [&bar](double f) { bar.update(f); };
    // --chrome-trace: one ChromeTraceObserver per engine (a fleet's replicas are named).
    std::vector<ChromeTraceObserver> traces;
    if (!a.chrome_trace.empty()) {
        const bool named = fleet.replicas > 1 || !fleet.router.empty() || !fleet.plans.empty();
        const std::size_t engines = fleet.plans.empty() ? (named ? fleet.replicas : 1U) : fleet.plans.size();
        for (std::size_t i = 0; i < engines; ++i) {
            const std::string name = "replica " + std::to_string(i);
            traces.push_back(named ? ChromeTraceObserver(name, name + " requests") : ChromeTraceObserver());
        }
        for (auto& t : traces) fleet.observers.push_back(&t);
    }
    // A result document (or its report) also gets the step-latency histogram and coverage grid.
    const bool want_json = !a.result_json.empty() || !a.report.empty();
    auto digest = std::make_shared<report::StepDigest>();
    const AnyLatencyModel run_model = want_json ? AnyLatencyModel(report::ObservedModel(model, digest)) : model;
    RunOutcome run =
        realtime
            ? run_emulation<WallClock>(run_model, config, workload, a.engine.seed, summary, false, progress, fleet)
            : run_emulation<VirtualClock>(run_model, config, workload, a.engine.seed, summary, false, progress, fleet);
    bar.finish();
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    const EngineConfig& used = run.config;

    if (run.fleet)
        os << "  fleet:    " << run.replica_bench.size() << (run.replica_bench.size() == 1 ? " replica" : " replicas")
           << " behind the " << fleet.router << " router"
           << (fleet.router == "data_parallel" ? " (vLLM's internal DP load balancer)" : "") << '\n';
    os << "  engine:   max_num_seqs=" << used.max_num_seqs << " max_num_batched_tokens=" << used.max_num_batched_tokens
       << " block_size=" << used.block_size << "\n            num_gpu_blocks=" << used.num_gpu_blocks << blocks_note;
    os << "\n            max_model_len=" << used.max_model_len;
    if (auto_len) {
        const bool from_profile = mc != nullptr && mc->max_model_len != 0;
        os << " (auto: " << (from_profile ? "the profile's " : "default ") << (from_profile ? mc->max_model_len : 4096U)
           << (used.max_model_len > (from_profile ? mc->max_model_len : 4096U) ? " raised" : " kept")
           << " to fit the longest request, " << longest << " tokens)";
    }
    os << "\n            prefix_caching=" << (used.enable_prefix_caching ? "on" : "off")
       << " async_scheduling=" << (used.async_scheduling ? "on" : "off")
       << " long_prefill_token_threshold=" << used.long_prefill_token_threshold << '\n';

    // The vLLM-shaped summary.
    BenchResult& r = run.bench;
    const bool synthetic = !spec_file && wspec.kind != WorkloadKind::trace;
    if (wspec.request_rate && !std::isinf(*wspec.request_rate))
        r.request_rate = *wspec.request_rate;
    else if (!synthetic && !wspec.request_rate && workload.size() != 0 && workload.stats().last_arrival_s > 0.0)
        r.request_rate = static_cast<double>(workload.size()) / workload.stats().last_arrival_s;
    r.burstiness = synthetic ? wspec.burstiness : 1.0;
    r.num_prompts = workload.size();
    r.model_id = mc != nullptr && !mc->model_name.empty() ? mc->model_name : model.describe();
    r.label = a.label;
    if (realtime) r.date = local_timestamp();
    os << '\n';
    print_summary(os, r);

    // llmemu's own section: engine statistics and how well the profile covered the run.
    const EngineStats& st = run.sim.stats;
    os << metrics_center(" llmemu engine ", 50, '-') << '\n';
    print_line(os, "Refused requests:", std::to_string(st.rejected()));
    print_line(os, "Engine steps (prefill / decode):",
               std::to_string(st.steps) + " (" + std::to_string(st.prefill_steps) + " / " +
                   std::to_string(st.decode_steps) + ")");
    print_line(os, "Mean tokens / requests per step:",
               fmt("%.1f", st.mean_step_tokens()) + " / " + fmt("%.1f", st.mean_step_requests()));
    print_line(os, "Preemptions:", std::to_string(st.preemptions));
    print_line(os, "Peak running / waiting requests:",
               std::to_string(st.max_running) + " / " + std::to_string(st.max_waiting));
    print_line(os, "Peak KV-cache usage (%):", fmt("%.2f", st.max_kv_usage * 100.0));
    if (used.enable_prefix_caching)
        print_line(os, "Prefix-cache hit rate (%):", fmt("%.2f", st.prefix_cache_hit_rate() * 100.0));
    // What an infinite cache would reach on the same prompts, beside what the pool achieved.
    const PrefixReuseCounter ideal = ideal_prefix_reuse(workload, used.block_size, used.max_model_len);
    if (workload.stats().shared_prompts)
        print_line(os, "Ideal prefix-cache hit rate (%):", fmt("%.2f", ideal.hit_rate() * 100.0) + " (infinite cache)");
    const Coverage& cov = run.coverage;
    const double tot = cov.total == 0 ? 1.0 : static_cast<double>(cov.total);
    print_line(os, "Oracle exact / neighbour / clamped (%):",
               fmt("%.1f", 100.0 * static_cast<double>(cov.exact) / tot) + " / " +
                   fmt("%.1f", 100.0 * static_cast<double>(cov.interpolated) / tot) + " / " +
                   fmt("%.1f", 100.0 * static_cast<double>(cov.out_of_range) / tot));
    if (cov.learned > 0)
        print_line(os,
                   "Answered by the learned model (%):", fmt("%.1f", 100.0 * static_cast<double>(cov.learned) / tot));
    const double sim_s = std::chrono::duration<double>(run.sim.duration).count();
    print_line(os, realtime ? "Wall time (s):" : "Simulated / wall time (s):",
               realtime ? fmt("%.2f", wall_s)
                        : fmt("%.2f", sim_s) + " / " + fmt("%.2f", wall_s) + " (" +
                              fmt("%.0f", wall_s > 0 ? sim_s / wall_s : 0.0) + "x real time)");
    os << std::string(50, '=') << '\n';
    if (!run.pool_bench.empty()) {
        os << metrics_center(" llmemu pools ", 50, '-') << '\n';
        char line[256];
        std::snprintf(line, sizeof line, "%-12s %-7s %8s %9s %11s %10s %10s %10s\n", "pool", "role", "replicas",
                      "completed", "mean TTFT", "mean TPOT", "GPU-hours", "cost");
        os << line;
        double total = 0.0;
        for (std::size_t i = 0; i < run.pool_bench.size(); ++i) {
            const PoolSpec& p = fleet_spec.pools[i];
            const PoolCost c =
                pool_cost(run, fleet, static_cast<std::uint32_t>(i), p.tensor_parallel_size, p.cost_per_gpu_hour);
            total += c.cost;
            const std::string reps = p.autoscale ? std::to_string(p.autoscale->min_replicas) + "-" +
                                                       std::to_string(p.autoscale->max_replicas)
                                                 : std::to_string(p.replicas);
            std::snprintf(line, sizeof line, "%-12.12s %-7s %8s %9llu %11.2f %10.2f %10.3f %10.2f\n", p.name.c_str(),
                          p.role.c_str(), reps.c_str(), static_cast<unsigned long long>(run.pool_bench[i].completed),
                          run.pool_bench[i].ttft.mean_ms, run.pool_bench[i].tpot.mean_ms, c.gpu_hours, c.cost);
            os << line;
        }
        print_line(os, "Fleet cost (cost_per_gpu_hour units):", fmt("%.2f", total));
        if (disaggregated) {
            // Prefill pools' TTFT/TPOT are their own engines' (one output token each); the
            // summary above is what the client of the P/D proxy sees.
            KvTransferStats kv;
            for (const auto& k : run.replica_kv_sent) kv += k;
            print_line(os, "KV transfers:", std::to_string(kv.transfers));
            print_line(os, "KV bytes transferred (GB):", fmt("%.3f", static_cast<double>(kv.bytes) / 1e9));
            const double mean_ms = kv.transfers == 0
                                       ? 0.0
                                       : std::chrono::duration<double, std::milli>(kv.total_time).count() /
                                             static_cast<double>(kv.transfers);
            print_line(os, "Mean / max KV transfer time (ms):",
                       fmt("%.3f", mean_ms) + " / " +
                           fmt("%.3f", std::chrono::duration<double, std::milli>(kv.max_time).count()));
            print_line(os, "KV link (Gbit/s, latency ms):",
                       fmt("%.1f", fleet.layout.link.bandwidth_gbps) + ", " +
                           fmt("%.3f", std::chrono::duration<double, std::milli>(fleet.layout.link.latency).count()));
        }
        for (std::size_t i = 0; i < fleet_spec.pools.size(); ++i) {
            const PoolSpec& p = fleet_spec.pools[i];
            if (!p.autoscale) continue;
            const PoolCost c =
                pool_cost(run, fleet, static_cast<std::uint32_t>(i), p.tensor_parallel_size, p.cost_per_gpu_hour);
            os << "autoscale " << p.name << " (" << to_string(p.autoscale->metric) << ", target "
               << fmt("%g", p.autoscale->target) << "): replica-hours " << fmt("%.4f", c.replica_hours);
            if (p.autoscale->slo_ttft.count() > 0 && i < run.pool_slo_finished.size())
                os << ", TTFT <= "
                   << fmt("%g", std::chrono::duration<double, std::milli>(p.autoscale->slo_ttft).count()) << " ms for "
                   << fmt("%.2f", run.pool_slo_finished[i] == 0 ? 100.0
                                                                : 100.0 * static_cast<double>(run.pool_slo_met[i]) /
                                                                      static_cast<double>(run.pool_slo_finished[i]))
                   << "% of requests";
            os << "\n  replicas over time (s: serving+starting+draining):";
            std::size_t shown = 0, points = 0;
            for (const ScalePoint& sp : run.scale) {
                if (sp.pool != i) continue;
                ++points;
                if (shown == 24) continue;
                ++shown;
                os << ' ' << fmt("%.1f", std::chrono::duration<double>(sp.time).count()) << ":" << sp.serving << '+'
                   << sp.starting << '+' << sp.draining;
            }
            if (points > shown) os << " ... (" << points - shown << " more in the result JSON)";
            os << '\n';
        }
    }
    if (run.fleet) {
        os << metrics_center(" llmemu fleet ", 50, '-') << '\n';
        char line[256];
        std::snprintf(line, sizeof line, "%-8s %9s %9s %11s %11s %10s %9s %7s\n", "replica", "routed", "completed",
                      "mean TTFT", "P99 TTFT", "mean TPOT", "steps", "peak KV");
        os << line;
        for (std::size_t i = 0; i < run.replica_bench.size(); ++i) {
            const BenchResult& b = run.replica_bench[i];
            const EngineStats& s = run.replica_stats[i];
            const double p99 = b.ttft.percentiles_ms.empty() ? b.ttft.median_ms : b.ttft.percentiles_ms.back().second;
            std::snprintf(line, sizeof line, "%-8zu %9llu %9llu %11.2f %11.2f %10.2f %9llu %6.1f%%\n", i,
                          static_cast<unsigned long long>(run.replica_routed[i]),
                          static_cast<unsigned long long>(b.completed), b.ttft.mean_ms, p99, b.tpot.mean_ms,
                          static_cast<unsigned long long>(s.steps), s.max_kv_usage * 100.0);
            os << line;
        }
        os << "(TTFT and TPOT in ms; the P99 column is the last of --percentiles)\n";
        os << std::string(50, '=') << '\n';
    }
    if (st.rejected() > 0)
        os << "note: " << st.rejected() << " request(s) were refused because prompt + output exceeds max_model_len "
           << used.max_model_len << " (longest request: " << longest
           << " tokens); raise --max-model-len to serve them\n";

    if (r.completed > 0 && r.ttft.median_ms > 10000.0)
        os << "note: the engine fell behind this load (median TTFT " << fmt("%.1f", r.ttft.median_ms / 1000.0)
           << " s, up to " << st.max_waiting << " requests waiting): try a lower --request-rate or other engine "
           << "settings, or find the sustainable rate with `llmemu sweep --slo ttft:2000,tpot:100`\n";

    // --replicates K: the same run over K seeds, each metric with its 95 % interval.
    std::vector<ReplicateStat> rep;
    nlohmann::json rep_runs;
    if (a.replicates > 1) {
        const auto runs =
            run_replicates(model, config, wspec, a.engine.seed, a.replicates, summary,
                           parallel_threads(a.jobs, a.replicates), {a.bootstrap_profile, a.save_detailed && want_json});
        if (a.save_detailed && want_json) rep_runs = replicate_runs_json(runs, a.engine.seed);
        rep = replicate_stats(runs);
        print_replicates(os, rep, a.replicates, a.engine.seed, a.bootstrap_profile);
    }

    if (want_json) {
        nlohmann::json j = to_vllm_json(r);
        if (const auto ramp = wspec.ramp_up && workload.workload() != nullptr
                                  ? ramp_up_record(wspec, *workload.workload())
                                  : std::nullopt)
            add_ramp_up_json(j, *ramp, realtime ? std::optional(wall_start_date) : std::nullopt);
        nlohmann::json ll;
        ll["version"] = LLMEMU_VERSION_STRING;
        ll["mode"] = a.mode;
        ll["seed"] = a.engine.seed;
        ll["profile"] = {{"spec", profile_spec}, {"describe", model.describe()}};
        if (mc != nullptr) {
            ll["profile"]["model_name"] = mc->model_name;
            ll["profile"]["gpu_name"] = mc->gpu_name;
        }
        ll["workload"] = {{"description", workload.description()},
                          {"kind", spec_file ? "workload_spec" : to_string(wspec.kind)},
                          {"trace", wspec.trace_path.string()},
                          {"num_requests", workload.size()}};
        ll["config"] = to_json(used);
        ll["engine_stats"] = to_json(st);
        ll["prefix_reuse"] = {{"achieved_hit_rate", used.enable_prefix_caching ? st.prefix_cache_hit_rate() : 0.0},
                              {"ideal_hit_rate", ideal.hit_rate()},
                              {"ideal_hits", ideal.hits()},
                              {"ideal_queries", ideal.queries()},
                              {"shared_prompts", workload.stats().shared_prompts}};
        ll["oracle_coverage"] = to_json(cov);
        if (!rep.empty()) {
            ll["replicates"] = replicates_json(rep, a.replicates, a.engine.seed, a.bootstrap_profile);
            if (!rep_runs.is_null()) ll["replicates"]["runs"] = std::move(rep_runs);
        }
        ll["simulated_duration_s"] = sim_s;
        ll["percentiles_exact"] = r.exact_percentiles;
        if (!r.exact_percentiles) ll["percentile_relative_error"] = r.percentile_relative_error;
        if (run.fleet) ll["fleet"] = fleet_json(run, fleet.router, fleet.router_options.weights);
        if (!run.pool_bench.empty()) {
            nlohmann::json pools = nlohmann::json::array();
            for (std::size_t i = 0; i < run.pool_bench.size(); ++i) {
                const PoolSpec& p = fleet_spec.pools[i];
                nlohmann::json pj = to_vllm_json(run.pool_bench[i]);
                for (const char* k : {"endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
                                      "request_rate", "burstiness", "max_concurrency"})
                    pj.erase(k);
                const PoolCost c =
                    pool_cost(run, fleet, static_cast<std::uint32_t>(i), p.tensor_parallel_size, p.cost_per_gpu_hour);
                pj["name"] = p.name;
                pj["replicas"] = p.replicas;
                pj["replica_hours"] = c.replica_hours;
                if (disaggregated) {
                    KvTransferStats kv;
                    for (std::size_t k = 0; k < fleet.plans.size() && k < run.replica_kv_sent.size(); ++k)
                        if (fleet.plans[k].pool == i) kv += run.replica_kv_sent[k];
                    if (p.role == "prefill") pj["kv_transfer"] = to_json(kv);
                }
                if (p.autoscale) {
                    const AutoscalePolicy& as = *p.autoscale;
                    nlohmann::json aj = {
                        {"min_replicas", as.min_replicas},
                        {"max_replicas", as.max_replicas},
                        {"metric", to_string(as.metric)},
                        {"target", as.target},
                        {"interval_s", std::chrono::duration<double>(as.interval).count()},
                        {"cold_start_s", std::chrono::duration<double>(as.cold_start).count()},
                        {"window_s", std::chrono::duration<double>(as.window).count()},
                        {"slo_ttft_ms", std::chrono::duration<double, std::milli>(as.slo_ttft).count()}};
                    if (as.slo_ttft.count() > 0) {
                        aj["slo_finished"] = run.pool_slo_finished[i];
                        aj["slo_met"] = run.pool_slo_met[i];
                        aj["slo_attainment"] = run.pool_slo_finished[i] == 0
                                                   ? 1.0
                                                   : static_cast<double>(run.pool_slo_met[i]) /
                                                         static_cast<double>(run.pool_slo_finished[i]);
                    }
                    nlohmann::json series = nlohmann::json::array();
                    for (const ScalePoint& sp : run.scale)
                        if (sp.pool == i)
                            series.push_back({{"time_s", std::chrono::duration<double>(sp.time).count()},
                                              {"serving", sp.serving},
                                              {"starting", sp.starting},
                                              {"draining", sp.draining}});
                    aj["replicas_over_time"] = std::move(series);
                    pj["autoscale"] = std::move(aj);
                }
                pj["profile"] = p.profile;
                pj["tensor_parallel_size"] = p.tensor_parallel_size;
                pj["role"] = p.role;
                pj["cost_per_gpu_hour"] = p.cost_per_gpu_hour;
                pj["gpu_hours"] = c.gpu_hours;
                pj["cost"] = c.cost;
                pools.push_back(std::move(pj));
            }
            ll["fleet"]["pools"] = std::move(pools);
            if (disaggregated) {
                KvTransferStats kv;
                for (const auto& k : run.replica_kv_sent) kv += k;
                nlohmann::json kj = to_json(kv);
                kj["bandwidth_gbps"] = fleet.layout.link.bandwidth_gbps;
                kj["latency_ms"] = std::chrono::duration<double, std::milli>(fleet.layout.link.latency).count();
                kj["timestamps"] = "client of vLLM's P/D proxy (tests/v1/kv_connector/nixl_integration/"
                                   "toy_proxy_server.py): arrival at the proxy to the decode replica's tokens";
                ll["fleet"]["kv_transfer"] = std::move(kj);
            }
        }
        ll["timeseries"] = to_json(run.sim.timeseries);
        if (realtime) ll["wall_time_s"] = wall_s;
        ll.update(digest->to_json());
        if (run.summary) ll["latency_quantiles"] = report::latency_quantiles_json(*run.summary);
        j["llmemu"] = std::move(ll);
        if (!a.result_json.empty()) write_result_file(os, a.result_json, j.dump(), a.quiet);
        if (!a.report.empty()) {
            report::ReportInput in{a.result_json.empty() ? "simulate" : a.result_json,
                                   a.label.empty() ? "llmemu simulate" : a.label,
                                   report::InputKind::result,
                                   std::move(j),
                                   {}};
            report::ReportOptions ropt;
            ropt.title = "llmemu simulate: " + workload.description();
            ropt.slo_ttft_ms = summary.slo_ttft_ms;
            ropt.slo_tpot_ms = summary.slo_tpot_ms;
            ropt.slo_e2el_ms = summary.slo_e2el_ms;
            std::vector<report::ReportInput> inputs;
            inputs.push_back(std::move(in));
            try {
                report::write_html_report(a.report, inputs, ropt);
            } catch (const report_error& e) {
                throw usage_error("--report '" + a.report + "': " + e.what());
            }
            if (!a.quiet) os << "wrote " << a.report << " (open it in a browser)\n";
        }
    }
    if (!a.chrome_trace.empty()) {
        std::ofstream out(a.chrome_trace, std::ios::binary);
        if (!out)
            throw usage_error("--chrome-trace '" + a.chrome_trace + "': cannot write the file; check the directory");
        std::vector<const ChromeTraceObserver*> engines;
        for (const auto& t : traces) engines.push_back(&t);
        write_chrome_trace(out, engines, "llmemu simulate: " + workload.description());
        if (!out) throw usage_error("--chrome-trace '" + a.chrome_trace + "': write failed (disk full?)");
        if (!a.quiet) os << "wrote " << a.chrome_trace << " (open it in https://ui.perfetto.dev)\n";
    }
}

const bool registered = register_command(20, [](CLI::App& app) {
    auto args = std::make_shared<SimulateArgs>();
    auto* cmd = app.add_subcommand(
        "simulate",
        "Run a workload through the reference engine on an emulated GPU and report it like vllm bench serve "
        "(no flags: bundled A40 Qwen3-8B profile, one hour of Azure conversation traffic, virtual time)");
    add_engine_options(*cmd, args->engine);
    add_workload_options(*cmd, args->workload);
    cmd->add_option("--mode", args->mode, "virtual: simulated time, as fast as the CPU allows; realtime: wall clock")
        ->capture_default_str()
        ->check(CLI::IsMember({"virtual", "realtime"}));
    cmd->add_option("--percentiles", args->percentiles, "Percentiles to report, e.g. 50,90,99")->capture_default_str();
    cmd->add_option("--goodput", args->goodput,
                    "SLOs for goodput as KEY:MS pairs (ttft, tpot, e2el), e.g. ttft:500,tpot:50");
    cmd->add_option("--result-json", args->result_json,
                    "Write the result JSON (vllm bench serve's keys plus an 'llmemu' section) to FILE");
    cmd->add_option("--chrome-trace", args->chrome_trace,
                    "Write the step timeline and per-request spans as Trace Event JSON (Perfetto) to FILE");
    cmd->add_option("--report", args->report,
                    "Write a self-contained HTML report (latency CDFs, summary, step histogram, coverage) to FILE");
    cmd->add_option("--label", args->label, "Label written to the result JSON");
    cmd->add_flag("-q,--quiet", args->quiet, "No progress bar or 'wrote' lines");
    cmd->add_flag("--save-detailed", args->save_detailed,
                  "Keep the per-request lists (input_lens, output_lens, ttfts, itls, latencies, start_times, "
                  "errors) in the result JSON, as vllm bench serve --save-detailed (memory grows with the run)");
    args->opt_replicas =
        cmd->add_option("--replicas", args->replicas,
                        "Engine replicas (each its own GPU, scheduler and KV cache) behind --router, in virtual time")
            ->capture_default_str();
    cmd->add_option("--router", args->router,
                    "How requests pick a replica: round_robin (default with --replicas), least_loaded, prefix_aware "
                    "(consistent hash of the first --prefix-blocks blocks), scored (llm-d-like weighted scorers, "
                    "--router-weights), data_parallel (vLLM's DP balancer)");
    cmd->add_option("--router-weights", args->router_weights,
                    "Scorer weights of --router scored as queue=W,kv=W,prefix=W (default queue=1,kv=1,prefix=2)");
    cmd->add_option("--prefix-blocks", args->prefix_blocks, "Blocks hashed by --router prefix_aware")
        ->capture_default_str();
    cmd->add_option("--fleet", args->fleet_file,
                    "A heterogeneous fleet: JSON pools (name, replicas, profile, tensor_parallel_size, "
                    "cost_per_gpu_hour, role, engine settings) and a router; see docs/fleet.md");
    cmd->add_option("--data-parallel-size", args->data_parallel_size,
                    "vLLM data parallelism: N engines behind vLLM's internal load balancer (4 x waiting + running, "
                    "counts refreshed every 100 ms)");
    cmd->add_option("-j,--jobs", args->jobs,
                    "Threads (default: all cores): a fleet's replicas advance in parallel between arrivals, "
                    "--replicates seeds run in parallel; results do not depend on it")
        ->check(whole_number(1, 4096));
    cmd->add_option("--replicates", args->replicates,
                    "Also run K seeds (--seed, --seed+1, ...) in parallel and print each summary metric as mean +- "
                    "95% CI")
        ->check(CLI::Range(std::size_t{2}, std::size_t{10000}));
    cmd->add_flag("--bootstrap-profile", args->bootstrap_profile,
                  "With --replicates: each replicate samples a bootstrap resample of the pack (every bucket's samples "
                  "drawn with replacement, seeded by its seed), so the interval covers profile uncertainty too");
    cmd->callback([args] { run_simulate(*args); });
});

} // namespace
