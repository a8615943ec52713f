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
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "engine_options.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/metrics/prometheus.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "llmemu/server/fd_limit.hpp"
#include "llmemu/server/load_generator.hpp"
#include "llmemu/server/openai_client.hpp"
#include "llmemu/version.hpp"
#include "llmemu/workload/workload.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "vllm_flags.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct BenchArgs {
    WorkloadFlags workload;
    std::string base_url = "http://127.0.0.1:8000";
    std::string host = "127.0.0.1";
    int port = 8000;
    std::string backend = "openai";
    std::string endpoint = "/v1/completions";
    std::string model;
    std::string served_model_name;
    std::uint32_t max_concurrency = 0;
    std::uint64_t seed = 0;
    bool no_ignore_eos = false;
    bool ignore_eos = false;
    std::string percentiles = "99";
    std::string goodput;
    std::string result_json;
    std::string label;
    bool quiet = false;
    // vLLM's bench serve flags.
    std::vector<std::string> goodput_pairs;
    std::string percentile_metrics;
    bool save_result = false;
    bool save_detailed = false;
    bool append_result = false;
    std::string result_dir;
    std::string result_filename;
    std::vector<std::string> metadata;
    std::vector<std::string> headers;
    std::string request_id_prefix;
    std::uint32_t num_warmups = 0;
    bool disable_tqdm = false;
    double ready_check_timeout_s = 0;
    std::uint32_t logprobs = 0;
    CLI::Option* opt_max_concurrency = nullptr;
    CLI::Option* opt_base_url = nullptr;
    CLI::Option* opt_host = nullptr;
    CLI::Option* opt_port = nullptr;
    CLI::Option* opt_endpoint = nullptr;
    CLI::Option* opt_logprobs = nullptr;
    CLI::Option* opt_request_id_prefix = nullptr;
    std::unique_ptr<VllmFlagSet> vllm_flags;
};

/// Python's str() of a float as vLLM's result file names print --request-rate ("inf", "10.0", "2.5").
std::string python_float(double v) {
    if (std::isinf(v)) return "inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v); // shortest round trip, as Python's repr
    std::string s(buf, res.ptr);
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
}

/// vLLM's default result file name (vllm/benchmarks/serve.py).
std::string vllm_result_filename(const BenchArgs& a, const WorkloadSpec& w, const std::string& backend,
                                 const std::string& model_id, const std::string& date) {
    const std::string base_model =
        model_id.substr(model_id.rfind('/') == std::string::npos ? 0 : model_id.rfind('/') + 1);
    const std::string conc =
        a.opt_max_concurrency->count() > 0 ? "-concurrency" + std::to_string(a.max_concurrency) : "";
    const std::string label = a.label.empty() ? backend : a.label;
    auto rps = [](double v) { // vLLM's ramp-up rates are ints
        return v == std::floor(v) ? std::to_string(static_cast<long long>(v)) : python_float(v);
    };
    if (w.ramp_up)
        return label + "-ramp-up-" + a.workload.ramp_up_strategy + "-" + rps(w.ramp_up->start_rps) + "qps-" +
               rps(w.ramp_up->end_rps) + "qps" + conc + "-" + base_model + "-" + date + ".json";
    const double rate = w.request_rate ? *w.request_rate : std::numeric_limits<double>::infinity();
    return label + "-" + python_float(rate) + "qps" + conc + "-" + base_model + "-" + date + ".json";
}

