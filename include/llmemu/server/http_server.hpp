#pragma once
/// \file http_server.hpp
/// The OpenAI-compatible HTTP server: one Boost.Asio event loop (one thread) serves every
/// connection and stream; the engine's token events are handed to the loop through one
/// batched inbox (one post per burst, never a blocking call on the engine thread).
///
/// Routes: POST /v1/completions, POST /v1/chat/completions (JSON or server-sent events),
/// GET /v1/models, GET /health, GET /metrics (vLLM's Prometheus metrics), GET /version,
/// GET /debug/kv_cache (the engines' prefix-cache block hashes).
/// A client that disconnects while its request runs gets the request aborted. stop()
/// (or SIGINT/SIGTERM under run(true)) stops accepting, lets in-flight requests finish
/// for `drain_timeout`, aborts the rest, ends their streams and returns from run().

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/server/backend.hpp"
#include "llmemu/server/json_schema.hpp"
#include "llmemu/server/openai.hpp"
#include "llmemu/version.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// How the server listens and behaves.
struct ServerOptions {
    /// Address to bind; loopback by default (an emulator should not face a network unasked).
    std::string host = "127.0.0.1";
    /// TCP port; 0 picks a free ephemeral port (see Server::port()).
    std::uint16_t port = 8000;
    /// The model name clients must send and /v1/models lists (the metrics' model_name).
    std::string model_name = "llmemu";
    /// More names clients may send for the same model (vLLM's --served-model-name A B);
    /// each gets a /v1/models card.
    std::vector<std::string> model_aliases;
    /// /v1/models' `root` (vLLM: the model path or name given; empty = model_name).
    std::string model_root;
    /// The `engine` label of a single engine's metrics (a backend with several engines,
    /// Backend::num_engines(), labels them "0" ... "N-1", as vLLM's data-parallel ranks).
    std::string engine_label = "0";
    /// Largest accepted request body; larger ones get 413.
    std::size_t max_body_bytes = 16U << 20U;
    /// A connection idle this long between requests (or slow sending one) is closed.
    std::chrono::milliseconds idle_timeout{60000};
    /// On stop(): how long in-flight requests may run on before they are aborted.
    std::chrono::milliseconds drain_timeout{0};
    /// `max_tokens` of a /v1/completions request that gives none (OpenAI: 16).
    std::uint32_t default_completion_max_tokens = 16;
    /// A stream whose client reads slower than this much unsent data is dropped (aborted).
    std::size_t max_pending_bytes = 8U << 20U;
    /// When set, every /v1 route needs `Authorization: Bearer <api_key>` (vLLM's --api-key);
    /// others get 401 with vLLM's body {"error": "Unauthorized"}.
    std::string api_key;
    /// Host header values (without the port) the server answers; others get 400, so a web
    /// page cannot reach a local server through DNS rebinding. Empty = the bound address,
    /// plus localhost, 127.0.0.1 and ::1 when that address is loopback; any name when it is
    /// a wildcard (0.0.0.0, ::). "*" allows every name.
    std::vector<std::string> allowed_hosts;
    /// POSTs must say `Content-Type: application/json` (a cross-site form cannot), else 415.
    bool require_json_content_type = true;
    /// Generations queued beyond the running ones before new ones are shed with 503 and
    /// `Retry-After` (llm-d-inference-sim's max-waiting-queue-length); 0 = no limit.
    std::uint32_t max_waiting_requests = 0;
    /// Seconds sent in `Retry-After` with a shed request.
    std::uint32_t retry_after_s = 1;
    /// vLLM's periodic stats line ("Engine 000: Avg prompt throughput: ...") every this
    /// long (vLLM: VLLM_LOG_STATS_INTERVAL, 10 s); 0 = off (--disable-log-stats).
    std::chrono::milliseconds log_stats_interval{0};
    /// One line per request received and finished (vLLM's --enable-log-requests).
    bool log_requests = false;
    /// Where the stats and request lines go (nullptr: nowhere).
    std::ostream* log = nullptr;
    /// Send X-Request-Id on every generation response (vLLM's --enable-request-id-headers);
    /// a request that carried one always gets it echoed.
    bool request_id_headers = false;
    /// Scheduling policy is priority: requests may carry `priority` (else a nonzero one is 400).
    bool priority_scheduling = false;
    /// Every stream gets a final usage chunk (vLLM's --enable-force-include-usage).
    bool force_include_usage = false;
    /// Most logprobs / top_logprobs a request may ask for (vLLM's --max-logprobs).
    std::uint32_t max_logprobs = 20;
    /// Serve tool_choice "auto" (vLLM's --enable-auto-tool-choice; else it is refused).
    bool enable_auto_tool_choice = false;
    /// tool_choice "none" leaves the tools out of the prompt (vLLM's flag of that name).
    bool exclude_tools_when_tool_choice_none = false;
};

/// True for 127.0.0.0/8, ::1 and "localhost": an address only this machine reaches.
[[nodiscard]] inline bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") return true;
    return host.size() >= 4 && host.substr(0, 4) == "127.";
}

/// vLLM's CachingMetrics: the prefix-cache hit rate of the stats line, over the newest
/// intervals that hold at most `max_recent_requests` cache lookups (the newest interval is
/// always kept). An interval without lookups is ignored.
class PrefixHitWindow {
public:
    explicit PrefixHitWindow(std::uint64_t max_recent_requests = 1000) : m_max(max_recent_requests) {}

    /// One interval's lookups (PrefixCacheStats.requests), tokens queried and tokens hit.
    void observe(std::uint64_t requests, std::uint64_t queries, std::uint64_t hits) {
        if (requests == 0) return;
        m_window.push_back({requests, queries, hits});
        m_requests += requests;
        m_queries += queries;
        m_hits += hits;
        while (m_window.size() > 1 && m_requests > m_max) {
            const Sample& old = m_window.front();
            m_requests -= old.requests;
            m_queries -= old.queries;
            m_hits -= old.hits;
            m_window.pop_front();
        }
    }
    /// Tokens hit / tokens queried in the window (0 without queries).
    [[nodiscard]] double hit_rate() const noexcept {
        return m_queries == 0 ? 0.0 : static_cast<double>(m_hits) / static_cast<double>(m_queries);
    }
    [[nodiscard]] std::uint64_t requests() const noexcept { return m_requests; }

private:
    struct Sample {
        std::uint64_t requests, queries, hits;
    };
    std::uint64_t m_max;
    std::deque<Sample> m_window;
    std::uint64_t m_requests = 0, m_queries = 0, m_hits = 0;
};

/// Counters of the HTTP layer (readable from any thread).
struct ServerStats {
    std::uint64_t connections = 0;
    std::uint64_t requests = 0;
    std::uint64_t generations = 0;
    std::uint64_t active_generations = 0;
    std::uint64_t client_aborts = 0;
    std::uint64_t errors_4xx = 0;
    /// Generations refused with 503 because max_waiting_requests were already waiting.
    std::uint64_t shed = 0;
};

namespace detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

inline const char* status_text(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

inline bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

inline void append_hex(std::string& out, std::size_t v) {
    char buf[20];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v & 15U];
        v >>= 4U;
    } while (v != 0);
    while (n > 0) out += buf[--n];
}

class HttpSession;

// Token events cross from the engine thread to the event loop here: pushes are batched,
// and only the push that finds the queue empty posts a drain to the loop.
struct ServerInbox {
    struct Item {
        std::weak_ptr<HttpSession> session;
        TokenEvent event;
    };
    std::mutex mutex;
    std::vector<Item> items;
    std::vector<Item> spare;
    bool closed = false;
    asio::io_context* ioc = nullptr;
    // Runs on the loop after each batch (the server collects engine-side phase times).
    std::function<void()> after_batch;
};
} // namespace detail

