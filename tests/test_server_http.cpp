// The HTTP layer against a fake engine: routes, streaming and non-streaming generation,
// bad requests, client disconnects, shutdown, concurrency, curl and the project's client.
// GCC 12 flags Asio's std::atomic_thread_fence under ThreadSanitizer (-Wtsan); TSan cannot
// model fences, but Asio pairs them with mutexes, so the warning is noise. It must precede
// every include (GCC matches the pragma against the fence's location in <atomic>).
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/read.hpp>

#include "fuzz_replay.hpp"
#include "llmemu/server/http_server.hpp"
#include "llmemu/server/openai_client.hpp"
#include "test_server_support.hpp"

using namespace llmemu;
using namespace llmemu::server;
using server_test::FakeBackend;
using server_test::TestConnection;
namespace http = boost::beast::http;

namespace {
struct Fixture {
    explicit Fixture(ServerOptions opts = {}, std::chrono::microseconds period = std::chrono::microseconds(2000))
        : backend(period, 1000) {
        opts.port = 0;
        opts.model_name = "emu";
        server = std::make_unique<Server>(backend, opts);
        server->start();
    }
    ~Fixture() {
        server->stop();
        server->wait();
        backend.shutdown();
        server.reset();
    }
    std::uint16_t port() const { return server->port(); }
    FakeBackend backend;
    std::unique_ptr<Server> server;
};

nlohmann::json completion(int max_tokens, bool stream, bool usage = false) {
    nlohmann::json j{
        {"model", "emu"}, {"prompt", "the cat sat on the mat"}, {"max_tokens", max_tokens}, {"stream", stream}};
    if (usage) j["stream_options"] = {{"include_usage", true}};
    return j;
}
} // namespace

