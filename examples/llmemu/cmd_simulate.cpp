// `llmemu simulate`: run a workload through the reference engine on an emulated GPU and
// report it as `vllm bench serve` would. With no flags: the bundled A40 Qwen3-8B profile and
// one hour of Azure conversation traffic, in virtual time.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chrome_trace.hpp"
#include "command.hpp"
#include "data_paths.hpp"
#include "engine_options.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/metrics/validation_timeseries.hpp"
#include "llmemu/version.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "simulation_run.hpp"

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
    std::string label;
    bool quiet = false;
};

nlohmann::json engine_stats_json(const EngineStats& s) {
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

nlohmann::json config_json(const EngineConfig& c) {
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

nlohmann::json coverage_json(const Coverage& c) {
    return {{"exact", c.exact}, {"interpolated", c.interpolated}, {"out_of_range", c.out_of_range}, {"total", c.total}};
}

void run_simulate(SimulateArgs& a) {
    if (a.mode != "virtual" && a.mode != "realtime")
        throw usage_error("--mode '" + a.mode + "': use virtual (simulated time, fast) or realtime (wall clock)");
    SummaryOptions summary;
    summary.percentiles = parse_percentiles(a.percentiles);
    if (!a.goodput.empty()) parse_slo(a.goodput, summary);

    const bool default_profile = a.engine.profile.empty();
    const std::string profile_spec = default_profile ? default_profile_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    const ModelConfig* mc = model.model_config();

    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    const std::filesystem::path fallback_trace =
        default_trace && a.workload.dataset != "random" ? default_trace_path() : std::filesystem::path{};
    const WorkloadSpec wspec = make_workload_spec(a.workload, fallback_trace, a.engine.seed);
    const Workload workload = build_workload(wspec);
    const std::uint32_t longest = longest_request(workload);
    EngineConfig config = make_engine_config(a.engine, mc, longest);
    // Resolve the KV pool now, so a configuration that cannot run fails before any output.
    const std::string blocks_note = resolve_kv_pool(config, model, a.engine);

    // What is about to run, defaults included, so a bare `llmemu simulate` explains itself.
    std::ostream& os = std::cout;
    const bool auto_len = a.engine.max_model_len == 0;
    const bool realtime = a.mode == "realtime";
    os << "llmemu " << LLMEMU_VERSION_STRING << " simulate (" << (realtime ? "real time" : "virtual time") << ", seed "
       << a.engine.seed << ")\n";
    os << "  profile:  " << (default_profile ? "bundled " : "") << profile_spec << "\n            " << model.describe()
       << '\n';
    os << "  workload: " << workload.description << '\n';
    if (realtime && !workload.requests.empty() && workload.requests.back().arrival_s > 60.0)
        os << "  note:     real-time mode takes at least " << fmt("%.0f", workload.requests.back().arrival_s)
           << " s of wall time; use --num-prompts or --mode virtual for a quick run\n";

    const auto wall_start = std::chrono::steady_clock::now();
    ProgressBar bar(!a.quiet, "simulating");
    auto progress = [&bar](double f) { bar.update(f); };
    const bool record_steps = !a.chrome_trace.empty();
    RunOutcome run =
        realtime ? run_emulation<WallClock>(model, config, workload, a.engine.seed, summary, record_steps, progress)
                 : run_emulation<VirtualClock>(model, config, workload, a.engine.seed, summary, record_steps, progress);
    bar.finish();
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    const EngineConfig& used = run.config;

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
    const bool synthetic = wspec.kind != WorkloadKind::trace;
    if (wspec.request_rate && !std::isinf(*wspec.request_rate))
        r.request_rate = *wspec.request_rate;
    else if (!synthetic && !wspec.request_rate && !workload.requests.empty() &&
             workload.requests.back().arrival_s > 0.0)
        r.request_rate = static_cast<double>(workload.requests.size()) / workload.requests.back().arrival_s;
    r.burstiness = synthetic ? wspec.burstiness : 1.0;
    r.num_prompts = workload.requests.size();
    r.model_id = mc != nullptr && !mc->model_name.empty() ? mc->model_name : model.describe();
    r.label = a.label;
    if (realtime) r.date = local_timestamp();
    os << '\n';
    print_summary(os, r);

    // llmemu's own section: engine statistics and how well the profile covered the run.
    const EngineStats& st = run.sim.stats;
    os << llmemu::detail::metrics_center(" llmemu engine ", 50, '-') << '\n';
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
    const Coverage& cov = run.coverage;
    const double tot = cov.total == 0 ? 1.0 : static_cast<double>(cov.total);
    print_line(os, "Oracle exact / neighbour / clamped (%):",
               fmt("%.1f", 100.0 * static_cast<double>(cov.exact) / tot) + " / " +
                   fmt("%.1f", 100.0 * static_cast<double>(cov.interpolated) / tot) + " / " +
                   fmt("%.1f", 100.0 * static_cast<double>(cov.out_of_range) / tot));
    const double sim_s = std::chrono::duration<double>(run.sim.duration).count();
    print_line(os, realtime ? "Wall time (s):" : "Simulated / wall time (s):",
               realtime ? fmt("%.2f", wall_s)
                        : fmt("%.2f", sim_s) + " / " + fmt("%.2f", wall_s) + " (" +
                              fmt("%.0f", wall_s > 0 ? sim_s / wall_s : 0.0) + "x real time)");
    os << std::string(50, '=') << '\n';
    if (st.rejected() > 0)
        os << "note: " << st.rejected() << " request(s) were refused because prompt + output exceeds max_model_len "
           << used.max_model_len << " (longest request: " << longest
           << " tokens); raise --max-model-len to serve them\n";

    if (r.completed > 0 && r.ttft.median_ms > 10000.0)
        os << "note: the engine fell behind this load (median TTFT " << fmt("%.1f", r.ttft.median_ms / 1000.0)
           << " s, up to " << st.max_waiting << " requests waiting): try a lower --request-rate or other engine "
           << "settings, or find the sustainable rate with `llmemu sweep --slo ttft:2000,tpot:100`\n";

    if (!a.result_json.empty()) {
        nlohmann::json j = to_vllm_json(r);
        nlohmann::json ll;
        ll["version"] = LLMEMU_VERSION_STRING;
        ll["mode"] = a.mode;
        ll["seed"] = a.engine.seed;
        ll["profile"] = {{"spec", profile_spec}, {"describe", model.describe()}};
        if (mc != nullptr) {
            ll["profile"]["model_name"] = mc->model_name;
            ll["profile"]["gpu_name"] = mc->gpu_name;
        }
        ll["workload"] = {{"description", workload.description},
                          {"kind", wspec.kind == WorkloadKind::trace    ? "trace"
                                   : wspec.kind == WorkloadKind::random ? "random"
                                                                        : "empirical"},
                          {"trace", wspec.trace_path.string()},
                          {"num_requests", workload.requests.size()}};
        ll["config"] = config_json(used);
        ll["engine_stats"] = engine_stats_json(st);
        ll["oracle_coverage"] = coverage_json(cov);
        ll["simulated_duration_s"] = sim_s;
        ll["timeseries"] = to_json(run.sim.timeseries);
        if (realtime) ll["wall_time_s"] = wall_s;
        j["llmemu"] = std::move(ll);
        write_result_file(os, a.result_json, j.dump(), a.quiet);
    }
    if (!a.chrome_trace.empty()) {
        std::ofstream out(a.chrome_trace, std::ios::binary);
        if (!out)
            throw usage_error("--chrome-trace '" + a.chrome_trace + "': cannot write the file; check the directory");
        write_chrome_trace(out, run.sim, "llmemu simulate: " + workload.description);
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
    cmd->add_option("--label", args->label, "Label written to the result JSON");
    cmd->add_flag("-q,--quiet", args->quiet, "No progress bar or 'wrote' lines");
    cmd->callback([args] { run_simulate(*args); });
});

} // namespace
