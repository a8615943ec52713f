#pragma once
/// \file prometheus.hpp
/// vLLM's /metrics in the Prometheus text exposition format (version 0.0.4): the same
/// metric names, labels (`model_name`, `engine`) and histogram buckets as vLLM's v1
/// metrics logger (vllm/v1/metrics/loggers.py), so dashboards, autoscalers and routers
/// that scrape a real vLLM read an emulated one unchanged.
///
/// Not thread-safe: one owner (the server's event loop) observes and renders.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <cstdio>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"

#if LLMEMU_POSIX
#include <sys/resource.h>
#include <unistd.h>
#endif

LLMEMU_BEGIN_NAMESPACE
namespace metrics {

/// Formats a sample value the way Python's prometheus_client does ("1.0", "0.025", "+Inf").
inline void append_prometheus_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
        out.append(buf, r.ptr);
        out += ".0";
        return;
    }
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

/// Escapes a label value (backslash, double quote, newline).
inline void append_label_value(std::string& out, std::string_view v) {
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

/// A cumulative histogram with fixed upper bounds (an implicit +Inf bucket at the end).
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds) : m_bounds(std::move(bounds)), m_counts(m_bounds.size() + 1, 0) {
        std::sort(m_bounds.begin(), m_bounds.end());
    }

    /// Adds one observation (a value equal to a bound falls into that bound's bucket).
    void observe(double v) noexcept {
        const auto it = std::lower_bound(m_bounds.begin(), m_bounds.end(), v);
        ++m_counts[static_cast<std::size_t>(it - m_bounds.begin())];
        m_sum += v;
        ++m_count;
    }

    [[nodiscard]] const std::vector<double>& bounds() const noexcept { return m_bounds; }
    /// Cumulative count of observations <= bounds()[i] (i == bounds().size(): all).
    [[nodiscard]] std::uint64_t cumulative(std::size_t i) const noexcept {
        std::uint64_t c = 0;
        for (std::size_t k = 0; k <= i && k < m_counts.size(); ++k) c += m_counts[k];
        return c;
    }
    [[nodiscard]] std::uint64_t count() const noexcept { return m_count; }
    [[nodiscard]] double sum() const noexcept { return m_sum; }

private:
    std::vector<double> m_bounds;
    std::vector<std::uint64_t> m_counts;
    double m_sum = 0;
    std::uint64_t m_count = 0;
};

/// vLLM's 1-2-5 buckets (1, 2, 5, 10, 20, 50, ...) up to and including max_value.
inline std::vector<double> buckets_1_2_5(double max_value) {
    std::vector<double> out;
    for (double exponent = 1;; exponent *= 10) {
        for (const double m : {1.0, 2.0, 5.0}) {
            const double v = m * exponent;
            if (v > max_value) return out;
            out.push_back(v);
        }
    }
}

