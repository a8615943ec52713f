#pragma once
/// \file bench_result.hpp
/// A benchmark summary computed exactly as `vllm bench serve` computes it (TTFT, TPOT, ITL,
/// E2EL, throughput, goodput, peak tokens/s and concurrency), and printed in the same shape,
/// so llmemu's numbers can be compared line by line with a real vLLM run.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/metrics/request_metrics.hpp"

namespace llmemu {

/// What to summarise: which percentiles (vLLM's --metric-percentiles, default 99) and the
/// service-level objectives for goodput (vLLM's --goodput ttft:MS tpot:MS e2el:MS).
struct SummaryOptions {
    std::vector<double> percentiles{99};
    std::optional<double> slo_ttft_ms, slo_tpot_ms, slo_e2el_ms;
    /// Metrics printed and written with mean/median/std/pNN (vLLM's --percentile-metrics).
    std::vector<std::string> percentile_metrics{"ttft", "tpot", "itl", "e2el"};

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

namespace detail {

/// numpy.percentile with the default linear interpolation over a SORTED sample.
inline double metrics_percentile_sorted(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0.0;
    const double idx = p / 100.0 * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(idx));
    const auto hi = static_cast<std::size_t>(std::ceil(idx));
    const double frac = idx - static_cast<double>(lo);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

/// Stats of a sample in seconds, reported in milliseconds (numpy semantics, ddof = 0).
inline MetricStats metrics_stats(std::vector<double> values_s, const std::vector<double>& percentiles) {
    MetricStats s;
    if (values_s.empty()) values_s.push_back(0.0); // np.mean([] or 0) == 0
    double sum = 0.0;
    for (double v : values_s) sum += v;
    const double mean = sum / static_cast<double>(values_s.size());
    double sq = 0.0;
    for (double v : values_s) sq += (v - mean) * (v - mean);
    std::sort(values_s.begin(), values_s.end());
    s.mean_ms = mean * 1000.0;
    s.std_ms = std::sqrt(sq / static_cast<double>(values_s.size())) * 1000.0;
    s.median_ms = metrics_percentile_sorted(values_s, 50.0) * 1000.0;
    for (double p : percentiles) s.percentiles_ms.emplace_back(p, metrics_percentile_sorted(values_s, p) * 1000.0);
    return s;
}

/// How vLLM names a percentile in keys and labels: "99" for 99.0, "99.9" for 99.9.
inline std::string metrics_percentile_word(double p) {
    if (std::floor(p) == p && std::abs(p) < 1e15) return std::to_string(static_cast<long long>(p));
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, p);
    return std::string(buf, res.ptr);
}

[[noreturn, gnu::cold]] inline void metrics_throw_bad(const std::string& what) {
    throw_error<config_error>(what);
}

/// Python's "{s:{c}^{n}}" (centre with fill; the extra fill goes right).
inline std::string metrics_center(std::string_view s, std::size_t width, char fill) {
    if (s.size() >= width) return std::string(s);
    const std::size_t pad = width - s.size();
    const std::size_t left = pad / 2;
    return std::string(left, fill) + std::string(s) + std::string(pad - left, fill);
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
            const std::string_view num = pair.substr(colon + 1);
            const auto res = std::from_chars(num.data(), num.data() + num.size(), value);
            ok = res.ec == std::errc() && res.ptr == num.data() + num.size() && std::isfinite(value) && value >= 0.0;
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
        double v = 0.0;
        const auto res = std::from_chars(num.data(), num.data() + num.size(), v);
        if (num.empty() || res.ec != std::errc() || res.ptr != num.data() + num.size() || !(v >= 0.0 && v <= 100.0))
            detail::metrics_throw_bad("percentiles '" + std::string(spec) + "': '" + std::string(num) +
                                      "' is not a number in [0, 100]; give a list like 50,90,99");
        out.push_back(v);
        pos = end + 1;
        if (end == spec.size()) break;
    }
    return out;
}

/// Summarises per-request timings over a run of `duration_s` seconds exactly as vLLM's
/// calculate_metrics does: TTFT/E2EL over successful requests, TPOT = (E2EL - TTFT) /
/// (output_len - 1) for requests with more than one output token, ITL pooled over requests,
/// goodput = requests meeting every SLO / duration, peak output tokens per whole second and
/// peak concurrency (half-open [start, start + latency) intervals).
inline BenchResult summarize(const std::vector<RequestTiming>& timings, double duration_s,
                             const SummaryOptions& opts = {}) {
    if (!(duration_s > 0.0) || !std::isfinite(duration_s))
        detail::metrics_throw_bad("benchmark duration " + std::to_string(duration_s) +
                                  " s: a summary needs a positive, finite duration");
    BenchResult r;
    r.options = opts;
    r.duration_s = duration_s;
    std::vector<double> ttfts, tpots, all_tpots, itls, e2els;
    double min_start = 0.0, max_end = 0.0;
    bool any_success = false;
    for (const auto& t : timings) {
        r.input_lens.push_back(t.prompt_len);
        r.ttfts.push_back(t.ttft_s);
        r.itls.push_back(t.itl_s);
        r.latencies.push_back(t.latency_s);
        r.start_times.push_back(t.start_time_s);
        r.errors.push_back(t.error);
        if (!t.success) {
            r.output_lens.push_back(0);
            ++r.failed;
            continue;
        }
        const std::uint32_t out_len = t.output_len == 0 ? 1U : t.output_len; // vLLM: no count -> 1
        r.output_lens.push_back(out_len);
        r.total_input_tokens += t.prompt_len;
        r.total_output_tokens += out_len;
        double tpot = 0.0;
        if (out_len > 1) {
            tpot = (t.latency_s - t.ttft_s) / static_cast<double>(out_len - 1);
            tpots.push_back(tpot);
        }
        all_tpots.push_back(tpot);
        itls.insert(itls.end(), t.itl_s.begin(), t.itl_s.end());
        ttfts.push_back(t.ttft_s);
        e2els.push_back(t.latency_s);
        ++r.completed;
        if (!any_success) {
            min_start = t.start_time_s;
            max_end = t.start_time_s + t.latency_s;
            any_success = true;
        } else {
            min_start = std::min(min_start, t.start_time_s);
            max_end = std::max(max_end, t.start_time_s + t.latency_s);
        }
    }
    if (opts.has_slo()) {
        for (std::size_t i = 0; i < ttfts.size(); ++i) {
            bool good = true;
            if (opts.slo_ttft_ms) good = good && *opts.slo_ttft_ms / 1000.0 >= ttfts[i];
            if (opts.slo_tpot_ms) good = good && *opts.slo_tpot_ms / 1000.0 >= all_tpots[i];
            if (opts.slo_e2el_ms) good = good && *opts.slo_e2el_ms / 1000.0 >= e2els[i];
            if (good) ++r.good_completed;
        }
        r.request_goodput = static_cast<double>(r.good_completed) / duration_s;
    }
    if (any_success) {
        const auto seconds = static_cast<std::size_t>(std::ceil(max_end - min_start)) + 1;
        std::vector<double> tokens_per_second(seconds, 0.0);
        struct Event {
            double t;
            int delta;
        };
        std::vector<Event> events;
        for (const auto& t : timings) {
            if (!t.success) continue;
            double now = t.start_time_s + t.ttft_s;
            auto add = [&](double when) {
                const double off = when - min_start;
                if (off < 0.0) return;
                const auto b = static_cast<std::size_t>(off);
                if (b < seconds) tokens_per_second[b] += 1.0;
            };
            add(now);
            for (double gap : t.itl_s) {
                now += gap;
                add(now);
            }
            events.push_back({t.start_time_s, +1});
            events.push_back({t.start_time_s + t.latency_s, -1});
        }
        std::sort(events.begin(), events.end(),
                  [](const Event& a, const Event& b) { return a.t != b.t ? a.t < b.t : a.delta < b.delta; });
        std::int64_t cur = 0, peak = 0;
        for (const auto& e : events) {
            cur += e.delta;
            peak = std::max(peak, cur);
        }
        r.max_output_tokens_per_s = *std::max_element(tokens_per_second.begin(), tokens_per_second.end());
        r.max_concurrent_requests = static_cast<std::uint64_t>(peak);
    }
    r.request_throughput = static_cast<double>(r.completed) / duration_s;
    r.output_throughput = static_cast<double>(r.total_output_tokens) / duration_s;
    r.total_token_throughput = static_cast<double>(r.total_input_tokens + r.total_output_tokens) / duration_s;
    r.ttft = detail::metrics_stats(std::move(ttfts), opts.percentiles);
    r.tpot = detail::metrics_stats(std::move(tpots), opts.percentiles);
    r.itl = detail::metrics_stats(std::move(itls), opts.percentiles);
    r.e2el = detail::metrics_stats(std::move(e2els), opts.percentiles);
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
    os << detail::metrics_center(title, 50, '=') << '\n';
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
        os << detail::metrics_center(s.header, 50, '-') << '\n';
        auto label = [&s](std::string_view what) {
            std::string l(what);
            l.append(" ").append(s.name).append(" (ms):");
            return l;
        };
        metrics_line(os, label("Mean"), m.mean_ms);
        metrics_line(os, label("Median"), m.median_ms);
        for (const auto& [p, v] : m.percentiles_ms)
            metrics_line(os, label(std::string("P").append(detail::metrics_percentile_word(p))), v);
    }
    os << std::string(50, '=') << '\n';
}

} // namespace llmemu