/// The server. Construct, listen(), then run() (blocking) or start() (background thread).
class Server {
public:
    Server(Backend& backend, ServerOptions options)
        : m_backend(backend), m_options(std::move(options)), m_ioc(std::make_unique<detail::asio::io_context>(1)),
          m_inbox(std::make_shared<detail::ServerInbox>()), m_metrics(make_engine_metrics(backend, m_options)),
          m_created(
              std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count()) {
        m_inbox->ioc = m_ioc.get();
        m_inbox->after_batch = [this] { collect_phases(); };
        m_limits.served_models = {m_options.model_name};
        m_limits.served_models.insert(m_limits.served_models.end(), m_options.model_aliases.begin(),
                                      m_options.model_aliases.end());
        m_limits.priority_scheduling = m_options.priority_scheduling;
        m_limits.force_include_usage = m_options.force_include_usage;
        m_limits.max_logprobs = m_options.max_logprobs;
        m_limits.enable_auto_tool_choice = m_options.enable_auto_tool_choice;
        m_limits.exclude_tools_when_tool_choice_none = m_options.exclude_tools_when_tool_choice_none;
        m_limits.max_model_len = backend.max_model_len();
        m_limits.default_completion_max_tokens = m_options.default_completion_max_tokens;
        m_allowed_hosts = m_options.allowed_hosts;
        if (m_allowed_hosts.empty()) {
            const std::string& h = m_options.host;
            if (h == "0.0.0.0" || h == "::" || h.empty()) {
                m_allowed_hosts = {"*"};
            } else {
                m_allowed_hosts = {h};
                if (is_loopback_host(h))
                    m_allowed_hosts.insert(m_allowed_hosts.end(), {"localhost", "127.0.0.1", "::1"});
            }
        }
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    ~Server() {
        stop();
        wait();
        {
            std::lock_guard lock(m_inbox->mutex);
            m_inbox->closed = true;
            m_inbox->items.clear();
        }
        m_acceptor.reset();
        m_signals.reset();
        m_shutdown_timer.reset();
        m_accept_retry.reset();
        m_stats_timer.reset();
        m_ioc.reset(); // destroys pending handlers (and sessions) while the rest is alive
    }

    /// Binds and listens. Throws config_error naming the address when that fails.
    void listen();
    /// The bound port (after listen(); the chosen one when options.port was 0).
    [[nodiscard]] std::uint16_t port() const noexcept { return m_port.load(); }
    /// Serves on the calling thread until stop() (or, with handle_signals, SIGINT/SIGTERM).
    void run(bool handle_signals = false);
    /// listen() if needed, then run() on a background thread.
    void start() {
        if (!m_acceptor) listen();
        m_thread = std::thread([this] { run(false); });
    }
    /// Begins a graceful shutdown. Thread-safe; returns at once.
    void stop() {
        if (m_stop_requested.exchange(true)) return;
        detail::asio::post(*m_ioc, [this] { begin_shutdown(); });
    }
    /// Joins the background thread of start().
    void wait() {
        if (m_thread.joinable()) m_thread.join();
    }

    [[nodiscard]] ServerStats stats() const noexcept {
        ServerStats s;
        s.connections = m_connections.load();
        s.requests = m_requests.load();
        s.generations = m_generations.load();
        s.active_generations = m_active.load();
        s.client_aborts = m_client_aborts.load();
        s.errors_4xx = m_errors.load();
        s.shed = m_shed.load();
        return s;
    }
    [[nodiscard]] const ServerOptions& options() const noexcept { return m_options; }

private:
    friend class detail::HttpSession;

    void do_accept();
    // One VllmMetrics per engine behind the backend: engine="0" ... as vLLM's DP ranks
    // (a single engine keeps options.engine_label).
    static std::vector<metrics::VllmMetrics> make_engine_metrics(const Backend& backend, const ServerOptions& o) {
        const std::uint32_t n = std::max<std::uint32_t>(1, backend.num_engines());
        std::vector<metrics::VllmMetrics> out;
        out.reserve(n);
        for (std::uint32_t i = 0; i < n; ++i)
            out.emplace_back(o.model_name, n == 1 ? o.engine_label : std::to_string(i), backend.max_model_len(),
                             backend.cache_info());
        return out;
    }
    // The metrics of engine `i` (an index out of range, from a backend that numbers its
    // engines wrongly, lands on engine 0 rather than outside the vector).
    [[nodiscard]] metrics::VllmMetrics& engine_metrics(std::uint32_t i) noexcept {
        return m_metrics[i < m_metrics.size() ? i : 0];
    }
    // vllm:iteration_tokens_total: the tokens of one engine step (its events share a time).
    void note_iteration(std::uint32_t engine, std::chrono::nanoseconds step_time, std::uint64_t tokens) {
        auto& it = m_iterations[engine < m_iterations.size() ? engine : 0];
        if (step_time != it.time) flush_iteration(engine);
        it.time = step_time;
        it.tokens += tokens;
    }
    void flush_iteration(std::uint32_t engine) {
        auto& it = m_iterations[engine < m_iterations.size() ? engine : 0];
        if (it.tokens != 0) engine_metrics(engine).observe_iteration(it.tokens);
        it.tokens = 0;
    }
    void flush_iterations() {
        for (std::uint32_t i = 0; i < m_iterations.size(); ++i) flush_iteration(i);
    }
    void collect_phases() {
        m_phases.clear();
        m_backend.take_phases(m_phases);
        for (const auto& p : m_phases) engine_metrics(p.engine).observe_phases(p);
    }
    void begin_shutdown();
    void shutdown_poll();
    void arm_stats_log();
    void log_stats();
    void log_line(const std::string& text) const;
    static void push_event(const std::shared_ptr<detail::ServerInbox>& inbox, std::weak_ptr<detail::HttpSession> s,
                           const TokenEvent& ev);

    Backend& m_backend;
    ServerOptions m_options;
    ValidationLimits m_limits;
    std::unique_ptr<detail::asio::io_context> m_ioc;
    std::optional<detail::tcp::acceptor> m_acceptor;
    std::optional<detail::asio::signal_set> m_signals;
    std::optional<detail::asio::steady_timer> m_shutdown_timer;
    std::optional<detail::asio::steady_timer> m_accept_retry;
    std::optional<detail::asio::steady_timer> m_stats_timer;
    std::shared_ptr<detail::ServerInbox> m_inbox;
    std::vector<std::weak_ptr<detail::HttpSession>> m_sessions;
    std::size_t m_prune_at = 64;
    std::vector<metrics::VllmMetrics> m_metrics; // one per engine; event loop only
    metrics::HttpMetrics m_http_metrics;         // event loop only
    std::vector<metrics::RequestPhases> m_phases;
    struct Iteration { // an engine's step being summed for vllm:iteration_tokens_total
        std::chrono::nanoseconds time{-1};
        std::uint64_t tokens = 0;
    };
    std::vector<Iteration> m_iterations = std::vector<Iteration>(m_metrics.size());
    std::int64_t m_created;
    RequestId m_next_id = 1;
    bool m_stopping = false;
    std::chrono::steady_clock::time_point m_shutdown_started{};
    std::thread m_thread;
    std::atomic<bool> m_stop_requested{false};
    std::atomic<std::uint16_t> m_port{0};
    std::vector<std::string> m_allowed_hosts;
    std::atomic<std::uint64_t> m_connections{0}, m_requests{0}, m_generations{0}, m_active{0}, m_client_aborts{0},
        m_errors{0}, m_shed{0};
    // The stats lines, one per engine ("Engine 000: ...", "Engine 001: ..."): the previous
    // interval's counters, and vLLM's prefix-cache hit-rate window (CachingMetrics: the
    // newest intervals holding up to 1000 cache lookups, i.e. PrefixCacheStats.requests;
    // intervals without a lookup are skipped).
    struct EngineLog {
        EngineStats prev{};
        PrefixHitWindow hit_window;
        bool prev_interval_idle = false;
    };
    std::vector<EngineLog> m_engine_logs = std::vector<EngineLog>(m_metrics.size());
    std::chrono::steady_clock::time_point m_stats_at{};
};

namespace detail {

// One connection: reads requests, answers them, streams generations.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(Server& server, tcp::socket socket)
        : m_server(server), m_socket(std::move(socket)), m_timer(m_socket.get_executor()),
          m_probe_timer(m_socket.get_executor()) {}

    void start() { do_read(); }

    // Server shutdown: idle connections close; running requests are aborted when the
    // drain period is over (abort_now).
    void on_shutdown(bool abort_now) {
        if (m_closed) return;
        if (!m_gen) {
            if (!m_writing) close();
            return;
        }
        if (abort_now && !m_gen->finished && !m_gen->abort_sent) {
            m_gen->abort_sent = true;
            abort_choices();
        }
    }
    [[nodiscard]] bool closed() const noexcept { return m_closed; }
    void force_close() { close(); }