/// "KEY=VALUE" -> (KEY, VALUE); throws usage_error naming `flag`.
std::pair<std::string, std::string> key_value(const std::string& item, const char* flag) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw usage_error(std::string(flag) + " '" + item + "': give KEY=VALUE");
    return {item.substr(0, eq), item.substr(eq + 1)};
}

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
    const std::vector<std::string> no_effect = a.vllm_flags->check();
    if (a.ignore_eos && a.no_ignore_eos) throw usage_error("--ignore-eos and --no-ignore-eos contradict each other");
    SummaryOptions summary;
    summary.percentiles = parse_percentiles(a.percentiles);
    std::string goodput = a.goodput;
    for (const auto& g : a.goodput_pairs) goodput += (goodput.empty() ? "" : " ") + g;
    if (!goodput.empty()) parse_slo(goodput, summary);
    if (!a.percentile_metrics.empty()) {
        summary.percentile_metrics.clear();
        for (const auto& m : split_list(a.percentile_metrics, "--percentile-metrics")) {
            if (m != "ttft" && m != "tpot" && m != "itl" && m != "e2el")
                throw usage_error("--percentile-metrics '" + a.percentile_metrics + "': '" + m +
                                  "' is not one of ttft, tpot, itl, e2el");
            summary.percentile_metrics.push_back(m);
        }
    }
    // Where the result goes: --result-json FILE (llmemu's), or vLLM's --save-result.
    if (!a.save_result && !a.append_result && (!a.result_dir.empty() || !a.result_filename.empty() || a.save_detailed))
        throw usage_error("--result-dir/--result-filename/--save-detailed shape the file --save-result writes; add "
                          "--save-result");
    if ((a.save_result || a.append_result) && !a.result_json.empty())
        throw usage_error("--result-json '" + a.result_json +
                          "' and --save-result both name the result file; give one of them");
    // The server: --base-url, else vLLM's --host/--port.
    const bool host_port = a.opt_host->count() > 0 || a.opt_port->count() > 0;
    if (host_port && a.opt_base_url->count() > 0)
        throw usage_error("--base-url '" + a.base_url + "' and --host/--port both name the server; give one");
    if (a.port < 1 || a.port > 65535) throw usage_error("--port " + std::to_string(a.port) + ": use 1..65535");
    const std::string base_url = host_port ? "http://" +
                                                 (a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host) +
                                                 ":" + std::to_string(a.port)
                                           : a.base_url;
    const auto addr = server::ServerAddress::parse(base_url);
    server::LoadOptions opts;
    // --backend: vLLM's request function; openai-chat defaults to the chat endpoint.
    if (a.backend == "openai-chat" && a.opt_endpoint->count() == 0) a.endpoint = "/v1/chat/completions";
    if (a.endpoint == "/v1/completions")
        opts.api = server::ClientApi::completions;
    else if (a.endpoint == "/v1/chat/completions")
        opts.api = server::ClientApi::chat_completions;
    else
        throw usage_error("--endpoint '" + a.endpoint + "': use /v1/completions or /v1/chat/completions");
    if (a.backend == "openai-chat" && opts.api != server::ClientApi::chat_completions)
        throw usage_error("--backend openai-chat: OpenAI Chat Completions API URL must end with 'chat/completions' "
                          "(give --endpoint /v1/chat/completions)");
    if (a.backend != "openai-chat" && opts.api == server::ClientApi::chat_completions && a.opt_endpoint->count() > 0 &&
        a.backend != "openai")
        throw usage_error("--backend " + a.backend +
                          " sends completions requests; use --backend openai-chat for --endpoint " + a.endpoint);
    const char* api_key = std::getenv("OPENAI_API_KEY");
    if (api_key != nullptr && *api_key != '\0') opts.headers = "Authorization: Bearer " + std::string(api_key) + "\r\n";
    for (const auto& h : a.headers) {
        const auto [k, v] = key_value(h, "--header");
        if (k.find_first_of(" :\r\n") != std::string::npos || v.find_first_of("\r\n") != std::string::npos)
            throw usage_error("--header '" + h + "': the name may not hold spaces or ':', neither part line breaks");
        opts.headers += k + ": " + v + "\r\n";
    }
    if (a.opt_request_id_prefix->count() > 0) {
        if (a.request_id_prefix.find_first_of("\r\n") != std::string::npos)
            throw usage_error("--request-id-prefix may not hold line breaks");
        opts.request_id_prefix = a.request_id_prefix;
    } else {
        char prefix[32];
        std::snprintf(prefix, sizeof prefix, "bench-%08x-", static_cast<unsigned>(std::random_device{}()));
        opts.request_id_prefix = prefix;
    }
    if (a.opt_logprobs->count() > 0) opts.logprobs = a.logprobs;
    std::vector<std::pair<std::string, std::string>> metadata;
    for (const auto& m : a.metadata) metadata.push_back(key_value(m, "--metadata"));
    opts.endpoint = a.endpoint;
    opts.ignore_eos = !a.no_ignore_eos;
    opts.seed = a.seed;
    if (a.opt_max_concurrency->count() > 0) {
        if (a.max_concurrency == 0) throw usage_error("--max-concurrency must be >= 1");
        opts.max_concurrency = a.max_concurrency;
    }

    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    const std::filesystem::path fallback_trace =
        default_trace && a.workload.dataset != "random" ? bundled_trace_path() : std::filesystem::path{};
    WorkloadSpec wspec;
    const Workload workload = load_cli_workload(a.workload, fallback_trace, a.seed, wspec);
    if (has_sessions(workload))
        throw usage_error("bench sends its requests open loop, so multi-turn sessions (each turn waits for the "
                          "previous one's output) cannot be sent; drop --turns/--sessions-from (or the spec's "
                          "sessions), or run them in simulate");
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

    // vLLM's ready check: wait for the server to answer.
    if (a.ready_check_timeout_s > 0) {
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::milliseconds(static_cast<std::int64_t>(a.ready_check_timeout_s * 1000));
        for (;;) {
            int status = 0;
            try {
                status = server::http_get(addr, "/v1/models", opts.headers).first;
            } catch (const llmemu::error&) {
                status = 0;
            }
            if (status == 200) break;
            if (std::chrono::steady_clock::now() >= deadline)
                throw usage_error("--ready-check-timeout-sec " + flag_number(a.ready_check_timeout_s) + ": " +
                                  base_url + "/v1/models did not answer 200 in time (last status " +
                                  std::to_string(status) + "); is the server up?");
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
    // The model: as given, else the server's first (vLLM's client asks /v1/models too).
    std::string model = a.model;
    if (model.empty()) {
        const auto [status, body] = server::http_get(addr, "/v1/models", opts.headers);
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (status != 200 || j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
            !j["data"][0].contains("id"))
            throw usage_error("cannot learn the model from " + base_url + "/v1/models (HTTP " + std::to_string(status) +
                              "); give --model");
        model = j["data"][0]["id"].get<std::string>();
    }
    opts.model = a.served_model_name.empty() ? model : a.served_model_name;

    std::ostream& os = std::cout;
    os << "llmemu " << LLMEMU_VERSION_STRING << " bench -> " << base_url << a.endpoint << " (model " << opts.model
       << ", backend " << a.backend << ")\n  workload: " << workload.description << "\n  max concurrency: "
       << (opts.max_concurrency ? std::to_string(*opts.max_concurrency) : std::string("unlimited"))
       << (opts.ignore_eos ? ", ignore_eos" : "") << '\n';
    if (!no_effect.empty()) {
        os << "  vLLM flags with no effect here:";
        for (const auto& f : no_effect) os << ' ' << f << (&f == &no_effect.back() ? "" : ",");
        os << '\n';
    }

    llmemu::raise_fd_limit(); // one descriptor per connection
    const auto cpu0 = scrape_cpu(addr);
    boost::asio::io_context ioc(1);
    server::StreamingClient client(ioc, addr);
    if (a.num_warmups > 0 && !reqs.empty()) { // vLLM: the first request, num_warmups times, results dropped
        os << "Warming up with " << a.num_warmups << " requests...\n";
        server::LoadOptions warm = opts;
        warm.request_id_prefix = opts.request_id_prefix + "warmup-";
        warm.progress = nullptr;
        const std::vector<server::LoadRequest> warmups(
            a.num_warmups, server::LoadRequest{0.0, reqs[0].prompt_len, reqs[0].output_len});
        (void)server::run_load(ioc, client, warmups, warm);
        os << "Warmup run completed.\n";
    }
    ProgressBar bar(!a.quiet && !a.disable_tqdm, "benchmarking");
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
    r.backend = a.backend;
    r.model_id = model;
    r.label = a.label;
    r.date = local_timestamp();
    os << '\n';
    print_summary(os, r);
    std::optional<double> server_cpu;
    if (cpu0 && cpu1) server_cpu = *cpu1 - *cpu0;
    auto line = [&](const std::string& label, const std::string& value) { print_line(os, label, value); };
    os << metrics_center(" llmemu bench ", 50, '-') << '\n';
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

    if (!a.result_json.empty() || a.save_result || a.append_result) {
        nlohmann::json j = to_vllm_json(r);
        if (const auto ramp = ramp_up_record(wspec, workload)) add_ramp_up_json(j, *ramp, date0);
        for (const auto& [k, v] : metadata) j[k] = v;
        if ((a.save_result || a.append_result) && !a.save_detailed) // vLLM drops these without --save-detailed
            for (const char* k :
                 {"input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors", "start_times"})
                j.erase(k);
        nlohmann::json ll;
        ll["version"] = LLMEMU_VERSION_STRING;
        ll["mode"] = "live";
        ll["seed"] = a.seed;
        ll["base_url"] = base_url;
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
        if (!a.result_json.empty()) {
            write_result_file(os, a.result_json, j.dump(), a.quiet);
        } else {
            const std::string name = a.result_filename.empty()
                                         ? vllm_result_filename(a, wspec, a.backend, model, r.date)
                                         : a.result_filename;
            const std::string path =
                a.result_dir.empty() ? name : (std::filesystem::path(a.result_dir) / name).string();
            write_result_file(os, path, j.dump(), a.quiet, a.append_result, "--save-result");
        }
    }
    if (r.completed == 0 && !reqs.empty())
        throw llmemu::request_error("every request failed (first error: " + run.timings.front().error + ")");
}

const bool registered = register_command(50, [](CLI::App& app) {
    auto args = std::make_shared<BenchArgs>();
    auto* cmd = app.add_subcommand(
        "bench", "Benchmark any OpenAI-compatible server (llmemu serve, vLLM) the way vllm bench serve does: streamed "
                 "requests at vLLM's arrival times, TTFT/TPOT/ITL/E2E, the same result JSON as llmemu simulate");
    args->opt_base_url = cmd->add_option("--base-url", args->base_url, "Server to benchmark")->capture_default_str();
    args->opt_host = cmd->add_option("--host", args->host, "Server host, when --base-url is not given (vLLM's)")
                         ->capture_default_str();
    args->opt_port = cmd->add_option("--port", args->port, "Server port, when --base-url is not given (vLLM's)")
                         ->capture_default_str();
    cmd->add_option("--backend", args->backend,
                    "vLLM's request function: openai or vllm (completions), openai-chat (chat completions)")
        ->capture_default_str()
        ->check(CLI::IsMember({"openai", "openai-chat", "vllm"}));
    args->opt_endpoint =
        cmd->add_option("--endpoint", args->endpoint,
                        "/v1/completions or /v1/chat/completions (--backend openai-chat: the chat one)")
            ->capture_default_str();
    cmd->add_option("--model", args->model, "Model id (default: the server's first in /v1/models)");
    cmd->add_option("--served-model-name", args->served_model_name,
                    "Model name sent in requests (default: --model), as vLLM's");
    add_workload_options(*cmd, args->workload);
    args->opt_max_concurrency =
        cmd->add_option("--max-concurrency", args->max_concurrency, "Requests in flight at most (default: unlimited)");
    cmd->add_option("--seed", args->seed, "Seed of arrivals, lengths and prompt contents")->capture_default_str();
    cmd->add_flag("--ignore-eos", args->ignore_eos,
                  "Send ignore_eos (the default: outputs have the workload's lengths)");
    cmd->add_flag("--no-ignore-eos", args->no_ignore_eos, "Let the server stop at EOS (lengths may differ)");
    cmd->add_option("--percentiles,--metric-percentiles", args->percentiles, "Percentiles to report, e.g. 50,90,99")
        ->capture_default_str();
    cmd->add_option("--percentile-metrics", args->percentile_metrics,
                    "Metrics that get percentiles, result keys and summary rows: some of ttft,tpot,itl,e2el "
                    "(default: all four)");
    cmd->add_option("--goodput", args->goodput_pairs,
                    "SLOs for goodput as KEY:MS pairs (ttft, tpot, e2el), space or comma separated")
        ->expected(1, CLI::detail::expected_max_vector_size);
    cmd->add_option("--result-json", args->result_json,
                    "Write the result JSON (vllm bench serve's keys) to FILE (its folder is created)");
    cmd->add_flag("--save-result", args->save_result,
                  "Write the result JSON under vLLM's file name (BACKEND-RATEqps-MODEL-DATE.json) in --result-dir");
    cmd->add_flag("--save-detailed", args->save_detailed, "Keep the per-request lists in the --save-result file");
    cmd->add_flag("--append-result", args->append_result, "Append to the --save-result file (newline + JSON)");
    cmd->add_option("--result-dir", args->result_dir, "Folder of the --save-result file (created)");
    cmd->add_option("--result-filename", args->result_filename, "File name of --save-result (default: vLLM's)");
    cmd->add_option("--metadata", args->metadata, "KEY=VALUE pairs written into the result JSON")
        ->expected(1, CLI::detail::expected_max_vector_size);
    cmd->add_option("--header", args->headers, "KEY=VALUE headers sent with every request")
        ->expected(1, CLI::detail::expected_max_vector_size);
    args->opt_request_id_prefix =
        cmd->add_option("--request-id-prefix", args->request_id_prefix,
                        "x-request-id of request i is PREFIX + i (default: bench-<8 hex>-, as vLLM)");
    cmd->add_option("--num-warmups", args->num_warmups, "Requests sent (and dropped) before the measured run")
        ->capture_default_str()
        ->check(whole_number(0, 1U << 20U));
    cmd->add_option("--ready-check-timeout-sec", args->ready_check_timeout_s,
                    "Wait up to this many seconds for the server to answer /v1/models (0 = no wait)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 86400.0));
    args->opt_logprobs = cmd->add_option("--logprobs", args->logprobs, "logprobs to ask for per token (default: none)")
                             ->check(whole_number(0, 1000));
    cmd->add_flag("--disable-tqdm", args->disable_tqdm, "No progress bar");
    cmd->add_option("--label", args->label, "Label written to the result JSON (and the --save-result file name)");
    cmd->add_flag("-q,--quiet", args->quiet, "No progress bar or 'wrote' lines");
    args->vllm_flags = std::make_unique<VllmFlagSet>(*cmd, vllm_bench_flags, "vLLM flags without effect or refused");
    args->vllm_flags->verify_implemented(*cmd);
    cmd->add_flag_callback(
        "--vllm-flags-markdown",
        [] {
            std::cout << vllm_flags_markdown(vllm_bench_flags);
            throw CLI::Success();
        },
        "Print the table of vllm bench serve's flags (implemented / no effect / refused) as markdown, and exit");
    cmd->callback([args] { run_bench(*args); });
});

} // namespace
