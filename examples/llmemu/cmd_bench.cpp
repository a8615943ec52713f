// `llmemu bench`: vLLM's benchmark method (vllm bench serve) against any OpenAI-compatible
// server — `llmemu serve` or a real vLLM — with the workload flags of `llmemu simulate`,
// writing the same result JSON, so `llmemu validate` can compare a live run with a
// virtual one.
// GCC 12 flags Asio's std::atomic_thread_fence under ThreadSanitizer (-Wtsan); TSan cannot
// model fences, but Asio pairs them with mutexes, so the warning is noise. It must precede
// every include (GCC matches the pragma against the fence's location in <atomic>).
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "data_paths.hpp"
#include "engine_options.hpp"
#include "llmemu/detail/server_fd_limit.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/metrics/prometheus.hpp"
#include "llmemu/server/load_generator.hpp"
#include "llmemu/server/openai_client.hpp"
#include "llmemu/version.hpp"
#include "llmemu/workload/workload.hpp"
#include "progress.hpp"
#include "report.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct BenchArgs {
    WorkloadFlags workload;
    std::string base_url = "http://127.0.0.1:8000";
    std::string endpoint = "/v1/completions";
    std::string model;
    std::uint32_t max_concurrency = 0;
    std::uint64_t seed = 0;
    bool no_ignore_eos = false;
    bool ignore_eos = false;
    std::string percentiles = "99";
    std::string goodput;
    std::string result_json;
    std::string label;
    bool quiet = false;
    CLI::Option* opt_max_concurrency = nullptr;
};

std::optional<double> scrape_cpu(const server::ServerAddress& addr) {
    try {
        const auto [status, body] = server::http_get(addr, "/metrics");
        if (status != 200) return std::nullopt;
        return metrics::find_prometheus_sample(body, "process_cpu_seconds_total");
    } catch (const llmemu::error&) {
        return std::nullopt;
    }
}

void run_bench(BenchArgs& a) {
    if (a.ignore_eos && a.no_ignore_eos) throw usage_error("--ignore-eos and --no-ignore-eos contradict each other");
    SummaryOptions summary;
    summary.percentiles = parse_percentiles(a.percentiles);
    if (!a.goodput.empty()) parse_slo(a.goodput, summary);
    const auto addr = server::ServerAddress::parse(a.base_url);
    server::LoadOptions opts;
    if (a.endpoint == "/v1/completions")
        opts.api = server::ClientApi::completions;
    else if (a.endpoint == "/v1/chat/completions")
        opts.api = server::ClientApi::chat_completions;
    else
        throw usage_error("--endpoint '" + a.endpoint + "': use /v1/completions or /v1/chat/completions");
    opts.endpoint = a.endpoint;
    opts.ignore_eos = !a.no_ignore_eos;
    opts.seed = a.seed;
    if (a.opt_max_concurrency->count() > 0) {
        if (a.max_concurrency == 0) throw usage_error("--max-concurrency must be >= 1");
        opts.max_concurrency = a.max_concurrency;
    }

    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    const std::filesystem::path fallback_trace =
        default_trace && a.workload.dataset != "random" ? default_trace_path() : std::filesystem::path{};
    const WorkloadSpec wspec = make_workload_spec(a.workload, fallback_trace, a.seed);
    const Workload workload = build_workload(wspec);
    std::vector<server::LoadRequest> reqs;
    reqs.reserve(workload.requests.size());
    for (const auto& w : workload.requests)
        reqs.push_back(
            {w.arrival_s, std::max<std::uint32_t>(w.prompt_len, 1), std::max<std::uint32_t>(w.output_len, 1)});
    // Prompts that share prefixes (Mooncake traces, prefix datasets, text datasets) are sent
    // as their token ids, so the server's prefix cache sees the same reuse as simulate.
    if (has_shared_prompts(workload))
        opts.prompt_ids = [&workload](std::size_t i, std::vector<std::int32_t>& ids) {
            const WorkloadRequest& w = workload.requests[i];
            if (!w.prompt_ids.empty())
                ids.assign(w.prompt_ids.begin(), w.prompt_ids.end());
            else if (!w.prompt.empty())
                append_prompt_tokens(w.prompt, ids);
        };

    // The model: as given, else the server's first (vLLM's client asks /v1/models too).
    std::string model = a.model;
    if (model.empty()) {
        const auto [status, body] = server::http_get(addr, "/v1/models");
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (status != 200 || j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
            !j["data"][0].contains("id"))
            throw usage_error("cannot learn the model from " + a.base_url + "/v1/models (HTTP " +
                              std::to_string(status) + "); give --model");
        model = j["data"][0]["id"].get<std::string>();
    }
    opts.model = model;

    std::ostream& os = std::cout;
    os << "llmemu " << LLMEMU_VERSION_STRING << " bench -> " << a.base_url << a.endpoint << " (model " << model
       << ")\n  workload: " << workload.description << "\n  max concurrency: "
       << (opts.max_concurrency ? std::to_string(*opts.max_concurrency) : std::string("unlimited"))
       << (opts.ignore_eos ? ", ignore_eos" : "") << '\n';

    llmemu::detail::raise_fd_limit(); // one descriptor per connection
    const auto cpu0 = scrape_cpu(addr);
    boost::asio::io_context ioc(1);
    server::StreamingClient client(ioc, addr);
    ProgressBar bar(!a.quiet, "benchmarking");
    const double total = static_cast<double>(reqs.size());
    opts.progress = [&](std::size_t done) { bar.update(static_cast<double>(done) / total); };
    const auto wall0 = std::chrono::steady_clock::now();
    const auto date0 = std::chrono::system_clock::now(); // rps_change_events
    const std::clock_t my_cpu0 = std::clock();
    server::LoadResult run = server::run_load(ioc, client, reqs, opts);
    const double my_cpu = static_cast<double>(std::clock() - my_cpu0) / CLOCKS_PER_SEC;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    bar.finish();
    const auto cpu1 = scrape_cpu(addr);

    BenchResult r = summarize(run.timings, run.duration_s > 0 ? run.duration_s : 1e-9, summary);
    if (wspec.request_rate && !std::isinf(*wspec.request_rate)) r.request_rate = *wspec.request_rate;
    r.burstiness = wspec.kind == WorkloadKind::trace ? 1.0 : wspec.burstiness;
    if (opts.max_concurrency) r.max_concurrency = *opts.max_concurrency;
    r.num_prompts = reqs.size();
    r.backend = opts.api == server::ClientApi::completions ? "openai" : "openai-chat";
    r.model_id = model;
    r.label = a.label;
    r.date = local_timestamp();
    os << '\n';
    print_summary(os, r);
    std::optional<double> server_cpu;
    if (cpu0 && cpu1) server_cpu = *cpu1 - *cpu0;
    auto line = [&](const std::string& label, const std::string& value) { print_line(os, label, value); };
    os << llmemu::detail::metrics_center(" llmemu bench ", 50, '-') << '\n';
    if (server_cpu)
        line("Server CPU (s, % of one core):",
             fmt("%.2f", *server_cpu) + " (" + fmt("%.1f", 100.0 * *server_cpu / wall) + ")");
    else
        line("Server CPU:", "n/a (no process_cpu_seconds_total on /metrics)");
    line("Client CPU (s, % of one core):", fmt("%.2f", my_cpu) + " (" + fmt("%.1f", 100.0 * my_cpu / wall) + ")");
    os << std::string(50, '=') << '\n';
    std::size_t shown = 0;
    for (const auto& t : run.timings)
        if (!t.success && shown++ < 3) os << "failed request: " << t.error << '\n';

    if (!a.result_json.empty()) {
        nlohmann::json j = to_vllm_json(r);
        if (const auto ramp = ramp_up_record(wspec, workload)) add_ramp_up_json(j, *ramp, date0);
        nlohmann::json ll;
        ll["version"] = LLMEMU_VERSION_STRING;
        ll["mode"] = "live";
        ll["seed"] = a.seed;
        ll["base_url"] = a.base_url;
        ll["endpoint"] = a.endpoint;
        ll["ignore_eos"] = opts.ignore_eos;
        ll["workload"] = {{"description", workload.description},
                          {"kind", wspec.kind == WorkloadKind::trace    ? "trace"
                                   : wspec.kind == WorkloadKind::random ? "random"
                                                                        : "empirical"},
                          {"trace", wspec.trace_path.string()},
                          {"num_requests", reqs.size()}};
        if (server_cpu) ll["server_cpu_s"] = *server_cpu;
        ll["client_cpu_s"] = my_cpu;
        ll["wall_time_s"] = wall;
        j["llmemu"] = std::move(ll);
        write_result_file(os, a.result_json, j.dump(), a.quiet);
    }
    if (r.completed == 0 && !reqs.empty())
        throw llmemu::request_error("every request failed (first error: " + run.timings.front().error + ")");
}

