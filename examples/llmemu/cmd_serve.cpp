// `llmemu serve`: the reference engine on the wall clock behind an OpenAI-compatible HTTP
// server (vLLM's endpoints, streaming and /metrics), so real clients, routers and
// autoscalers can be pointed at an emulated GPU.
// GCC 12 flags Asio's std::atomic_thread_fence under ThreadSanitizer (-Wtsan); TSan cannot
// model fences, but Asio pairs them with mutexes, so the warning is noise. It must precede
// every include (GCC matches the pragma against the fence's location in <atomic>).
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "engine_options.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/engine/live_engine.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "llmemu/server/fd_limit.hpp"
#include "llmemu/server/http_server.hpp"
#include "llmemu/server/kv_events_config.hpp"
#include "llmemu/server/live_engine_backend.hpp"
#include "llmemu/server/routed_backend.hpp"
#if LLMEMU_HAVE_KV_EVENTS
#include "llmemu/server/kv_event_publisher.hpp"
#endif
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/tokens/uniform_vocab_emitter.hpp"
#include "llmemu/version.hpp"
#include "llmemu/workload/length_model.hpp"
#include "vllm_flags.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct ServeArgs {
    EngineFlags engine;
    std::string model_tag;           // vLLM's positional MODEL
    std::string model;               // --model (the same)
    std::vector<std::string> served; // --served-model-name A [B ...]
    std::string scheduling_policy = "fcfs";
    std::uint32_t data_parallel_size = 1;
    std::uint32_t replicas = 1;
    std::string router;
    std::string kv_events_config;
    bool enable_log_requests = false;
    bool disable_log_requests = false;
    bool disable_log_stats = false;
    bool request_id_headers = false;
    bool force_include_usage = false;
    bool enable_auto_tool_choice = false;
    bool exclude_tools_when_tool_choice_none = false;
    std::string tool_call_parser;
    bool server_load_tracking = false;
    bool chunked_prefill = false;
    bool async_scheduling = false;
    std::uint32_t max_logprobs = 20;
    std::unique_ptr<VllmFlagSet> vllm_flags;
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

/// VLLM_LOG_STATS_INTERVAL (seconds, default 10), as vLLM reads it.
std::chrono::milliseconds stats_interval() {
    const char* env = std::getenv("VLLM_LOG_STATS_INTERVAL");
    if (env == nullptr || *env == '\0') return std::chrono::milliseconds(10000);
    const double v = parse_input_number<double, usage_error>(env, "VLLM_LOG_STATS_INTERVAL",
                                                             "give seconds > 0 (at most 86400), or --disable-log-stats",
                                                             [](double s) { return s > 0 && s <= max_timeout_s; });
    return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(v * 1000.0)));
}

