#pragma once
/// \file bench_result.hpp
/// A benchmark summary computed exactly as `vllm bench serve` computes it (TTFT, TPOT, ITL,
/// E2EL, throughput, goodput, peak tokens/s and concurrency), and printed in the same shape,
/// so llmemu's numbers can be compared line by line with a real vLLM run.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/metrics/bench_result_sketch.hpp"
#include "llmemu/metrics/request_metrics.hpp"

LLMEMU_BEGIN_NAMESPACE

/// What to summarise: which percentiles (vLLM's --metric-percentiles, default 99) and the
/// service-level objectives for goodput (vLLM's --goodput ttft:MS tpot:MS e2el:MS).
struct SummaryOptions {
    std::vector<double> percentiles{99};
    std::optional<double> slo_ttft_ms, slo_tpot_ms, slo_e2el_ms;
    /// Metrics printed and written with mean/median/std/pNN (vLLM's --percentile-metrics).
    std::vector<std::string> percentile_metrics{"ttft", "tpot", "itl", "e2el"};
    /// Values of one metric held exactly before its percentiles come from a sketch of
    /// relative error MetricDigest::default_relative_error (see bench_result_sketch.hpp).
    std::size_t exact_limit = MetricDigest::default_exact_limit;

    /// Exact values of a part of a run (one replica's or one pool's summary in a fleet):
    /// fewer than the whole run's, so that N replicas' summaries do not hold N times the
    /// whole run's exact buffers at once (each 16 B a value, 4 metrics).
    static constexpr std::size_t part_exact_limit = std::size_t{1} << 14;
    /// These options for a part of a run (exact_limit at most part_exact_limit).
    [[nodiscard]] SummaryOptions for_part() const {
        SummaryOptions o = *this;
        o.exact_limit = std::min(o.exact_limit, part_exact_limit);
        return o;
    }

    [[nodiscard]] bool has_slo() const noexcept {
        return slo_ttft_ms.has_value() || slo_tpot_ms.has_value() || slo_e2el_ms.has_value();
    }
};

/// Mean, median, population standard deviation and the selected percentiles of one metric,
/// in milliseconds (0 for an empty set, as numpy's `np.mean(x or 0)` gives).
struct MetricStats {
    double mean_ms = 0.0;
    double median_ms = 0.0;
    double std_ms = 0.0;
    /// (percentile, value in ms), in the order requested.
    std::vector<std::pair<double, double>> percentiles_ms;
};

/// A whole benchmark's result: vLLM's BenchmarkMetrics plus the per-request lists of its
/// result JSON, plus the run configuration vLLM writes at the top of that file.
struct BenchResult {
    double duration_s = 0.0;
    std::uint64_t completed = 0;
    std::uint64_t failed = 0;
    std::uint64_t total_input_tokens = 0;
    std::uint64_t total_output_tokens = 0;
    double request_throughput = 0.0;
    /// Requests per second that met every SLO; empty when no SLO was given (JSON null).
    std::optional<double> request_goodput;
    /// Requests that met every SLO (0 without SLOs).
    std::uint64_t good_completed = 0;
    double output_throughput = 0.0;
    double total_token_throughput = 0.0;
    MetricStats ttft, tpot, itl, e2el;
    double max_output_tokens_per_s = 0.0;
    std::uint64_t max_concurrent_requests = 0;

    /// Whether the per-request lists below were kept (vLLM's --save-detailed); the result
    /// JSON writes them only then.
    bool detailed = true;
    /// Whether every percentile is exact (else within percentile_relative_error of it).
    bool exact_percentiles = true;
    double percentile_relative_error = MetricDigest::default_relative_error;

    // Per-request lists, in request order (failed requests included, as vLLM writes them).
    std::vector<std::uint32_t> input_lens;
    std::vector<std::uint32_t> output_lens;
    std::vector<double> ttfts;
    std::vector<std::vector<double>> itls;
    std::vector<double> latencies;
    std::vector<double> start_times;
    std::vector<std::string> errors;

    /// The options the summary was computed with.
    SummaryOptions options;

    // Run configuration (vLLM's top-level keys); set by the caller, printed when known.
    /// Configured request rate; empty = inf (all requests at t=0).
    std::optional<double> request_rate;
    double burstiness = 1.0;
    std::optional<std::uint32_t> max_concurrency;
    std::uint64_t num_prompts = 0;
    std::string backend = "llmemu";
    std::string model_id;
    std::string label;
    /// vLLM's "date" (YYYYmmdd-HHMMSS); empty = omitted (virtual runs stay byte-identical).
    std::string date;
};