    void on_event(const TokenEvent& ev) {
        if (m_closed || !m_gen || m_gen->finished) return;
        Generation& g = *m_gen;
        Choice* cp = nullptr;
        for (auto& c : g.choices)
            if (c.id == ev.id) cp = &c;
        if (cp == nullptr || cp->finished) return; // an earlier request's late event, or one after a stop string
        Choice& c = *cp;
        c.engine = ev.engine;
        const ScriptedOutput* script = g.scripts.empty() ? nullptr : &g.scripts[c.index];
        const auto now = std::chrono::steady_clock::now();
        const bool new_token = ev.has_token && ev.num_output_tokens > c.tokens;
        std::string_view text;
        // The event that ends this choice: the engine's, or ours when a stop string or stop
        // token matched (the engine request is then aborted).
        bool ends = ev.finished;
        FinishReason reason = ev.reason;
        std::string stop_reason_json = "null";
        std::string lp_json = "null";
        const std::uint32_t tokens_before = c.tokens;
        if (new_token) {
            m_server.note_iteration(c.engine, ev.time,
                                    (ev.num_output_tokens - c.tokens) +
                                        (c.tokens == 0 ? std::uint64_t{g.request.prompt_len} : 0U));
            c.tokens = ev.num_output_tokens;
            const bool eos = ev.finished && ev.reason == FinishReason::stop;
            if (script != nullptr) {
                // A structured output or tool call: each token releases the next piece; once
                // the text is complete the choice stops (a model would emit EOS), unless
                // ignore_eos keeps it generating (empty pieces, like skipped EOS tokens).
                c.scripted.clear();
                for (std::uint32_t k = tokens_before; k < c.tokens; ++k) c.scripted += script->piece(k);
                text = c.scripted;
                if (!ends && c.tokens >= script->pieces() && !g.request.ignore_eos &&
                    c.tokens >= g.request.min_tokens) {
                    ends = true;
                    reason = FinishReason::stop;
                    c.abort_engine = true;
                }
            } else {
                text = SyntheticVocabulary::token_text(ev.token, eos);
            }
            if (!c.first_token) {
                c.first_token = now;
            } else {
                m_server.engine_metrics(c.engine).observe_inter_token(seconds(now - c.last_token));
            }
            c.last_token = now;
            if (g.request.logprobs) {
                const SyntheticLogprobs lp(ev.token, text, *g.request.logprobs);
                if (g.request.stream) {
                    LogprobsBuilder one(g.request.endpoint);
                    one.add(lp, c.text_offset);
                    lp_json = one.json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                } else {
                    c.logprobs.add(lp, c.text_offset);
                }
                c.text_offset += text.size();
            }
            const bool may_stop = c.tokens >= g.request.min_tokens;
            if (may_stop && !g.request.stop_token_ids.empty() &&
                std::find(g.request.stop_token_ids.begin(), g.request.stop_token_ids.end(), ev.token) !=
                    g.request.stop_token_ids.end()) {
                text = {};
                if (!ends) c.abort_engine = true;
                ends = true;
                reason = FinishReason::stop;
                stop_reason_json = std::to_string(ev.token);
            } else if (!g.request.stop.empty()) {
                text = stop_strings(c, text, may_stop, ends, reason, stop_reason_json);
            }
        } else if (ev.finished && !g.request.stop.empty()) {
            text = stop_strings(c, {}, false, ends, reason, stop_reason_json); // flush what was held back
        }
        if (ends && reason == FinishReason::rejected && c.tokens == 0 && !m_headers_sent) {
            c.finished = true;
            abort_choices();
            finish_request(now);
            ApiError e{400,
                       "the engine rejected the request: it can never be scheduled (its prompt needs more "
                       "KV-cache blocks than the pool holds; raise --num-gpu-blocks or shorten the prompt)",
                       "invalid_request_error",
                       {},
                       "request_rejected"};
            m_gen.reset();
            write_error(e);
            return;
        }
        if (ends && reason == FinishReason::error) {
            fail_generation(c, now);
            return;
        }
        const char* finish = ends ? to_string(reason) : nullptr;
        // vLLM: a streamed tool call ends with "tool_calls"; unstreamed, only an auto one.
        const bool tool_finish =
            script != nullptr && script->tool_call() &&
            (reason == FinishReason::stop || reason == FinishReason::length) &&
            (g.request.stream ? c.sent_first || new_token : g.request.tool_choice == ToolChoice::automatic);
        if (ends && tool_finish) finish = "tool_calls";
        if (ends) {
            finish_choice(c, reason, now);
            if (tool_finish) c.finish_reason = "tool_calls";
            c.stop_reason = nlohmann::json::parse(stop_reason_json);
            if (c.abort_engine) m_server.m_backend.stop(c.id);
        }
        const bool all_done = ends && --g.open == 0;
        if (g.request.stream) {
            send_stream_headers(g.id_header);
            std::optional<std::pair<std::uint32_t, std::uint32_t>> usage;
            if (g.request.continuous_usage) usage.emplace(g.request.prompt_len, g.total_tokens());
            if (new_token || ends) {
                if (script != nullptr && script->tool_call() && (new_token || c.sent_first))
                    g.writer.append_tool_call_event(m_body_pending, tool_call_deltas(*script, tokens_before, c.tokens),
                                                    finish, new_token && !c.sent_first, usage,
                                                    ChunkExtras{c.index, stop_reason_json, lp_json});
                else
                    g.writer.append_token_event(m_body_pending, text, finish, new_token && !c.sent_first, usage,
                                                ChunkExtras{c.index, stop_reason_json, lp_json});
                if (new_token) c.sent_first = true;
            }
            if (all_done) {
                if (g.request.include_usage)
                    g.writer.append_usage_event(m_body_pending, g.request.prompt_len, g.total_tokens());
                ResponseWriter::append_done(m_body_pending);
                m_stream_ended = true;
                finish_request(now);
                note_http(200);
            }
            if (m_body_pending.size() > m_server.m_options.max_pending_bytes) {
                client_gone();
                return;
            }
            flush();
        } else {
            c.text += text;
            if (all_done) {
                std::vector<FinishedChoice> out;
                out.reserve(g.choices.size());
                for (auto& ch : g.choices) {
                    FinishedChoice f{std::move(ch.text), ch.finish_reason, ch.stop_reason,
                                     g.request.logprobs ? ch.logprobs.json() : nlohmann::json(nullptr)};
                    if (!g.scripts.empty() && g.scripts[ch.index].tool_call()) {
                        // The calls begun within the tokens generated (max_tokens may cut them).
                        const ScriptedOutput& sc = g.scripts[ch.index];
                        const std::size_t made = std::min<std::size_t>(ch.tokens, sc.pieces());
                        f.tool_calls = nlohmann::json::array();
                        for (std::size_t k = 0; k < sc.tool_calls.size(); ++k)
                            if (k == 0 || sc.tool_calls[k].first_piece < made)
                                f.tool_calls.push_back({{"id", sc.tool_calls[k].id},
                                                        {"type", "function"},
                                                        {"function",
                                                         {{"name", sc.tool_calls[k].name},
                                                          {"arguments", std::string(sc.call_arguments(k, made))}}}});
                        f.text.clear();
                        f.content_null = g.request.tool_choice == ToolChoice::automatic;
                    }
                    out.push_back(std::move(f));
                }
                const std::string body = g.writer.full_response(out, g.request.prompt_len, g.total_tokens());
                finish_request(now);
                m_extra_headers += g.id_header;
                m_gen.reset();
                write_response(200, "application/json", body);
            }
        }
    }

private:
    // The tool-call parts of the pieces [from, to) of a scripted output: one per call they
    // touch (a call's first piece carries its id and name); a token past the output's end
    // gives the last call an empty part (the event that carries finish_reason).
    std::span<const ToolCallDelta> tool_call_deltas(const ScriptedOutput& script, std::uint32_t from,
                                                    std::uint32_t to) {
        m_deltas.clear();
        for (std::size_t k = from; k < to && k < script.pieces(); ++k) {
            const std::size_t call = script.call_of(k);
            const std::string_view piece = script.piece(k);
            if (!m_deltas.empty() && m_deltas.back().index == call) {
                auto& d = m_deltas.back(); // pieces are contiguous in the text
                d.arguments = std::string_view(d.arguments.data(), d.arguments.size() + piece.size());
                continue;
            }
            const ScriptedToolCall& tc = script.tool_calls[call];
            m_deltas.push_back({static_cast<std::uint32_t>(call), k == tc.first_piece, tc.id, tc.name, piece});
        }
        if (m_deltas.empty())
            m_deltas.push_back({static_cast<std::uint32_t>(script.call_of(to == 0 ? 0 : to - 1)), false, {}, {}, {}});
        return m_deltas;
    }

