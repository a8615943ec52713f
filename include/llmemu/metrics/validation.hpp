#pragma once
/// \file validation.hpp
/// Emulated-versus-real accuracy, as LLM-Emu reports it: per request rate, the signed %
/// error of the mean TTFT, TPOT, ITL and E2E latency and of the output token throughput
/// ((emu - real) / real * 100; LLM-Emu's per_rate_deltas.csv), and the largest absolute
/// error over rates (the paper's Table 1). For one run with per-request records on both
/// sides (compare_distributions): mean, median, p90 and p99 of TTFT, TPOT and E2E, real,
/// ours and % error, plus the two-sample Kolmogorov-Smirnov distance of per-request TTFT
/// and E2E. Over K emulated replicates (compare_distributions of a span): each statistic's
/// replicate mean with its 95 % interval and whether the real value lies inside it.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/interval.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The numbers of one benchmark result that validation compares.
struct ValidationPoint {
    /// Configured request rate (inf for all-at-once).
    double request_rate = 0.0;
    double ttft_mean_ms = 0.0;
    double tpot_mean_ms = 0.0;
    double itl_mean_ms = 0.0;
    double e2el_mean_ms = 0.0;
    /// Output tokens per second ("TPS" in LLM-Emu's tables; vLLM's output_throughput).
    double output_throughput = 0.0;
    /// Where it came from (file name), for messages.
    std::string source;
};

/// Signed % errors at one rate (NaN where the real value is 0 or unknown).
struct ValidationDelta {
    double rate = 0.0;
    double ttft_pct = 0.0, tpot_pct = 0.0, itl_pct = 0.0, e2e_pct = 0.0, tps_pct = 0.0;
};

/// Per-rate deltas in ascending rate order, and the max |delta| per metric over rates.
struct ValidationReport {
    std::vector<ValidationDelta> rows;
    ValidationDelta max_abs;
};

namespace detail {
inline double metrics_pct(double real, double emu) {
    if (!std::isfinite(real) || !std::isfinite(emu) || real == 0.0) return std::numeric_limits<double>::quiet_NaN();
    return (emu - real) / real * 100.0;
}
inline double metrics_max_abs(double acc, double v) {
    return std::isnan(v) ? acc : std::max(acc, std::abs(v));
}
inline std::string metrics_rate_text(double r) {
    if (std::isinf(r)) return "inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", r);
    return buf;
}
inline std::string metrics_pct_text(double v, const char* fmt) {
    if (std::isnan(v)) return "nan";
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, v);
    return buf;
}
} // namespace detail

/// Pairs `real` and `emu` results by request rate and computes the deltas. Throws
/// config_error when a rate appears twice on one side or has no partner on the other.
inline ValidationReport compare_results(const std::vector<ValidationPoint>& real,
                                        const std::vector<ValidationPoint>& emu) {
    auto index = [](const std::vector<ValidationPoint>& pts, const char* side) {
        std::map<double, const ValidationPoint*> m;
        for (const auto& p : pts) {
            auto [it, fresh] = m.emplace(p.request_rate, &p);
            if (!fresh)
                detail::throw_error<config_error>(std::string(side) + " results '" + it->second->source + "' and '" +
                                                  p.source + "' both have request rate " +
                                                  detail::metrics_rate_text(p.request_rate) +
                                                  "; give one result per rate");
        }
        return m;
    };
    const auto r = index(real, "--real");
    const auto e = index(emu, "--emu");
    if (r.empty()) detail::throw_error<config_error>("no --real results to compare; give --real A.json[,B.json...]");
    ValidationReport rep;
    for (const auto& [rate, rp] : r) {
        const auto it = e.find(rate);
        if (it == e.end())
            detail::throw_error<config_error>("--real result '" + rp->source + "' (request rate " +
                                              detail::metrics_rate_text(rate) +
                                              ") has no --emu result at the same rate; add one or drop it");
        const ValidationPoint& ep = *it->second;
        ValidationDelta d;
        d.rate = rate;
        d.ttft_pct = detail::metrics_pct(rp->ttft_mean_ms, ep.ttft_mean_ms);
        d.tpot_pct = detail::metrics_pct(rp->tpot_mean_ms, ep.tpot_mean_ms);
        d.itl_pct = detail::metrics_pct(rp->itl_mean_ms, ep.itl_mean_ms);
        d.e2e_pct = detail::metrics_pct(rp->e2el_mean_ms, ep.e2el_mean_ms);
        d.tps_pct = detail::metrics_pct(rp->output_throughput, ep.output_throughput);
        rep.max_abs.ttft_pct = detail::metrics_max_abs(rep.max_abs.ttft_pct, d.ttft_pct);
        rep.max_abs.tpot_pct = detail::metrics_max_abs(rep.max_abs.tpot_pct, d.tpot_pct);
        rep.max_abs.itl_pct = detail::metrics_max_abs(rep.max_abs.itl_pct, d.itl_pct);
        rep.max_abs.e2e_pct = detail::metrics_max_abs(rep.max_abs.e2e_pct, d.e2e_pct);
        rep.max_abs.tps_pct = detail::metrics_max_abs(rep.max_abs.tps_pct, d.tps_pct);
        rep.rows.push_back(d);
    }
    for (const auto& [rate, ep] : e)
        if (r.find(rate) == r.end())
            detail::throw_error<config_error>("--emu result '" + ep->source + "' (request rate " +
                                              detail::metrics_rate_text(rate) +
                                              ") has no --real result at the same rate; add one or drop it");
    rep.max_abs.rate = std::numeric_limits<double>::quiet_NaN();
    return rep;
}

