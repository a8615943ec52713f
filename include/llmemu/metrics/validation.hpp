#pragma once
/// \file validation.hpp
/// Emulated-versus-real accuracy, as LLM-Emu reports it: per request rate, the signed %
/// error of the mean TTFT, TPOT, ITL and E2E latency and of the output token throughput
/// ((emu - real) / real * 100; LLM-Emu's per_rate_deltas.csv), and the largest absolute
/// error over rates (the paper's Table 1).

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "llmemu/error.hpp"

namespace llmemu {

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

} // namespace llmemu