void run_serve(ServeArgs& a) {
    const std::vector<std::string> no_effect = a.vllm_flags->check();
    if (!a.model_tag.empty() && !a.model.empty() && a.model_tag != a.model)
        throw usage_error("the positional MODEL '" + a.model_tag + "' and --model '" + a.model +
                          "' name different models; give one of them");
    if (a.data_parallel_size > 1 && a.replicas > 1)
        throw usage_error("--data-parallel-size with --replicas: give one of them (--data-parallel-size N is N engines "
                          "on one port behind vLLM's own load balancer, --replicas N is N engines on ports P..P+N-1)");
    if (!a.router.empty() && a.data_parallel_size > 1)
        throw usage_error("--router " + a.router +
                          " with --data-parallel-size: vLLM's data-parallel balancer is the router; drop --router, "
                          "or use --replicas N --router " +
                          a.router);
    if (!a.router.empty() && a.replicas < 2)
        throw usage_error("--router " + a.router + " fronts --replicas N (N >= 2); add --replicas");
    std::optional<AnyRouter> router;
    if (!a.router.empty()) router.emplace(make_router(a.router)); // validates the name
    const server::KVEventsConfig kv_events =
        a.kv_events_config.empty() ? server::KVEventsConfig{} : server::parse_kv_events_config(a.kv_events_config);
#if !LLMEMU_HAVE_KV_EVENTS
    if (kv_events.publishes())
        throw usage_error("--kv-events-config: this llmemu was built without ZeroMQ and msgpack, so it cannot publish "
                          "KV-cache events; install libzmq3-dev, cppzmq-dev and libmsgpack-cxx-dev "
                          "(scripts/install-deps.sh) and reconfigure");
#endif
    if (a.enable_auto_tool_choice && a.tool_call_parser.empty())
        throw usage_error("--enable-auto-tool-choice needs --tool-call-parser NAME (as vLLM), e.g. --tool-call-parser "
                          "hermes; llmemu streams OpenAI-shaped tool calls whatever the parser");
    if (a.enable_log_requests && a.disable_log_requests)
        throw usage_error("--enable-log-requests and --disable-log-requests contradict each other; give one");
    if (a.async_scheduling && a.engine.no_async_scheduling)
        throw usage_error("--async-scheduling and --no-async-scheduling contradict each other; give one");
    if (a.port < 0 || a.port > 65535)
        throw usage_error("--port " + std::to_string(a.port) + ": use 0..65535 (0 = any free port)");
    const std::uint32_t num_engines = std::max(a.replicas, a.data_parallel_size);
    const int ports_needed = static_cast<int>(a.replicas) + (router ? 1 : 0);
    if (a.port != 0 && a.port + ports_needed - 1 > 65535)
        throw usage_error("--port " + std::to_string(a.port) + " with " + std::to_string(ports_needed) +
                          " servers needs ports up to " + std::to_string(a.port + ports_needed - 1) +
                          "; give a lower --port (or 0 for any free ports)");
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
    llmemu::raise_fd_limit(); // one descriptor per connection
    const bool default_profile = a.engine.profile.empty();
    const std::string profile_spec = default_profile ? bundled_pack_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    const ModelConfig* mc = model.model_config();
    EngineConfig config = make_engine_config(a.engine, mc);
    config.policy = a.scheduling_policy == "priority" ? SchedulingPolicy::priority : SchedulingPolicy::fcfs;
    // The KV pool as `simulate` sizes it (one rule): the profile's GPU, --model-config with
    // --gpu-memory-gib, or room for max_num_seqs full-length requests (analytic profiles).
    const std::string blocks_note = resolve_kv_pool(config, model, a.engine);
    // As vLLM: the served name is --served-model-name's first, else the model given
    // (positional or --model), else the profile's model.
    const std::string given_model = !a.model_tag.empty() ? a.model_tag : a.model;
    const std::string model_name = !a.served.empty()                          ? a.served.front()
                                   : !given_model.empty()                     ? given_model
                                   : mc != nullptr && !mc->model_name.empty() ? mc->model_name
                                                                              : std::string("llmemu");

    // EOS: from an output-length model for requests without ignore_eos, or never (max_tokens).
    std::shared_ptr<const OutputLengthModel> lengths;
    if (!a.output_lengths.empty())
        lengths = std::make_shared<const OutputLengthModel>(read_output_length_model(a.output_lengths));
    using Emitter = OutputLengthEmitter<UniformVocabEmitter>;
    using Exec = EmulatedExecutor<AnyLatencyModel, WallClock, Emitter>;
    // SIGINT / SIGTERM are taken by this thread (sigwait below): block them before any
    // thread starts, so every thread inherits the mask and none dies of them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    TimerService::Options timer_options;
    timer_options.realtime_priority = a.timer_priority;
    WallClock clock(timer_options); // one timer thread serves every engine
    clock.timers().start();         // settle the timer thread's priority now, to report it
    const UniformVocabEmitter emitter =
        mc != nullptr && mc->vocab_size != 0 ? UniformVocabEmitter(mc->vocab_size) : UniformVocabEmitter();

    // The engines: one per replica or data-parallel rank, each its own KV cache and
    // scheduler (seeds seed, seed+1, ...), all on the one clock.
    struct Unit { // destroyed backend, engine (its thread joined), then the publisher it feeds
#if LLMEMU_HAVE_KV_EVENTS
        std::unique_ptr<server::KVEventPublisher> publisher;
#endif
        std::unique_ptr<LiveEngine<Exec>> engine;
        std::unique_ptr<server::LiveEngineBackend<Exec>> backend;
    };
    // --router scored: the replicas' prefix caches as their KV-cache events describe them
    // (declared before the engines, so it outlives their threads).
    std::unique_ptr<server::KVBlockIndex> block_index;
    if (a.router == "scored") block_index = std::make_unique<server::KVBlockIndex>(num_engines, config.block_size);
    std::vector<Unit> units(num_engines);
    for (std::uint32_t i = 0; i < num_engines; ++i) {
        const std::uint64_t seed = a.engine.seed + i;
        units[i].engine = std::make_unique<LiveEngine<Exec>>(Exec(model, clock, Emitter(emitter, lengths, seed), seed),
                                                             clock, config, mc);
        units[i].backend = std::make_unique<server::LiveEngineBackend<Exec>>(*units[i].engine);
        units[i].backend->set_rank(a.data_parallel_size > 1 ? i : 0);
#if LLMEMU_HAVE_KV_EVENTS
        if (kv_events.publishes()) {
            // vLLM: each DP rank publishes on endpoint port + rank; a replica (a pod of its
            // own) on endpoint port + its index, with rank 0.
            units[i].publisher =
                std::make_unique<server::KVEventPublisher>(kv_events, a.data_parallel_size > 1 ? i : 0, i);
        }
#endif
        server::KVBlockIndex* index = block_index.get();
#if LLMEMU_HAVE_KV_EVENTS
        server::KVEventPublisher* pub = units[i].publisher.get();
        if (index != nullptr || pub != nullptr)
            units[i].engine->set_kv_event_sink([index, pub, i](KVEventLog& events) {
                if (index != nullptr) index->apply(i, events); // before the publisher moves them out
                if (pub != nullptr) pub->publish(events);
            });
#else
        if (index != nullptr)
            units[i].engine->set_kv_event_sink([index, i](KVEventLog& events) { index->apply(i, events); });
#endif
    }
    std::unique_ptr<server::RoutedBackend> routed;
    if (router) { // prefix_aware hashes the engines' own blocks
        RouterOptions ro;
        ro.block_size = config.block_size;
        router.emplace(make_router(a.router, ro));
    }
    if (a.data_parallel_size > 1 || router) {
        std::vector<server::Backend*> all;
        for (auto& u : units) all.push_back(u.backend.get());
        routed = std::make_unique<server::RoutedBackend>(std::move(all),
                                                         router ? std::move(*router) : AnyRouter(DataParallelRouter()));
        routed->set_block_index(block_index.get());
    }

    server::ServerOptions opts;
    opts.host = a.host;
    opts.port = static_cast<std::uint16_t>(a.port);
    opts.model_name = model_name;
    if (a.served.size() > 1) opts.model_aliases.assign(a.served.begin() + 1, a.served.end());
    opts.model_root = given_model.empty() ? model_name : given_model;
    opts.log = &std::cout;
    opts.log_requests = a.enable_log_requests;
    if (!a.disable_log_stats) opts.log_stats_interval = stats_interval();
    opts.request_id_headers = a.request_id_headers;
    opts.priority_scheduling = config.policy == SchedulingPolicy::priority;
    opts.force_include_usage = a.force_include_usage;
    opts.max_logprobs = a.max_logprobs;
    opts.enable_auto_tool_choice = a.enable_auto_tool_choice;
    opts.exclude_tools_when_tool_choice_none = a.exclude_tools_when_tool_choice_none;
    opts.drain_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.drain_timeout_s * 1000.0));
    opts.idle_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.idle_timeout_s * 1000.0));
    opts.max_body_bytes = static_cast<std::size_t>(a.max_body_bytes);
    opts.api_key = a.api_key;
    if (!a.allowed_hosts.empty()) opts.allowed_hosts = split_hosts(a.allowed_hosts);
    opts.max_waiting_requests = a.max_waiting_requests;

    // The servers: the router's (or the data-parallel one) on --port, then one per replica
    // on the ports after it (--port 0: any free ports).
    struct Front {
        std::unique_ptr<server::Server> server;
        std::string what;
    };
    std::vector<Front> fronts;
    int next_port = a.port;
    auto add_server = [&](server::Backend& backend, std::string what) {
        server::ServerOptions o = opts;
        o.port = static_cast<std::uint16_t>(next_port);
        if (next_port != 0) ++next_port;
        auto srv = std::make_unique<server::Server>(backend, o);
        srv->listen();
        fronts.push_back({std::move(srv), std::move(what)});
    };
    if (routed)
        add_server(*routed, a.data_parallel_size > 1
                                ? "data parallel, " + std::to_string(num_engines) + " engines"
                                : "router " + a.router + " over " + std::to_string(num_engines) + " replicas");
    if (a.data_parallel_size <= 1)
        for (std::uint32_t i = 0; i < num_engines; ++i)
            add_server(*units[i].backend, num_engines > 1 ? "replica " + std::to_string(i) : std::string());
    if (!server::is_loopback_host(a.host) && a.api_key.empty())
        std::cerr << "llmemu serve: warning: listening on " << a.host
                  << " without --api-key: anyone who reaches this port can send requests; pass --api-key KEY (or "
                     "set VLLM_API_KEY), or bind --host 127.0.0.1\n";

    const EngineConfig& used = units.front().engine->config();
    std::cout << "llmemu " << LLMEMU_VERSION_STRING << " serve\n"
              << "  profile: " << (default_profile ? "bundled " : "") << profile_spec << "\n           "
              << model.describe() << "\n"
              << "  model:   " << model_name;
    for (const auto& alias : opts.model_aliases) std::cout << ", " << alias;
    std::cout << "\n"
              << "  engine:  max_num_seqs=" << used.max_num_seqs
              << " max_num_batched_tokens=" << used.max_num_batched_tokens << " max_model_len=" << used.max_model_len
              << " scheduling_policy=" << to_string(used.policy)
              << "\n           num_gpu_blocks=" << used.num_gpu_blocks << blocks_note << "\n";
    if (num_engines > 1)
        std::cout << "  engines: " << num_engines
                  << (a.data_parallel_size > 1 ? " data-parallel ranks behind vLLM's DP load balancer, one port"
                      : router                 ? " replicas, each on its own port, fronted by router " + a.router
                                               : std::string(" replicas, each on its own port"))
                  << " (each its own KV cache and scheduler)\n";
    std::cout << "  eos:     "
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
              << "  logs:    "
              << (a.disable_log_stats ? std::string("no stats line")
                                      : "stats every " + flag_number(opts.log_stats_interval.count() / 1000.0) + " s")
              << (a.enable_log_requests ? ", one line per request" : "") << "\n";