/// LLM-Emu's per_rate_deltas.csv: `rate,ttft_mean_pct,tpot_mean_pct,itl_mean_pct,e2e_mean_pct,tps_pct`,
/// one signed row per rate, then a `max_abs` row.
inline void write_deltas_csv(std::ostream& os, const ValidationReport& rep) {
    os << "rate,ttft_mean_pct,tpot_mean_pct,itl_mean_pct,e2e_mean_pct,tps_pct\n";
    auto row = [&](const std::string& label, const ValidationDelta& d) {
        os << label << ',' << detail::metrics_pct_text(d.ttft_pct, "%.4f") << ','
           << detail::metrics_pct_text(d.tpot_pct, "%.4f") << ',' << detail::metrics_pct_text(d.itl_pct, "%.4f") << ','
           << detail::metrics_pct_text(d.e2e_pct, "%.4f") << ',' << detail::metrics_pct_text(d.tps_pct, "%.4f") << '\n';
    };
    for (const auto& d : rep.rows) row(detail::metrics_rate_text(d.rate), d);
    row("max_abs", rep.max_abs);
}

/// A readable table: signed % per rate, then the max-abs row (Table 1 of the LLM-Emu paper).
inline void print_validation_table(std::ostream& os, const ValidationReport& rep) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-10s %10s %10s %10s %10s %10s\n", "rate", "TTFT %", "TPOT %", "ITL %", "E2E %",
                  "TPS %");
    os << buf << std::string(65, '-') << '\n';
    auto row = [&](const std::string& label, const ValidationDelta& d, const char* fmt) {
        std::snprintf(
            buf, sizeof buf, "%-10s %10s %10s %10s %10s %10s\n", label.c_str(),
            detail::metrics_pct_text(d.ttft_pct, fmt).c_str(), detail::metrics_pct_text(d.tpot_pct, fmt).c_str(),
            detail::metrics_pct_text(d.itl_pct, fmt).c_str(), detail::metrics_pct_text(d.e2e_pct, fmt).c_str(),
            detail::metrics_pct_text(d.tps_pct, fmt).c_str());
        os << buf;
    };
    for (const auto& d : rep.rows) row(detail::metrics_rate_text(d.rate), d, "%+.2f");
    os << std::string(65, '-') << '\n';
    row("max |err|", rep.max_abs, "%.2f");
}

/// One finished request's latencies in seconds, as validation compares them.
struct RequestSample {
    std::uint32_t input_toks = 0;
    std::uint32_t output_toks = 0;
    /// Arrival since the run's first arrival (0 when the source does not say).
    double arrival_s = 0.0;
    /// Arrival (vLLM: queued_ts) to the first output token.
    double ttft_s = 0.0;
    /// Arrival to the last output token.
    double e2e_s = 0.0;
    /// (e2e - ttft) / (output_toks - 1); NaN for a single-token request.
    double tpot_s = std::numeric_limits<double>::quiet_NaN();
};

/// The finished requests of one run (real or emulated).
struct RequestSamples {
    /// File it came from, and what kind of file ("vLLM requests.jsonl", "result JSON").
    std::string source;
    std::string format;
    std::vector<RequestSample> requests;
    /// Requests that failed or produced no token (left out of every metric).
    std::size_t failed = 0;
};

/// One statistic of one metric: real, ours (emulated) and the signed % error.
struct DistributionRow {
    /// "ttft", "tpot" or "e2e".
    std::string metric;
    /// "mean", "median", "p90" or "p99".
    std::string stat;
    double real_ms = 0.0;
    double emu_ms = 0.0; // over replicates: their mean
    double pct = 0.0;
    /// Over replicates: emu_ms +- emu_ci95 is the emulator's 95 % interval (Student t over
    /// the replicates' values) and real_inside says whether real_ms lies in it.
    double emu_ci95 = 0.0;
    bool real_inside = false;
};

