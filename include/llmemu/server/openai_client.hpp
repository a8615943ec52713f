#pragma once
/// \file openai_client.hpp
/// A streaming OpenAI client on one Boost.Asio event loop, measuring each request the
/// way vLLM's benchmark client does (vllm/benchmarks/lib/endpoint_request_func.py):
/// TTFT = first SSE message carrying `choices` minus the send time; ITL = gaps between
/// later such messages; latency = the last one minus the send time; output tokens from
/// the `usage` message (stream_options.include_usage), else counted from the text.
/// Keep-alive connections are pooled and reused. Plain HTTP only (loopback or a LAN).

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/server/vocabulary.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// Where an OpenAI-compatible server listens, from a base URL such as
/// "http://127.0.0.1:8000" (a path after the authority is kept as a prefix).
struct ServerAddress {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    std::string path_prefix;

    /// The Host header's value: host (an IPv6 literal in brackets) and port.
    [[nodiscard]] std::string host_header() const {
        return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
    /// Parses `http://host[:port][/prefix]`. Throws config_error for anything else.
    static ServerAddress parse(std::string_view url) {
        auto fail = [&](const std::string& why) {
            llmemu::detail::throw_error<config_error>("--base-url '" + std::string(url) + "': " + why +
                                                      " (expected http://HOST:PORT, e.g. http://127.0.0.1:8000)");
        };
        ServerAddress a;
        std::string_view rest = url;
        if (rest.rfind("http://", 0) == 0)
            rest.remove_prefix(7);
        else if (rest.rfind("https://", 0) == 0)
            fail("https is not supported");
        else
            fail("the URL must start with http://");
        const auto slash = rest.find('/');
        std::string_view authority = rest.substr(0, slash);
        if (slash != std::string_view::npos) {
            a.path_prefix = std::string(rest.substr(slash));
            while (!a.path_prefix.empty() && a.path_prefix.back() == '/') a.path_prefix.pop_back();
        }
        if (authority.empty()) fail("no host");
        std::string_view port_text;
        if (authority.front() == '[') {
            const auto close = authority.find(']');
            if (close == std::string_view::npos) fail("unterminated IPv6 address");
            a.host = std::string(authority.substr(1, close - 1));
            if (close + 1 < authority.size()) {
                if (authority[close + 1] != ':') fail("junk after the IPv6 address");
                port_text = authority.substr(close + 2);
            }
        } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
            a.host = std::string(authority.substr(0, colon));
            port_text = authority.substr(colon + 1);
        } else {
            a.host = std::string(authority);
            a.port = 80;
        }
        if (!port_text.empty()) {
            unsigned long v = 0;
            for (const char c : port_text) {
                if (c < '0' || c > '9') fail("bad port");
                v = v * 10 + static_cast<unsigned long>(c - '0');
                if (v > 65535) fail("port out of range");
            }
            if (v == 0) fail("port 0");
            a.port = static_cast<std::uint16_t>(v);
        }
        if (a.host.empty()) fail("no host");
        return a;
    }
};

/// A blocking GET (for /v1/models and /metrics around a benchmark). Returns the status
/// and body; throws config_error naming the URL when the server cannot be reached.
/// `headers`: extra "Name: value\r\n" lines (e.g. Authorization).
inline std::pair<int, std::string> http_get(const ServerAddress& a, const std::string& path,
                                            const std::string& headers = {}) {
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    const std::string url = "http://" + a.host + ":" + std::to_string(a.port) + a.path_prefix + path;
    try {
        asio::io_context ioc;
        asio::ip::tcp::resolver resolver(ioc);
        asio::ip::tcp::socket socket(ioc);
        asio::connect(socket, resolver.resolve(a.host, std::to_string(a.port)));
        const std::string req = "GET " + a.path_prefix + path + " HTTP/1.1\r\nHost: " + a.host_header() +
                                "\r\nUser-Agent: llmemu-bench\r\n" + headers + "Connection: close\r\n\r\n";
        asio::write(socket, asio::buffer(req));
        boost::beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        http::read(socket, buffer, parser);
        return {parser.get().result_int(), parser.get().body()};
    } catch (const boost::system::system_error& e) {
        llmemu::detail::throw_error<config_error>("cannot GET " + url + ": " + e.what() +
                                                  " (is the server running? check --base-url)");
    }
}

/// What one streamed request measured (vLLM's RequestFuncOutput).
struct StreamOutcome {
    bool success = false;
    int http_status = 0;
    /// Seconds: send to first `choices` message; gaps between later ones; send to last.
    double ttft_s = 0;
    std::vector<double> itl_s;
    double latency_s = 0;
    /// When the request was sent (steady clock).
    std::chrono::steady_clock::time_point start;
    /// From the usage message; else SyntheticVocabulary::count(generated_text).
    std::uint32_t output_tokens = 0;
    bool usage_seen = false;
    std::uint32_t prompt_tokens_reported = 0;
    std::string generated_text;
    std::string finish_reason;
    std::string error;
    /// The raw body of a non-200 answer (an OpenAI error object, usually).
    std::string error_body;
    /// SSE messages seen, [DONE] included.
    std::size_t messages = 0;
    bool done_seen = false;
};