/// How vLLM names a percentile in keys and labels: "99" for 99.0, "99.9" for 99.9 (the
/// "p99" of "p99_ttft_ms", the "P99" of "P99 TTFT (ms):").
inline std::string metrics_percentile_word(double p) {
    if (std::floor(p) == p && std::abs(p) < 1e15) return std::to_string(static_cast<long long>(p));
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, p);
    return std::string(buf, res.ptr);
}

/// Python's "{s:{c}^{n}}" (centre with fill; the extra fill goes right): the section rules
/// of `vllm bench serve`'s summary, e.g. metrics_center(" llmemu engine ", 50, '-').
inline std::string metrics_center(std::string_view s, std::size_t width, char fill) {
    if (s.size() >= width) return std::string(s);
    const std::size_t pad = width - s.size();
    const std::size_t left = pad / 2;
    return std::string(left, fill) + std::string(s) + std::string(pad - left, fill);
}

namespace detail {

/// Stats of a digest of values in seconds, reported in milliseconds (numpy semantics,
/// ddof = 0; an empty digest gives zeros, as `np.mean([] or 0)` does).
inline MetricStats metrics_stats(MetricDigest& d, const std::vector<double>& percentiles) {
    MetricStats s;
    s.mean_ms = d.mean() * 1000.0;
    s.std_ms = d.stddev() * 1000.0;
    s.median_ms = d.percentile(50.0) * 1000.0;
    for (double p : percentiles) s.percentiles_ms.emplace_back(p, d.percentile(p) * 1000.0);
    return s;
}

/// Stats of a sample in seconds, reported in milliseconds (numpy semantics, ddof = 0).
inline MetricStats metrics_stats(const std::vector<double>& values_s, const std::vector<double>& percentiles) {
    MetricDigest d(values_s.size() + 1);
    for (double v : values_s) d.add(v);
    return metrics_stats(d, percentiles);
}

[[noreturn, gnu::cold]] inline void metrics_throw_bad(const std::string& what) {
    throw_error<config_error>(what);
}

inline void metrics_line(std::ostream& os, std::string_view label, double value) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-40.*s %-10.2f\n", static_cast<int>(label.size()), label.data(), value);
    os << buf;
}
inline void metrics_line(std::ostream& os, std::string_view label, std::uint64_t value) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-40.*s %-10llu\n", static_cast<int>(label.size()), label.data(),
                  static_cast<unsigned long long>(value));
    os << buf;
}

} // namespace detail

/// Parses vLLM's goodput / SLO syntax "ttft:MS,tpot:MS,e2el:MS" (also space separated) into
/// `opts`. Throws config_error naming the bad pair and the fix.
inline void parse_slo(std::string_view spec, SummaryOptions& opts) {
    std::size_t pos = 0;
    bool any = false;
    while (pos <= spec.size()) {
        std::size_t end = spec.find_first_of(", ", pos);
        if (end == std::string_view::npos) end = spec.size();
        const std::string_view pair = spec.substr(pos, end - pos);
        pos = end + 1;
        if (pair.empty()) {
            if (end == spec.size()) break;
            continue;
        }
        const std::size_t colon = pair.find(':');
        const std::string_view name = pair.substr(0, colon);
        double value = 0.0;
        bool ok = colon != std::string_view::npos;
        if (ok) {
            const auto v = parse_number<double>(pair.substr(colon + 1));
            ok = v && *v >= 0.0;
            if (ok) value = *v;
        }
        if (!ok)
            detail::metrics_throw_bad("SLO '" + std::string(pair) +
                                      "': expected KEY:MS with KEY one of ttft, tpot, e2el and MS a "
                                      "non-negative number of milliseconds, e.g. ttft:500,tpot:50");
        if (name == "ttft")
            opts.slo_ttft_ms = value;
        else if (name == "tpot")
            opts.slo_tpot_ms = value;
        else if (name == "e2el")
            opts.slo_e2el_ms = value;
        else
            detail::metrics_throw_bad("SLO '" + std::string(pair) + "': unknown metric '" + std::string(name) +
                                      "'; use ttft, tpot or e2el");
        any = true;
        if (end == spec.size()) break;
    }
    if (!any) detail::metrics_throw_bad("SLO '': give at least one KEY:MS pair, e.g. ttft:500,tpot:50");
}

