// Hardening of the server (issue 18): hostile or careless requests get a 4xx and the
// server keeps serving; the origin checks (Host allow-list, JSON content type, API key);
// load shedding; disconnects noticed while a request runs; half-closed clients answered.
// GCC 12 flags Asio's std::atomic_thread_fence under ThreadSanitizer (-Wtsan); TSan cannot
// model fences, but Asio pairs them with mutexes, so the warning is noise. It must precede
// every include (GCC matches the pragma against the fence's location in <atomic>).
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/asio/read.hpp>

#include "llmemu/server/fd_limit.hpp"
#include "llmemu/server/http_server.hpp"
#include "llmemu/server/load_generator.hpp"
#include "llmemu/server/openai.hpp"
#include "llmemu/server/openai_client.hpp"
#include "test_server_support.hpp"

using namespace llmemu;
using namespace llmemu::server;
using server_test::FakeBackend;
using server_test::TestConnection;
namespace http = boost::beast::http;

namespace {

// FakeBackend whose engine runs at most `slots` requests; the rest count as waiting.
class SlotBackend : public FakeBackend {
public:
    SlotBackend(std::chrono::microseconds period, std::uint32_t slots) : FakeBackend(period, 1000), m_slots(slots) {}
    [[nodiscard]] EngineStats snapshot() const override {
        EngineStats s = FakeBackend::snapshot();
        s.running = std::min(s.running, m_slots);
        return s;
    }

private:
    std::uint32_t m_slots;
};

struct Hardened {
    explicit Hardened(ServerOptions opts = {}, std::chrono::microseconds period = std::chrono::microseconds(2000),
                      std::uint32_t slots = 1000)
        : backend(period, slots) {
        opts.port = 0;
        opts.model_name = "emu";
        server = std::make_unique<Server>(backend, opts);
        server->start();
    }
    ~Hardened() {
        server->stop();
        server->wait();
        backend.shutdown();
        server.reset();
    }
    [[nodiscard]] std::uint16_t port() const { return server->port(); }
    // The server still answers.
    [[nodiscard]] bool healthy() const {
        TestConnection c(port());
        return c.get("/health").status == 200;
    }
    SlotBackend backend;
    std::unique_ptr<Server> server;
};

// Sends raw bytes on a fresh connection; with `half_close` shuts the sending side
// afterwards. Reads until the server closes (or `timeout_ms` passes) and returns it all.
std::string raw_exchange(std::uint16_t port, const std::string& bytes, bool half_close = true, int timeout_ms = 5000) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    boost::asio::write(s, boost::asio::buffer(bytes));
    if (half_close) ::shutdown(s.native_handle(), SHUT_WR);
    std::string out;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{s.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        const auto n = ::recv(s.native_handle(), buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string post_text(const std::string& target, const std::string& body, const std::string& extra_headers = {}) {
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra_headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

int status_of(const std::string& response) {
    // The final status (after any interim 1xx).
    std::size_t pos = 0;
    int status = 0;
    while ((pos = response.find("HTTP/1.1 ", pos)) != std::string::npos) {
        status = std::atoi(response.c_str() + pos + 9);
        pos += 9;
        if (status >= 200) break;
    }
    return status;
}

std::string body_of(const std::string& response) {
    const auto p = response.rfind("\r\n\r\n");
    return p == std::string::npos ? std::string() : response.substr(p + 4);
}

} // namespace

TEST_CASE("Server.harden.echo_input_escapes_and_cuts") {
    CHECK(echo_input("abc") == "abc");
    CHECK(echo_input("a\xff\n\\b") == "a\\xff\\x0a\\x5cb");
    CHECK(echo_input(std::string(100, 'x'), 10) == std::string(10, 'x') + "...");
    // An error message with invalid UTF-8 still serialises to valid JSON.
    const ApiError e{400, "bad \xff\xfe bytes", "invalid_request_error", "prompt\xc3", {}};
    const auto j = nlohmann::json::parse(e.body());
    CHECK(j["error"]["message"].get<std::string>().find("bad ") == 0);
}

TEST_CASE("Server.harden.decoder_refuses_deep_nesting_and_echoes_briefly") {
    const ValidationLimits limits;
    auto error_of = [&](const std::string& body) {
        try {
            (void)parse_generation_request(body, Endpoint::completions, limits);
        } catch (const api_exception& e) {
            CHECK((e.error().status == 400 || e.error().status == 404)); // 404: an unknown model, as vLLM
            CHECK(nlohmann::json::accept(e.error().body()));
            return e.error().message;
        }
        return std::string();
    };
    // 100,000 levels: refused before parsing, no recursion anywhere.
    const std::string deep =
        "{\"model\":\"llmemu\",\"prompt\":[1," + std::string(100000, '[') + std::string(100000, ']') + "]}";
    CHECK(error_of(deep).find("nests arrays/objects more than 64 levels") != std::string::npos);
    // A nested element in a token list is described, not dumped.
    const std::string nested = "{\"model\":\"llmemu\",\"prompt\":[1,[[2]]]}";
    CHECK(error_of(nested).find("got an array of 1") != std::string::npos);
    // Invalid UTF-8 in a string: the parser's message is echoed escaped (ASCII only).
    const std::string bad_utf8 = "{\"model\":\"llmemu\",\"prompt\":\"\xff\"}";
    const std::string m = error_of(bad_utf8);
    CHECK(m.find("not valid JSON") != std::string::npos);
    CHECK(std::all_of(m.begin(), m.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }));
    // A number beyond double (found by fuzz_openai_request): nlohmann throws out_of_range,
    // not parse_error; still a 400.
    CHECK(error_of("{\"model\":\"llmemu\",\"prompt\":1e400}").find("number overflow") != std::string::npos);
    // A long model name is cut in the message.
    const std::string long_model = "{\"model\":\"" + std::string(5000, 'm') + "\",\"prompt\":\"x\"}";
    CHECK(error_of(long_model).size() < 300);
}

TEST_CASE("Server.harden.hostile_requests_get_4xx_and_the_server_survives" * doctest::timeout(30)) {
    Hardened h;
    // Invalid UTF-8 in a JSON string.
    std::string r = raw_exchange(h.port(), post_text("/v1/completions", "{\"model\":\"emu\",\"prompt\":\"\xff\"}"));
    CHECK(status_of(r) == 400);
    CHECK(nlohmann::json::accept(body_of(r)));
    // A raw 0xff byte in the path.
    r = raw_exchange(h.port(), "GET /v1/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK((status_of(r) == 404 || status_of(r) == 400));
    CHECK(nlohmann::json::accept(body_of(r)));
    // A token-id prompt nested 100,000 deep (a 200 KB body).
    const std::string deep =
        "{\"model\":\"emu\",\"prompt\":[1," + std::string(100000, '[') + std::string(100000, ']') + "]}";
    r = raw_exchange(h.port(), post_text("/v1/completions", deep));
    CHECK(status_of(r) == 400);
    CHECK(body_of(r).find("levels deep") != std::string::npos);
    // Garbage instead of HTTP.
    r = raw_exchange(h.port(), std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    CHECK(status_of(r) == 400);
    CHECK(h.healthy());
    CHECK(h.backend.live() == 0);
}

TEST_CASE("Server.harden.host_allow_list_and_content_type" * doctest::timeout(30)) {
    Hardened h;
    const std::string body = R"({"model":"emu","prompt":"hi","max_tokens":2})";
    // A page on another origin reaching 127.0.0.1 through DNS rebinding sends its own name.
    std::string r = raw_exchange(h.port(), "GET /v1/models HTTP/1.1\r\nHost: evil.example:8000\r\n\r\n");
    CHECK(status_of(r) == 400);
    CHECK(body_of(r).find("Host 'evil.example:8000' is not served here") != std::string::npos);
    for (const char* host : {"127.0.0.1", "localhost:8000", "LOCALHOST", "[::1]:8000"}) {
        CAPTURE(host);
        r = raw_exchange(h.port(), std::string("GET /health HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
        CHECK(status_of(r) == 200);
    }
    r = raw_exchange(h.port(), "GET /health HTTP/1.1\r\n\r\n"); // HTTP/1.1 needs a Host
    CHECK(status_of(r) == 400);
    // A cross-site form can only send text/plain or form encodings: refused.
    r = raw_exchange(h.port(), "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                               "Content-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(status_of(r) == 415);
    CHECK(body_of(r).find("Content-Type: application/json") != std::string::npos);
    r = raw_exchange(h.port(), "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: Application/JSON; "
                               "charset=utf-8\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(status_of(r) == 200);

    ServerOptions any;
    any.allowed_hosts = {"*"};
    Hardened open(any);
    r = raw_exchange(open.port(), "GET /health HTTP/1.1\r\nHost: anything.example\r\n\r\n");
    CHECK(status_of(r) == 200);
}

TEST_CASE("Server.harden.api_key" * doctest::timeout(30)) {
    ServerOptions opts;
    opts.api_key = "s3cret";
    Hardened h(opts);
    const std::string body = R"({"model":"emu","prompt":"hi","max_tokens":2})";
    std::string r = raw_exchange(h.port(), post_text("/v1/completions", body));
    CHECK(status_of(r) == 401);
    CHECK(body_of(r) == R"({"error":"Unauthorized"})");
    r = raw_exchange(h.port(), post_text("/v1/completions", body, "Authorization: Bearer wrong\r\n"));
    CHECK(status_of(r) == 401);
    r = raw_exchange(h.port(), "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(status_of(r) == 401);
    r = raw_exchange(h.port(), post_text("/v1/completions", body, "Authorization: Bearer s3cret\r\n"));
    CHECK(status_of(r) == 200);
    // Like vLLM, only /v1 routes need the key (probes and scrapers keep working).
    r = raw_exchange(h.port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(status_of(r) == 200);
    r = raw_exchange(h.port(), "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(status_of(r) == 200);
}

TEST_CASE("Server.harden.max_waiting_requests_sheds_with_503" * doctest::timeout(30)) {
    ServerOptions opts;
    opts.max_waiting_requests = 2;
    // One slot: the first request runs, two wait, the fourth is shed.
    Hardened h(opts, std::chrono::microseconds(2000), 1);
    std::vector<std::unique_ptr<TestConnection>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<TestConnection>(h.port()));
        http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.body() = R"({"model":"emu","prompt":"hi","max_tokens":900})";
        req.prepare_payload();
        http::write(held.back()->socket(), req);
    }
    REQUIRE(server_test::wait_for([&] { return h.backend.live() == 3; }));
    const std::string r =
        raw_exchange(h.port(), post_text("/v1/completions", R"({"model":"emu","prompt":"hi","max_tokens":2})"));
    CHECK(status_of(r) == 503);
    CHECK(r.find("\r\nRetry-After: 1\r\n") != std::string::npos);
    CHECK(body_of(r).find("--max-waiting-requests 2") != std::string::npos);
    CHECK(h.server->stats().shed == 1);
    TestConnection c(h.port());
    CHECK(c.get("/metrics").body.find("llmemu:requests_shed_total{model_name=\"emu\",engine=\"0\"} 1.0") !=
          std::string::npos);
    held.clear(); // the clients go away: their requests are aborted
    CHECK(server_test::wait_for([&] { return h.backend.live() == 0; }));
}

TEST_CASE("Server.harden.disconnect_noticed_after_extra_bytes" * doctest::timeout(30)) {
    Hardened h;
    for (const bool stream : {false, true}) {
        CAPTURE(stream);
        const auto before = h.backend.finished(FinishReason::abort);
        {
            boost::asio::io_context ioc;
            boost::asio::ip::tcp::socket s(ioc);
            s.connect({boost::asio::ip::make_address("127.0.0.1"), h.port()});
            const std::string body = std::string(R"({"model":"emu","prompt":"hi","max_tokens":900,"stream":)") +
                                     (stream ? "true}" : "false}");
            boost::asio::write(s, boost::asio::buffer(post_text("/v1/completions", body)));
            REQUIRE(server_test::wait_for([&] { return h.backend.live() == 1; }));
            // Bytes after the request, while it runs (they used to end the watch).
            boost::asio::write(s, boost::asio::buffer(std::string("junk after the request")));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        } // closed mid-request
        CHECK(server_test::wait_for([&] { return h.backend.finished(FinishReason::abort) == before + 1; }));
        CHECK(h.backend.live() == 0);
    }
    CHECK(h.healthy());
}

TEST_CASE("Server.harden.half_closed_client_gets_its_answer" * doctest::timeout(30)) {
    Hardened h;
    for (const bool stream : {false, true}) {
        CAPTURE(stream);
        const std::string body =
            std::string(R"({"model":"emu","prompt":"hi","max_tokens":20,"stream":)") + (stream ? "true}" : "false}");
        const std::string r = raw_exchange(h.port(), post_text("/v1/completions", body), /*half_close=*/true);
        CHECK(status_of(r) == 200);
        if (stream) {
            CHECK(r.find("data: [DONE]") != std::string::npos);
        } else {
            CHECK(r.find("\"completion_tokens\":20,") != std::string::npos);
        }
    }
    CHECK(h.backend.finished(FinishReason::abort) == 0);
    CHECK(h.backend.finished(FinishReason::length) == 2);
}

TEST_CASE("Server.harden.pipelined_request_answered_after_a_running_one" * doctest::timeout(30)) {
    Hardened h;
    const std::string a = post_text("/v1/completions", R"({"model":"emu","prompt":"hi","max_tokens":30})");
    const std::string b = post_text("/v1/completions", R"({"model":"emu","prompt":"hi","max_tokens":3})");
    const std::string r = raw_exchange(h.port(), a + b, /*half_close=*/true);
    CHECK(r.find("\"completion_tokens\":30,") != std::string::npos);
    CHECK(r.find("\"completion_tokens\":3,") != std::string::npos);
    CHECK(r.find("\"completion_tokens\":30,") < r.find("\"completion_tokens\":3,"));
}

TEST_CASE("Server.harden.bench_counts_aborted_streams_as_failed" * doctest::timeout(30)) {
    // Streams the server aborts (here: stopped mid-run, no drain) are failures with a
    // reason, never successful requests with too few tokens.
    auto h = std::make_unique<Hardened>();
    boost::asio::io_context ioc;
    StreamingClient client(ioc, ServerAddress::parse("http://127.0.0.1:" + std::to_string(h->port())));
    std::vector<LoadRequest> reqs(6, LoadRequest{0.0, 8, 900});
    LoadOptions opts;
    opts.model = "emu";
    std::thread stopper([&] {
        server_test::wait_for([&] { return h->backend.live() == reqs.size(); });
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        h->server->stop();
    });
    const LoadResult run = run_load(ioc, client, reqs, opts);
    stopper.join();
    for (const auto& t : run.timings) {
        CHECK_FALSE(t.success);
        INFO(t.error);
        CHECK(t.error.find("aborted the stream") != std::string::npos);
    }
}

TEST_CASE("Server.harden.fd_limit_soft_raised_to_the_hard_one") {
    rlimit before{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
    const std::uint64_t soft = llmemu::raise_fd_limit();
    rlimit after{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
    CHECK(soft == static_cast<std::uint64_t>(after.rlim_cur));
    CHECK(after.rlim_cur >= before.rlim_cur);
    // The hard limit (raising up to it needs no privilege), unless the kernel caps it lower
    // (an unlimited hard limit above nr_open): then the soft one stays.
    CHECK((after.rlim_cur == after.rlim_max || after.rlim_cur == before.rlim_cur));
    CHECK(llmemu::raise_fd_limit() == soft); // idempotent
}