    // One of the request's `n` choices: its own engine request.
    struct Choice {
        RequestId id = 0;
        std::uint32_t index = 0;
        std::optional<std::chrono::steady_clock::time_point> first_token;
        std::chrono::steady_clock::time_point last_token;
        std::uint32_t tokens = 0;
        std::string text;      // non-streamed: the answer so far
        std::string generated; // with stop strings: all text generated
        std::size_t sent = 0;  // with stop strings: bytes of `generated` released to the client
        std::size_t text_offset = 0;
        std::string released; // with stop strings: this event's text
        std::string scripted; // with a scripted output: this event's pieces
        bool sent_first = false;
        bool finished = false;
        bool abort_engine = false; // a stop string ended it before the engine did
        std::uint32_t engine = 0;  // which engine behind the backend runs it (TokenEvent::engine)
        std::string finish_reason;
        nlohmann::json stop_reason;
        LogprobsBuilder logprobs{Endpoint::completions};
    };
    struct Generation {
        GenerationRequest request;
        ResponseWriter writer;
        std::chrono::steady_clock::time_point arrival;
        std::vector<Choice> choices;
        std::uint32_t open = 0; // choices not finished
        bool finished = false;
        bool abort_sent = false;
        std::string id_header; // "X-Request-Id: ...\r\n" to send, or empty
        /// Per choice: a structured output or tool call to release piece by piece (empty:
        /// the synthetic vocabulary's words).
        std::vector<ScriptedOutput> scripts;

        [[nodiscard]] std::uint32_t total_tokens() const {
            std::uint32_t n = 0;
            for (const auto& c : choices) n += c.tokens;
            return n;
        }
    };

    // Stop strings (vLLM's rule): the text generated so far is searched for each; the
    // output ends before the earliest match (after it with include_stop_str_in_output).
    // While none matched, the last (longest stop - 1) bytes are held back, so a stop string
    // split over tokens never reaches the client. Returns the text to release now.
    std::string_view stop_strings(Choice& c, std::string_view token, bool may_stop, bool& ends, FinishReason& reason,
                                  std::string& stop_reason_json) {
        const GenerationRequest& r = m_gen->request;
        std::size_t longest = 1;
        for (const auto& s : r.stop) longest = std::max(longest, s.size());
        const std::size_t before = c.generated.size();
        c.generated += token;
        std::size_t cut = std::string::npos;
        if (may_stop) {
            const std::size_t from = before >= longest - 1 ? before - (longest - 1) : 0;
            std::size_t best = std::string::npos;
            const std::string* hit = nullptr;
            for (const auto& s : r.stop) {
                const auto p = c.generated.find(s, from);
                if (p != std::string::npos && (best == std::string::npos || p < best)) {
                    best = p;
                    hit = &s;
                }
            }
            if (hit != nullptr) {
                cut = r.include_stop_str_in_output ? best + hit->size() : best;
                if (!ends) c.abort_engine = true;
                ends = true;
                reason = FinishReason::stop;
                stop_reason_json = nlohmann::json(*hit).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            }
        }
        if (cut == std::string::npos) {
            const std::size_t hold = r.include_stop_str_in_output || ends ? 0 : longest - 1;
            cut = c.generated.size() > hold ? c.generated.size() - hold : 0;
        }
        c.released.clear();
        if (cut > c.sent) c.released.assign(c.generated, c.sent, cut - c.sent);
        c.sent = std::max(c.sent, cut);
        return c.released;
    }

    // The client's X-Request-Id when it is usable in an id and a header (printable ASCII
    // without spaces, at most 128 bytes); else empty.
    [[nodiscard]] std::string client_request_id() const {
        const auto& req = m_parser->get();
        const auto it = req.find("x-request-id");
        if (it == req.end()) return {};
        const std::string_view v(it->value().data(), it->value().size());
        if (v.empty() || v.size() > 128) return {};
        for (const char c : v)
            if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return {};
        return std::string(v);
    }

    static double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
    [[nodiscard]] bool keep_alive() const { return m_keep_alive && !m_server.m_stopping; }

    /// Queues the SSE response head once per response: 200, a chunked event stream, the
    /// request's X-Request-Id line (`id_header`, may be empty) and the connection header.
    void send_stream_headers(const std::string& id_header) {
        if (m_headers_sent) return;
        m_headers_sent = true;
        m_raw_pending += "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                         "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nServer: llmemu\r\n";
        m_raw_pending += id_header;
        m_raw_pending += keep_alive() ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    }