/// Bucket bounds of vLLM's histograms (vllm/v1/metrics/loggers.py).
struct VllmBuckets {
    static std::vector<double> ttft() {
        return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
                1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
    }
    static std::vector<double> tpot() {
        return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
    }
    static std::vector<double> request_latency() {
        return {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
    }
    /// vllm:iteration_tokens_total (tokens per engine step).
    static std::vector<double> iteration_tokens() {
        return {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
    }
    /// vllm:request_params_n.
    static std::vector<double> params_n() { return {1, 2, 5, 10, 20}; }
};

/// Engine-wide values sampled at scrape time (gauges and monotonic counters).
struct EngineMetricsSnapshot {
    std::uint64_t num_requests_running = 0;
    std::uint64_t num_requests_waiting = 0;
    /// Fraction of KV blocks in use, 0..1.
    double kv_cache_usage = 0;
    std::uint64_t prompt_tokens = 0;
    std::uint64_t generation_tokens = 0;
    std::uint64_t num_preemptions = 0;
    std::uint64_t prefix_cache_queries = 0;
    std::uint64_t prefix_cache_hits = 0;
    /// Finished requests per finish reason ("stop", "length", "abort", ...).
    std::map<std::string, std::uint64_t> request_success;
};

/// What the front end observed about one finished request (seconds).
struct RequestObservation {
    double ttft_s = 0;
    double e2e_s = 0;
    /// Arrival to first scheduled step; negative when unknown (not observed).
    double queue_s = -1;
    std::vector<double> itl_s;
    std::uint32_t prompt_tokens = 0;
    std::uint32_t generation_tokens = 0;
    /// The request produced at least one token (TTFT and the phase times are valid).
    bool has_first_token = false;
};

/// A finished request's phases as the engine timed them (vLLM's queue, prefill, decode
/// and inference times, seconds).
struct RequestPhases {
    double queue_s = 0;
    double prefill_s = 0;
    double decode_s = 0;
    double inference_s = 0;
    /// Prompt tokens whose KV the prefill computed (not found in the prefix cache), for
    /// vllm:request_prefill_kv_computed_tokens; negative = not known.
    double prefill_kv_computed_tokens = -1;
    /// The engine that ran it, among several behind one server (its `engine` label).
    std::uint32_t engine = 0;
};

/// Cache configuration shown as vllm:cache_config_info labels.
struct CacheConfigInfo {
    std::uint32_t block_size = 16;
    std::uint64_t num_gpu_blocks = 0;
    bool enable_prefix_caching = true;
    double gpu_memory_utilization = 0.9;
};

/// The full vLLM metric set for one engine, rendered in Prometheus text format.
class VllmMetrics {
public:
    VllmMetrics(std::string model_name, std::string engine, std::uint32_t max_model_len, CacheConfigInfo cache = {})
        : m_model(std::move(model_name)), m_engine(std::move(engine)), m_cache(cache), m_ttft(VllmBuckets::ttft()),
          m_tpot_alias(VllmBuckets::tpot()), m_itl(VllmBuckets::tpot()), m_request_tpot(VllmBuckets::tpot()),
          m_e2e(VllmBuckets::request_latency()), m_queue(VllmBuckets::request_latency()),
          m_inference(VllmBuckets::request_latency()), m_prefill(VllmBuckets::request_latency()),
          m_decode(VllmBuckets::request_latency()),
          m_prompt_len(buckets_1_2_5(std::max<std::uint32_t>(max_model_len, 1))),
          m_generation_len(buckets_1_2_5(std::max<std::uint32_t>(max_model_len, 1))),
          m_iteration_tokens(VllmBuckets::iteration_tokens()),
          m_max_generation(buckets_1_2_5(std::max<std::uint32_t>(max_model_len, 1))),
          m_params_n(VllmBuckets::params_n()),
          m_params_max_tokens(buckets_1_2_5(std::max<std::uint32_t>(max_model_len, 1))),
          m_prefill_kv_computed(buckets_1_2_5(std::max<std::uint32_t>(max_model_len, 1))) {}

    /// Records one finished request's parameters (vLLM: once per request, n children
    /// included): n, max_tokens, and the most tokens any of its choices generated.
    void observe_request_params(std::uint32_t n, std::uint32_t max_tokens, std::uint32_t max_generation_tokens) {
        m_params_n.observe(n);
        if (max_tokens != 0) m_params_max_tokens.observe(max_tokens);
        m_max_generation.observe(max_generation_tokens);
    }

    /// Records the tokens of one engine step that produced output (vLLM's IterationStats:
    /// new tokens plus the whole prompt of each request whose first token it made).
    void observe_iteration(std::uint64_t tokens) { m_iteration_tokens.observe(static_cast<double>(tokens)); }

    /// Records the engine-side phases of one finished request (queue, prefill, decode,
    /// inference); use this or RequestObservation::queue_s, not both.
    void observe_phases(const RequestPhases& p) {
        m_queue.observe(p.queue_s);
        m_prefill.observe(p.prefill_s);
        m_decode.observe(p.decode_s);
        m_inference.observe(p.inference_s);
        if (p.prefill_kv_computed_tokens >= 0) m_prefill_kv_computed.observe(p.prefill_kv_computed_tokens);
    }

    /// Records one finished request in the per-request histograms (the phase histograms
    /// too when queue_s is known).
    void observe(const RequestObservation& r) {
        m_e2e.observe(r.e2e_s);
        m_prompt_len.observe(r.prompt_tokens);
        m_generation_len.observe(r.generation_tokens);
        if (r.has_first_token) m_ttft.observe(r.ttft_s);
        if (r.queue_s >= 0 && r.has_first_token) {
            observe_phases({r.queue_s, std::max(0.0, r.ttft_s - r.queue_s), std::max(0.0, r.e2e_s - r.ttft_s),
                            std::max(0.0, r.e2e_s - r.queue_s)});
        }
        for (const double gap : r.itl_s) {
            m_itl.observe(gap);
            m_tpot_alias.observe(gap);
        }
        if (r.generation_tokens > 1 && r.has_first_token) {
            m_request_tpot.observe((r.e2e_s - r.ttft_s) / static_cast<double>(r.generation_tokens - 1));
        }
    }

    /// Records one inter-token gap (seconds) as it happens, for streams whose gaps are
    /// not kept until the end (RequestObservation::itl_s may then stay empty).
    void observe_inter_token(double gap_s) {
        m_itl.observe(gap_s);
        m_tpot_alias.observe(gap_s);
    }

    [[nodiscard]] const Histogram& ttft() const noexcept { return m_ttft; }
    [[nodiscard]] const Histogram& inter_token() const noexcept { return m_itl; }
    [[nodiscard]] const Histogram& e2e() const noexcept { return m_e2e; }
    [[nodiscard]] const Histogram& queue() const noexcept { return m_queue; }

    /// The whole exposition: gauges and counters from `s`, histograms from observe().
    [[nodiscard]] std::string render(const EngineMetricsSnapshot& s) const {
        return render(std::span<const VllmMetrics>(this, 1), std::span<const EngineMetricsSnapshot>(&s, 1));
    }

    /// Several engines on one page (vLLM with --data-parallel-size N: engine="0" ...
    /// engine="N-1"): each metric's HELP and TYPE once, then every engine's samples, as
    /// prometheus_client groups a metric's children. engines[i] goes with snapshots[i]; the
    /// engines share one model name.
    [[nodiscard]] static std::string render(std::span<const VllmMetrics> engines,
                                            std::span<const EngineMetricsSnapshot> snapshots) {
        std::string out;
        out.reserve(16384 * std::max<std::size_t>(1, engines.size()));
        const std::size_t n = std::min(engines.size(), snapshots.size());
        engines = engines.first(n);
        snapshots = snapshots.first(n);
        auto num = [](std::uint64_t v) { return static_cast<double>(v); };
        gauge(out, "vllm:num_requests_running", "Number of requests in model execution batches.", engines, snapshots,
              [&](const EngineMetricsSnapshot& s) { return num(s.num_requests_running); });
        gauge(out, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", engines, snapshots,
              [&](const EngineMetricsSnapshot& s) { return num(s.num_requests_waiting); });
        gauge(out, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", engines, snapshots,
              [](const EngineMetricsSnapshot& s) { return s.kv_cache_usage; });
        counter(out, "vllm:num_preemptions", "Cumulative number of preemption from the engine.", engines, snapshots,
                [&](const EngineMetricsSnapshot& s) { return num(s.num_preemptions); });
        counter(out, "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
                engines, snapshots, [&](const EngineMetricsSnapshot& s) { return num(s.prefix_cache_queries); });
        counter(out, "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", engines,
                snapshots, [&](const EngineMetricsSnapshot& s) { return num(s.prefix_cache_hits); });
        counter(out, "vllm:prompt_tokens", "Number of prefill tokens processed.", engines, snapshots,
                [&](const EngineMetricsSnapshot& s) { return num(s.prompt_tokens); });
        counter(out, "vllm:generation_tokens", "Number of generation tokens processed.", engines, snapshots,
                [&](const EngineMetricsSnapshot& s) { return num(s.generation_tokens); });
        // request_success: always the three reasons vLLM reports, plus any other seen.
        header(out, "vllm:request_success_total", "Count of successfully processed requests.", "counter");
        for (std::size_t i = 0; i < n; ++i) {
            std::map<std::string, std::uint64_t> reasons{{"stop", 0}, {"length", 0}, {"abort", 0}};
            for (const auto& [k, v] : snapshots[i].request_success) reasons[k] = v;
            for (const auto& [reason, count] : reasons) {
                out += "vllm:request_success_total";
                engines[i].labels(out, "finished_reason", reason);
                out += ' ';
                append_prometheus_number(out, num(count));
                out += '\n';
            }
        }
        histogram(out, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", engines,
                  &VllmMetrics::m_ttft);
        histogram(out, "vllm:time_per_output_token_seconds",
                  "Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds "
                  "instead.",
                  engines, &VllmMetrics::m_tpot_alias);
        histogram(out, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", engines,
                  &VllmMetrics::m_itl);
        histogram(out, "vllm:request_time_per_output_token_seconds",
                  "Histogram of time_per_output_token_seconds per request.", engines, &VllmMetrics::m_request_tpot);
        histogram(out, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", engines,
                  &VllmMetrics::m_e2e);
        histogram(out, "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                  engines, &VllmMetrics::m_queue);
        histogram(out, "vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
                  engines, &VllmMetrics::m_inference);
        histogram(out, "vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
                  engines, &VllmMetrics::m_prefill);
        histogram(out, "vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                  engines, &VllmMetrics::m_decode);
        histogram(out, "vllm:request_prompt_tokens", "Number of prefill tokens processed.", engines,
                  &VllmMetrics::m_prompt_len);
        histogram(out, "vllm:request_generation_tokens", "Number of generation tokens processed.", engines,
                  &VllmMetrics::m_generation_len);
        histogram(out, "vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", engines,
                  &VllmMetrics::m_iteration_tokens);
        histogram(out, "vllm:request_max_num_generation_tokens",
                  "Histogram of maximum number of requested generation tokens.", engines,
                  &VllmMetrics::m_max_generation);
        histogram(out, "vllm:request_params_n", "Histogram of the n request parameter.", engines,
                  &VllmMetrics::m_params_n);
        histogram(out, "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", engines,
                  &VllmMetrics::m_params_max_tokens);
        histogram(out, "vllm:request_prefill_kv_computed_tokens",
                  "Histogram of new KV tokens computed during prefill (excluding cached tokens).", engines,
                  &VllmMetrics::m_prefill_kv_computed);
        // Registered by vLLM 0.12+ whatever the model: text only, no KV connector, never asleep.
        auto zero = [](const EngineMetricsSnapshot&) { return 0.0; };
        counter(out, "vllm:external_prefix_cache_queries",
                "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number "
                "of queried tokens.",
                engines, snapshots, zero);
        counter(out, "vllm:external_prefix_cache_hits",
                "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of "
                "cached tokens.",
                engines, snapshots, zero);
        counter(out, "vllm:mm_cache_queries", "Multi-modal cache queries, in terms of number of queried items.",
                engines, snapshots, zero);
        counter(out, "vllm:mm_cache_hits", "Multi-modal cache hits, in terms of number of cached items.", engines,
                snapshots, zero);
        header(out, "vllm:engine_sleep_state",
               "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; "
               "weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.",
               "gauge");
        for (const auto& e : engines) {
            for (const auto& [state, v] : {std::pair{"awake", 1.0}, {"weights_offloaded", 0.0}, {"discard_all", 0.0}}) {
                out += "vllm:engine_sleep_state";
                e.labels(out, "sleep_state", state);
                out += ' ';
                append_prometheus_number(out, v);
                out += '\n';
            }
        }
        header(out, "vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge");
        for (const auto& e : engines) {
            out += "vllm:cache_config_info{block_size=\"";
            out += std::to_string(e.m_cache.block_size);
            out += "\",cache_dtype=\"auto\",enable_prefix_caching=\"";
            out += e.m_cache.enable_prefix_caching ? "True" : "False";
            out += "\",engine=\"";
            append_label_value(out, e.m_engine);
            out += "\",gpu_memory_utilization=\"";
            append_prometheus_number(out, e.m_cache.gpu_memory_utilization);
            out += "\",num_gpu_blocks=\"";
            out += std::to_string(e.m_cache.num_gpu_blocks);
            out += "\"} 1.0\n";
        }
        return out;
    }

private:
    static void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += ' ';
        out += type;
        out += '\n';
    }
    // {model_name="..",engine=".."[,extra="value"]}
    void labels(std::string& out, std::string_view extra_name = {}, std::string_view extra_value = {}) const {
        out += "{model_name=\"";
        append_label_value(out, m_model);
        out += "\",engine=\"";
        append_label_value(out, m_engine);
        out += '"';
        if (!extra_name.empty()) {
            out += ',';
            out += extra_name;
            out += "=\"";
            out += extra_value;
            out += '"';
        }
        out += '}';
    }
    // One sample per engine under a single HELP/TYPE.
    template <class Value>
    static void samples(std::string& out, std::string_view name, std::span<const VllmMetrics> engines,
                        std::span<const EngineMetricsSnapshot> snapshots, Value value) {
        for (std::size_t i = 0; i < engines.size(); ++i) {
            out += name;
            engines[i].labels(out);
            out += ' ';
            append_prometheus_number(out, value(snapshots[i]));
            out += '\n';
        }
    }
    template <class Value>
    static void gauge(std::string& out, std::string_view name, std::string_view help,
                      std::span<const VllmMetrics> engines, std::span<const EngineMetricsSnapshot> snapshots,
                      Value value) {
        header(out, name, help, "gauge");
        samples(out, name, engines, snapshots, value);
    }
    // Counters are exposed as prometheus_client does: HELP, TYPE and sample all under
    // the `_total` name (what promtool expects).
    template <class Value>
    static void counter(std::string& out, std::string_view name, std::string_view help,
                        std::span<const VllmMetrics> engines, std::span<const EngineMetricsSnapshot> snapshots,
                        Value value) {
        std::string total(name);
        total += "_total";
        header(out, total, help, "counter");
        samples(out, total, engines, snapshots, value);
    }
    static void histogram(std::string& out, std::string_view name, std::string_view help,
                          std::span<const VllmMetrics> engines, Histogram VllmMetrics::*member) {
        header(out, name, help, "histogram");
        std::string le;
        for (const VllmMetrics& e : engines) {
            const Histogram& h = e.*member;
            for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
                le.clear();
                append_prometheus_number(le, i < h.bounds().size() ? h.bounds()[i]
                                                                   : std::numeric_limits<double>::infinity());
                out += name;
                out += "_bucket";
                e.labels(out, "le", le);
                out += ' ';
                append_prometheus_number(out, static_cast<double>(h.cumulative(i)));
                out += '\n';
            }
            out += name;
            out += "_count";
            e.labels(out);
            out += ' ';
            append_prometheus_number(out, static_cast<double>(h.count()));
            out += '\n';
            out += name;
            out += "_sum";
            e.labels(out);
            out += ' ';
            append_prometheus_number(out, h.sum());
            out += '\n';
        }
    }

    std::string m_model;
    std::string m_engine;
    CacheConfigInfo m_cache;
    Histogram m_ttft, m_tpot_alias, m_itl, m_request_tpot, m_e2e, m_queue, m_inference, m_prefill, m_decode,
        m_prompt_len, m_generation_len, m_iteration_tokens, m_max_generation, m_params_n, m_params_max_tokens,
        m_prefill_kv_computed;
};

/// The HTTP metrics vLLM's API server gets from prometheus_fastapi_instrumentator's
/// defaults: `http_requests_total{handler,method,status}` (status grouped as 2xx, 4xx, ...),
/// `http_request_duration_seconds{handler,method}` (buckets 0.1, 0.5, 1) and
/// `http_request_duration_highr_seconds` (no labels, fine buckets). `handler` is the route
/// template; a path no route serves is "none". vLLM excludes /metrics, /health, /load,
/// /ping, /version and /server_info: the caller skips them.
class HttpMetrics {
public:
    /// One answered request: its route, method ("GET", "POST"), status and time from
    /// its arrival to its last byte handed to the connection.
    void observe(std::string_view handler, std::string_view method, int status, double seconds) {
        const char group[] = {static_cast<char>('0' + std::clamp(status / 100, 1, 5)), 'x', 'x', '\0'};
        ++m_requests[{std::string(handler), std::string(method), group}];
        auto it = m_duration.find({std::string(handler), std::string(method)});
        if (it == m_duration.end())
            it = m_duration.emplace(std::pair{std::string(handler), std::string(method)}, Histogram({0.1, 0.5, 1.0}))
                     .first;
        it->second.observe(seconds);
        m_highr.observe(seconds);
    }

    /// Appends the three metrics (HELP/TYPE even before the first request, as
    /// prometheus_client does).
    void render(std::string& out) const {
        out += "# HELP http_requests_total Total number of requests by method, status and handler.\n"
               "# TYPE http_requests_total counter\n";
        for (const auto& [key, n] : m_requests) {
            out += "http_requests_total{handler=\"";
            append_label_value(out, std::get<0>(key));
            out += "\",method=\"";
            append_label_value(out, std::get<1>(key));
            out += "\",status=\"";
            out += std::get<2>(key);
            out += "\"} ";
            append_prometheus_number(out, static_cast<double>(n));
            out += '\n';
        }
        out += "# HELP http_request_duration_highr_seconds Latency with many buckets but no API specific labels. "
               "Made for more accurate percentile calculations.\n"
               "# TYPE http_request_duration_highr_seconds histogram\n";
        append_histogram(out, "http_request_duration_highr_seconds", {}, m_highr);
        out += "# HELP http_request_duration_seconds Latency with only few buckets by handler. Made to be only used "
               "if aggregation by handler is important.\n"
               "# TYPE http_request_duration_seconds histogram\n";
        for (const auto& [key, h] : m_duration) {
            std::string labels = "handler=\"";
            append_label_value(labels, key.first);
            labels += "\",method=\"";
            append_label_value(labels, key.second);
            labels += '"';
            append_histogram(out, "http_request_duration_seconds", labels, h);
        }
    }

private:
    static void append_histogram(std::string& out, std::string_view name, const std::string& labels,
                                 const Histogram& h) {
        auto open = [&](std::string_view suffix) {
            out += name;
            out += suffix;
            out += '{';
            out += labels;
        };
        std::string le;
        for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
            le.clear();
            append_prometheus_number(le,
                                     i < h.bounds().size() ? h.bounds()[i] : std::numeric_limits<double>::infinity());
            open("_bucket");
            out += labels.empty() ? "le=\"" : ",le=\"";
            out += le;
            out += "\"} ";
            append_prometheus_number(out, static_cast<double>(h.cumulative(i)));
            out += '\n';
        }
        for (const bool count : {true, false}) {
            if (labels.empty()) {
                out += name;
                out += count ? "_count " : "_sum ";
            } else {
                open(count ? "_count" : "_sum");
                out += "} ";
            }
            append_prometheus_number(out, count ? static_cast<double>(h.count()) : h.sum());
            out += '\n';
        }
    }

    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> m_requests;
    std::map<std::pair<std::string, std::string>, Histogram> m_duration;
    Histogram m_highr{{0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0,  1.5, 2.0,
                       2.5,  3.0,   3.5,  4.0,   4.5, 5.0,  7.5, 10.0, 30.0, 60.0}};
};

/// Appends the process collector's metrics Python's prometheus_client adds to every vLLM
/// /metrics page (process_cpu_seconds_total, process_resident_memory_bytes), read from
/// getrusage and /proc/self/statm, so load tools can report the server's CPU use.
/// Appends nothing where the system is not POSIX (no getrusage).
inline void append_process_metrics(std::string& out) {
#if LLMEMU_POSIX
    rusage ru{};
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
        out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
               "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ";
        append_prometheus_number(out, cpu);
        out += '\n';
    }
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        unsigned long pages = 0;
        unsigned long resident = 0;
        if (std::fscanf(f, "%lu %lu", &pages, &resident) == 2) {
            out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ";
            append_prometheus_number(out, static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
            out += '\n';
        }
        std::fclose(f);
    }
#else
    (void)out;
#endif
}

/// Reads one unlabelled sample (e.g. process_cpu_seconds_total) from a Prometheus text
/// page; nullopt when absent.
inline std::optional<double> find_prometheus_sample(std::string_view page, std::string_view name) {
    std::size_t pos = 0;
    while (pos < page.size()) {
        auto end = page.find('\n', pos);
        if (end == std::string_view::npos) end = page.size();
        const std::string_view line = page.substr(pos, end - pos);
        pos = end + 1;
        if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == ' ') {
            // The value, then an optional timestamp; the exposition format spells
            // infinities and NaN "+Inf", "-Inf" and "NaN".
            std::string_view value = line.substr(name.size() + 1);
            value = value.substr(0, value.find(' '));
            if (value == "+Inf" || value == "Inf") return std::numeric_limits<double>::infinity();
            if (value == "-Inf") return -std::numeric_limits<double>::infinity();
            if (value == "NaN") return std::numeric_limits<double>::quiet_NaN();
            if (!value.empty() && value.front() == '+') value.remove_prefix(1);
            if (const auto v = parse_number<double>(value)) return v;
        }
    }
    return std::nullopt;
}

} // namespace metrics
LLMEMU_END_NAMESPACE