TEST_CASE("Server.http.routes" * doctest::timeout(20)) {
    Fixture f;
    TestConnection c(f.port());
    auto health = c.get("/health");
    CHECK(health.status == 200);
    auto models = c.get("/v1/models");
    CHECK(models.status == 200);
    const auto mj = nlohmann::json::parse(models.body);
    CHECK(mj["object"] == "list");
    CHECK(mj["data"][0]["id"] == "emu");
    CHECK(mj["data"][0]["max_model_len"] == 1000);
    auto version = c.get("/version");
    CHECK(nlohmann::json::parse(version.body)["version"] == LLMEMU_VERSION_STRING);
    auto missing = c.get("/v2/whatever?x=1");
    CHECK(missing.status == 404);
    CHECK(nlohmann::json::parse(missing.body)["error"]["code"] == "not_found");
    auto wrong_method = c.get("/v1/completions");
    CHECK(wrong_method.status == 405);
    auto metrics = c.get("/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.content_type.find("text/plain") == 0);
    CHECK(metrics.body.find("vllm:num_requests_running{model_name=\"emu\",engine=\"0\"}") != std::string::npos);
    CHECK(c.get("/health").status == 200); // same keep-alive connection throughout
}

TEST_CASE("Server.http.completion_non_streaming" * doctest::timeout(20)) {
    Fixture f;
    TestConnection c(f.port());
    auto r = c.post("/v1/completions", completion(5, false));
    REQUIRE(r.status == 200);
    const auto j = nlohmann::json::parse(r.body);
    CHECK(j["object"] == "text_completion");
    CHECK(j["choices"][0]["finish_reason"] == "length");
    CHECK(j["usage"]["completion_tokens"] == 5);
    CHECK(j["usage"]["prompt_tokens"] == 6);
    CHECK(SyntheticVocabulary::count(j["choices"][0]["text"].get<std::string>()) == 5);
    // Chat, non-streaming, with EOS ending generation early.
    f.backend.set_eos_after(3);
    auto chat = c.post("/v1/chat/completions",
                       {{"model", "emu"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 9}});
    REQUIRE(chat.status == 200);
    const auto cj = nlohmann::json::parse(chat.body);
    CHECK(cj["object"] == "chat.completion");
    CHECK(cj["choices"][0]["message"]["role"] == "assistant");
    CHECK(cj["choices"][0]["finish_reason"] == "stop");
    CHECK(cj["usage"]["completion_tokens"] == 3);
    // The EOS token has no text: two words of text for three tokens.
    CHECK(SyntheticVocabulary::count(cj["choices"][0]["message"]["content"].get<std::string>()) == 2);
}

TEST_CASE("Server.http.streaming_sse" * doctest::timeout(20)) {
    Fixture f;
    TestConnection c(f.port());
    auto r = c.post("/v1/completions", completion(7, true, true));
    REQUIRE(r.status == 200);
    CHECK(r.content_type.find("text/event-stream") == 0);
    const auto sse = server_test::parse_sse(r.body);
    CHECK(sse.done);
    REQUIRE(sse.events.size() == 8); // 7 tokens + usage
    std::string text;
    for (int i = 0; i < 7; ++i) {
        CHECK(sse.events[i]["object"] == "text_completion");
        text += sse.events[i]["choices"][0]["text"].get<std::string>();
        if (i < 6) CHECK(sse.events[i]["choices"][0]["finish_reason"].is_null());
    }
    CHECK(sse.events[6]["choices"][0]["finish_reason"] == "length");
    CHECK(sse.events[7]["choices"].empty());
    CHECK(sse.events[7]["usage"]["completion_tokens"] == 7);
    CHECK(SyntheticVocabulary::count(text) == 7);
    // Chat stream: a role chunk first, then content deltas; no usage unless asked.
    auto chat = c.post("/v1/chat/completions", {{"model", "emu"},
                                                {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                                {"max_completion_tokens", 3},
                                                {"stream", true}});
    const auto cs = server_test::parse_sse(chat.body);
    CHECK(cs.done);
    REQUIRE(cs.events.size() == 4);
    CHECK(cs.events[0]["choices"][0]["delta"]["role"] == "assistant");
    CHECK(cs.events[3]["choices"][0]["finish_reason"] == "length");
    CHECK_FALSE(cs.events[3].contains("usage"));
    CHECK(c.get("/health").status == 200); // the connection is reusable after a stream
}

TEST_CASE("Server.http.bad_requests_keep_serving" * doctest::timeout(20)) {
    ServerOptions opts;
    opts.max_body_bytes = 4096;
    Fixture f(opts);
    {
        TestConnection c(f.port());
        auto bad_json = c.request(http::verb::post, "/v1/completions", "{\"model\": ");
        CHECK(bad_json.status == 400);
        const auto e = nlohmann::json::parse(bad_json.body)["error"];
        CHECK(e.contains("message"));
        CHECK(e.contains("type"));
        CHECK(e.contains("param"));
        CHECK(e.contains("code"));
        CHECK(c.post("/v1/completions", {{"model", "nope"}, {"prompt", "x"}}).status == 404);
        CHECK(c.post("/v1/completions", {{"model", "emu"}, {"prompt", "x"}, {"max_tokens", -3}}).status == 400);
        CHECK(c.post("/v1/completions", {{"model", "emu"}, {"prompt", "x"}, {"max_tokens", 5000}}).status == 400);
        CHECK(c.post("/v1/completions", {{"model", "emu"}, {"prompt", "x"}, {"n", 0}}).status == 400);
        // The engine refusing a request becomes a 400 too.
        auto refused = c.post("/v1/completions", {{"model", "emu"}, {"prompt", "x"}, {"max_tokens", 13}});
        CHECK(refused.status == 400);
        CHECK(nlohmann::json::parse(refused.body)["error"]["message"].get<std::string>().find("refuses") !=
              std::string::npos);
        CHECK(c.get("/health").status == 200);
    }
    {
        TestConnection c(f.port());
        auto big = c.request(http::verb::post, "/v1/completions", std::string(8192, 'x'));
        CHECK(big.status == 413);
        CHECK(nlohmann::json::parse(big.body)["error"]["code"] == "payload_too_large");
    }
    {
        TestConnection c(f.port());
        const std::string garbage = "NOT HTTP AT ALL\r\n\r\n";
        boost::asio::write(c.socket(), boost::asio::buffer(garbage));
        std::string reply(12, '\0');
        boost::asio::read(c.socket(), boost::asio::buffer(reply.data(), reply.size()));
        CHECK(reply == "HTTP/1.1 400");
    }
    TestConnection c(f.port());
    CHECK(c.post("/v1/completions", completion(2, false)).status == 200);
    CHECK(f.server->stats().errors_4xx == 8);
}

TEST_CASE("Server.http.client_disconnect_aborts" * doctest::timeout(20)) {
    Fixture f;
    for (const bool stream : {true, false}) {
        CAPTURE(stream);
        const auto aborted_before = f.backend.finished(FinishReason::abort);
        {
            TestConnection c(f.port());
            http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
            req.set(http::field::host, "127.0.0.1");
            req.set(http::field::content_type, "application/json");
            req.body() = completion(900, stream).dump();
            req.prepare_payload();
            http::write(c.socket(), req);
            if (stream) { // wait for the first bytes of the stream
                char buf[64];
                c.socket().read_some(boost::asio::buffer(buf));
            } else {
                REQUIRE(server_test::wait_for([&] { return f.backend.live() == 1; }));
            }
        } // the client goes away mid-request
        CHECK(server_test::wait_for([&] { return f.backend.finished(FinishReason::abort) == aborted_before + 1; }));
        CHECK(f.backend.live() == 0);
    }
    CHECK(f.server->stats().client_aborts == 2);
    CHECK(f.server->stats().active_generations == 0);
    TestConnection c(f.port());
    const auto metrics = c.get("/metrics").body;
    CHECK(metrics.find("finished_reason=\"abort\"} 2.0") != std::string::npos);
}

TEST_CASE("Server.http.shutdown_ends_streams" * doctest::timeout(20)) {
    FakeBackend backend;
    ServerOptions opts;
    opts.port = 0;
    opts.model_name = "emu";
    Server server(backend, opts);
    server.start();
    server_test::HttpReply reply;
    std::thread client([&] {
        TestConnection c(server.port());
        reply = c.post("/v1/completions", completion(900, true));
    });
    REQUIRE(server_test::wait_for([&] { return backend.live() == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    server.stop();
    server.wait(); // returns once the stream is ended
    client.join();
    CHECK(reply.status == 200);
    const auto sse = server_test::parse_sse(reply.body);
    CHECK(sse.done);
    REQUIRE_FALSE(sse.events.empty());
    CHECK(sse.events.back()["choices"][0]["finish_reason"] == "abort");
    CHECK(backend.finished(FinishReason::abort) == 1);
    // No longer accepting.
    CHECK_THROWS(TestConnection(server.port()).get("/health"));
    backend.shutdown();
}

TEST_CASE("Server.http.shutdown_drains_in_flight" * doctest::timeout(20)) {
    FakeBackend backend;
    ServerOptions opts;
    opts.port = 0;
    opts.model_name = "emu";
    opts.drain_timeout = std::chrono::milliseconds(5000);
    Server server(backend, opts);
    server.start();
    server_test::HttpReply reply;
    std::thread client([&] {
        TestConnection c(server.port());
        reply = c.post("/v1/completions", completion(40, true));
    });
    REQUIRE(server_test::wait_for([&] { return backend.live() == 1; }));
    server.stop();
    server.wait();
    client.join();
    const auto sse = server_test::parse_sse(reply.body);
    CHECK(sse.done);
    REQUIRE(sse.events.size() == 40);
    CHECK(sse.events.back()["choices"][0]["finish_reason"] == "length");
    backend.shutdown();
}

TEST_CASE("Server.http.concurrent_streams_with_project_client" * doctest::timeout(30)) {
    Fixture f;
    boost::asio::io_context ioc;
    StreamingClient client(ioc, ServerAddress::parse("http://127.0.0.1:" + std::to_string(f.port())));
    constexpr int n = 64;
    std::vector<StreamOutcome> outcomes;
    for (int i = 0; i < n; ++i) {
        nlohmann::json body{{"model", "emu"},
                            {"prompt", std::vector<int>(static_cast<std::size_t>(10 + i), 7)},
                            {"max_tokens", 10},
                            {"stream", true},
                            {"stream_options", {{"include_usage", true}}}};
        client.post("/v1/completions", body.dump(), ClientApi::completions,
                    [&](StreamOutcome o) { outcomes.push_back(std::move(o)); });
    }
    ioc.run();
    REQUIRE(outcomes.size() == n);
    for (const auto& o : outcomes) {
        CHECK(o.success);
        CHECK(o.output_tokens == 10);
        CHECK(o.usage_seen);
        CHECK(o.itl_s.size() == 9);
        CHECK(o.ttft_s > 0);
        CHECK(o.latency_s >= o.ttft_s);
        CHECK(o.finish_reason == "length");
        CHECK(SyntheticVocabulary::count(o.generated_text) == 10);
    }
    CHECK(f.server->stats().generations == n);
    CHECK(client.idle_connections() == n); // keep-alive connections pooled
    // A second wave reuses the pooled connections.
    const auto connections = f.server->stats().connections;
    outcomes.clear();
    for (int i = 0; i < 8; ++i)
        client.post("/v1/chat/completions",
                    nlohmann::json{{"model", "emu"},
                                   {"messages", {{{"role", "user"}, {"content", "hello"}}}},
                                   {"max_tokens", 4},
                                   {"stream", true}}
                        .dump(),
                    ClientApi::chat_completions, [&](StreamOutcome o) { outcomes.push_back(std::move(o)); });
    ioc.restart();
    ioc.run();
    REQUIRE(outcomes.size() == 8);
    for (const auto& o : outcomes) {
        CHECK(o.success);
        CHECK(o.output_tokens == 4); // counted from the text (no usage asked)
        CHECK(o.itl_s.size() == 4);  // role chunk first, as vLLM's client sees it
    }
    CHECK(f.server->stats().connections == connections);
}

TEST_CASE("Server.http.client_reports_errors" * doctest::timeout(20)) {
    Fixture f;
    boost::asio::io_context ioc;
    StreamingClient client(ioc, ServerAddress::parse("http://127.0.0.1:" + std::to_string(f.port()) + "/"));
    StreamOutcome bad;
    client.post("/v1/completions", R"({"model":"other","prompt":"x","stream":true})", ClientApi::completions,
                [&](StreamOutcome o) { bad = std::move(o); });
    ioc.run();
    CHECK_FALSE(bad.success);
    INFO(bad.error);
    CHECK(bad.http_status == 404);
    CHECK(bad.error.find("does not exist") != std::string::npos);
    CHECK_THROWS_AS(ServerAddress::parse("https://x"), config_error);
    CHECK_THROWS_AS(ServerAddress::parse("localhost:80"), config_error);
    CHECK_THROWS_AS(ServerAddress::parse("http://h:99999"), config_error);
    const auto a = ServerAddress::parse("http://[::1]:8001/api/");
    CHECK(a.host == "::1");
    CHECK(a.port == 8001);
    CHECK(a.path_prefix == "/api");
}

TEST_CASE("Server.http.curl_stream" * doctest::timeout(20)) {
    if (std::system("command -v curl >/dev/null 2>&1") != 0) {
        MESSAGE("curl not installed: skipped");
        return;
    }
    Fixture f;
    const std::string url = "http://127.0.0.1:" + std::to_string(f.port());
    const std::string cmd = "curl -sS -N -X POST " + url +
                            "/v1/completions -H 'Content-Type: application/json' -d "
                            "'{\"model\":\"emu\",\"prompt\":\"hi\",\"max_tokens\":4,\"stream\":true,"
                            "\"stream_options\":{\"include_usage\":true}}'";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    while (const auto n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    CHECK(pclose(p) == 0);
    const auto sse = server_test::parse_sse(out);
    CHECK(sse.done);
    REQUIRE(sse.events.size() == 5);
    CHECK(sse.events[4]["usage"]["completion_tokens"] == 4);
    // curl sees the error object too.
    FILE* q = popen(("curl -sS -o /dev/null -w '%{http_code}' " + url + "/nope").c_str(), "r");
    REQUIRE(q != nullptr);
    std::string code;
    while (const auto n = fread(buf, 1, sizeof buf, q)) code.append(buf, n);
    pclose(q);
    CHECK(code == "404");
}

TEST_CASE("Server.http.expect_100_continue" * doctest::timeout(20)) {
    Fixture f;
    TestConnection c(f.port());
    const std::string body = completion(2, false).dump();
    const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             "Expect: 100-continue\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n";
    boost::asio::write(c.socket(), boost::asio::buffer(head));
    std::string interim(25, '\0'); // the server answers before the body is sent
    boost::asio::read(c.socket(), boost::asio::buffer(interim.data(), interim.size()));
    CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
    boost::asio::write(c.socket(), boost::asio::buffer(body));
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(c.socket(), buffer, res);
    CHECK(res.result_int() == 200);
    CHECK(nlohmann::json::parse(res.body())["usage"]["completion_tokens"] == 2);
}

// vLLM's API shapes: /v1/models/{id}, /ping, /load, X-Request-Id, stop strings and stop
// token ids, n > 1, logprobs. The fake engine's token j of request id k is k*31 + j, so the
// synthetic text of every request is known in advance (ids count from 1, one per choice).
TEST_CASE("Server.http.vllm_api_shapes" * doctest::timeout(30)) {
    Fixture f;
    TestConnection c(f.port());
    auto words = [](RequestId id, std::uint32_t from, std::uint32_t count) {
        std::string t;
        for (std::uint32_t j = from; j < from + count; ++j)
            t += SyntheticVocabulary::token_text(static_cast<TokenId>(id * 31 + j));
        return t;
    };
    const auto card = c.get("/v1/models/emu");
    CHECK(card.status == 200);
    CHECK(nlohmann::json::parse(card.body)["id"] == "emu");
    const auto missing = c.get("/v1/models/other%2Fmodel");
    CHECK(missing.status == 404);
    const auto err = nlohmann::json::parse(missing.body)["error"];
    CHECK(err["message"] == "The model `other/model` does not exist.");
    CHECK(err["type"] == "NotFoundError");
    CHECK(err["code"] == 404);
    CHECK(c.request(http::verb::post, "/ping").status == 200);
    CHECK(nlohmann::json::parse(c.get("/load").body) == nlohmann::json{{"server_load", 0}});

    // Request id 1: the client's X-Request-Id is the response id and is echoed.
    const auto tagged =
        c.request(http::verb::post, "/v1/completions", completion(2, false).dump(), false, {{"X-Request-Id", "abc-1"}});
    CHECK(tagged.status == 200);
    CHECK(tagged.request_id == "abc-1");
    CHECK(nlohmann::json::parse(tagged.body)["id"] == "cmpl-abc-1");

    // Request id 2: stop_token_ids ends it at its third token (whose text is not output).
    auto body = completion(10, false);
    body["stop_token_ids"] = {2 * 31 + 3};
    auto j = nlohmann::json::parse(c.post("/v1/completions", body).body);
    CHECK(j["choices"][0]["finish_reason"] == "stop");
    CHECK(j["choices"][0]["stop_reason"] == 2 * 31 + 3);
    CHECK(j["choices"][0]["text"] == words(2, 1, 2));
    CHECK(j["usage"]["completion_tokens"] == 3);

    // Request id 3 (streamed): a stop string; the output ends before it, nothing of it is sent.
    const std::string stop = std::string(SyntheticVocabulary::token_text(3 * 31 + 4));
    const std::string all3 = words(3, 1, 10);
    body = completion(10, true, true);
    body["stop"] = {stop};
    auto sse = server_test::parse_sse(c.post("/v1/completions", body).body);
    std::string streamed;
    for (const auto& e : sse.events)
        if (!e["choices"].empty()) streamed += e["choices"][0]["text"].get<std::string>();
    CHECK(streamed == all3.substr(0, all3.find(stop)));
    REQUIRE(sse.events.size() >= 2);
    CHECK(sse.events[sse.events.size() - 2]["choices"][0]["finish_reason"] == "stop");
    CHECK(sse.events[sse.events.size() - 2]["choices"][0]["stop_reason"] == stop);
    CHECK(sse.done);

    // Request ids 4, 5: n = 2, usage summed over the choices, the prompt counted once.
    body = completion(3, false);
    body["n"] = 2;
    j = nlohmann::json::parse(c.post("/v1/completions", body).body);
    REQUIRE(j["choices"].size() == 2);
    CHECK(j["choices"][0]["index"] == 0);
    CHECK(j["choices"][1]["index"] == 1);
    CHECK(j["choices"][0]["text"] == words(4, 1, 3));
    CHECK(j["choices"][1]["text"] == words(5, 1, 3));
    CHECK(j["usage"]["completion_tokens"] == 6);
    CHECK(j["usage"]["total_tokens"] == j["usage"]["prompt_tokens"].get<int>() + 6);

    // Request ids 6, 7: n = 2 streamed as chat with logprobs (top 2 per token).
    nlohmann::json chat{{"model", "emu"},    {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                        {"max_tokens", 4},   {"n", 2},
                        {"stream", true},    {"logprobs", true},
                        {"top_logprobs", 2}, {"stream_options", {{"include_usage", true}}}};
    sse = server_test::parse_sse(c.post("/v1/chat/completions", chat).body);
    std::map<int, int> tokens_per_index;
    std::map<int, std::string> finish;
    for (const auto& e : sse.events) {
        if (e["choices"].empty()) {
            CHECK(e["usage"]["completion_tokens"] == 8);
            continue;
        }
        const auto& ch = e["choices"][0];
        if (!ch["logprobs"].is_null()) {
            ++tokens_per_index[ch["index"].get<int>()];
            const auto& entry = ch["logprobs"]["content"][0];
            CHECK(entry["logprob"].get<double>() <= 0.0);
            CHECK(entry["top_logprobs"].size() == 2);
            CHECK(entry["token"] == ch["delta"]["content"]);
        }
        if (!ch["finish_reason"].is_null()) finish[ch["index"].get<int>()] = ch["finish_reason"];
    }
    CHECK(tokens_per_index == std::map<int, int>{{0, 4}, {1, 4}});
    CHECK(finish == std::map<int, std::string>{{0, "length"}, {1, "length"}});

    // Request id 8: completions logprobs, non-streamed.
    body = completion(3, false);
    body["logprobs"] = 1;
    j = nlohmann::json::parse(c.post("/v1/completions", body).body);
    const auto& lp = j["choices"][0]["logprobs"];
    CHECK(lp["tokens"].size() == 3);
    CHECK(lp["token_logprobs"].size() == 3);
    CHECK(lp["text_offset"][0] == 0);
    CHECK(lp["text_offset"][1] == SyntheticVocabulary::token_text(8 * 31 + 1).size());
    CHECK(lp["top_logprobs"][0].size() == 1);

    // vLLM's per-request histograms: one observation per HTTP request (n = 2 counts once).
    const std::string page = c.get("/metrics").body;
    auto sample = [&](const std::string& name) {
        const auto at = page.find(name + "{");
        REQUIRE(at != std::string::npos);
        return std::stod(page.substr(page.find("} ", at) + 2));
    };
    CHECK(sample("vllm:request_params_n_count") == 6);
    CHECK(sample("vllm:request_params_n_sum") == 8);
    CHECK(sample("vllm:iteration_tokens_total_count") > 0);
    CHECK(sample("vllm:request_max_num_generation_tokens_count") == 6);
}

// fuzz/fuzz_http_request.cpp's seeds as a unit test (the other targets' are in
// test_fuzz_corpora.cpp): its entry point, renamed, in a namespace of its own; the
// headers it includes are already in above, so its #include lines are no-ops.
#define LLVMFuzzerTestOneInput llmemu_fuzz_http_request
namespace fz_http_request {
#include "../fuzz/fuzz_http_request.cpp"
}
#undef LLVMFuzzerTestOneInput

TEST_CASE("Fuzz.corpora.http_request_seeds" * doctest::timeout(60)) {
    CHECK(llmemu_test::replay_corpus({"http_request", fz_http_request::llmemu_fuzz_http_request}) > 0);
}