/// Real vs emulated per-request latency distributions of one run.
struct DistributionReport {
    /// ttft, tpot, e2e x mean, median, p90, p99 (12 rows, in that order).
    std::vector<DistributionRow> rows;
    /// Two-sample Kolmogorov-Smirnov distance (sup |F_real - F_emu|, in [0, 1]).
    double ks_ttft = 0.0;
    double ks_e2e = 0.0;
    std::string real_source, real_format, emu_source, emu_format;
    std::size_t real_count = 0, emu_count = 0, real_failed = 0, emu_failed = 0;
    /// Emulated replicates compared (0: one emulated run; then emu_count and emu_failed
    /// are the first replicate's and the KS distances the replicates' mean).
    std::size_t replicates = 0;
    /// Over replicates: the 95 % half-widths of ks_ttft and ks_e2e.
    double ks_ttft_ci95 = 0.0;
    double ks_e2e_ci95 = 0.0;

    /// The row of `metric` / `stat`; throws config_error when there is none.
    [[nodiscard]] const DistributionRow& at(std::string_view metric, std::string_view stat) const {
        for (const auto& r : rows)
            if (r.metric == metric && r.stat == stat) return r;
        detail::throw_error<config_error>("validation report has no row " + std::string(metric) + "/" +
                                          std::string(stat) + "; use ttft, tpot or e2e and mean, median, p90 or p99");
    }
};

/// Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs
/// of `a` and `b` (ties handled exactly). 0 when either is empty.
[[nodiscard]] inline double ks_distance(std::vector<double> a, std::vector<double> b) {
    if (a.empty() || b.empty()) return 0.0;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    const double na = static_cast<double>(a.size());
    const double nb = static_cast<double>(b.size());
    std::size_t i = 0, j = 0;
    double d = 0.0;
    while (i < a.size() && j < b.size()) {
        const double x = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= x) ++i;
        while (j < b.size() && b[j] <= x) ++j;
        d = std::max(d, std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
    }
    return d;
}

/// Compares the per-request latencies of one real and one emulated run: for TTFT, TPOT
/// (requests with more than one output token) and E2E, the mean, median, p90 and p99
/// (numpy's linear percentiles, in ms) of each side and the signed % error (emu - real) /
/// real, plus the KS distance of TTFT and E2E. Throws config_error when a side has no
/// finished request.
[[nodiscard]] inline DistributionReport compare_distributions(const RequestSamples& real, const RequestSamples& emu) {
    for (const RequestSamples* s : {&real, &emu})
        if (s->requests.empty())
            detail::throw_error<config_error>("'" + s->source +
                                              "' has no finished request to compare; give a run that completed");
    DistributionReport rep;
    rep.real_source = real.source;
    rep.real_format = real.format;
    rep.emu_source = emu.source;
    rep.emu_format = emu.format;
    rep.real_count = real.requests.size();
    rep.emu_count = emu.requests.size();
    rep.real_failed = real.failed;
    rep.emu_failed = emu.failed;
    auto column = [](const RequestSamples& s, int which) {
        std::vector<double> v;
        v.reserve(s.requests.size());
        for (const auto& r : s.requests) {
            const double x = which == 0 ? r.ttft_s : which == 1 ? r.tpot_s : r.e2e_s;
            if (std::isfinite(x)) v.push_back(x);
        }
        return v;
    };
    static constexpr const char* metrics[] = {"ttft", "tpot", "e2e"};
    for (int m = 0; m < 3; ++m) {
        std::vector<double> rv = column(real, m);
        std::vector<double> ev = column(emu, m);
        const MetricStats rs = detail::metrics_stats(rv, {90.0, 99.0});
        const MetricStats es = detail::metrics_stats(ev, {90.0, 99.0});
        const std::pair<const char*, std::pair<double, double>> stats[] = {
            {"mean", {rs.mean_ms, es.mean_ms}},
            {"median", {rs.median_ms, es.median_ms}},
            {"p90", {rs.percentiles_ms[0].second, es.percentiles_ms[0].second}},
            {"p99", {rs.percentiles_ms[1].second, es.percentiles_ms[1].second}},
        };
        for (const auto& [name, v] : stats)
            rep.rows.push_back({metrics[m], name, v.first, v.second, detail::metrics_pct(v.first, v.second)});
        if (m == 0) rep.ks_ttft = ks_distance(std::move(rv), std::move(ev));
        if (m == 2) rep.ks_e2e = ks_distance(std::move(rv), std::move(ev));
    }
    return rep;
}