/// Parses a percentile list "50,90,99" (each in [0, 100]).
inline std::vector<double> parse_percentiles(std::string_view spec) {
    std::vector<double> out;
    std::size_t pos = 0;
    while (pos <= spec.size()) {
        std::size_t end = spec.find(',', pos);
        if (end == std::string_view::npos) end = spec.size();
        const std::string_view num = spec.substr(pos, end - pos);
        const auto v = parse_number<double>(num);
        if (!v || !(*v >= 0.0 && *v <= 100.0))
            detail::metrics_throw_bad("percentiles '" + std::string(spec) + "': '" + std::string(num) +
                                      "' is not a number in [0, 100]; give a list like 50,90,99");
        out.push_back(*v);
        pos = end + 1;
        if (end == spec.size()) break;
    }
    return out;
}

namespace detail {

/// The peak of requests in flight over half-open [start, end) intervals given as +1/-1
/// events, applied in time order (ends before starts at equal times). Events may come out
/// of order up to a watermark: advance(t) applies every event before t, which the caller
/// promises no later event will precede.
class ConcurrencyPeak {
public:
    void push(std::int64_t t, int delta) { m_pending.push(Event{t, delta}); }
    void advance(std::int64_t watermark) {
        while (!m_pending.empty() && m_pending.top().t < watermark) {
            m_cur += m_pending.top().delta;
            m_peak = std::max(m_peak, m_cur);
            m_pending.pop();
        }
    }
    [[nodiscard]] std::uint64_t peak() {
        advance(std::numeric_limits<std::int64_t>::max());
        return static_cast<std::uint64_t>(m_peak);
    }

private:
    struct Event {
        std::int64_t t;
        int delta;
        bool operator>(const Event& o) const noexcept { return t != o.t ? t > o.t : delta > o.delta; }
    };
    std::priority_queue<Event, std::vector<Event>, std::greater<>> m_pending;
    std::int64_t m_cur = 0, m_peak = 0;
};

/// Output tokens per whole second since an anchor, keeping only the peak: O(1) memory when
/// tokens come in time order (a simulation), a map of the seconds seen otherwise.
class TokenRatePeak {
public:
    void add(std::int64_t second, double n) {
        if (!m_late.empty()) {
            m_late[second] += n;
            return;
        }
        if (!m_any) {
            m_any = true;
            m_second = second;
        }
        if (second == m_second) {
            m_count += n;
        } else if (second > m_second) {
            m_peak = std::max(m_peak, m_count);
            m_second = second;
            m_count = n;
        } else { // out of time order: from now on, a map of the seconds seen
            m_late[m_second] = m_count;
            m_count = 0.0;
            m_late[second] += n;
        }
    }
    [[nodiscard]] double peak() const {
        double p = std::max(m_peak, m_count);
        for (const auto& [sec, n] : m_late) p = std::max(p, n);
        return p;
    }

private:
    bool m_any = false;
    std::int64_t m_second = 0;
    double m_count = 0.0, m_peak = 0.0;
    std::map<std::int64_t, double> m_late;
};

inline std::int64_t metrics_ns(double s) {
    return static_cast<std::int64_t>(std::llround(s * 1e9));
}

} // namespace detail

/// A vLLM benchmark summary built as requests finish, in memory that does not grow with
/// the run: counts and sums exact, each metric in a MetricDigest (exact up to
/// SummaryOptions::exact_limit values, then percentiles within the digest's relative
/// error), peak output tokens per second and peak concurrency kept as running maxima.
/// Per-request lists only with `detailed` (vLLM's --save-detailed).
///
/// A driver calls started() for each request as it is sent (in send order; the first one
/// anchors the per-second token buckets, so it must be the run's earliest successful
/// start: in a simulation, the first accepted request), tokens() as output tokens appear
/// (time order), itl() with inter-token gaps (a gap may stand for many tokens), add() as
/// each request ends, and advance(now) when no later event can be earlier than `now`.
/// Requests given to add() that were never started() (refused on arrival) count as
/// failures only.
class StreamingSummary {
public:
    explicit StreamingSummary(SummaryOptions opts = {}, bool detailed = false)
        : m_opts(std::move(opts)), m_detailed(detailed), m_ttft(m_opts.exact_limit), m_tpot(m_opts.exact_limit),
          m_itl(m_opts.exact_limit), m_e2el(m_opts.exact_limit) {}

