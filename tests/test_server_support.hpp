#pragma once
// Shared by the server tests: a fake engine (a thread emitting tokens on a fixed period)
// and a small blocking HTTP client.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "llmemu/server/backend.hpp"

namespace server_test {

// A stand-in engine: every `period` it gives each live request one token; a request
// ends at max_tokens (length) or, without ignore_eos, after `eos_after` tokens (stop).
class FakeBackend : public llmemu::server::Backend {
public:
    explicit FakeBackend(std::chrono::microseconds period = std::chrono::microseconds(2000),
                         std::uint32_t max_len = 1000)
        : m_period(period), m_max_len(max_len), m_thread([this] { loop(); }) {}
    ~FakeBackend() override { shutdown(); }

    void shutdown() {
        {
            std::lock_guard lock(m_mutex);
            if (m_stop) return;
            m_stop = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }

    void submit(llmemu::RequestSpec spec, EventCallback cb) override {
        if (spec.max_tokens == 13) throw llmemu::request_error("fake engine refuses max_tokens=13");
        std::lock_guard lock(m_mutex);
        ++m_submitted;
        m_prompt_tokens += spec.effective_prompt_len();
        m_live.emplace(spec.id, Live{std::move(spec), std::move(cb)});
    }
    void abort(llmemu::RequestId id) override {
        std::lock_guard lock(m_mutex);
        if (auto it = m_live.find(id); it != m_live.end()) it->second.aborted = true;
    }
    [[nodiscard]] llmemu::EngineStats snapshot() const override {
        std::lock_guard lock(m_mutex);
        llmemu::EngineStats s;
        s.running = static_cast<std::uint32_t>(m_live.size());
        s.prompt_tokens = m_prompt_tokens;
        s.generation_tokens = m_generated;
        s.finished = m_finished;
        return s;
    }
    [[nodiscard]] std::uint32_t max_model_len() const override { return m_max_len; }

    std::uint64_t finished(llmemu::FinishReason r) const {
        std::lock_guard lock(m_mutex);
        return m_finished[static_cast<std::size_t>(r)];
    }
    std::size_t live() const {
        std::lock_guard lock(m_mutex);
        return m_live.size();
    }
    std::uint64_t submitted() const {
        std::lock_guard lock(m_mutex);
        return m_submitted;
    }
    void set_eos_after(std::uint32_t n) {
        std::lock_guard lock(m_mutex);
        m_eos_after = n;
    }

private:
    struct Live {
        llmemu::RequestSpec spec;
        EventCallback cb;
        std::uint32_t out = 0;
        bool aborted = false;
    };

    void loop() {
        std::unique_lock lock(m_mutex);
        auto next = std::chrono::steady_clock::now();
        while (!m_stop) {
            next += m_period;
            m_cv.wait_until(lock, next, [this] { return m_stop; });
            if (m_stop) break;
            const auto t = std::chrono::steady_clock::now().time_since_epoch();
            for (auto it = m_live.begin(); it != m_live.end();) {
                Live& l = it->second;
                llmemu::TokenEvent ev;
                ev.id = l.spec.id;
                ev.time = std::chrono::duration_cast<std::chrono::nanoseconds>(t);
                if (l.aborted) {
                    ev.num_output_tokens = l.out;
                    ev.has_token = false;
                    ev.finished = true;
                    ev.reason = llmemu::FinishReason::abort;
                } else {
                    ++l.out;
                    ++m_generated;
                    ev.token = static_cast<llmemu::TokenId>(l.spec.id * 31 + l.out);
                    ev.num_output_tokens = l.out;
                    const bool eos =
                        !l.spec.ignore_eos && m_eos_after != 0 && l.out >= m_eos_after && l.out >= l.spec.min_tokens;
                    if (eos || l.out >= l.spec.max_tokens) {
                        ev.finished = true;
                        ev.reason = eos ? llmemu::FinishReason::stop : llmemu::FinishReason::length;
                    }
                }
                l.cb(ev);
                if (ev.finished) {
                    ++m_finished[static_cast<std::size_t>(ev.reason)];
                    it = m_live.erase(it);
                } else {
                    ++it;
                }
            }
        }
        for (auto& [id, l] : m_live) {
            llmemu::TokenEvent ev;
            ev.id = id;
            ev.num_output_tokens = l.out;
            ev.has_token = false;
            ev.finished = true;
            ev.reason = llmemu::FinishReason::abort;
            l.cb(ev);
        }
        m_live.clear();
    }

    std::chrono::microseconds m_period;
    std::uint32_t m_max_len;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<llmemu::RequestId, Live> m_live;
    std::array<std::uint64_t, llmemu::num_finish_reasons> m_finished{};
    std::uint64_t m_generated = 0;
    std::uint64_t m_prompt_tokens = 0;
    std::uint64_t m_submitted = 0;
    std::uint32_t m_eos_after = 0;
    bool m_stop = false;
    std::thread m_thread;
};

struct HttpReply {
    int status = 0;
    std::string body;
    std::string content_type;
    bool keep_alive = false;
    std::string request_id; // the X-Request-Id response header
};

// A blocking keep-alive HTTP/1.1 connection (reads chunked bodies whole).
class TestConnection {
public:
    explicit TestConnection(std::uint16_t port) : m_socket(m_ioc) {
        m_socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    }
    HttpReply request(boost::beast::http::verb verb, const std::string& target, const std::string& body = {},
                      bool close = false, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        namespace http = boost::beast::http;
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "127.0.0.1");
        for (const auto& [k, v] : headers) req.set(k, v);
        if (!body.empty()) req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.keep_alive(!close);
        req.prepare_payload();
        http::write(m_socket, req);
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        http::read(m_socket, m_buffer, parser);
        HttpReply r;
        r.status = parser.get().result_int();
        r.body = parser.get().body();
        r.content_type = std::string(parser.get()[http::field::content_type]);
        r.keep_alive = parser.get().keep_alive();
        r.request_id = std::string(parser.get()["X-Request-Id"]);
        return r;
    }
    HttpReply post(const std::string& target, const nlohmann::json& body) {
        return request(boost::beast::http::verb::post, target, body.dump());
    }
    HttpReply get(const std::string& target) { return request(boost::beast::http::verb::get, target); }
    boost::asio::ip::tcp::socket& socket() { return m_socket; }

private:
    boost::asio::io_context m_ioc;
    boost::asio::ip::tcp::socket m_socket;
    boost::beast::flat_buffer m_buffer;
};

// The JSON objects of an SSE body (after "data: "), and whether [DONE] closed it.
struct SseEvents {
    std::vector<nlohmann::json> events;
    bool done = false;
};
inline SseEvents parse_sse(const std::string& body) {
    SseEvents out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        auto end = body.find("\n\n", pos);
        if (end == std::string::npos) end = body.size();
        std::string msg = body.substr(pos, end - pos);
        pos = end + 2;
        if (msg.rfind("data: ", 0) != 0) continue;
        msg = msg.substr(6);
        if (msg == "[DONE]")
            out.done = true;
        else
            out.events.push_back(nlohmann::json::parse(msg));
    }
    return out;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
}

} // namespace server_test
