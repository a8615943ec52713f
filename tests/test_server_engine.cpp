// The server in front of the real reference engine (LiveEngine on the wall clock with a
// const: profile): streaming, KV freed after a client disconnect, /metrics from engine
// statistics, the load generator end to end, and `llmemu serve` under SIGTERM; engines
// behind a RoutedBackend: per-engine /metrics series, the scored router's prefix scorer.
// GCC 12 flags Asio's std::atomic_thread_fence under ThreadSanitizer (-Wtsan); TSan cannot
// model fences, but Asio pairs them with mutexes, so the warning is noise. It must precede
// every include (GCC matches the pragma against the fence's location in <atomic>).
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "llmemu/engine/live_engine.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/server/http_server.hpp"
#include "llmemu/server/live_engine_backend.hpp"
#include "llmemu/server/load_generator.hpp"
#include "llmemu/server/routed_backend.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "test_server_support.hpp"

using namespace llmemu;
using namespace llmemu::server;
using server_test::TestConnection;
namespace http = boost::beast::http;

namespace {
using Exec = EmulatedExecutor<AnyLatencyModel, WallClock>;

struct EngineServer {
    explicit EngineServer(std::uint32_t num_gpu_blocks = 256, const char* profile = "const:2")
        : EngineServer(AnyLatencyModel::from_spec(profile), num_gpu_blocks) {}
    explicit EngineServer(AnyLatencyModel model, std::uint32_t num_gpu_blocks = 256) {
        EngineConfig config;
        config.max_model_len = 512;
        config.num_gpu_blocks = num_gpu_blocks;
        engine = std::make_unique<LiveEngine<Exec>>(Exec(std::move(model), clock, {}, 7), clock, config);
        backend = std::make_unique<LiveEngineBackend<Exec>>(*engine);
        ServerOptions opts;
        opts.port = 0;
        opts.model_name = "emu";
        server = std::make_unique<Server>(*backend, opts);
        server->start();
    }
    ~EngineServer() {
        server->stop();
        server->wait();
        engine->shutdown();
        server.reset();
        backend.reset();
        engine.reset();
    }
    std::uint16_t port() const { return server->port(); }

    WallClock clock;
    std::unique_ptr<LiveEngine<Exec>> engine;
    std::unique_ptr<LiveEngineBackend<Exec>> backend;
    std::unique_ptr<Server> server;
};
} // namespace