    /// A request was sent at `start` (since the run's origin).
    void started(std::chrono::nanoseconds start) {
        if (!m_anchored) {
            m_anchored = true;
            m_anchor = start.count();
        }
        m_conc.push(start.count(), +1);
    }
    /// `n` output tokens reached their clients at `time`.
    void tokens(std::chrono::nanoseconds time, std::uint64_t n) {
        if (n == 0) return;
        if (!m_anchored) detail::metrics_throw_bad("StreamingSummary: tokens before any request was started()");
        const std::int64_t off = time.count() - m_anchor;
        if (off < 0) return;
        m_rate.add(off / 1000000000LL, static_cast<double>(n));
    }
    /// `n` inter-token gaps of `gap` each.
    void itl(std::chrono::nanoseconds gap, std::uint64_t n = 1) { m_itl.add(detail::metrics_seconds(gap), n); }
    /// Events before `now` are final.
    void advance(std::chrono::nanoseconds now) {
        // A microsecond of slack: end times come back from seconds through a double.
        m_conc.advance(now.count() - 1000);
    }

    /// A request ended as `t` describes (its itl_s is used only for the detailed lists;
    /// give the gaps to itl()). `started_` says whether started() was called for it;
    /// `order` sorts the detailed lists (request id).
    void add(const RequestTiming& t, bool started_ = true, std::uint64_t order = 0) {
        const std::int64_t start_ns = detail::metrics_ns(t.start_time_s);
        if (m_detailed) m_rows.push_back(Row{order, t});
        if (!t.success) {
            ++m_failed;
            if (started_) m_conc.push(start_ns, -1); // withdraw its start
            if (m_errors_seen < 10 && !t.error.empty()) {
                m_first_errors.push_back(t.error);
                ++m_errors_seen;
            }
            return;
        }
        const std::uint32_t out_len = t.output_len == 0 ? 1U : t.output_len;
        m_input += t.prompt_len;
        m_output += out_len;
        double tpot = 0.0;
        if (out_len > 1) {
            tpot = (t.latency_s - t.ttft_s) / static_cast<double>(out_len - 1);
            m_tpot.add(tpot);
        }
        m_ttft.add(t.ttft_s);
        m_e2el.add(t.latency_s);
        ++m_completed;
        if (m_opts.has_slo()) {
            bool good = true;
            if (m_opts.slo_ttft_ms) good = good && *m_opts.slo_ttft_ms / 1000.0 >= t.ttft_s;
            if (m_opts.slo_tpot_ms) good = good && *m_opts.slo_tpot_ms / 1000.0 >= tpot;
            if (m_opts.slo_e2el_ms) good = good && *m_opts.slo_e2el_ms / 1000.0 >= t.latency_s;
            if (good) ++m_good;
        }
        if (started_) m_conc.push(start_ns + detail::metrics_ns(t.latency_s), -1);
    }

    [[nodiscard]] std::uint64_t completed() const noexcept { return m_completed; }
    [[nodiscard]] std::uint64_t failed() const noexcept { return m_failed; }
    [[nodiscard]] const SummaryOptions& options() const noexcept { return m_opts; }