    void do_read() {
        if (m_closed) return;
        if (m_server.m_stopping) {
            close();
            return;
        }
        m_parser.emplace();
        m_parser->body_limit(m_server.m_options.max_body_bytes);
        m_parser->header_limit(64U * 1024U);
        m_reading = true;
        m_timer.expires_after(m_server.m_options.idle_timeout);
        m_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec && self->m_reading) self->close();
        });
        http::async_read_header(
            m_socket, m_buffer, *m_parser,
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) { self->on_header(ec); });
    }

    // Headers are in: answer `Expect: 100-continue` (curl sends it for larger bodies and
    // would otherwise wait a second), then read the body.
    void on_header(const boost::system::error_code& ec) {
        if (ec || m_closed || m_parser->is_done()) {
            on_read(ec);
            return;
        }
        auto read_body = [self = shared_from_this()] {
            http::async_read(self->m_socket, self->m_buffer, *self->m_parser,
                             [self](const boost::system::error_code& e, std::size_t) { self->on_read(e); });
        };
        const auto expect = m_parser->get()[http::field::expect];
        if (beast::iequals(expect, "100-continue")) {
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(m_socket, asio::buffer(cont.data(), cont.size()),
                              [self = shared_from_this(), read_body](const boost::system::error_code& e, std::size_t) {
                                  if (e)
                                      self->on_read(e);
                                  else
                                      read_body();
                              });
            return;
        }
        read_body();
    }

    void on_read(const boost::system::error_code& ec) {
        m_reading = false;
        m_timer.cancel();
        if (m_closed) return;
        if (ec) {
            if (ec == http::error::body_limit) {
                m_keep_alive = false;
                write_error({413,
                             "request body exceeds " + std::to_string(m_server.m_options.max_body_bytes) +
                                 " bytes (the server's --max-body-bytes)",
                             "invalid_request_error",
                             {},
                             "payload_too_large"});
            } else if (ec == http::error::header_limit) {
                m_keep_alive = false;
                write_error({431, "request headers exceed 64 KiB", "invalid_request_error", {}, "headers_too_large"});
            } else if (ec == http::error::end_of_stream || ec == asio::error::eof ||
                       ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
                       ec == asio::error::bad_descriptor) {
                close();
            } else {
                m_keep_alive = false;
                write_error({400,
                             std::string("malformed HTTP request: ") + ec.message(),
                             "invalid_request_error",
                             {},
                             "bad_http"});
            }
            return;
        }
        ++m_server.m_requests;
        // Nothing a request carries may end the server: whatever escapes the handlers
        // becomes a 500 on this connection only.
        try {
            handle_request();
        } catch (const std::exception& e) {
            if (m_gen && !m_gen->finished) client_gone();
            if (m_closed || m_headers_sent) {
                close();
                return;
            }
            m_keep_alive = false;
            write_error({500, "internal error: " + echo_input(e.what(), 200), "server_error", {}, "internal_error"});
        }
    }

    // Host allow-list, API key and media type: the checks before any route runs.
    bool admit(const http::request<http::string_body>& req, std::string_view target) {
        const auto host_field = req.find(http::field::host);
        if (host_field == req.end()) {
            if (req.version() >= 11) {
                write_error({400, "HTTP/1.1 requests need a Host header", "invalid_request_error", {}, "invalid_host"});
                return false;
            }
        } else if (!host_allowed(std::string_view(host_field->value().data(), host_field->value().size()))) {
            write_error({400,
                         "Host '" +
                             echo_input(std::string_view(host_field->value().data(), host_field->value().size())) +
                             "' is not served here (the server answers the names it is bound to; start it with "
                             "--allowed-hosts to add names)",
                         "invalid_request_error",
                         {},
                         "invalid_host"});
            return false;
        }
        if (!m_server.m_options.api_key.empty() && target.substr(0, 3) == "/v1" && !authorized(req)) {
            ++m_server.m_errors;
            write_response(401, "application/json", R"({"error":"Unauthorized"})");
            return false;
        }
        return true;
    }

    [[nodiscard]] bool host_allowed(std::string_view host) const {
        // Strip the port: "name:8000", "[::1]:8000", "[::1]".
        if (!host.empty() && host.front() == '[') {
            const auto close_bracket = host.find(']');
            if (close_bracket == std::string_view::npos) return false;
            host = host.substr(1, close_bracket - 1);
        } else if (const auto colon = host.find(':');
                   colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
            host = host.substr(0, colon);
        }
        for (const auto& allowed : m_server.m_allowed_hosts)
            if (allowed == "*" || iequals_ascii(allowed, host)) return true;
        return false;
    }

    [[nodiscard]] bool authorized(const http::request<http::string_body>& req) const {
        const auto it = req.find(http::field::authorization);
        if (it == req.end()) return false;
        std::string_view v(it->value().data(), it->value().size());
        if (v.size() < 7 || !iequals_ascii(v.substr(0, 7), "Bearer ")) return false;
        v.remove_prefix(7);
        const std::string& key = m_server.m_options.api_key;
        // Constant time in the key's contents (the length may show).
        unsigned diff = v.size() == key.size() ? 0U : 1U;
        for (std::size_t i = 0; i < key.size(); ++i)
            diff |= static_cast<unsigned>(static_cast<unsigned char>(key[i]) ^
                                          static_cast<unsigned char>(i < v.size() ? v[i] : 0));
        return diff == 0;
    }

    [[nodiscard]] static bool is_json_content_type(std::string_view ct) {
        if (const auto semi = ct.find(';'); semi != std::string_view::npos) ct = ct.substr(0, semi);
        while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
        while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
        return iequals_ascii(ct, "application/json");
    }

    void handle_request() {
        auto& req = m_parser->get();
        m_keep_alive = req.keep_alive();
        std::string_view target(req.target().data(), req.target().size());
        if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        m_http_handler = http_handler(target);
        m_http_pending = !m_http_handler.empty();
        m_http_method.assign(req.method_string().data(), req.method_string().size());
        m_http_start = std::chrono::steady_clock::now();
        if (!admit(req, target)) return;
        const auto method = req.method();
        auto want = [&](http::verb v) {
            if (method == v || (v == http::verb::get && method == http::verb::head)) return true;
            write_error({405,
                         "method " +
                             echo_input(std::string_view(req.method_string().data(), req.method_string().size()), 16) +
                             " is not allowed on " + echo_input(target),
                         "invalid_request_error",
                         {},
                         "method_not_allowed"});
            return false;
        };
        if (target == "/v1/completions" || target == "/v1/chat/completions") {
            if (!want(http::verb::post)) return;
            if (m_server.m_options.require_json_content_type) {
                const auto ct = req[http::field::content_type];
                if (!is_json_content_type(std::string_view(ct.data(), ct.size()))) {
                    write_error({415,
                                 "Content-Type is '" + echo_input(std::string_view(ct.data(), ct.size())) +
                                     "'; send the body as JSON with 'Content-Type: application/json'",
                                 "invalid_request_error",
                                 {},
                                 "unsupported_media_type"});
                    return;
                }
            }
            start_generation(target == "/v1/completions" ? Endpoint::completions : Endpoint::chat_completions);
        } else if (target == "/health" || target == "/ping") {
            if (!(target == "/ping" && method == http::verb::post) && !want(http::verb::get)) return;
            if (m_server.m_stopping)
                write_error({503, "server is shutting down", "server_error", {}, "unavailable"});
            else
                write_response(200, "text/plain", "");
        } else if (target == "/v1/models") {
            if (!want(http::verb::get)) return;
            nlohmann::json data = nlohmann::json::array();
            for (const auto& name : m_server.m_limits.served_models) data.push_back(model_card(name));
            nlohmann::json list{{"object", "list"}, {"data", std::move(data)}};
            write_response(200, "application/json",
                           list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        } else if (target.starts_with("/v1/models/")) {
            if (!want(http::verb::get)) return;
            const std::string id = percent_decode(target.substr(11));
            const auto& names = m_server.m_limits.served_models;
            if (std::find(names.begin(), names.end(), id) == names.end()) {
                write_error(model_not_found(id));
                return;
            }
            write_response(200, "application/json",
                           model_card(id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        } else if (target == "/load") {
            if (!want(http::verb::get)) return;
            write_response(200, "application/json", nlohmann::json{{"server_load", m_server.m_active.load()}}.dump());
        } else if (target == "/metrics") {
            if (!want(http::verb::get)) return;
            m_server.collect_phases();
            m_server.flush_iterations();
            std::vector<metrics::EngineMetricsSnapshot> snaps;
            for (const EngineStats& s : m_server.m_backend.engine_snapshots()) snaps.push_back(to_metrics_snapshot(s));
            snaps.resize(m_server.m_metrics.size()); // a backend reporting fewer engines shows zeros
            std::string page = metrics::VllmMetrics::render(m_server.m_metrics, snaps);
            metrics::append_process_metrics(page);
            append_shed_metric(page);
            m_server.m_http_metrics.render(page);
            write_response(200, "text/plain; version=0.0.4; charset=utf-8", page);
        } else if (target == "/debug/kv_cache") {
            if (!want(http::verb::get)) return;
            write_kv_cache();
        } else if (target == "/version") {
            if (!want(http::verb::get)) return;
            write_response(200, "application/json", nlohmann::json{{"version", LLMEMU_VERSION_STRING}}.dump());
        } else {
            write_error({404,
                         "route " + echo_input(target) +
                             " not found; this server serves /v1/completions, /v1/chat/completions, "
                             "/v1/models[/ID], /health, /ping, /load, /version and /metrics",
                         "invalid_request_error",
                         {},
                         "not_found"});
        }
    }

    // The instrumentator's `handler` label: the route template, "none" for a path no route
    // serves, empty for the routes vLLM leaves out of the HTTP metrics.
    [[nodiscard]] static std::string_view http_handler(std::string_view target) {
        for (const std::string_view excluded : {"/metrics", "/health", "/load", "/ping", "/version"})
            if (target == excluded) return {};
        for (const std::string_view route :
             {"/v1/completions", "/v1/chat/completions", "/v1/models", "/debug/kv_cache"})
            if (target == route) return route;
        if (target.starts_with("/v1/models/")) return "/v1/models/{model_name}";
        return "none";
    }

    // GET /debug/kv_cache (llmemu's own): each engine's prefix-cache block hashes, what a
    // consumer of the KV-cache events holds after replaying them.
    void write_kv_cache() {
        const auto caches = m_server.m_backend.kv_cache_contents();
        if (caches.empty()) {
            write_error(
                {404, "this server's engine does not report its KV cache", "invalid_request_error", {}, "not_found"});
            return;
        }
        nlohmann::json engines = nlohmann::json::array();
        for (const auto& c : caches)
            engines.push_back({{"data_parallel_rank", c.rank},
                               {"block_size", c.block_size},
                               {"num_cached_blocks", c.block_hashes.size()},
                               {"block_hashes", c.block_hashes}});
        write_response(200, "application/json", nlohmann::json{{"engines", std::move(engines)}}.dump());
    }

    // One /v1/models card (vLLM's fields; permission as vLLM lists it).
    [[nodiscard]] nlohmann::json model_card(const std::string& name) const {
        const auto& o = m_server.m_options;
        return {{"id", name},
                {"object", "model"},
                {"created", m_server.m_created},
                {"owned_by", "vllm"},
                {"root", o.model_root.empty() ? name : o.model_root},
                {"parent", nullptr},
                {"max_model_len", m_server.m_limits.max_model_len},
                {"permission", nlohmann::json::array({{{"id", "modelperm-llmemu"},
                                                       {"object", "model_permission"},
                                                       {"created", m_server.m_created},
                                                       {"allow_create_engine", false},
                                                       {"allow_sampling", true},
                                                       {"allow_logprobs", true},
                                                       {"allow_search_indices", false},
                                                       {"allow_view", true},
                                                       {"allow_fine_tuning", false},
                                                       {"organization", "*"},
                                                       {"group", nullptr},
                                                       {"is_blocking", false}}})}};
    }

    // %XX escapes of a path segment (model ids hold '/', which clients may send as %2F).
    [[nodiscard]] static std::string percent_decode(std::string_view in) {
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        std::string out;
        out.reserve(in.size());
        for (std::size_t i = 0; i < in.size(); ++i) {
            if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
                out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
                i += 2;
            } else {
                out += in[i];
            }
        }
        return out;
    }

    // llmemu's own counter beside vLLM's: requests shed by --max-waiting-requests.
    void append_shed_metric(std::string& page) const {
        page += "# HELP llmemu:requests_shed_total Generation requests refused with 503 because --max-waiting-requests "
                "requests were already waiting.\n# TYPE llmemu:requests_shed_total counter\nllmemu:requests_shed_total{"
                "model_name=\"";
        metrics::append_label_value(page, m_server.m_options.model_name);
        page += "\",engine=\"";
        metrics::append_label_value(page, m_server.m_options.engine_label);
        page += "\"} ";
        metrics::append_prometheus_number(page, static_cast<double>(m_server.m_shed.load()));
        page += '\n';
    }

    void start_generation(Endpoint endpoint) {
        if (m_server.m_stopping) {
            write_error({503, "server is shutting down", "server_error", {}, "unavailable"});
            return;
        }
        if (const auto limit = m_server.m_options.max_waiting_requests; limit != 0) {
            const std::uint64_t active = m_server.m_active.load();
            const std::uint64_t running = m_server.m_backend.snapshot().running;
            if (active > running && active - running >= limit) {
                ++m_server.m_shed;
                m_extra_headers = "Retry-After: " + std::to_string(m_server.m_options.retry_after_s) + "\r\n";
                write_error({503,
                             "the server is overloaded: " + std::to_string(active - running) +
                                 " requests are already waiting (--max-waiting-requests " + std::to_string(limit) +
                                 "); retry later",
                             "server_error",
                             {},
                             "overloaded"});
                return;
            }
        }
        GenerationRequest request;
        std::vector<ScriptedOutput> scripts;
        const RequestId id = m_server.m_next_id;
        try {
            request = parse_generation_request(m_parser->get().body(), endpoint, m_server.m_limits);
            scripts = plan_scripted_outputs(request, id * 0x9E3779B97F4A7C15ULL);
        } catch (const api_exception& e) {
            write_error(e.error());
            return;
        }
        m_server.m_next_id += request.n;
        // vLLM's request id: cmpl-/chatcmpl- + the client's X-Request-Id, else a random-looking hex.
        std::string request_id = client_request_id();
        char idbuf[32];
        std::snprintf(idbuf, sizeof idbuf, "%016llx", static_cast<unsigned long long>(id * 0x9E3779B97F4A7C15ULL));
        const bool echo_id = !request_id.empty() || m_server.m_options.request_id_headers;
        if (request_id.empty()) request_id = idbuf;
        const std::string response_id = (endpoint == Endpoint::completions ? "cmpl-" : "chatcmpl-") + request_id;
        const auto now_s =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        m_gen.emplace(Generation{std::move(request),
                                 ResponseWriter(endpoint, response_id, m_server.m_options.model_name, now_s),
                                 std::chrono::steady_clock::now(),
                                 {},
                                 0,
                                 false,
                                 false,
                                 echo_id ? "X-Request-Id: " + request_id + "\r\n" : std::string(),
                                 std::move(scripts)});
        Generation& g = *m_gen;
        g.choices.resize(g.request.n);
        for (std::uint32_t i = 0; i < g.request.n; ++i) {
            g.choices[i].id = id + i;
            g.choices[i].index = i;
            g.choices[i].logprobs = LogprobsBuilder(endpoint);
        }
        g.open = g.request.n;
        m_headers_sent = false;
        m_stream_ended = false;
        ++m_server.m_generations;
        ++m_server.m_active;
        // One engine request per choice (vLLM's n: child requests sharing the prompt).
        for (std::uint32_t i = 0; i < g.request.n; ++i) {
            RequestSpec spec;
            spec.id = id + i;
            spec.prompt_len = g.request.prompt_len;
            spec.prompt_tokens = g.request.prompt_tokens;
            spec.max_tokens = g.request.max_tokens;
            spec.min_tokens = g.request.min_tokens;
            spec.ignore_eos = g.request.ignore_eos;
            spec.priority = g.request.priority;
            try {
                m_server.m_backend.submit(std::move(spec),
                                          [inbox = m_server.m_inbox, weak = weak_from_this()](const TokenEvent& ev) {
                                              Server::push_event(inbox, weak, ev);
                                          });
            } catch (const request_error& e) {
                for (std::uint32_t k = 0; k < i; ++k) m_server.m_backend.abort(id + k);
                --m_server.m_active;
                m_gen.reset();
                write_error({400, e.what(), "invalid_request_error", {}, "request_rejected"});
                return;
            }
        }
        if (m_server.m_options.log_requests && m_gen)
            m_server.log_line("Received request " + m_gen->writer.id() +
                              ": prompt_tokens=" + std::to_string(m_gen->request.prompt_len) + ", max_tokens=" +
                              std::to_string(m_gen->request.max_tokens) + ", n=" + std::to_string(m_gen->request.n) +
                              ", stream=" + (m_gen->request.stream ? "true" : "false") +
                              ", priority=" + std::to_string(m_gen->request.priority));
        start_watch();
    }

    // Aborts every choice still running in the engine.
    void abort_choices() {
        for (auto& c : m_gen->choices)
            if (!c.finished) m_server.m_backend.abort(c.id);
    }

    // A step of this request failed in the engine (its executor or latency model threw):
    // vLLM's 500 body, or in a stream an error event before [DONE]; the other choices are
    // aborted and the connection goes on serving.
    void fail_generation(Choice& c, std::chrono::steady_clock::time_point now) {
        Generation& g = *m_gen;
        std::string why = m_server.m_backend.last_error();
        const ApiError e{500,
                         "the engine failed while running this request" +
                             (why.empty() ? std::string() : ": " + echo_input(why, 300)),
                         "InternalServerError",
                         {},
                         {},
                         true};
        finish_choice(c, FinishReason::error, now);
        abort_choices();
        for (auto& other : g.choices) other.finished = true;
        g.open = 0;
        if (!g.request.stream) {
            finish_request(now);
            m_gen.reset();
            write_error(e);
            return;
        }
        send_stream_headers(g.id_header);
        m_body_pending += "data: ";
        m_body_pending += e.body();
        m_body_pending += "\n\n";
        ResponseWriter::append_done(m_body_pending);
        m_stream_ended = true;
        finish_request(now);
        flush();
    }

    // One choice ended: vLLM's per-request histograms (one engine request per choice).
    void finish_choice(Choice& c, FinishReason reason, std::chrono::steady_clock::time_point now) {
        const Generation& g = *m_gen;
        c.finished = true;
        c.finish_reason = to_string(reason);
        metrics::RequestObservation obs;
        obs.e2e_s = seconds(now - g.arrival);
        obs.has_first_token = c.first_token.has_value();
        if (c.first_token) obs.ttft_s = seconds(*c.first_token - g.arrival);
        obs.prompt_tokens = g.request.prompt_len;
        obs.generation_tokens = c.tokens;
        if (reason != FinishReason::rejected) m_server.engine_metrics(c.engine).observe(obs);
    }

    // The whole request ended (every choice).
    void finish_request(std::chrono::steady_clock::time_point now) {
        Generation& g = *m_gen;
        g.finished = true;
        --m_server.m_active;
        std::uint32_t longest = 0;
        for (const auto& c : g.choices) longest = std::max(longest, c.tokens);
        // vLLM records a request's parameters once, with the engine of its first choice.
        m_server.engine_metrics(g.choices.empty() ? 0 : g.choices.front().engine)
            .observe_request_params(g.request.n, g.request.max_tokens, longest);
        if (m_server.m_options.log_requests)
            m_server.log_line("Finished request " + g.writer.id() + ": finish_reason=" +
                              (g.choices.empty() ? std::string("none") : g.choices.front().finish_reason) +
                              ", completion_tokens=" + std::to_string(g.total_tokens()) +
                              ", e2e=" + std::to_string(seconds(now - g.arrival)).substr(0, 6) + " s");
    }

    // Watches the socket while a request runs, to notice a client that goes away.
    void start_watch() {
        if (m_watching || m_closed || m_peer_eof) return;
        m_watching = true;
        m_socket.async_wait(tcp::socket::wait_read,
                            [self = shared_from_this()](const boost::system::error_code& ec) { self->on_watch(ec); });
    }
    void on_watch(const boost::system::error_code& ec) {
        m_watching = false;
        if (m_closed) return;
        const bool done = !m_gen && !m_writing && m_raw_pending.empty() && m_body_pending.empty();
        if (!ec) {
            char c = 0;
            const auto n = ::recv(m_socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n > 0) {
                if (done) { // a pipelined next request: do_read parses it
                    next_request();
                    return;
                }
                take_pipelined();
                if (!m_closed) start_watch(); // keep noticing a client that goes away
                return;
            }
            if (n == 0) { // end of stream: the client closed, or only half-closed its side
                if (done)
                    next_request(); // do_read answers what is buffered, then sees the end
                else
                    on_peer_eof();
                return;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (done)
                    next_request();
                else
                    start_watch();
                return;
            }
            client_gone();
            return;
        }
        if (done)
            next_request();
        else if (ec != asio::error::operation_aborted)
            client_gone();
    }

    // Bytes that arrive while a request runs (a pipelined request, or junk) go into the
    // read buffer for do_read, up to max_pipelined_bytes; beyond that the connection
    // closes after this response and the excess is discarded, so the socket stays watched.
    static constexpr std::size_t max_pipelined_bytes = 64U * 1024U;
    void take_pipelined() {
        const int fd = m_socket.native_handle();
        char scratch[4096];
        for (int round = 0; round < 64; ++round) { // then back to the loop: a flood cannot starve it
            const bool keep = m_keep_alive && m_buffer.size() < max_pipelined_bytes;
            const std::size_t room = keep ? max_pipelined_bytes - m_buffer.size() : sizeof scratch;
            char* dst = keep ? static_cast<char*>(m_buffer.prepare(room).data()) : scratch;
            const auto got = ::recv(fd, dst, std::min(room, sizeof scratch), MSG_DONTWAIT);
            if (got > 0) {
                if (keep)
                    m_buffer.commit(static_cast<std::size_t>(got));
                else
                    m_keep_alive = false;
                continue;
            }
            if (got == 0) {
                on_peer_eof();
                return;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            client_gone();
            return;
        }
    }

    // The client's side of the connection ended while its request runs. A client that
    // only half-closed (shutdown(SHUT_WR), allowed by HTTP/1.1) still reads the answer; one
    // that closed answers any data with a reset. Find out which with an interim
    // `100 Continue` (HTTP/1.1 clients skip 1xx responses), before the response has begun.
    void on_peer_eof() {
        if (m_peer_eof || m_closed) return;
        m_peer_eof = true;
        if (!m_gen || m_gen->finished) return;
        if (m_parser && m_parser->get().version() < 11) {
            client_gone(); // an HTTP/1.0 client cannot take an interim response
            return;
        }
        // A FIN once the stream has begun is a client that stopped reading: gone. (A client
        // that half-closes does so right after its request, before any answer.)
        if (m_headers_sent) {
            client_gone();
            return;
        }
        m_raw_pending.insert(0, "HTTP/1.1 100 Continue\r\n\r\n");
        flush();
        check_reset(0);
    }

    // After the probe: a reset shows as the socket's error (ECONNRESET) or a closed TCP
    // state (reads keep reporting the end of stream). Checked at 50, 150, 350 and 750 ms,
    // enough for a round trip beyond loopback.
    void check_reset(int attempt) {
        m_probe_timer.expires_after(std::chrono::milliseconds(50 << attempt));
        m_probe_timer.async_wait([self = shared_from_this(), attempt](const boost::system::error_code& e) {
            if (e || self->m_closed || !self->m_gen || self->m_gen->finished) return;
            const int fd = self->m_socket.native_handle();
            int err = 0;
            socklen_t len = sizeof err;
            tcp_info info{};
            socklen_t info_len = sizeof info;
            const bool reset =
                (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) ||
                (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) == 0 && info.tcpi_state == TCP_CLOSE);
            if (reset)
                self->client_gone();
            else if (attempt < 3)
                self->check_reset(attempt + 1);
        });
    }

    // The request being answered is done (its last byte handed to the connection): the
    // instrumentator's HTTP metrics, as vLLM's API server records them.
    void note_http(int status) {
        if (!m_http_pending) return;
        m_http_pending = false;
        m_server.m_http_metrics.observe(m_http_handler, m_http_method, status,
                                        seconds(std::chrono::steady_clock::now() - m_http_start));
    }

    void client_gone() {
        if (m_headers_sent) note_http(200);
        m_http_pending = false;
        if (m_gen && !m_gen->finished) {
            ++m_server.m_client_aborts;
            --m_server.m_active;
            m_gen->finished = true;
            abort_choices();
        }
        m_gen.reset();
        close();
    }

    void write_error(const ApiError& e) {
        ++m_server.m_errors;
        write_response(e.status, "application/json", e.body());
    }

    void write_response(int status, std::string_view content_type, std::string_view body) {
        note_http(status);
        std::string& out = m_raw_pending;
        out += "HTTP/1.1 ";
        out += std::to_string(status);
        out += ' ';
        out += detail::status_text(status);
        out += "\r\nServer: llmemu\r\nContent-Type: ";
        out += content_type;
        out += "\r\nContent-Length: ";
        out += std::to_string(body.size());
        if (!m_extra_headers.empty()) {
            out += "\r\n";
            out += m_extra_headers;
            out.pop_back(); // the header block below adds the line end
            out.pop_back();
            m_extra_headers.clear();
        }
        out += keep_alive() ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
        const bool head = m_parser && m_parser->is_done() && m_parser->get().method() == http::verb::head;
        if (!head) out += body;
        m_stream_ended = false;
        flush();
    }

    void flush() {
        if (m_writing || m_closed) return;
        if (m_raw_pending.empty() && m_body_pending.empty()) {
            exchange_maybe_done();
            return;
        }
        m_out.clear();
        m_out.swap(m_raw_pending);
        if (!m_body_pending.empty()) {
            detail::append_hex(m_out, m_body_pending.size());
            m_out += "\r\n";
            m_out += m_body_pending;
            m_out += "\r\n";
            m_body_pending.clear();
        }
        if (m_stream_ended && m_gen && m_gen->finished) {
            m_out += "0\r\n\r\n";
            m_stream_ended = false;
            m_gen.reset();
        }
        m_writing = true;
        asio::async_write(m_socket, asio::buffer(m_out),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                              self->m_writing = false;
                              if (ec) {
                                  self->client_gone();
                                  return;
                              }
                              self->flush();
                          });
    }

    // The response is out: next request, or close.
    void exchange_maybe_done() {
        if (m_gen) return; // still generating
        if (m_watching) {
            m_socket.cancel(); // on_watch continues with next_request()
            return;
        }
        next_request();
    }

    void next_request() {
        if (!keep_alive()) {
            close();
            return;
        }
        do_read();
    }

    void close() {
        if (m_closed) return;
        m_closed = true;
        m_timer.cancel();
        m_probe_timer.cancel();
        boost::system::error_code ignored;
        m_socket.shutdown(tcp::socket::shutdown_both, ignored);
        m_socket.close(ignored);
    }

    Server& m_server;
    tcp::socket m_socket;
    asio::steady_timer m_timer;
    asio::steady_timer m_probe_timer; // on_peer_eof's check for a reset
    beast::flat_buffer m_buffer;
    std::optional<http::request_parser<http::string_body>> m_parser;
    std::optional<Generation> m_gen;
    std::string m_raw_pending;   // bytes to send as they are (status line, headers)
    std::string m_body_pending;  // stream data to send as one HTTP chunk
    std::string m_out;           // being written
    std::string m_extra_headers; // "Name: value\r\n" lines for the next write_response
    // tool_call_deltas' result (reused).
    std::vector<ToolCallDelta> m_deltas;
    // http_requests_total / http_request_duration_seconds of the request being answered.
    bool m_http_pending = false;
    std::string_view m_http_handler;
    std::string m_http_method;
    std::chrono::steady_clock::time_point m_http_start;
    bool m_keep_alive = true;
    bool m_headers_sent = false;
    bool m_stream_ended = false;
    bool m_writing = false;
    bool m_watching = false;
    bool m_reading = false;
    bool m_peer_eof = false; // the client sent its FIN (closed or half-closed)
    bool m_closed = false;
};

} // namespace detail