TEST_CASE("Server.engine.stream_and_metrics" * doctest::timeout(30)) {
    EngineServer s;
    TestConnection c(s.port());
    auto r = c.post("/v1/completions", {{"model", "emu"},
                                        {"prompt", std::vector<int>(40, 3)},
                                        {"max_tokens", 6},
                                        {"stream", true},
                                        {"stream_options", {{"include_usage", true}}}});
    REQUIRE(r.status == 200);
    const auto sse = server_test::parse_sse(r.body);
    CHECK(sse.done);
    REQUIRE(sse.events.size() == 7);
    CHECK(sse.events[5]["choices"][0]["finish_reason"] == "length");
    CHECK(sse.events[6]["usage"]["prompt_tokens"] == 40);
    CHECK(sse.events[6]["usage"]["completion_tokens"] == 6);
    // Same prompt again: the engine's prefix cache hits (two full blocks of 16).
    CHECK(
        c.post("/v1/completions", {{"model", "emu"}, {"prompt", std::vector<int>(40, 3)}, {"max_tokens", 2}}).status ==
        200);
    const std::string l = R"({model_name="emu",engine="0")";
    // A finished request reaches the counters on the engine's thread, a moment after the
    // client has its response: wait (bounded) for both to be counted.
    std::string page;
    for (int k = 0; k < 300; ++k) {
        page = c.get("/metrics").body;
        if (page.find("vllm:request_success_total" + l + R"(,finished_reason="length"} 2.0)") != std::string::npos &&
            page.find("vllm:num_requests_running" + l + "} 0.0") != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(page.find("vllm:generation_tokens_total" + l + "} 8.0") != std::string::npos);
    CHECK(page.find("vllm:prompt_tokens_total" + l + "} 80.0") != std::string::npos);
    CHECK(page.find("vllm:request_success_total" + l + R"(,finished_reason="length"} 2.0)") != std::string::npos);
    CHECK(page.find("vllm:prefix_cache_hits_total" + l + "} 32.0") != std::string::npos);
    CHECK(page.find("vllm:request_queue_time_seconds_count" + l + "} 2.0") != std::string::npos);
    // vLLM 0.13's prefill KV histogram: 40 computed, then 40 - 32 found in the cache.
    CHECK(page.find("vllm:request_prefill_kv_computed_tokens_sum" + l + "} 48.0") != std::string::npos);
    CHECK(page.find("vllm:engine_sleep_state" + l + R"(,sleep_state="awake"} 1.0)") != std::string::npos);
    CHECK(page.find("vllm:external_prefix_cache_queries_total" + l + "} 0.0") != std::string::npos);
    CHECK(page.find("vllm:request_decode_time_seconds_count" + l + "} 2.0") != std::string::npos);
    CHECK(page.find("vllm:time_to_first_token_seconds_count" + l + "} 2.0") != std::string::npos);
    CHECK(page.find("vllm:inter_token_latency_seconds_count" + l + "} 6.0") != std::string::npos);
    CHECK(page.find("vllm:num_requests_running" + l + "} 0.0") != std::string::npos);
    CHECK(page.find("vllm:cache_config_info{block_size=\"16\"") != std::string::npos);
    CHECK(page.find("process_cpu_seconds_total ") != std::string::npos);
}

TEST_CASE("Server.engine.stop_string_counts_as_stop_and_http_metrics" * doctest::timeout(30)) {
    EngineServer s;
    TestConnection c(s.port());
    // Every synthetic word starts with a space: the first token matches, the engine request
    // is ended by the server, and vLLM counts it as finished_reason="stop" (not abort).
    auto r = c.post("/v1/completions", {{"model", "emu"}, {"prompt", "hello"}, {"max_tokens", 200}, {"stop", " "}});
    REQUIRE(r.status == 200);
    const auto j = nlohmann::json::parse(r.body);
    CHECK(j["choices"][0]["finish_reason"] == "stop");
    CHECK(j["choices"][0]["stop_reason"] == " ");
    CHECK(c.post("/v1/completions", {{"model", "nope"}, {"prompt", "x"}}).status == 404);
    CHECK(c.get("/v1/models").status == 200);
    CHECK(c.get("/health").status == 200);
    CHECK(server_test::wait_for([&] { return s.engine->snapshot().num_finished(FinishReason::stop) == 1; }));
    const auto page = c.get("/metrics").body;
    INFO(page);
    CHECK(page.find(R"(finished_reason="stop"} 1.0)") != std::string::npos);
    CHECK(page.find(R"(finished_reason="abort"} 0.0)") != std::string::npos);
    // prometheus_fastapi_instrumentator's metrics, as vLLM's API server exposes them
    // (/health and /metrics are left out, as vLLM excludes them).
    CHECK(page.find("# TYPE http_requests_total counter\n") != std::string::npos);
    CHECK(page.find(R"(http_requests_total{handler="/v1/completions",method="POST",status="2xx"} 1.0)") !=
          std::string::npos);
    CHECK(page.find(R"(http_requests_total{handler="/v1/completions",method="POST",status="4xx"} 1.0)") !=
          std::string::npos);
    CHECK(page.find(R"(http_requests_total{handler="/v1/models",method="GET",status="2xx"} 1.0)") != std::string::npos);
    CHECK(page.find(R"(handler="/health")") == std::string::npos);
    CHECK(page.find(R"(http_request_duration_seconds_bucket{handler="/v1/completions",method="POST",le="+Inf"} 2.0)") !=
          std::string::npos);
    CHECK(page.find("http_request_duration_highr_seconds_count 3.0") != std::string::npos);
}

TEST_CASE("Server.engine.tool_calls_and_json_schema_outputs" * doctest::timeout(30)) {
    EngineServer s;
    TestConnection c(s.port());
    const nlohmann::json params = nlohmann::json::parse(
        R"({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},
            "required":["city","days"],"additionalProperties":false})");
    const nlohmann::json tools = {
        {{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", params}}}}};
    nlohmann::json body = {
        {"model", "emu"},    {"messages", {{{"role", "user"}, {"content", "weather?"}}}},
        {"tools", tools},    {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}},
        {"max_tokens", 100}, {"seed", 3}};
    // Not streamed: vLLM's message shape; the choice stops when the arguments are complete.
    auto r = c.post("/v1/chat/completions", body);
    REQUIRE(r.status == 200);
    auto j = nlohmann::json::parse(r.body);
    INFO(r.body);
    const auto& call = j["choices"][0]["message"]["tool_calls"][0];
    CHECK(call["type"] == "function");
    CHECK(call["function"]["name"] == "get_weather");
    const auto args = nlohmann::json::parse(call["function"]["arguments"].get<std::string>());
    CHECK(args["city"].is_string());
    CHECK(args["days"].get<int>() >= 1);
    CHECK(j["choices"][0]["message"]["content"] == "");
    CHECK(j["choices"][0]["finish_reason"] == "stop"); // vLLM: "tool_calls" only for auto when not streamed
    const std::uint32_t tokens = j["usage"]["completion_tokens"];
    CHECK(tokens == SyntheticVocabulary::count(call["function"]["arguments"].get<std::string>()));
    CHECK(tokens < 100);

    // Streamed: the first delta names the call, later ones carry argument pieces, the last
    // says finish_reason "tool_calls"; the pieces join to the same arguments (same seed).
    body["stream"] = true;
    r = c.post("/v1/chat/completions", body);
    REQUIRE(r.status == 200);
    const auto sse = server_test::parse_sse(r.body);
    CHECK(sse.done);
    std::string joined;
    std::string id;
    std::string finish;
    for (const auto& ev : sse.events) {
        if (ev["choices"].empty()) continue;
        const auto& ch = ev["choices"][0];
        if (ch["delta"].contains("tool_calls")) {
            const auto& tc = ch["delta"]["tool_calls"][0];
            CHECK(tc["index"] == 0);
            if (tc.contains("id")) {
                CHECK(id.empty());
                id = tc["id"];
                CHECK(tc["function"]["name"] == "get_weather");
            }
            joined += tc["function"]["arguments"].get<std::string>();
        }
        if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
    }
    CHECK(id.starts_with("chatcmpl-tool-"));
    CHECK(joined == call["function"]["arguments"].get<std::string>());
    CHECK(finish == "tool_calls");

    // Parallel tool calls (parallel_tool_calls defaults to true, as vLLM's): with two tools
    // and tool_choice required some seed calls both; the stream carries each call under its
    // own index (id and name on its first delta), joining to the unstreamed arguments.
    nlohmann::json two = body;
    two["tools"].push_back(
        {{"type", "function"},
         {"function",
          {{"name", "get_time"},
           {"parameters",
            {{"type", "object"}, {"properties", {{"tz", {{"type", "string"}}}}}, {"required", {"tz"}}}}}}});
    two["tool_choice"] = "required";
    two["stream"] = false;
    nlohmann::json calls;
    int parallel_requests = 2; // the loop's, the stream and the single call below
    for (int seed = 1; seed < 40 && calls.size() < 2; ++seed, ++parallel_requests) {
        two["seed"] = seed;
        r = c.post("/v1/chat/completions", two);
        REQUIRE(r.status == 200);
        calls = nlohmann::json::parse(r.body)["choices"][0]["message"]["tool_calls"];
    }
    REQUIRE(calls.size() == 2);
    CHECK(calls[0]["function"]["name"] != calls[1]["function"]["name"]);
    CHECK(calls[0]["id"] != calls[1]["id"]);
    for (const auto& tc : calls)
        CHECK(nlohmann::json::parse(tc["function"]["arguments"].get<std::string>()).is_object());
    two["stream"] = true;
    r = c.post("/v1/chat/completions", two);
    REQUIRE(r.status == 200);
    std::vector<std::string> args_by_index(2), names(2);
    for (const auto& ev : server_test::parse_sse(r.body).events) {
        if (ev["choices"].empty() || !ev["choices"][0]["delta"].contains("tool_calls")) continue;
        for (const auto& tc : ev["choices"][0]["delta"]["tool_calls"]) {
            const std::size_t k = tc["index"];
            REQUIRE(k < 2);
            if (tc.contains("id")) {
                CHECK(tc["id"] == calls[k]["id"]);
                names[k] = tc["function"]["name"];
            } else {
                CHECK(!names[k].empty()); // a call's parts come after its first
            }
            args_by_index[k] += tc["function"]["arguments"].get<std::string>();
        }
    }
    for (std::size_t k = 0; k < 2; ++k) {
        CHECK(names[k] == calls[k]["function"]["name"]);
        CHECK(args_by_index[k] == calls[k]["function"]["arguments"]);
    }
    two["stream"] = false;
    two["parallel_tool_calls"] = false;
    r = c.post("/v1/chat/completions", two);
    CHECK(nlohmann::json::parse(r.body)["choices"][0]["message"]["tool_calls"].size() == 1);

    // json_schema on completions, stretched to max_tokens with ignore_eos.
    r = c.post("/v1/completions",
               {{"model", "emu"},
                {"prompt", "x"},
                {"max_tokens", 40},
                {"ignore_eos", true},
                {"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", params}}}}}});
    REQUIRE(r.status == 200);
    j = nlohmann::json::parse(r.body);
    const std::string text = j["choices"][0]["text"];
    CHECK(JsonSchema(params, "p").validate(nlohmann::json::parse(text)).empty());
    CHECK(j["usage"]["completion_tokens"] == 40);
    CHECK(SyntheticVocabulary::count(text) == 40);
    CHECK(j["choices"][0]["finish_reason"] == "length");
    // A schema keyword llmemu cannot honour is a 400 naming it.
    r = c.post("/v1/completions",
               {{"model", "emu"},
                {"prompt", "x"},
                {"response_format",
                 {{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", "string"}, {"pattern", "^a"}}}}}}}});
    CHECK(r.status == 400);
    CHECK(r.body.find("pattern") != std::string::npos);
    // The engine requests the server stopped count as stop.
    CHECK(server_test::wait_for(
        [&] { return s.engine->snapshot().num_finished(FinishReason::stop) == 2U + parallel_requests; }));
}

TEST_CASE("Server.stats.prefix_hit_window_is_vllms_caching_metrics") {
    // vLLM's tests/v1/core/test_kv_cache_utils.py test_metrics, window of 5 lookups.
    PrefixHitWindow w(5);
    CHECK(w.hit_rate() == 0.0);
    w.observe(1, 20, 9);
    CHECK(w.hit_rate() == doctest::Approx(0.45));
    w.observe(4, 80, 16);
    CHECK(w.hit_rate() == doctest::Approx(0.25));
    w.observe(1, 10, 2); // drops the oldest (20, 9)
    CHECK(w.requests() == 5);
    CHECK(w.hit_rate() == doctest::Approx(0.2));
    w.observe(0, 0, 0); // intervals without lookups are ignored
    CHECK(w.hit_rate() == doctest::Approx(0.2));
    w.observe(11, 20, 10); // more than the window alone: only the newest is kept
    CHECK(w.requests() == 11);
    CHECK(w.hit_rate() == doctest::Approx(0.5));
    w.observe(22, 40, 30);
    CHECK(w.hit_rate() == doctest::Approx(0.75));
}

TEST_CASE("Server.routed.per_engine_metrics" * doctest::timeout(30)) {
    // vLLM with --data-parallel-size 2: every metric has an engine="0" and an engine="1"
    // series under one HELP/TYPE, each counting its own engine's requests.
    server_test::FakeBackend a(std::chrono::microseconds(500)), b(std::chrono::microseconds(500));
    RoutedBackend routed({&a, &b}, make_router("round_robin"));
    ServerOptions opts;
    opts.port = 0;
    opts.model_name = "emu";
    Server srv(routed, opts);
    srv.start();
    {
        TestConnection c(srv.port());
        for (int i = 0; i < 3; ++i)
            REQUIRE(c.post("/v1/completions", {{"model", "emu"}, {"prompt", "hi"}, {"max_tokens", 2 + i}}).status ==
                    200);
        const auto page = c.get("/metrics").body;
        INFO(page);
        auto count = [&](const std::string& needle) {
            std::size_t n = 0;
            for (auto pos = page.find(needle); pos != std::string::npos; pos = page.find(needle, pos + 1)) ++n;
            return n;
        };
        CHECK(count("# TYPE vllm:e2e_request_latency_seconds histogram\n") == 1);
        CHECK(count("# TYPE vllm:generation_tokens_total counter\n") == 1);
        // round robin: requests 1 and 3 (2 + 4 tokens) on engine 0, request 2 (3 tokens) on 1
        CHECK(count(R"(vllm:request_success_total{model_name="emu",engine="0",finished_reason="length"} 2.0)") == 1);
        CHECK(count(R"(vllm:request_success_total{model_name="emu",engine="1",finished_reason="length"} 1.0)") == 1);
        CHECK(count(R"(vllm:e2e_request_latency_seconds_count{model_name="emu",engine="0"} 2.0)") == 1);
        CHECK(count(R"(vllm:e2e_request_latency_seconds_count{model_name="emu",engine="1"} 1.0)") == 1);
        CHECK(count(R"(vllm:generation_tokens_total{model_name="emu",engine="0"} 6.0)") == 1);
        CHECK(count(R"(vllm:generation_tokens_total{model_name="emu",engine="1"} 3.0)") == 1);
        CHECK(count(R"(vllm:request_generation_tokens_sum{model_name="emu",engine="1"} 3.0)") == 1);
        CHECK(count(R"(vllm:cache_config_info{)") == 2);
    }
    srv.stop();
    srv.wait();
}

namespace {
// Two reference engines (const:1, 16-token blocks) behind a RoutedBackend with `router`,
// their KV-cache events feeding a KVBlockIndex the router reads.
struct RoutedEngines {
    explicit RoutedEngines(const char* router) : index(2, 16) {
        EngineConfig config;
        config.max_model_len = 1024;
        config.num_gpu_blocks = 512;
        std::vector<Backend*> all;
        for (std::uint32_t i = 0; i < 2; ++i) {
            engines.push_back(std::make_unique<LiveEngine<Exec>>(
                Exec(AnyLatencyModel::from_spec("const:1"), clock, {}, 7 + i), clock, config));
            engines[i]->set_kv_event_sink([this, i](KVEventLog& events) { index.apply(i, events); });
            backends.push_back(std::make_unique<LiveEngineBackend<Exec>>(*engines[i]));
            all.push_back(backends[i].get());
        }
        routed = std::make_unique<RoutedBackend>(std::move(all), make_router(router));
        routed->set_block_index(&index);
    }
    ~RoutedEngines() {
        for (auto& e : engines) e->shutdown();
    }
    // Submits through `b` (the router, or one engine directly) and waits for the end.
    static void run(Backend& b, std::vector<TokenId> prompt, RequestId id) {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        RequestSpec s;
        s.id = id;
        s.prompt_len = static_cast<std::uint32_t>(prompt.size());
        s.prompt_tokens = std::move(prompt);
        s.max_tokens = 2;
        b.submit(std::move(s), [&](const TokenEvent& ev) {
            if (!ev.finished) return;
            std::lock_guard lock(m);
            done = true;
            cv.notify_all();
        });
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; }));
    }
    std::uint64_t hits() const {
        return engines[0]->snapshot().prefix_cache_hits + engines[1]->snapshot().prefix_cache_hits;
    }

    WallClock clock;
    KVBlockIndex index;
    std::vector<std::unique_ptr<LiveEngine<Exec>>> engines;
    std::vector<std::unique_ptr<LiveEngineBackend<Exec>>> backends;
    std::unique_ptr<RoutedBackend> routed;
};

std::vector<TokenId> shared_prefix_prompt(TokenId family, TokenId suffix) {
    std::vector<TokenId> p;
    for (TokenId t = 0; t < 160; ++t) p.push_back(family * 1000 + t); // 10 full blocks shared
    for (TokenId t = 0; t < 9; ++t) p.push_back(50000 + suffix * 10 + t);
    return p;
}
} // namespace

TEST_CASE("Server.routed.scored_router_reads_the_engines_prefix_caches" * doctest::timeout(60)) {
    KVBlockIndex idx(1, 4);
    KVCacheEvent stored;
    stored.kind = KVCacheEvent::Kind::block_stored;
    stored.block_hashes = {11, 12};
    stored.token_ids = std::vector<TokenId>(8, 1);
    KVCacheEvent synthetic = stored; // no token ids: no prompt can match it
    synthetic.block_hashes = {99};
    synthetic.token_ids.clear();
    KVCacheEvent removed;
    removed.kind = KVCacheEvent::Kind::block_removed;
    removed.block_hashes = {12};
    idx.apply(0, KVEventLog{stored, synthetic});
    CHECK(idx.num_blocks(0) == 2);
    const std::vector<std::uint64_t> chain{11, 12, 13};
    CHECK(idx.matched_blocks(0, chain) == 2);
    idx.apply(0, KVEventLog{removed});
    CHECK(idx.matched_blocks(0, chain) == 1);
    idx.apply(0, KVEventLog{KVCacheEvent{KVCacheEvent::Kind::all_blocks_cleared, {}, {}, {}, 0}});
    CHECK(idx.num_blocks(0) == 0);
    CHECK_THROWS_AS((void)idx.num_blocks(1), contract_error);
    // (n - 1) / block_size blocks of a prompt are looked up, chained as the engine hashes them.
    const std::vector<TokenId> nine(9, 3), eight(8, 3);
    CHECK(idx.prompt_block_hashes(nine).size() == 2);
    CHECK(idx.prompt_block_hashes(eight).size() == 1);
    CHECK(
        idx.prompt_block_hashes(nine)[1] ==
        hash_block_tokens(hash_block_tokens(root_block_hash, std::span(nine).first(4)), std::span(nine).subspan(4, 4)));

    // Engine 1 holds the prefix (a request sent to it directly): the scored router sends
    // the next requests sharing that prefix there, not to the tie-break's engine 0.
    std::uint64_t scored_hits = 0;
    {
        RoutedEngines r("scored");
        RoutedEngines::run(*r.backends[1], shared_prefix_prompt(1, 0), 100);
        REQUIRE(server_test::wait_for([&] { return r.index.num_blocks(1) >= 10; }));
        CHECK(r.index.num_blocks(0) == 0);
        for (TokenId k = 1; k <= 4; ++k) RoutedEngines::run(*r.routed, shared_prefix_prompt(1, k), k);
        CHECK(r.routed->routed() == std::vector<std::uint64_t>{0, 4});
        // Another prefix, twice: the first lands anywhere, the second follows it.
        RoutedEngines::run(*r.routed, shared_prefix_prompt(2, 5), 5);
        RoutedEngines::run(*r.routed, shared_prefix_prompt(2, 6), 6);
        const auto routed = r.routed->routed();
        CHECK(routed[0] + routed[1] == 6);
        scored_hits = r.hits();
        CHECK(scored_hits == 5 * 160);
    }
    // Round robin on the same requests finds fewer of the prefixes it scatters.
    RoutedEngines r("round_robin");
    RoutedEngines::run(*r.backends[1], shared_prefix_prompt(1, 0), 100);
    for (TokenId k = 1; k <= 4; ++k) RoutedEngines::run(*r.routed, shared_prefix_prompt(1, k), k);
    RoutedEngines::run(*r.routed, shared_prefix_prompt(2, 5), 5);
    RoutedEngines::run(*r.routed, shared_prefix_prompt(2, 6), 6);
    CHECK(r.hits() < scored_hits);
}

TEST_CASE("Server.engine.disconnect_frees_kv" * doctest::timeout(30)) {
    EngineServer s;
    {
        TestConnection c(s.port());
        http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.body() =
            nlohmann::json{{"model", "emu"}, {"prompt", std::vector<int>(64, 5)}, {"max_tokens", 400}, {"stream", true}}
                .dump();
        req.prepare_payload();
        http::write(c.socket(), req);
        char buf[256];
        c.socket().read_some(boost::asio::buffer(buf));
        REQUIRE(server_test::wait_for([&] {
            const auto st = s.engine->snapshot();
            return st.running == 1 && st.kv_usage > 0.0 && st.generation_tokens >= 1;
        }));
    } // disconnect mid-stream
    CHECK(server_test::wait_for([&] {
        const auto st = s.engine->snapshot();
        return st.num_finished(FinishReason::abort) == 1 && st.running == 0 && st.kv_usage == 0.0;
    }));
    const auto st = s.engine->snapshot();
    CHECK(st.generation_tokens < 400);
    CHECK(s.server->stats().client_aborts == 1);
    TestConnection c(s.port());
    const auto page = c.get("/metrics").body;
    CHECK(page.find(R"(finished_reason="abort"} 1.0)") != std::string::npos);
    CHECK(page.find(R"(vllm:kv_cache_usage_perc{model_name="emu",engine="0"} 0.0)") != std::string::npos);
}

TEST_CASE("Server.engine.refused_requests" * doctest::timeout(30)) {
    EngineServer s(40); // 39 usable blocks: 624 tokens of KV, max_model_len 512
    TestConnection c(s.port());
    auto r = c.post("/v1/completions", {{"model", "emu"}, {"prompt", std::vector<int>(512, 1)}, {"max_tokens", 4}});
    CHECK(r.status == 400);
    INFO(r.body);
    CHECK(nlohmann::json::parse(r.body)["error"]["code"] == "context_length_exceeded");
    auto too_long = c.post("/v1/completions", {{"model", "emu"}, {"prompt", "hi"}, {"max_tokens", 600}});
    CHECK(too_long.status == 400);
    CHECK(nlohmann::json::parse(too_long.body)["error"]["code"] == "context_length_exceeded");
    CHECK(c.post("/v1/completions", {{"model", "emu"}, {"prompt", "hi"}, {"max_tokens", 3}}).status == 200);
}

namespace {
/// A profile whose latency model throws for steps of 100 tokens or more.
struct ThrowsOnLongSteps {
    template <class G>
    double sample(const StepShape& shape, G&) const {
        if (shape.total_tokens >= 100) throw profile_error("profile has no latency for a step of 100+ tokens");
        return 1000.0;
    }
};
} // namespace

TEST_CASE("Server.engine.latency_model_that_throws_answers_500_and_keeps_serving" * doctest::timeout(30)) {
    EngineServer s{AnyLatencyModel(ThrowsOnLongSteps{})};
    TestConnection c(s.port());
    const nlohmann::json long_prompt = std::vector<int>(150, 3);
    auto r = c.post("/v1/completions", {{"model", "emu"}, {"prompt", long_prompt}, {"max_tokens", 4}});
    CHECK(r.status == 500);
    INFO(r.body);
    const auto body = nlohmann::json::parse(r.body);
    CHECK(body["error"]["type"] == "InternalServerError");
    CHECK(body["error"]["code"] == 500);
    CHECK(body["error"]["message"].get<std::string>().find("100+ tokens") != std::string::npos);
    // A stream gets the error as its last event before [DONE].
    // (Another prompt: the first one's blocks are in the prefix cache now.)
    auto st = c.post("/v1/completions",
                     {{"model", "emu"}, {"prompt", std::vector<int>(150, 4)}, {"max_tokens", 4}, {"stream", true}});
    CHECK(st.status == 200);
    INFO(st.body);
    CHECK(st.body.find("data: {\"error\":") != std::string::npos);
    CHECK(st.body.find("InternalServerError") != std::string::npos);
    CHECK(st.body.find("data: [DONE]") != std::string::npos);
    // The engine keeps serving other requests on the same connection.
    auto ok = c.post("/v1/completions", {{"model", "emu"}, {"prompt", std::vector<int>(20, 3)}, {"max_tokens", 3}});
    CHECK(ok.status == 200);
    CHECK(nlohmann::json::parse(ok.body)["usage"]["completion_tokens"] == 3);
    CHECK(s.engine->stopped_reason().empty());
    const auto page = c.get("/metrics").body;
    CHECK(page.find(R"(finished_reason="error"} 2.0)") != std::string::npos);
}

TEST_CASE("Server.engine.load_generator_end_to_end" * doctest::timeout(60)) {
    EngineServer s;
    boost::asio::io_context ioc;
    StreamingClient client(ioc, ServerAddress::parse("http://127.0.0.1:" + std::to_string(s.port())));
    std::vector<LoadRequest> reqs;
    for (int i = 0; i < 24; ++i)
        reqs.push_back({0.002 * i, static_cast<std::uint32_t>(20 + i), static_cast<std::uint32_t>(3 + i % 5)});
    LoadOptions opts;
    opts.model = "emu";
    opts.max_concurrency = 6;
    std::size_t progress = 0;
    opts.progress = [&](std::size_t n) { progress = n; };
    for (const auto api : {ClientApi::completions, ClientApi::chat_completions}) {
        CAPTURE(static_cast<int>(api));
        opts.api = api;
        opts.endpoint = api == ClientApi::completions ? "/v1/completions" : "/v1/chat/completions";
        const LoadResult run = run_load(ioc, client, reqs, opts);
        CHECK(progress == reqs.size());
        REQUIRE(run.timings.size() == reqs.size());
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            CAPTURE(i);
            const auto& t = run.timings[i];
            CHECK(t.success);
            CHECK(t.output_len == reqs[i].output_len);
            CHECK(run.outcomes[i].prompt_tokens_reported == reqs[i].prompt_len); // exact on this server
            CHECK(t.latency_s >= t.ttft_s);
            CHECK(t.start_time_s >= reqs[i].arrival_s - 1e-3);
        }
        const BenchResult r = summarize(run.timings, run.duration_s, SummaryOptions{});
        CHECK(r.completed == reqs.size());
        CHECK(r.failed == 0);
        CHECK(r.max_concurrent_requests <= 6);
        const auto j = to_vllm_json(r);
        for (const char* key : {"duration", "completed", "failed", "ttfts", "itls", "mean_tpot_ms", "p99_itl_ms"})
            CHECK(j.contains(key));
    }
}