    /// The summary over a run of `duration_s` seconds (positive, finite).
    [[nodiscard]] BenchResult result(double duration_s) {
        if (!(duration_s > 0.0) || !std::isfinite(duration_s))
            detail::metrics_throw_bad("benchmark duration " + std::to_string(duration_s) +
                                      " s: a summary needs a positive, finite duration");
        BenchResult r;
        r.options = m_opts;
        r.duration_s = duration_s;
        r.completed = m_completed;
        r.failed = m_failed;
        r.total_input_tokens = m_input;
        r.total_output_tokens = m_output;
        if (m_opts.has_slo()) {
            r.good_completed = m_good;
            r.request_goodput = static_cast<double>(m_good) / duration_s;
        }
        r.max_output_tokens_per_s = m_completed > 0 ? m_rate.peak() : 0.0;
        r.max_concurrent_requests = m_completed > 0 ? m_conc.peak() : 0;
        r.request_throughput = static_cast<double>(r.completed) / duration_s;
        r.output_throughput = static_cast<double>(r.total_output_tokens) / duration_s;
        r.total_token_throughput = static_cast<double>(r.total_input_tokens + r.total_output_tokens) / duration_s;
        r.ttft = detail::metrics_stats(m_ttft, m_opts.percentiles);
        r.tpot = detail::metrics_stats(m_tpot, m_opts.percentiles);
        r.itl = detail::metrics_stats(m_itl, m_opts.percentiles);
        r.e2el = detail::metrics_stats(m_e2el, m_opts.percentiles);
        r.exact_percentiles = m_ttft.exact() && m_tpot.exact() && m_itl.exact() && m_e2el.exact();
        r.percentile_relative_error = m_itl.relative_error();
        r.detailed = m_detailed;
        if (m_detailed) {
            std::stable_sort(m_rows.begin(), m_rows.end(),
                             [](const Row& a, const Row& b) { return a.order < b.order; });
            for (const auto& row : m_rows) {
                const RequestTiming& t = row.t;
                r.input_lens.push_back(t.prompt_len);
                r.output_lens.push_back(t.success ? (t.output_len == 0 ? 1U : t.output_len) : 0U);
                r.ttfts.push_back(t.ttft_s);
                r.itls.push_back(t.itl_s);
                r.latencies.push_back(t.latency_s);
                r.start_times.push_back(t.start_time_s);
                r.errors.push_back(t.error);
            }
        } else {
            r.errors = m_first_errors; // what print_summary shows of the failures
        }
        return r;
    }

    /// The digests (for tests and tools).
    [[nodiscard]] const MetricDigest& itl_digest() const noexcept { return m_itl; }
    [[nodiscard]] const MetricDigest& ttft_digest() const noexcept { return m_ttft; }
    [[nodiscard]] const MetricDigest& tpot_digest() const noexcept { return m_tpot; }
    [[nodiscard]] const MetricDigest& e2el_digest() const noexcept { return m_e2el; }

private:
    struct Row {
        std::uint64_t order;
        RequestTiming t;
    };
    SummaryOptions m_opts;
    bool m_detailed;
    MetricDigest m_ttft, m_tpot, m_itl, m_e2el;
    std::uint64_t m_completed = 0, m_failed = 0, m_good = 0, m_input = 0, m_output = 0;
    bool m_anchored = false;
    std::int64_t m_anchor = 0;
    detail::ConcurrencyPeak m_conc;
    detail::TokenRatePeak m_rate;
    std::vector<Row> m_rows;
    std::vector<std::string> m_first_errors;
    std::size_t m_errors_seen = 0;
};

/// Summarises per-request timings over a run of `duration_s` seconds exactly as vLLM's
/// calculate_metrics does: TTFT/E2EL over successful requests, TPOT = (E2EL - TTFT) /
/// (output_len - 1) for requests with more than one output token, ITL pooled over requests,
/// goodput = requests meeting every SLO / duration, peak output tokens per whole second and
/// peak concurrency (half-open [start, start + latency) intervals). Keeps the per-request
/// lists (r.detailed) and every value exact (whatever opts.exact_limit). Memory: the timings' own,
/// plus one entry per second that saw a token.
inline BenchResult summarize(const std::vector<RequestTiming>& timings, double duration_s,
                             const SummaryOptions& opts = {}) {
    if (!(duration_s > 0.0) || !std::isfinite(duration_s))
        detail::metrics_throw_bad("benchmark duration " + std::to_string(duration_s) +
                                  " s: a summary needs a positive, finite duration");
    // Every value is at hand here: keep them all exact, whatever opts.exact_limit says.
    std::size_t num_itls = 0;
    for (const auto& t : timings) num_itls += t.success ? t.itl_s.size() : 0;
    SummaryOptions exact = opts;
    exact.exact_limit = std::max({opts.exact_limit, timings.size(), num_itls}) + 1;
    StreamingSummary acc(exact, /*detailed=*/true);
    double min_start = 0.0;
    bool any_success = false;
    std::uint64_t order = 0;
    for (const auto& t : timings) {
        acc.add(t, /*started_=*/false, order++);
        if (!t.success) continue;
        min_start = any_success ? std::min(min_start, t.start_time_s) : t.start_time_s;
        any_success = true;
    }
    BenchResult r = acc.result(duration_s);
    {
        MetricDigest itl(exact.exact_limit);
        for (const auto& t : timings)
            if (t.success)
                for (double g : t.itl_s) itl.add(g);
        r.itl = detail::metrics_stats(itl, opts.percentiles);
        r.exact_percentiles = r.exact_percentiles && itl.exact();
        r.options = opts;
    }
    if (any_success) {
        detail::TokenRatePeak rate;
        detail::ConcurrencyPeak conc;
        for (const auto& t : timings) {
            if (!t.success) continue;
            double now = t.start_time_s + t.ttft_s;
            auto add = [&](double when) {
                const double off = when - min_start;
                if (off < 0.0) return;
                rate.add(static_cast<std::int64_t>(off), 1.0);
            };
            add(now);
            for (double gap : t.itl_s) {
                now += gap;
                add(now);
            }
            conc.push(detail::metrics_ns(t.start_time_s), +1);
            conc.push(detail::metrics_ns(t.start_time_s + t.latency_s), -1);
        }
        r.max_output_tokens_per_s = rate.peak();
        r.max_concurrent_requests = conc.peak();
    }
    return r;
}