inline void Server::listen() {
    namespace asio = detail::asio;
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(m_options.host == "localhost" ? "127.0.0.1" : m_options.host, ec);
    if (ec)
        llmemu::detail::throw_error<config_error>(
            "server: --host '" + m_options.host +
            "' is not an IP address or localhost (use e.g. 127.0.0.1 or 0.0.0.0)");
    detail::tcp::endpoint endpoint(address, m_options.port);
    m_acceptor.emplace(*m_ioc);
    m_acceptor->open(endpoint.protocol(), ec);
    if (!ec) m_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) m_acceptor->bind(endpoint, ec);
    if (!ec) m_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        m_acceptor.reset();
        llmemu::detail::throw_error<config_error>("server: cannot listen on " + m_options.host + ":" +
                                                  std::to_string(m_options.port) + ": " + ec.message() +
                                                  " (pick another --port, or 0 for any free port)");
    }
    m_port = m_acceptor->local_endpoint().port();
}

inline void Server::run(bool handle_signals) {
    if (!m_acceptor) listen();
    if (handle_signals) {
        m_signals.emplace(*m_ioc, SIGINT, SIGTERM);
        m_signals->async_wait([this](const boost::system::error_code& ec, int) {
            if (!ec) {
                m_stop_requested = true;
                begin_shutdown();
            }
        });
    }
    do_accept();
    if (m_options.log_stats_interval.count() > 0 && m_options.log != nullptr) {
        const auto all = m_backend.engine_snapshots();
        for (std::size_t i = 0; i < m_engine_logs.size() && i < all.size(); ++i) m_engine_logs[i].prev = all[i];
        m_stats_at = std::chrono::steady_clock::now();
        arm_stats_log();
    }
    m_ioc->run();
}

