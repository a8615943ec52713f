// `llmemu serve`: the reference engine on the wall clock behind an OpenAI-compatible HTTP
// server (vLLM's endpoints, streaming and /metrics), so real clients, routers and
// autoscalers can be pointed at an emulated GPU.
// GCC 12 flags Asio's std::atomic_thread_fence under ThreadSanitizer (-Wtsan); TSan cannot
// model fences, but Asio pairs them with mutexes, so the warning is noise. It must precede
// every include (GCC matches the pragma against the fence's location in <atomic>).
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "data_paths.hpp"
#include "engine_options.hpp"
#include "llmemu/detail/server_fd_limit.hpp"
#include "llmemu/engine/live_engine.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/server/http_server.hpp"
#include "llmemu/server/live_engine_backend.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/tokens/uniform_vocab_emitter.hpp"
#include "llmemu/version.hpp"
#include "llmemu/workload/length_model.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct ServeArgs {
    EngineFlags engine;
    std::string model;
    std::string host = "127.0.0.1";
    int port = 8000;
    double drain_timeout_s = 0;
    std::uint64_t max_body_bytes = 16U << 20U;
    double idle_timeout_s = 60;
    int timer_priority = 0;
    std::string output_lengths;
    std::string api_key;
    std::string allowed_hosts;
    std::uint32_t max_waiting_requests = 0;
};

// The longest --idle-timeout / --drain-timeout accepted: a day (longer ones overflowed the
// server's millisecond timers, which then fired at once).
constexpr double max_timeout_s = 86400.0;

std::vector<std::string> split_hosts(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto comma = std::min(text.find(',', pos), text.size());
        const std::string item = text.substr(pos, comma - pos);
        if (item.empty())
            throw usage_error("--allowed-hosts '" + text +
                              "' has an empty name; give names separated by single commas");
        out.push_back(item);
        pos = comma + 1;
    }
    return out;
}

void run_serve(ServeArgs& a) {
    if (a.port < 0 || a.port > 65535)
        throw usage_error("--port " + std::to_string(a.port) + ": use 0..65535 (0 = any free port)");
    auto num = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return std::string(buf);
    };
    if (!(a.drain_timeout_s >= 0 && a.drain_timeout_s <= max_timeout_s))
        throw usage_error("--drain-timeout " + num(a.drain_timeout_s) + ": give seconds in [0, 86400]");
    if (!(a.idle_timeout_s > 0 && a.idle_timeout_s <= max_timeout_s))
        throw usage_error("--idle-timeout " + num(a.idle_timeout_s) + ": give seconds in (0, 86400]");
    if (a.timer_priority < 0 || a.timer_priority > 99)
        throw usage_error("--timer-priority " + std::to_string(a.timer_priority) +
                          ": use 0 (normal scheduling) or 1..99 (SCHED_FIFO priority; needs root or CAP_SYS_NICE)");
    llmemu::detail::raise_fd_limit(); // one descriptor per connection
    const bool default_profile = a.engine.profile.empty();
    const std::string profile_spec = default_profile ? default_profile_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    const ModelConfig* mc = model.model_config();
    EngineConfig config = make_engine_config(a.engine, mc);
    std::string blocks_note;
    if (config.num_gpu_blocks == 0 && mc == nullptr) {
        // Analytic profiles carry no GPU to size the pool from: give every running request
        // room for a full-length sequence, so KV capacity never limits the emulation.
        const std::uint64_t per_seq = (config.max_model_len + config.block_size - 1) / config.block_size;
        const std::uint64_t n = std::min<std::uint64_t>(per_seq * config.max_num_seqs + 1, 4000000000ULL);
        config.num_gpu_blocks = static_cast<std::uint32_t>(n);
        blocks_note = " (analytic profile: room for max_num_seqs full-length requests; set --num-gpu-blocks to model a "
                      "smaller GPU)";
    }
    const std::string model_name =
        !a.model.empty() ? a.model
                         : (mc != nullptr && !mc->model_name.empty() ? mc->model_name : std::string("llmemu"));

    // EOS: from an output-length model for requests without ignore_eos, or never (max_tokens).
    std::shared_ptr<const OutputLengthModel> lengths;
    if (!a.output_lengths.empty())
        lengths = std::make_shared<const OutputLengthModel>(read_output_length_model(a.output_lengths));
    using Emitter = OutputLengthEmitter<UniformVocabEmitter>;
    using Exec = EmulatedExecutor<AnyLatencyModel, WallClock, Emitter>;
    TimerService::Options timer_options;
    timer_options.realtime_priority = a.timer_priority;
    WallClock clock(timer_options);
    clock.timers().start(); // settle the timer thread's priority now, to report it
    const UniformVocabEmitter emitter =
        mc != nullptr && mc->vocab_size != 0 ? UniformVocabEmitter(mc->vocab_size) : UniformVocabEmitter();
    LiveEngine<Exec> engine(Exec(model, clock, Emitter(emitter, lengths, a.engine.seed), a.engine.seed), clock, config,
                            mc);
    server::LiveEngineBackend<Exec> backend(engine);

    server::ServerOptions opts;
    opts.host = a.host;
    opts.port = static_cast<std::uint16_t>(a.port);
    opts.model_name = model_name;
    opts.drain_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.drain_timeout_s * 1000.0));
    opts.idle_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.idle_timeout_s * 1000.0));
    opts.max_body_bytes = static_cast<std::size_t>(a.max_body_bytes);
    opts.api_key = a.api_key;
    if (!a.allowed_hosts.empty()) opts.allowed_hosts = split_hosts(a.allowed_hosts);
    opts.max_waiting_requests = a.max_waiting_requests;
    server::Server srv(backend, opts);
    srv.listen();
    if (!server::is_loopback_host(a.host) && a.api_key.empty())
        std::cerr << "llmemu serve: warning: listening on " << a.host
                  << " without --api-key: anyone who reaches this port can send requests; pass --api-key KEY (or "
                     "set VLLM_API_KEY), or bind --host 127.0.0.1\n";

    const EngineConfig& used = engine.config();
    std::cout << "llmemu " << LLMEMU_VERSION_STRING << " serve\n"
              << "  profile: " << (default_profile ? "bundled " : "") << profile_spec << "\n           "
              << model.describe() << "\n"
              << "  model:   " << model_name << "\n"
              << "  engine:  max_num_seqs=" << used.max_num_seqs
              << " max_num_batched_tokens=" << used.max_num_batched_tokens << " max_model_len=" << used.max_model_len
              << "\n           num_gpu_blocks=" << used.num_gpu_blocks << blocks_note << "\n"
              << "  eos:     "
              << (lengths ? "output lengths drawn from " + a.output_lengths + " (" + std::to_string(lengths->k()) +
                                "-nearest prompts of " + std::to_string(lengths->pairs().size()) +
                                " requests) for requests without ignore_eos"
                          : std::string("none: requests run to max_tokens (or max_model_len); give --output-lengths "
                                        "MODEL to end them at realistic lengths"))
              << "\n"
              << "  timer:   " << clock.timers().realtime().describe() << "\n"
              << "  access:  " << (a.api_key.empty() ? "no API key" : "API key required on /v1")
              << (a.max_waiting_requests != 0
                      ? ", at most " + std::to_string(a.max_waiting_requests) + " waiting requests (then 503)"
                      : std::string())
              << "\n"
              << "listening on http://" << (a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host) << ":"
              << srv.port() << " (Ctrl-C to stop)" << std::endl;

    const auto cpu0 = std::clock();
    const auto wall0 = std::chrono::steady_clock::now();
    srv.run(true); // until SIGINT / SIGTERM
    engine.shutdown();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
    const auto st = srv.stats();
    const auto es = engine.snapshot();
    char line[256];
    std::snprintf(line, sizeof line,
                  "llmemu serve: stopped after %.1f s; %llu requests (%llu generations, %llu aborted by clients), "
                  "%llu engine steps; CPU %.1f s (%.0f%% of one core)\n",
                  wall, static_cast<unsigned long long>(st.requests), static_cast<unsigned long long>(st.generations),
                  static_cast<unsigned long long>(st.client_aborts), static_cast<unsigned long long>(es.steps), cpu,
                  wall > 0 ? 100.0 * cpu / wall : 0.0);
    std::cout << line << std::flush;
}