/// The stats of metric `name` ("ttft", "tpot", "itl" or "e2el").
inline const MetricStats& metric_stats(const BenchResult& r, std::string_view name) {
    if (name == "ttft") return r.ttft;
    if (name == "tpot") return r.tpot;
    if (name == "itl") return r.itl;
    if (name == "e2el") return r.e2el;
    detail::metrics_throw_bad("metric '" + std::string(name) + "': use ttft, tpot, itl or e2el");
}

/// Prints the summary in the shape of `vllm bench serve`'s output (same labels, same
/// 40/10-column layout, same section rules); `title` replaces " Serving Benchmark Result ".
inline void print_summary(std::ostream& os, const BenchResult& r,
                          std::string_view title = " Serving Benchmark Result ") {
    using detail::metrics_line;
    if (r.failed > 0) {
        os << "Failed requests during benchmark run detected (capping to 10):\n";
        std::size_t shown = 0;
        for (const auto& e : r.errors) {
            if (e.empty()) continue;
            os << "Error " << shown << ": " << e << '\n';
            if (++shown == 10) break;
        }
    }
    os << metrics_center(title, 50, '=') << '\n';
    metrics_line(os, "Successful requests:", r.completed);
    metrics_line(os, "Failed requests:", r.failed);
    if (r.max_concurrency) metrics_line(os, "Maximum request concurrency:", std::uint64_t{*r.max_concurrency});
    if (r.request_rate) metrics_line(os, "Request rate configured (RPS):", *r.request_rate);
    metrics_line(os, "Benchmark duration (s):", r.duration_s);
    metrics_line(os, "Total input tokens:", r.total_input_tokens);
    metrics_line(os, "Total generated tokens:", r.total_output_tokens);
    metrics_line(os, "Request throughput (req/s):", r.request_throughput);
    if (r.request_goodput) metrics_line(os, "Request goodput (req/s):", *r.request_goodput);
    metrics_line(os, "Output token throughput (tok/s):", r.output_throughput);
    metrics_line(os, "Peak output token throughput (tok/s):", r.max_output_tokens_per_s);
    metrics_line(os, "Peak concurrent requests:", static_cast<double>(r.max_concurrent_requests));
    metrics_line(os, "Total token throughput (tok/s):", r.total_token_throughput);
    struct Section {
        const char* key;
        const char* name;
        const char* header;
    };
    static constexpr Section sections[] = {
        {"ttft", "TTFT", "Time to First Token"},
        {"tpot", "TPOT", "Time per Output Token (excl. 1st token)"},
        {"itl", "ITL", "Inter-token Latency"},
        {"e2el", "E2EL", "End-to-end Latency"},
    };
    for (const auto& s : sections) {
        if (std::find(r.options.percentile_metrics.begin(), r.options.percentile_metrics.end(), s.key) ==
            r.options.percentile_metrics.end())
            continue;
        const MetricStats& m = metric_stats(r, s.key);
        os << metrics_center(s.header, 50, '-') << '\n';
        auto label = [&s](std::string_view what) {
            std::string l(what);
            l.append(" ").append(s.name).append(" (ms):");
            return l;
        };
        metrics_line(os, label("Mean"), m.mean_ms);
        metrics_line(os, label("Median"), m.median_ms);
        for (const auto& [p, v] : m.percentiles_ms)
            metrics_line(os, label(std::string("P").append(metrics_percentile_word(p))), v);
    }
    os << std::string(50, '=') << '\n';
}

LLMEMU_END_NAMESPACE