inline void Server::log_line(const std::string& text) const {
    if (m_options.log == nullptr) return;
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%m-%d %H:%M:%S", &tm);
    *m_options.log << "INFO " << stamp << " [llmemu] " << text << std::endl;
}

inline void Server::arm_stats_log() {
    if (!m_stats_timer) m_stats_timer.emplace(*m_ioc);
    m_stats_timer->expires_after(m_options.log_stats_interval);
    m_stats_timer->async_wait([this](const boost::system::error_code& ec) {
        if (ec || m_stopping) return;
        log_stats();
        arm_stats_log();
    });
}

// vLLM's LoggingStatLogger line, one per engine (vLLM keeps one logger per DP rank):
// throughput over the interval, the gauges now, and the prefix-cache hit rate (tokens hit
// / tokens queried) over the newest intervals holding ~1000 cache lookups. An engine's
// line is skipped (vLLM: logged at DEBUG) when its this and previous interval both had
// zero throughput.
inline void Server::log_stats() {
    const std::vector<EngineStats> all = m_backend.engine_snapshots();
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::max(1e-9, std::chrono::duration<double>(now - m_stats_at).count());
    m_stats_at = now;
    for (std::size_t i = 0; i < m_engine_logs.size() && i < all.size(); ++i) {
        const EngineStats& s = all[i];
        EngineLog& e = m_engine_logs[i];
        const double prompt_tps = static_cast<double>(s.prompt_tokens - e.prev.prompt_tokens) / dt;
        const double gen_tps = static_cast<double>(s.generation_tokens - e.prev.generation_tokens) / dt;
        e.hit_window.observe(s.prefix_cache_requests - e.prev.prefix_cache_requests,
                             s.prefix_cache_queries - e.prev.prefix_cache_queries,
                             s.prefix_cache_hits - e.prev.prefix_cache_hits);
        e.prev = s;
        const bool idle = prompt_tps == 0 && gen_tps == 0;
        const bool skip = idle && e.prev_interval_idle;
        e.prev_interval_idle = idle;
        if (skip) continue;
        char line[320];
        std::snprintf(line, sizeof line,
                      "Engine %03u: Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
                      "Running: %u reqs, Waiting: %u reqs, GPU KV cache usage: %.1f%%, Prefix cache hit rate: %.1f%%",
                      static_cast<unsigned>(i), prompt_tps, gen_tps, s.running, s.waiting, 100.0 * s.kv_usage,
                      100.0 * e.hit_window.hit_rate());
        log_line(line);
    }
}