/// Which endpoint a StreamingClient request targets (the text lives at a different key).
enum class ClientApi { completions, chat_completions };

namespace detail {
namespace casio = boost::asio;
namespace cbeast = boost::beast;
namespace chttp = cbeast::http;
using ctcp = casio::ip::tcp;

// One keep-alive connection.
struct ClientConnection {
    explicit ClientConnection(casio::io_context& ioc) : socket(ioc) {}
    ctcp::socket socket;
    cbeast::flat_buffer buffer;
    bool connected = false;
};

// Calls f(key, value) for each field of `obj` while f returns true; false when a key or
// value does not parse (the message is malformed) or f stopped.
template <class F>
bool client_each_field(simdjson::ondemand::object& obj, F&& f) {
    for (auto field : obj) {
        std::string_view key;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS) return false;
        simdjson::ondemand::value v;
        if (field.value().get(v) != simdjson::SUCCESS) return false;
        if (!f(key, v)) return false;
    }
    return true;
}
} // namespace detail

/// Sends streaming requests and measures them. All calls on the io_context's thread.
class StreamingClient {
public:
    using Done = std::function<void(StreamOutcome)>;

    StreamingClient(boost::asio::io_context& ioc, ServerAddress address) : m_ioc(ioc), m_address(std::move(address)) {
        detail::ctcp::resolver resolver(ioc);
        boost::system::error_code ec;
        const auto results = resolver.resolve(m_address.host, std::to_string(m_address.port), ec);
        if (ec || results.empty())
            llmemu::detail::throw_error<config_error>("cannot resolve '" + m_address.host + "': " + ec.message());
        for (const auto& r : results) m_endpoints.push_back(r.endpoint());
    }

    [[nodiscard]] const ServerAddress& address() const noexcept { return m_address; }

    /// POSTs `body` (JSON) to path_prefix + `path` and streams the answer; `done` runs on
    /// the loop when the request ends (success or not). `headers`: extra "Name: value\r\n"
    /// lines (x-request-id, Authorization).
    void post(std::string path, std::string body, ClientApi api, Done done, const std::string& headers = {}) {
        auto call = std::make_shared<Call>(*this, std::move(path), std::move(body), api, std::move(done));
        call->headers = headers;
        call->begin();
    }

    /// Connections currently idle in the pool.
    [[nodiscard]] std::size_t idle_connections() const noexcept { return m_idle.size(); }

private:
    struct Call : std::enable_shared_from_this<Call> {
        Call(StreamingClient& c, std::string p, std::string b, ClientApi a, Done d)
            : client(c), path(std::move(p)), body(std::move(b)), api(a), done(std::move(d)) {}

        StreamingClient& client;
        std::string path;
        std::string body;
        std::string headers;
        ClientApi api;
        Done done;
        std::shared_ptr<detail::ClientConnection> conn;
        std::string request_text;
        std::optional<detail::chttp::response_parser<detail::chttp::buffer_body>> parser;
        std::vector<char> chunk = std::vector<char>(16 * 1024);
        std::string sse; // undelivered SSE bytes
        std::string error_body;
        StreamOutcome out;
        std::chrono::steady_clock::time_point last{};
        bool first_chunk = false;
        bool reused = false;
        bool retried = false;

        void begin() {
            request_text = "POST " + client.m_address.path_prefix + path +
                           " HTTP/1.1\r\nHost: " + client.m_address.host_header() +
                           "\r\nUser-Agent: llmemu-bench\r\nContent-Type: application/json\r\nAccept: "
                           "text/event-stream\r\n" +
                           headers + "Connection: keep-alive\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n" + body;
            out.start = std::chrono::steady_clock::now();
            if (!client.m_idle.empty()) {
                conn = std::move(client.m_idle.back());
                client.m_idle.pop_back();
                reused = true;
                send();
                return;
            }
            connect();
        }

        void connect() {
            conn = std::make_shared<detail::ClientConnection>(client.m_ioc);
            reused = false;
            detail::casio::async_connect(
                conn->socket, client.m_endpoints,
                [self = shared_from_this()](const boost::system::error_code& ec, const detail::ctcp::endpoint&) {
                    if (ec) return self->fail("connect: " + ec.message());
                    boost::system::error_code ignored;
                    self->conn->socket.set_option(detail::ctcp::no_delay(true), ignored);
                    self->conn->connected = true;
                    self->send();
                });
        }

