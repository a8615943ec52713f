// libFuzzer target for the HTTP server's request handling: each input is sent as raw
// bytes on a fresh loopback connection to one in-process llmemu::server::Server (a
// trivial engine answers every generation at once), and the connection half-closed.
// Whatever the bytes, the server must answer with an HTTP/1.1 status line or close, must
// never die (an exception escaping its event loop ends the process: a crash here), and
// must never answer 500 (its catch-all for a fault in a handler, which would hide a crash),
// and must end with no request left running once the connection is closed. Covers Beast's
// parser with the server's limits, the Host / Content-Type / API-key checks, routing, the
// OpenAI decoder behind it, error bodies echoing input, pipelining and half-close.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llmemu/server/http_server.hpp"

namespace {
using namespace llmemu;

// Finishes every request in submit(): up to 3 tokens, then `length`.
class InstantBackend : public server::Backend {
public:
    void submit(RequestSpec spec, EventCallback cb) override {
        const std::uint32_t n = std::min<std::uint32_t>(spec.max_tokens, 3);
        for (std::uint32_t i = 1; i <= n; ++i) {
            TokenEvent ev;
            ev.id = spec.id;
            ev.token = static_cast<TokenId>(i);
            ev.num_output_tokens = i;
            ev.finished = i == n;
            ev.reason = FinishReason::length;
            cb(ev);
        }
    }
    void abort(RequestId) override {}
    [[nodiscard]] EngineStats snapshot() const override { return {}; }
    [[nodiscard]] std::uint32_t max_model_len() const override { return 4096; }
};

struct Harness {
    Harness() {
        server::ServerOptions opts;
        opts.host = "127.0.0.1";
        opts.port = 0;
        opts.model_name = "m";
        opts.max_body_bytes = 1U << 16U;
        opts.idle_timeout = std::chrono::milliseconds(500);
        opts.api_key = "k"; // "Authorization: Bearer k" is in the dictionary
        srv = std::make_unique<server::Server>(backend, opts);
        srv->start();
    }
    InstantBackend backend;
    std::unique_ptr<server::Server> srv;
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_http_request: %s (errno %d)\n", what, errno);
    std::abort();
}

// libFuzzer's -timeout arms a SIGALRM every timeout/2+1 s; a blocking call it interrupts
// returns EINTR, which is the harness's business, not the server's: retry it.
bool connect_loopback(int fd, std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
    if (errno != EINTR && errno != EINPROGRESS) return false;
    // An interrupted connect goes on in the background: wait until it is writable.
    for (;;) {
        pollfd p{fd, POLLOUT, 0};
        const int r = ::poll(&p, 1, 3000);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        return err == 0;
    }
}

Harness& harness() {
    static Harness* h = new Harness(); // lives for the process (libFuzzer exits without unwinding)
    return *h;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness& h = harness();
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket()");
    if (!connect_loopback(fd, h.srv->port())) fail("connect() to the server");
    // Close with a reset: no TIME_WAIT pile-up over millions of connections.
    const linger no_linger{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    std::size_t sent = 0;
    while (sent < size) {
        const auto n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // the server may close early (413, 431, 400)
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, 3000);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) fail("no answer and no close within 3 s"); // the server must answer or close, and soon
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (reply.size() < (1U << 20U)) reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (!reply.empty() && reply.rfind("HTTP/1.1 ", 0) != 0) fail("a reply that is not an HTTP/1.1 status line");
    // A 500 is the server's catch-all for a fault in a handler: a bug, whatever the input.
    // (Status lines only: echoed input is escaped, so it never starts a line.)
    if (reply.rfind("HTTP/1.1 500 ", 0) == 0 || reply.find("\r\nHTTP/1.1 500 ") != std::string::npos) fail("a 500 (a handler fault)");
    // Every generation ends with its connection.
    for (int i = 0; h.srv->stats().active_generations != 0; ++i) {
        if (i > 200) fail("a generation still running 200 ms after its connection closed");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return 0;
}