#if LLMEMU_HAVE_KV_EVENTS
    for (std::uint32_t i = 0; i < num_engines; ++i)
        if (units[i].publisher)
            std::cout << "  kv events: engine " << i << " publishes on " << units[i].publisher->endpoint()
                      << (units[i].publisher->replay_endpoint().empty()
                              ? std::string()
                              : ", replay on " + units[i].publisher->replay_endpoint())
                      << (kv_events.topic.empty() ? std::string() : ", topic '" + kv_events.topic + "'") << "\n";
#endif
    if (!a.kv_events_config.empty() && !kv_events.publishes())
        std::cout << "  kv events: off (the config leaves enable_kv_cache_events false or publisher \"null\")\n";
    if (!no_effect.empty()) {
        std::cout << "  vLLM flags with no effect on an emulated GPU:";
        for (const auto& f : no_effect) std::cout << ' ' << f << (&f == &no_effect.back() ? "" : ",");
        std::cout << "\n";
    }
    const std::string shown_host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
    for (const auto& f : fronts)
        std::cout << "listening on http://" << shown_host << ":" << f.server->port()
                  << (f.what.empty() ? std::string() : " (" + f.what + ")") << " (Ctrl-C to stop)\n";
    std::cout << std::flush;

    const auto cpu0 = std::clock();
    const auto wall0 = std::chrono::steady_clock::now();
    for (auto& f : fronts) f.server->start();
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number); // until SIGINT / SIGTERM
    // Every server drains at once: no new connections, in-flight requests run on for
    // --drain-timeout, then the rest are aborted.
    for (auto& f : fronts) f.server->stop();
    for (auto& f : fronts) f.server->wait();
    for (auto& u : units) u.engine->shutdown();