TEST_CASE("Server.engine.cli_serve_sigterm" * doctest::timeout(60)) {
    const std::string cli = LLMEMU_CLI_PATH;
    if (cli.empty() || !std::filesystem::exists(cli)) {
        MESSAGE("llmemu command line not built: skipped");
        return;
    }
    int out_pipe[2];
    REQUIRE(pipe(out_pipe) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execl(cli.c_str(), cli.c_str(), "serve", "--profile", "const:5", "--port", "0", "--model", "emu",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out_pipe[1]);
    std::string out;
    int port = 0;
    char buf[512];
    while (port == 0) {
        const auto n = read(out_pipe[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        const auto at = out.find("listening on http://127.0.0.1:");
        if (at != std::string::npos && out.find(' ', at + 30) != std::string::npos)
            port = std::atoi(out.c_str() + at + 30);
    }
    INFO(out);
    REQUIRE(port > 0);
    server_test::HttpReply reply;
    std::thread client([&] {
        TestConnection c(static_cast<std::uint16_t>(port));
        reply = c.post("/v1/completions", {{"model", "emu"}, {"prompt", "hi"}, {"max_tokens", 2000}, {"stream", true}});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(pid, SIGTERM);
    client.join();
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    while (true) {
        const auto n = read(out_pipe[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    close(out_pipe[0]);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(out.find("llmemu serve: stopped") != std::string::npos);
    CHECK(reply.status == 200);
    const auto sse = server_test::parse_sse(reply.body);
    CHECK(sse.done);
    REQUIRE_FALSE(sse.events.empty());
    CHECK(sse.events.back()["choices"][0]["finish_reason"] == "abort");
}

TEST_CASE("Server.routed.round_robin_ids_and_stats" * doctest::timeout(30)) {
    server_test::FakeBackend a(std::chrono::microseconds(500)), b(std::chrono::microseconds(500));
    server::RoutedBackend routed({&a, &b}, make_router("round_robin"));
    std::mutex m;
    std::vector<TokenEvent> finals;
    auto on_event = [&](const TokenEvent& ev) {
        if (!ev.finished) return;
        std::lock_guard lock(m);
        finals.push_back(ev);
    };
    for (RequestId id = 1; id <= 6; ++id) {
        RequestSpec s;
        s.id = id; // the same small ids a replica's own server would use
        s.prompt_len = 8;
        s.max_tokens = id == 6 ? 100000 : 3;
        routed.submit(std::move(s), on_event);
    }
    CHECK(a.submitted() == 3);
    CHECK(b.submitted() == 3);
    CHECK(routed.routed() == std::vector<std::uint64_t>{3, 3});
    routed.abort(6); // forwarded to the backend that holds it, under its inner id
    for (int i = 0; i < 2000; ++i) {
        {
            std::lock_guard lock(m);
            if (finals.size() == 6) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    {
        // Released before the snapshots below: the fake calls on_event (which takes `m`)
        // under its own lock, and snapshot() takes that lock.
        std::lock_guard lock(m);
        REQUIRE(finals.size() == 6);
        std::set<RequestId> ids;
        for (const auto& ev : finals) {
            ids.insert(ev.id); // the caller's ids come back
            CHECK(ev.reason == (ev.id == 6 ? FinishReason::abort : FinishReason::length));
        }
        CHECK(ids == std::set<RequestId>{1, 2, 3, 4, 5, 6});
    }
    const EngineStats s = routed.snapshot();
    CHECK(s.generation_tokens == a.snapshot().generation_tokens + b.snapshot().generation_tokens);
    CHECK(s.num_finished(FinishReason::length) == 5);
    // A backend refusal reaches the caller and leaves no stale route.
    RequestSpec bad;
    bad.id = 7;
    bad.prompt_len = 1;
    bad.max_tokens = 13; // the fake refuses it
    CHECK_THROWS_AS(routed.submit(std::move(bad), on_event), request_error);
    routed.abort(7); // unknown now: a no-op
}