        void send() {
            // vLLM's st: taken just before the request goes out.
            out.start = std::chrono::steady_clock::now();
            detail::casio::async_write(
                conn->socket, detail::casio::buffer(request_text),
                [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                    if (ec) return self->retry_or_fail("send: " + ec.message());
                    self->parser.emplace();
                    self->parser->body_limit(
                        std::numeric_limits<std::uint64_t>::max()); // not boost::none: Boost 1.74 compares it wrongly
                    self->read_some();
                });
        }

        // A pooled connection the server closed meanwhile: one retry on a fresh one.
        void retry_or_fail(const std::string& why) {
            if (reused && !retried && out.messages == 0 && !parser_has_header()) {
                retried = true;
                boost::system::error_code ignored;
                conn->socket.close(ignored);
                connect();
                return;
            }
            fail(why);
        }
        [[nodiscard]] bool parser_has_header() const { return parser && parser->is_header_done(); }

        void read_some() {
            auto& b = parser->get().body();
            b.data = chunk.data();
            b.size = chunk.size();
            detail::chttp::async_read_some(
                conn->socket, conn->buffer, *parser,
                [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_read(ec); });
        }

        void on_read(boost::system::error_code ec) {
            if (ec == detail::chttp::error::need_buffer) ec = {};
            const auto now = std::chrono::steady_clock::now();
            const std::size_t got = chunk.size() - parser->get().body().size;
            if (ec) {
                if (got == 0) return retry_or_fail("read: " + ec.message());
            }
            if (parser->is_header_done() && out.http_status == 0) out.http_status = parser->get().result_int();
            if (got > 0) {
                if (out.http_status == 200)
                    consume(std::string_view(chunk.data(), got), now);
                else
                    error_body.append(chunk.data(), got);
            }
            if (ec) return fail("read: " + ec.message());
            if (parser->is_done()) return finish(now);
            read_some();
        }

        void consume(std::string_view bytes, std::chrono::steady_clock::time_point now) {
            sse.append(bytes);
            std::size_t pos = 0;
            for (;;) {
                const auto end = sse.find("\n\n", pos);
                if (end == std::string::npos) break;
                handle_message(std::string_view(sse).substr(pos, end - pos), now);
                pos = end + 2;
            }
            sse.erase(0, pos);
        }

        // What one SSE message says (the views point into the client's JSON buffer).
        struct SseChunk {
            bool has_choices = false;
            bool has_usage = false;
            bool has_completion_tokens = false;
            std::uint64_t completion_tokens = 0;
            std::uint64_t prompt_tokens = 0;
            std::string_view finish;
        };

        // choices[0]: its finish_reason, and its text (completions) or delta.content (chat)
        // appended to the generated text.
        void read_choice(simdjson::ondemand::object& choice, SseChunk& m) {
            (void)detail::client_each_field(choice, [&](std::string_view key, simdjson::ondemand::value& v) {
                std::string_view s;
                if (key == "finish_reason") {
                    if (v.get_string().get(s) == simdjson::SUCCESS) m.finish = s;
                } else if (api == ClientApi::completions && key == "text") {
                    if (v.get_string().get(s) == simdjson::SUCCESS) out.generated_text += s;
                } else if (api == ClientApi::chat_completions && key == "delta") {
                    simdjson::ondemand::object delta;
                    if (v.get_object().get(delta) != simdjson::SUCCESS) return true;
                    (void)detail::client_each_field(delta, [&](std::string_view dk, simdjson::ondemand::value& dv) {
                        if (dk == "content" && dv.get_string().get(s) == simdjson::SUCCESS) out.generated_text += s;
                        return true;
                    });
                }
                return true;
            });
        }

        // usage: completion_tokens and prompt_tokens.
        static void read_usage(simdjson::ondemand::object& usage, SseChunk& m) {
            m.has_usage = true;
            (void)detail::client_each_field(usage, [&](std::string_view key, simdjson::ondemand::value& v) {
                if (key == "completion_tokens") {
                    if (v.get_uint64().get(m.completion_tokens) == simdjson::SUCCESS) m.has_completion_tokens = true;
                } else if (key == "prompt_tokens") {
                    if (v.get_uint64().get(m.prompt_tokens) != simdjson::SUCCESS) m.prompt_tokens = 0;
                }
                return true;
            });
        }