inline void Server::do_accept() {
    m_acceptor->async_accept([this](const boost::system::error_code& ec, detail::tcp::socket socket) {
        if (m_stopping) return;
        if (!ec) {
            ++m_connections;
            boost::system::error_code ignored;
            socket.set_option(detail::tcp::no_delay(true), ignored);
            auto session = std::make_shared<detail::HttpSession>(*this, std::move(socket));
            if (m_sessions.size() >= m_prune_at) {
                std::erase_if(m_sessions, [](const auto& w) { return w.expired(); });
                m_prune_at = std::max<std::size_t>(64, m_sessions.size() * 2);
            }
            m_sessions.push_back(session);
            session->start();
        } else if (ec == detail::asio::error::operation_aborted || !m_acceptor->is_open()) {
            return;
        } else {
            // Out of descriptors (EMFILE) or similar: retry shortly instead of spinning.
            if (!m_accept_retry) m_accept_retry.emplace(*m_ioc);
            m_accept_retry->expires_after(std::chrono::milliseconds(20));
            m_accept_retry->async_wait([this](const boost::system::error_code& e) {
                if (!e && !m_stopping) do_accept();
            });
            return;
        }
        do_accept();
    });
}

inline void Server::begin_shutdown() {
    if (m_stopping) return;
    m_stopping = true;
    m_shutdown_started = std::chrono::steady_clock::now();
    boost::system::error_code ignored;
    if (m_acceptor) m_acceptor->close(ignored);
    if (m_signals) m_signals->cancel(ignored);
    if (m_accept_retry) m_accept_retry->cancel();
    if (m_stats_timer) m_stats_timer->cancel();
    const bool abort_now = m_options.drain_timeout.count() <= 0;
    for (auto& w : m_sessions)
        if (auto s = w.lock()) s->on_shutdown(abort_now);
    m_shutdown_timer.emplace(*m_ioc);
    shutdown_poll();
}

// Every 10 ms during shutdown: abort what outlived the drain period, and end the loop
// once every connection is closed (force-closing after a further 5 s).
inline void Server::shutdown_poll() {
    const auto elapsed = std::chrono::steady_clock::now() - m_shutdown_started;
    const bool abort_now = elapsed >= m_options.drain_timeout;
    const bool force = elapsed >= m_options.drain_timeout + std::chrono::seconds(5);
    bool any_open = false;
    for (auto& w : m_sessions) {
        if (auto s = w.lock()) {
            if (force)
                s->force_close();
            else
                s->on_shutdown(abort_now);
            any_open = any_open || !s->closed();
        }
    }
    if (!any_open) {
        m_sessions.clear();
        return; // nothing keeps the loop alive any more: run() returns
    }
    m_shutdown_timer->expires_after(std::chrono::milliseconds(10));
    m_shutdown_timer->async_wait([this](const boost::system::error_code& ec) {
        if (!ec) shutdown_poll();
    });
}

inline void Server::push_event(const std::shared_ptr<detail::ServerInbox>& inbox, std::weak_ptr<detail::HttpSession> s,
                               const TokenEvent& ev) {
    std::lock_guard lock(inbox->mutex);
    if (inbox->closed) return;
    const bool was_empty = inbox->items.empty();
    inbox->items.push_back({std::move(s), ev});
    if (was_empty) {
        detail::asio::post(*inbox->ioc, [inbox] {
            std::vector<detail::ServerInbox::Item> batch;
            {
                std::lock_guard lock2(inbox->mutex);
                batch.swap(inbox->items);
                inbox->items.swap(inbox->spare);
            }
            for (auto& item : batch)
                if (auto session = item.session.lock()) session->on_event(item.event);
            if (inbox->after_batch) inbox->after_batch();
            batch.clear();
            std::lock_guard lock2(inbox->mutex);
            if (inbox->spare.capacity() < batch.capacity()) inbox->spare.swap(batch);
        });
    }
}

} // namespace server
LLMEMU_END_NAMESPACE