const bool registered = register_command(50, [](CLI::App& app) {
    auto args = std::make_shared<BenchArgs>();
    auto* cmd = app.add_subcommand(
        "bench", "Benchmark any OpenAI-compatible server (llmemu serve, vLLM) the way vllm bench serve does: streamed "
                 "requests at vLLM's arrival times, TTFT/TPOT/ITL/E2E, the same result JSON as llmemu simulate");
    cmd->add_option("--base-url", args->base_url, "Server to benchmark")->capture_default_str();
    cmd->add_option("--endpoint", args->endpoint, "/v1/completions or /v1/chat/completions")->capture_default_str();
    cmd->add_option("--model", args->model, "Model name to send (default: the server's first in /v1/models)");
    add_workload_options(*cmd, args->workload);
    args->opt_max_concurrency =
        cmd->add_option("--max-concurrency", args->max_concurrency, "Requests in flight at most (default: unlimited)");
    cmd->add_option("--seed", args->seed, "Seed of arrivals, lengths and prompt contents")->capture_default_str();
    cmd->add_flag("--ignore-eos", args->ignore_eos,
                  "Send ignore_eos (the default: outputs have the workload's lengths)");
    cmd->add_flag("--no-ignore-eos", args->no_ignore_eos, "Let the server stop at EOS (lengths may differ)");
    cmd->add_option("--percentiles", args->percentiles, "Percentiles to report, e.g. 50,90,99")->capture_default_str();
    cmd->add_option("--goodput", args->goodput, "SLOs for goodput as KEY:MS pairs (ttft, tpot, e2el)");
    cmd->add_option("--result-json", args->result_json, "Write the result JSON (vllm bench serve's keys) to FILE");
    cmd->add_option("--label", args->label, "Label written to the result JSON");
    cmd->add_flag("-q,--quiet", args->quiet, "No progress bar or 'wrote' lines");
    cmd->callback([args] { run_bench(*args); });
});

} // namespace