#if LLMEMU_HAVE_KV_EVENTS
    for (auto& u : units)
        if (u.publisher) u.publisher->shutdown();
#endif
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
    server::ServerStats st;
    for (const auto& f : fronts) {
        const auto s = f.server->stats();
        st.requests += s.requests;
        st.generations += s.generations;
        st.client_aborts += s.client_aborts;
    }
    std::uint64_t steps = 0;
    for (std::uint32_t i = 0; i < num_engines; ++i) {
        const auto es = units[i].engine->snapshot();
        steps += es.steps;
        if (num_engines > 1) {
            std::cout << "  engine " << i << ": " << es.requests_received << " requests, " << es.steps << " steps";
            if (routed && router) std::cout << ", " << routed->routed()[i] << " routed to it";
#if LLMEMU_HAVE_KV_EVENTS
            if (units[i].publisher) {
                const auto ps = units[i].publisher->stats();
                std::cout << ", " << ps.batches << " KV event batches (" << ps.events << " events, " << ps.dropped
                          << " batches dropped)";
            }
#endif
            std::cout << "\n";
        }
#if LLMEMU_HAVE_KV_EVENTS
        else if (units[i].publisher) {
            const auto ps = units[i].publisher->stats();
            std::cout << "  kv events: " << ps.batches << " batches (" << ps.events << " events, " << ps.dropped
                      << " batches dropped)\n";
        }
#endif
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "llmemu serve: stopped after %.1f s; %llu requests (%llu generations, %llu aborted by clients), "
                  "%llu engine steps; CPU %.1f s (%.0f%% of one core)\n",
                  wall, static_cast<unsigned long long>(st.requests), static_cast<unsigned long long>(st.generations),
                  static_cast<unsigned long long>(st.client_aborts), static_cast<unsigned long long>(steps), cpu,
                  wall > 0 ? 100.0 * cpu / wall : 0.0);
    std::cout << line << std::flush;
}