        void handle_message(std::string_view msg, std::chrono::steady_clock::time_point now) {
            while (!msg.empty() && (msg.front() == '\r' || msg.front() == '\n' || msg.front() == ' '))
                msg.remove_prefix(1);
            while (!msg.empty() && (msg.back() == '\r' || msg.back() == '\n' || msg.back() == ' '))
                msg.remove_suffix(1);
            if (msg.empty() || msg.front() == ':') return; // SSE comment (ping)
            if (msg.rfind("data: ", 0) == 0)
                msg.remove_prefix(6);
            else if (msg.rfind("data:", 0) == 0)
                msg.remove_prefix(5);
            ++out.messages;
            if (msg == "[DONE]") {
                out.done_seen = true;
                return;
            }
            // simdjson on demand: a few µs less per message than a DOM parse, which keeps
            // one client thread ahead of thousands of streams.
            auto& parser = client.m_json;
            auto& buf = client.m_json_buf;
            if (buf.size() < msg.size() + simdjson::SIMDJSON_PADDING)
                buf.resize(msg.size() + simdjson::SIMDJSON_PADDING);
            std::memcpy(buf.data(), msg.data(), msg.size());
            simdjson::ondemand::document doc;
            if (parser.iterate(buf.data(), msg.size(), buf.size()).get(doc) != simdjson::SUCCESS) return;
            simdjson::ondemand::object obj;
            if (doc.get_object().get(obj) != simdjson::SUCCESS) return;
            SseChunk m;
            const bool read = detail::client_each_field(obj, [&](std::string_view key, simdjson::ondemand::value& v) {
                if (key == "choices") {
                    simdjson::ondemand::array arr;
                    if (v.get_array().get(arr) != simdjson::SUCCESS) return true;
                    for (auto element : arr) {
                        m.has_choices = true;
                        simdjson::ondemand::object c0;
                        if (element.get_object().get(c0) == simdjson::SUCCESS) read_choice(c0, m);
                        break; // choices[0] only
                    }
                } else if (key == "usage") {
                    simdjson::ondemand::object u;
                    if (v.get_object().get(u) == simdjson::SUCCESS) read_usage(u, m);
                }
                return true;
            });
            if (!read) return;
            if (m.has_choices) {
                if (!first_chunk) {
                    first_chunk = true;
                    out.ttft_s = std::chrono::duration<double>(now - out.start).count();
                } else {
                    out.itl_s.push_back(std::chrono::duration<double>(now - last).count());
                }
                last = now;
                if (!m.finish.empty()) out.finish_reason = std::string(m.finish);
            } else if (m.has_usage && api == ClientApi::chat_completions && first_chunk) {
                last = now; // vLLM's chat client moves its clock on the usage message too
            }
            if (m.has_usage) {
                if (m.has_completion_tokens) {
                    out.output_tokens = static_cast<std::uint32_t>(m.completion_tokens);
                    out.usage_seen = true;
                }
                out.prompt_tokens_reported = static_cast<std::uint32_t>(m.prompt_tokens);
            }
        }

        void finish(std::chrono::steady_clock::time_point) {
            const bool keep = parser->keep_alive();
            if (out.http_status != 200) {
                out.success = false;
                out.error_body = std::move(error_body);
                out.error = "HTTP " + std::to_string(out.http_status) + ": " + out.error_body.substr(0, 300);
            } else if (first_chunk) {
                out.success = true;
                out.latency_s = std::chrono::duration<double>(last - out.start).count();
                if (!out.usage_seen) out.output_tokens = SyntheticVocabulary::count(out.generated_text);
                // A stream the server cut short is not a completed request.
                if (out.finish_reason == "abort") {
                    out.success = false;
                    out.error = "the server aborted the stream (finish_reason \"abort\") after " +
                                std::to_string(out.output_tokens) + " tokens";
                } else if (out.finish_reason.empty()) {
                    out.success = false;
                    out.error = "the stream ended without a finish_reason after " + std::to_string(out.output_tokens) +
                                " tokens";
                } else if (!out.done_seen) {
                    out.success = false;
                    out.error = "the stream ended without its final 'data: [DONE]'";
                }
            } else {
                out.success = false;
                out.error = "Never received a valid chunk to calculate TTFT.";
            }
            if (keep)
                client.m_idle.push_back(std::move(conn));
            else
                close();
            auto d = std::move(done);
            d(std::move(out));
        }

        void fail(const std::string& why) {
            out.success = false;
            out.error = why;
            close();
            auto d = std::move(done);
            if (d) d(std::move(out));
        }

        void close() {
            if (!conn) return;
            boost::system::error_code ignored;
            conn->socket.shutdown(detail::ctcp::socket::shutdown_both, ignored);
            conn->socket.close(ignored);
            conn.reset();
        }
    };

    boost::asio::io_context& m_ioc;
    ServerAddress m_address;
    std::vector<detail::ctcp::endpoint> m_endpoints;
    std::vector<std::shared_ptr<detail::ClientConnection>> m_idle;
    simdjson::ondemand::parser m_json;
    std::vector<char> m_json_buf;
};

} // namespace server
LLMEMU_END_NAMESPACE