/// Compares one real run with K emulated replicates of it (the same run on K seeds, e.g.
/// `simulate --replicates K --save-detailed`): every row's emu_ms is the replicates' mean,
/// emu_ci95 its 95 % half-width and real_inside whether real_ms lies in [emu_ms - emu_ci95,
/// emu_ms + emu_ci95]; the KS distances are means over the replicates. Needs K >= 2 (throws
/// config_error otherwise, or when a side has no finished request).
[[nodiscard]] inline DistributionReport compare_distributions(const RequestSamples& real,
                                                              std::span<const RequestSamples> replicates) {
    if (replicates.size() < 2)
        detail::throw_error<config_error>("compare_distributions: an interval needs at least 2 replicates, got " +
                                          std::to_string(replicates.size()));
    std::vector<DistributionReport> each;
    each.reserve(replicates.size());
    for (const RequestSamples& e : replicates) each.push_back(compare_distributions(real, e));
    DistributionReport rep = each.front();
    rep.replicates = replicates.size();
    std::vector<double> v(each.size());
    auto over = [&](auto get) {
        for (std::size_t k = 0; k < each.size(); ++k) v[k] = get(each[k]);
        return mean_interval(v);
    };
    for (std::size_t i = 0; i < rep.rows.size(); ++i) {
        DistributionRow& r = rep.rows[i];
        const MeanInterval ci = over([i](const DistributionReport& d) { return d.rows[i].emu_ms; });
        r.emu_ms = ci.mean;
        r.emu_ci95 = ci.half_width;
        r.pct = detail::metrics_pct(r.real_ms, r.emu_ms);
        r.real_inside = r.real_ms >= ci.low() && r.real_ms <= ci.high();
    }
    const MeanInterval kt = over([](const DistributionReport& d) { return d.ks_ttft; });
    const MeanInterval ke = over([](const DistributionReport& d) { return d.ks_e2e; });
    rep.ks_ttft = kt.mean;
    rep.ks_ttft_ci95 = kt.half_width;
    rep.ks_e2e = ke.mean;
    rep.ks_e2e_ci95 = ke.half_width;
    return rep;
}

/// The report as a table: metric, statistic, real, ours and error %, then the KS
/// distances. Over replicates also the 95 % interval of ours and whether real lies in it.
inline void print_distribution_table(std::ostream& os, const DistributionReport& rep) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "real: %s (%s, %zu requests", rep.real_source.c_str(), rep.real_format.c_str(),
                  rep.real_count);
    os << buf << (rep.real_failed > 0 ? ", " + std::to_string(rep.real_failed) + " failed)\n" : std::string(")\n"));
    std::snprintf(buf, sizeof buf, "ours: %s (%s, %zu requests", rep.emu_source.c_str(), rep.emu_format.c_str(),
                  rep.emu_count);
    os << buf << (rep.emu_failed > 0 ? ", " + std::to_string(rep.emu_failed) + " failed" : std::string());
    if (rep.replicates > 0)
        os << " in the first of " << rep.replicates << " replicates; ours = their mean, 95% CI Student t";
    os << ")\n";
    const bool ci = rep.replicates > 0;
    const std::size_t width = ci ? 80 : 54;
    std::snprintf(buf, sizeof buf, "%-6s %-7s %14s %14s %9s", "metric", "stat", "real (ms)", "ours (ms)", "error %");
    os << buf;
    if (ci) {
        std::snprintf(buf, sizeof buf, " %17s %7s", "ours 95% CI (ms)", "inside");
        os << buf;
    }
    os << '\n' << std::string(width, '-') << '\n';
    for (const auto& r : rep.rows) {
        std::string name = r.metric;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        std::snprintf(buf, sizeof buf, "%-6s %-7s %14.2f %14.2f %9s", name.c_str(), r.stat.c_str(), r.real_ms, r.emu_ms,
                      detail::metrics_pct_text(r.pct, "%+.2f").c_str());
        os << buf;
        if (ci) {
            char hw[40];
            std::snprintf(hw, sizeof hw, "+- %.2f", r.emu_ci95);
            std::snprintf(buf, sizeof buf, " %17s %7s", hw, r.real_inside ? "yes" : "no");
            os << buf;
        }
        os << '\n';
    }
    os << std::string(width, '-') << '\n';
    if (ci) {
        std::size_t inside = 0;
        for (const auto& r : rep.rows) inside += r.real_inside ? 1 : 0;
        std::snprintf(buf, sizeof buf,
                      "Real value inside ours' 95%% CI: %zu of %zu\nKolmogorov-Smirnov distance (mean of %zu "
                      "replicates): TTFT %.4f +- %.4f, E2E %.4f +- %.4f\n",
                      inside, rep.rows.size(), rep.replicates, rep.ks_ttft, rep.ks_ttft_ci95, rep.ks_e2e,
                      rep.ks_e2e_ci95);
    } else {
        std::snprintf(buf, sizeof buf, "Kolmogorov-Smirnov distance: TTFT %.4f, E2E %.4f\n", rep.ks_ttft, rep.ks_e2e);
    }
    os << buf;
}

LLMEMU_END_NAMESPACE