const bool registered = register_command(45, [](CLI::App& app) {
    auto args = std::make_shared<ServeArgs>();
    auto* cmd = app.add_subcommand(
        "serve", "Serve the emulated engine over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
                 "/v1/models, /health, vLLM's /metrics) in real time");
    add_engine_options(*cmd, args->engine);
    cmd->add_option("--model,--served-model-name", args->model,
                    "Model name clients send and /v1/models lists (default: the profile's model, else 'llmemu')");
    cmd->add_option("--host", args->host, "Address to bind (loopback by default; 0.0.0.0 exposes it)")
        ->capture_default_str();
    cmd->add_option("--port", args->port, "TCP port (0 = any free port; the bound port is printed)")
        ->capture_default_str();
    cmd->add_option("--drain-timeout", args->drain_timeout_s,
                    "On SIGINT/SIGTERM, seconds in-flight requests may run on before they are aborted")
        ->capture_default_str();
    cmd->add_option("--idle-timeout", args->idle_timeout_s, "Close keep-alive connections idle this many seconds")
        ->capture_default_str();
    cmd->add_option("--max-body-bytes", args->max_body_bytes, "Largest request body accepted (larger: 413)")
        ->capture_default_str()
        ->check(whole_number(1, 1U << 30U));
    cmd->add_option("--api-key", args->api_key,
                    "Require 'Authorization: Bearer KEY' on /v1 routes (others: 401), as vLLM's --api-key")
        ->envname("VLLM_API_KEY");
    cmd->add_option("--allowed-hosts", args->allowed_hosts,
                    "Host header names to answer, comma separated ('*' = any; default: the bound address, plus "
                    "localhost names on loopback, any name on 0.0.0.0)");
    cmd->add_option("--max-waiting-requests", args->max_waiting_requests,
                    "Shed new requests with 503 + Retry-After once this many wait for a slot (0 = no limit; "
                    "llm-d-inference-sim's max-waiting-queue-length)")
        ->capture_default_str()
        ->check(whole_number(0, 1U << 24U));
    cmd->add_option("--timer-priority", args->timer_priority,
                    "Run the step timer thread at real-time priority SCHED_FIFO 1..99 so other load on the machine "
                    "cannot make steps late (needs root or CAP_SYS_NICE; 0 = normal scheduling)")
        ->capture_default_str();
    cmd->add_option("--output-lengths", args->output_lengths,
                    "Output-length model (llmemu workload fit): requests without ignore_eos end with EOS at a length "
                    "drawn from it given their prompt length (default: no EOS, requests run to max_tokens)")
        ->check(CLI::ExistingFile);
    cmd->callback([args] { run_serve(*args); });
});

} // namespace