const bool registered = register_command(45, [](CLI::App& app) {
    auto args = std::make_shared<ServeArgs>();
    auto* cmd = app.add_subcommand(
        "serve", "Serve the emulated engine over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
                 "/v1/models, /health, vLLM's /metrics) in real time");
    add_engine_options(*cmd, args->engine);
    cmd->add_option("model_tag", args->model_tag,
                    "MODEL as vllm serve takes it: the model name served (default: the profile's model, else "
                    "'llmemu'); the step times still come from --profile");
    cmd->add_option("--model", args->model, "The same as the positional MODEL");
    cmd->add_option("--served-model-name", args->served,
                    "Names clients may send instead (the first is /v1/models' id and the metrics' model_name)")
        ->expected(1, CLI::detail::expected_max_vector_size);
    cmd->add_option("--scheduling-policy", args->scheduling_policy,
                    "fcfs, or priority: requests' 'priority' (lower first) orders the waiting queue and picks "
                    "preemption victims, as vLLM's scheduler")
        ->capture_default_str()
        ->check(CLI::IsMember({"fcfs", "priority"}));
    cmd->add_option("--data-parallel-size", args->data_parallel_size,
                    "vLLM's data parallelism: N engines (each its own KV cache and scheduler) on one port behind "
                    "vLLM's internal load balancer (lowest 4 x waiting + running); /metrics has each engine's series "
                    "(engine=\"0\" ... engine=\"N-1\")")
        ->capture_default_str()
        ->check(whole_number(1, 256));
    cmd->add_option("--replicas", args->replicas,
                    "N independent engines from one process, like a pod each: replica i serves on --port + i with "
                    "its own /metrics (with --router: the router on --port, replica i on --port + 1 + i)")
        ->capture_default_str()
        ->check(whole_number(1, 256));
    cmd->add_option("--router", args->router,
                    "Front the --replicas on --port with a fleet router: round_robin, least_loaded, prefix_aware, "
                    "scored (queue, KV-usage and precise prefix-cache scorers; the prefix scorer reads the replicas' "
                    "caches from their KV-cache events) or data_parallel");
    cmd->add_option("--kv-events-config", args->kv_events_config,
                    "vLLM's KVEventsConfig as JSON, e.g. '{\"enable_kv_cache_events\": true, \"endpoint\": "
                    "\"tcp://*:5557\"}': publish BlockStored / BlockRemoved / AllBlocksCleared as msgpack over "
                    "ZeroMQ PUB (engine i on the endpoint's port + i)");
    cmd->add_flag("--enable-log-requests,!--no-enable-log-requests", args->enable_log_requests,
                  "Log one line per request received and finished");
    cmd->add_flag("--disable-log-requests", args->disable_log_requests, "No request lines (the default)");
    cmd->add_flag("--disable-log-stats", args->disable_log_stats,
                  "No periodic stats line (default: vLLM's line every VLLM_LOG_STATS_INTERVAL seconds, 10)");
    cmd->add_flag("--enable-request-id-headers", args->request_id_headers,
                  "Send X-Request-Id on every generation response");
    cmd->add_flag("--enable-force-include-usage,!--no-enable-force-include-usage", args->force_include_usage,
                  "End every stream with a usage chunk");
    cmd->add_flag("--enable-server-load-tracking", args->server_load_tracking,
                  "/load reports the requests in flight (always on in llmemu)");
    cmd->add_option("--max-logprobs", args->max_logprobs, "Most logprobs / top_logprobs a request may ask for")
        ->capture_default_str()
        ->check(whole_number(0, 1000));
    cmd->add_flag("--enable-auto-tool-choice,!--no-enable-auto-tool-choice", args->enable_auto_tool_choice,
                  "Serve tool_choice auto (the default when tools are given) with synthetic tool calls");
    cmd->add_option("--tool-call-parser", args->tool_call_parser,
                    "vLLM's tool-call parser name (any: calls are streamed in OpenAI's tool_calls shape)");
    cmd->add_flag("--exclude-tools-when-tool-choice-none,!--no-exclude-tools-when-tool-choice-none",
                  args->exclude_tools_when_tool_choice_none, "tool_choice none: the tools are not in the prompt");
    cmd->add_flag("--enable-chunked-prefill", args->chunked_prefill, "Chunked prefill (always on, vLLM v1)");
    cmd->add_flag("--async-scheduling", args->async_scheduling,
                  "Overlap scheduling with the step in flight (the default; --no-async-scheduling turns it off)");
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
    args->vllm_flags = std::make_unique<VllmFlagSet>(*cmd, vllm_serve_flags, "vLLM flags without effect or refused");
    args->vllm_flags->verify_implemented(*cmd);
    cmd->add_flag_callback(
        "--vllm-flags-markdown",
        [] {
            std::cout << vllm_flags_markdown(vllm_serve_flags);
            throw CLI::Success();
        },
        "Print the table of vLLM's serve flags (implemented / no effect / refused) as markdown, and exit");
    cmd->callback([args] { run_serve(*args); });
});

} // namespace
