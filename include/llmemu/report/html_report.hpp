#pragma once
/// \file html_report.hpp
/// The HTML report of one or more runs: build_report turns parsed inputs (inputs.hpp) into
/// charts and tables (data: testable), render_html writes them as ONE self-contained page
/// (inline SVG and CSS, a few lines of optional script, no network request), and
/// write_html_report does both. Sections, each present when some input has its data:
/// - the run configuration of every result (profile, workload, engine settings, seed,
///   version) and the vllm-bench summary table;
/// - CDFs of TTFT, TPOT, ITL and E2E, one curve per result, drawn from the per-request
///   lists with numpy's percentile rule (the curve's 50% point is median_<metric>_ms), or
///   from the summary's median and pNN keys when the lists are absent;
/// - time series of running / waiting requests, KV-cache usage, throughput and preemptions
///   (`llmemu.timeseries` of a result, or a vLLM-style time series CSV; a result without
///   one shows its requests in flight, from the request start times and latencies);
/// - the step-latency histogram and the oracle coverage heatmap (`llmemu.step_latency_
///   histogram`, `llmemu.coverage_grid`, see step_digest.hpp);
/// - for fleets (`llmemu.fleet.per_replica`, `llmemu.fleet.pools`), per-replica bars, each
///   replica's running requests over time and the pools' table;
/// - for sweep CSVs, latency and throughput against request rate with the SLO lines and
///   the sustainable rate; for validation CSVs, the error table (LLM-Emu's Table 1).
/// Every curve is down-sampled to at most ReportOptions::max_points points (time series
/// keep each bucket's minimum and maximum, so peaks survive).

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/sustainable_rate.hpp"
#include "llmemu/report/inputs.hpp"
#include "llmemu/report/svg_chart.hpp"
#include "llmemu/version.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace report {

/// How the report is drawn.
struct ReportOptions {
    /// The page's title.
    std::string title = "llmemu report";
    /// SLOs drawn as reference lines (TTFT, TPOT, E2E charts and the sweep's charts).
    std::optional<double> slo_ttft_ms, slo_tpot_ms, slo_e2el_ms;
    /// Share of requests that must meet the SLOs for a sweep rate to count as sustained
    /// (read from the sweep CSV's slo_attainment column).
    double slo_attainment = 0.9;
    /// Most points per curve.
    std::size_t max_points = 512;
};

/// A table of text cells.
struct Table {
    std::string id;
    std::string title;
    std::string note;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

/// A titled group of charts, heatmaps and tables.
struct Section {
    std::string id;
    std::string title;
    std::string note;
    std::vector<Table> tables;
    std::vector<Chart> charts;
    std::vector<Heatmap> heatmaps;
};

/// The configuration of one input, shown in the page's header.
struct ConfigCard {
    std::string name;
    std::string kind;
    std::size_t colour = 0;
    std::vector<std::pair<std::string, std::string>> fields;
};

/// Everything the page shows.
struct Report {
    std::string title;
    std::vector<ConfigCard> configs;
    std::vector<Section> sections;
    /// Inputs or sections that could not be drawn, and why.
    std::vector<std::string> notes;

    /// Every chart (heatmaps not included) with id `id`, or nullptr.
    [[nodiscard]] const Chart* chart(std::string_view id) const {
        for (const auto& s : sections)
            for (const auto& c : s.charts)
                if (c.id == id) return &c;
        return nullptr;
    }
    [[nodiscard]] const Heatmap* heatmap(std::string_view id) const {
        for (const auto& s : sections)
            for (const auto& h : s.heatmaps)
                if (h.id == id) return &h;
        return nullptr;
    }
    [[nodiscard]] const Table* table(std::string_view id) const {
        for (const auto& s : sections)
            for (const auto& t : s.tables)
                if (t.id == id) return &t;
        return nullptr;
    }
};

using Points = std::vector<std::pair<double, double>>;

/// The quantile curve of `values` as (value, percent) points at `points` evenly spaced
/// percents from 0 to 100 (an odd count puts one at exactly 50%), with numpy's linear
/// percentile rule, the rule vLLM's median_* and p*_ keys use. Empty input gives no points.
inline Points quantile_curve(std::vector<double> values, std::size_t points = 501) {
    Points out;
    if (values.empty() || points < 2) return out;
    std::sort(values.begin(), values.end());
    out.reserve(points);
    for (std::size_t i = 0; i < points; ++i) {
        const double p = 100.0 * static_cast<double>(i) / static_cast<double>(points - 1);
        out.emplace_back(quantile_sorted<double>(values, p / 100.0), p);
    }
    return out;
}

/// At most `max_points` of `pts` (in x order): each of max_points / 2 buckets keeps its
/// lowest and highest point, in order, so the series' extremes are kept exactly.
inline Points minmax_downsample(const Points& pts, std::size_t max_points) {
    if (pts.size() <= max_points || max_points < 4) return pts;
    const std::size_t buckets = max_points / 2;
    Points out;
    out.reserve(max_points);
    for (std::size_t b = 0; b < buckets; ++b) {
        const std::size_t lo = pts.size() * b / buckets, hi = pts.size() * (b + 1) / buckets;
        if (lo >= hi) continue;
        std::size_t imin = lo, imax = lo;
        for (std::size_t i = lo; i < hi; ++i) {
            if (pts[i].second < pts[imin].second) imin = i;
            if (pts[i].second > pts[imax].second) imax = i;
        }
        out.push_back(pts[std::min(imin, imax)]);
        if (imin != imax) out.push_back(pts[std::max(imin, imax)]);
    }
    return out;
}

namespace detail {

inline std::string report_fmt(const char* f, double v) {
    if (std::isnan(v)) return "n/a";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

inline const nlohmann::json* report_find(const nlohmann::json& j, std::initializer_list<const char*> path) {
    const nlohmann::json* cur = &j;
    for (const char* k : path) {
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(k);
        if (it == cur->end()) return nullptr;
        cur = &*it;
    }
    return cur;
}

inline std::optional<double> report_number(const nlohmann::json& j, std::initializer_list<const char*> path) {
    const nlohmann::json* v = report_find(j, path);
    if (v == nullptr || !v->is_number()) return std::nullopt;
    return v->get<double>();
}

inline std::string report_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return svg_label(v.get<double>());
    if (v.is_null()) return "-";
    return v.dump();
}

/// The numbers of a JSON array (non-numbers as NaN), or nullopt when `v` is not an array.
inline std::optional<std::vector<double>> report_array(const nlohmann::json* v) {
    if (v == nullptr || !v->is_array()) return std::nullopt;
    std::vector<double> out;
    out.reserve(v->size());
    for (const auto& e : *v) out.push_back(e.is_number() ? e.get<double>() : std::nan(""));
    return out;
}

/// Which requests of a result succeeded (vLLM lists failed ones too, with an error text).
inline std::vector<bool> report_success(const nlohmann::json& r, std::size_t n) {
    std::vector<bool> ok(n, true);
    const nlohmann::json* errors = report_find(r, {"errors"});
    const nlohmann::json* outs = report_find(r, {"output_lens"});
    for (std::size_t i = 0; i < n; ++i) {
        if (errors != nullptr && errors->is_array() && i < errors->size() && (*errors)[i].is_string() &&
            !(*errors)[i].get<std::string>().empty())
            ok[i] = false;
        else if (errors == nullptr && outs != nullptr && outs->is_array() && i < outs->size() &&
                 (*outs)[i].is_number() && (*outs)[i].get<double>() <= 0.0)
            ok[i] = false;
    }
    return ok;
}

/// The per-request values of `metric` (ttft, tpot, itl, e2el) in ms, as vLLM's summary
/// computes them, or nullopt when the result has no per-request lists.
inline std::optional<std::vector<double>> report_metric_values(const nlohmann::json& r, std::string_view metric) {
    const auto ttfts = report_array(report_find(r, {"ttfts"}));
    const auto lat = report_array(report_find(r, {"latencies"}));
    if (!ttfts || ttfts->empty()) return std::nullopt;
    const std::vector<bool> ok = report_success(r, ttfts->size());
    std::vector<double> out;
    if (metric == "ttft") {
        for (std::size_t i = 0; i < ttfts->size(); ++i)
            if (ok[i]) out.push_back((*ttfts)[i] * 1000.0);
    } else if (metric == "e2el") {
        if (!lat) return std::nullopt;
        for (std::size_t i = 0; i < lat->size() && i < ok.size(); ++i)
            if (ok[i]) out.push_back((*lat)[i] * 1000.0);
    } else if (metric == "tpot") {
        const auto outs = report_array(report_find(r, {"output_lens"}));
        if (!lat || !outs) return std::nullopt;
        for (std::size_t i = 0; i < ttfts->size() && i < lat->size() && i < outs->size(); ++i)
            if (ok[i] && (*outs)[i] > 1.0) out.push_back(((*lat)[i] - (*ttfts)[i]) / ((*outs)[i] - 1.0) * 1000.0);
    } else if (metric == "itl") {
        const nlohmann::json* itls = report_find(r, {"itls"});
        if (itls == nullptr || !itls->is_array()) return std::nullopt;
        for (std::size_t i = 0; i < itls->size() && i < ok.size(); ++i) {
            if (!ok[i] || !(*itls)[i].is_array()) continue;
            for (const auto& v : (*itls)[i])
                if (v.is_number()) out.push_back(v.get<double>() * 1000.0);
        }
    }
    return out;
}

/// (value, percent) points from a summary's median_<m>_ms and p<N>_<m>_ms keys.
inline Points report_summary_quantiles(const nlohmann::json& r, const std::string& metric) {
    Points pts;
    const std::string suffix = "_" + metric + "_ms";
    for (auto it = r.begin(); it != r.end(); ++it) {
        const std::string& k = it.key();
        if (!it->is_number() || k.size() <= suffix.size() || k.compare(k.size() - suffix.size(), suffix.size(), suffix))
            continue;
        const std::string head = k.substr(0, k.size() - suffix.size());
        double p = -1.0;
        if (head == "median")
            p = 50.0;
        else if (head.size() > 1 && head[0] == 'p')
            p = parse_number<double>(std::string_view(head).substr(1)).value_or(-1.0);
        if (p >= 0.0 && p <= 100.0) pts.emplace_back(it->get<double>(), p);
    }
    std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    // median and p50 are the same point.
    pts.erase(std::unique(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.second == b.second; }),
              pts.end());
    return pts;
}

/// (value, percent) points from `llmemu.latency_quantiles` (latency_quantiles.hpp) of a
/// result, or none. Throws when its arrays do not pair up.
inline Points report_digest_quantiles(const nlohmann::json& r, std::string_view metric, const std::string& source) {
    Points pts;
    const nlohmann::json* q = report_find(r, {"llmemu", "latency_quantiles"});
    if (q == nullptr || !q->is_object()) return pts;
    const std::string key = std::string(metric) + "_ms";
    const auto percents = report_array(report_find(*q, {"percents"}));
    const auto values = report_array(report_find(*q, {key.c_str()}));
    if (!percents || !values || values->empty()) return pts;
    if (values->size() != percents->size())
        report_fail(source + ": llmemu.latency_quantiles." + key + " has " + std::to_string(values->size()) +
                    " values but percents has " + std::to_string(percents->size()) + "; regenerate the result");
    for (std::size_t i = 0; i < values->size(); ++i)
        if (std::isfinite((*values)[i]) && std::isfinite((*percents)[i]))
            pts.emplace_back((*values)[i], (*percents)[i]);
    return pts;
}

/// A time series: times (s) and named columns of the same length.
struct TimeSeries {
    std::vector<double> t;
    std::map<std::string, std::vector<double>> cols;
};

/// The canonical column name of a time series key (vLLM's log names and llmemu's).
inline std::string report_ts_name(const std::string& k) {
    if (k == "generation_throughput" || k == "gen_throughput" || k == "generation_tokens_per_s") return "gen";
    if (k == "prompt_throughput" || k == "prompt_tokens_per_s") return "prompt";
    if (k == "num_preemptions" || k == "preemptions") return "preemptions";
    if (k == "num_requests_running") return "running";
    if (k == "num_requests_waiting") return "waiting";
    return k;
}

inline std::optional<TimeSeries> report_ts_from_json(const nlohmann::json& r, const std::string& source) {
    const nlohmann::json* ts = report_find(r, {"llmemu", "timeseries"});
    if (ts == nullptr || !ts->is_object()) return std::nullopt;
    auto t = report_array(report_find(*ts, {"t_s"}));
    if (!t) t = report_array(report_find(*ts, {"t"}));
    if (!t)
        detail::report_fail(source +
                            ": llmemu.timeseries has no 't_s' array; give the times of the samples in seconds");
    TimeSeries out;
    out.t = std::move(*t);
    for (auto it = ts->begin(); it != ts->end(); ++it) {
        if (it.key() == "t_s" || it.key() == "t" || !it->is_array()) continue;
        auto col = report_array(&*it);
        if (col->size() != out.t.size())
            detail::report_fail(source + ": llmemu.timeseries." + it.key() + " has " + std::to_string(col->size()) +
                                " values but t_s has " + std::to_string(out.t.size()) +
                                "; give every series one value per time");
        std::string name = report_ts_name(it.key());
        if (it.key() == "kv_cache_usage") {
            for (double& v : *col) v *= 100.0; // a fraction, as vllm:kv_cache_usage_perc
            name = "kv_cache_pct";
        }
        out.cols[name] = std::move(*col);
    }
    return out;
}

inline TimeSeries report_ts_from_csv(const ReportInput& in) {
    TimeSeries out;
    const CsvTable& t = in.table;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
        out.t.push_back(csv_number(t, r, "t", in.source).value_or(std::nan("")));
        for (const auto& h : t.header)
            if (h != "t") out.cols[report_ts_name(h)].push_back(csv_number(t, r, h, in.source).value_or(std::nan("")));
    }
    return out;
}

/// Requests in flight over time, from a result's start_times and latencies (the client's
/// view: arrived and not finished), as a step function.
inline Points report_in_flight(const nlohmann::json& r) {
    const auto st = report_array(report_find(r, {"start_times"}));
    const auto lat = report_array(report_find(r, {"latencies"}));
    Points out;
    if (!st || !lat || st->empty() || st->size() != lat->size()) return out;
    const std::vector<bool> ok = report_success(r, st->size());
    std::vector<std::pair<double, int>> ev;
    double t0 = std::numeric_limits<double>::infinity();
    for (double s : *st)
        if (std::isfinite(s)) t0 = std::min(t0, s);
    for (std::size_t i = 0; i < st->size(); ++i) {
        if (!ok[i] || !std::isfinite((*st)[i]) || !std::isfinite((*lat)[i])) continue;
        ev.emplace_back((*st)[i] - t0, +1);
        ev.emplace_back((*st)[i] - t0 + (*lat)[i], -1);
    }
    std::sort(ev.begin(), ev.end());
    int n = 0;
    for (std::size_t i = 0; i < ev.size(); ++i) {
        n += ev[i].second;
        if (i + 1 < ev.size() && ev[i + 1].first == ev[i].first) continue;
        out.emplace_back(ev[i].first, static_cast<double>(n));
    }
    return out;
}

inline std::string report_rate_text(double r) {
    return std::isinf(r) ? "inf" : svg_label(r);
}

} // namespace detail

/// Builds the report's charts and tables from parsed inputs. Throws report_error when
/// nothing in the inputs can be drawn or a section's data is inconsistent.
inline Report build_report(const std::vector<ReportInput>& inputs, const ReportOptions& opt = {}) {
    using namespace detail;
    Report rep;
    rep.title = opt.title;
    if (inputs.empty()) report_fail("no inputs; give at least one result JSON or CSV");
    const std::size_t maxp = std::max<std::size_t>(opt.max_points, 8);
    const std::size_t qpoints = (maxp % 2 == 1 ? maxp : maxp - 1) < 501 ? (maxp % 2 == 1 ? maxp : maxp - 1) : 501;

    std::vector<const ReportInput*> results, ts_csvs, sweeps, validations, request_validations, plans;
    std::map<const ReportInput*, std::size_t> colour;
    std::size_t next_colour = 0;
    for (const auto& in : inputs) {
        switch (in.kind) {
        case InputKind::result:
            results.push_back(&in);
            colour[&in] = next_colour++;
            break;
        case InputKind::timeseries_csv:
            ts_csvs.push_back(&in);
            colour[&in] = next_colour++;
            break;
        case InputKind::sweep_csv:
            sweeps.push_back(&in);
            break;
        case InputKind::validation_csv:
            validations.push_back(&in);
            break;
        case InputKind::validation_requests:
            request_validations.push_back(&in);
            break;
        case InputKind::plan_csv:
            plans.push_back(&in);
            break;
        }
    }

    // ---- configuration cards ----
    for (const ReportInput& input : inputs) {
        const ReportInput* in = &input;
        ConfigCard card;
        card.name = in->name;
        card.kind = to_string(in->kind);
        card.colour = colour.count(in) ? colour[in] : palette_size;
        card.fields.emplace_back("file", in->source);
        if (in->kind == InputKind::result) {
            const nlohmann::json& j = in->json;
            if (const auto* v = report_find(j, {"model_id"})) card.fields.emplace_back("model", report_text(*v));
            if (const auto* v = report_find(j, {"llmemu", "profile", "describe"}))
                card.fields.emplace_back("profile", report_text(*v));
            else if (const auto* b = report_find(j, {"backend"}))
                card.fields.emplace_back("backend", report_text(*b));
            if (const auto* v = report_find(j, {"llmemu", "workload", "description"}))
                card.fields.emplace_back("workload", report_text(*v));
            std::string load;
            if (const auto* v = report_find(j, {"num_prompts"})) load += report_text(*v) + " prompts";
            if (const auto* v = report_find(j, {"ramp_up_strategy"}); v != nullptr && v->is_string())
                load += std::string(load.empty() ? "" : ", ") + report_text(*v) + " ramp-up from " +
                        report_text(j.value("ramp_up_start_rps", nlohmann::json())) + " to " +
                        report_text(j.value("ramp_up_end_rps", nlohmann::json())) + " req/s";
            else if (const auto* r = report_find(j, {"request_rate"}))
                load += std::string(load.empty() ? "" : ", ") + "request rate " + report_text(*r) + " req/s";
            if (const auto* v = report_find(j, {"burstiness"}); v != nullptr && v->is_number())
                load += ", burstiness " + report_text(*v);
            if (!load.empty()) card.fields.emplace_back("load", load);
            if (const auto* c = report_find(j, {"llmemu", "config"}); c != nullptr && c->is_object()) {
                std::string s;
                for (auto it = c->begin(); it != c->end(); ++it)
                    s += (s.empty() ? "" : " ") + it.key() + "=" + report_text(*it);
                card.fields.emplace_back("engine", s);
            }
            std::string run;
            if (const auto* v = report_find(j, {"llmemu", "mode"})) run += report_text(*v) + " time";
            if (const auto* v = report_find(j, {"llmemu", "seed"}))
                run += std::string(run.empty() ? "" : ", ") + "seed " + report_text(*v);
            if (const auto* v = report_find(j, {"llmemu", "version"}))
                run += std::string(run.empty() ? "" : ", ") + "llmemu " + report_text(*v);
            if (const auto* v = report_find(j, {"date"})) run += std::string(run.empty() ? "" : ", ") + report_text(*v);
            if (!run.empty()) card.fields.emplace_back("run", run);
        } else {
            if (in->kind == InputKind::validation_requests) {
                for (const char* side : {"real", "emu"})
                    if (const auto* v = report_find(in->json, {side}); v != nullptr && v->is_object()) {
                        std::string text;
                        if (const auto* x = report_find(*v, {"source"})) text = report_text(*x);
                        if (const auto* x = report_find(*v, {"requests"}))
                            text += " (" + report_text(*x) + " requests" +
                                    (report_number(*v, {"failed"}).value_or(0) > 0
                                         ? ", " + report_text(*report_find(*v, {"failed"})) + " failed"
                                         : std::string()) +
                                    ")";
                        card.fields.emplace_back(std::string(side) == "real" ? "real" : "emulated", text);
                    }
            } else {
                card.fields.emplace_back("rows", std::to_string(in->table.rows.size()));
            }
        }
        rep.configs.push_back(std::move(card));
    }

    // ---- summary table and CDFs ----
    if (!results.empty()) {
        Section sec;
        sec.id = "latency";
        sec.title = "Summary and latency distributions";
        sec.note = "One curve per result. Each curve gives, for every latency, the share of requests at or "
                   "below it (numpy's percentile rule, as vllm bench serve computes its median and pNN).";
        Table t;
        t.id = "summary";
        t.title = "vllm bench serve summary";
        t.header.push_back("metric");
        for (const ReportInput* r : results) t.header.push_back(r->name);
        auto row = [&](const std::string& label, auto&& cell) {
            std::vector<std::string> cells{label};
            bool any = false;
            for (const ReportInput* r : results) {
                std::string c = cell(r->json);
                any = any || c != "-";
                cells.push_back(std::move(c));
            }
            if (any) t.rows.push_back(std::move(cells));
        };
        auto num = [&](std::initializer_list<const char*> path, const char* f, double scale = 1.0) {
            return [path, f, scale](const nlohmann::json& j) {
                const auto v = report_number(j, path);
                return v ? report_fmt(f, *v * scale) : std::string("-");
            };
        };
        row("Successful requests", num({"completed"}, "%.0f"));
        row("Failed requests", num({"failed"}, "%.0f"));
        row("Benchmark duration (s)", num({"duration"}, "%.2f"));
        row("Total input tokens", num({"total_input_tokens"}, "%.0f"));
        row("Total generated tokens", num({"total_output_tokens"}, "%.0f"));
        row("Request throughput (req/s)", num({"request_throughput"}, "%.2f"));
        row("Request goodput (req/s)", num({"request_goodput"}, "%.2f"));
        row("Output token throughput (tok/s)", num({"output_throughput"}, "%.2f"));
        row("Total token throughput (tok/s)", num({"total_token_throughput"}, "%.2f"));
        std::set<std::string> pct_words;
        for (const ReportInput* r : results)
            for (auto it = r->json.begin(); it != r->json.end(); ++it) {
                const std::string& k = it.key();
                if (k.size() > 9 && k[0] == 'p' && k.ends_with("_ttft_ms")) pct_words.insert(k.substr(1, k.size() - 9));
            }
        const std::pair<const char*, const char*> metrics[] = {
            {"ttft", "TTFT"}, {"tpot", "TPOT"}, {"itl", "ITL"}, {"e2el", "E2E"}};
        for (const auto& [key, label] : metrics) {
            const std::string k(key), l(label);
            auto by_key = [](std::string name) {
                return [name](const nlohmann::json& j) {
                    auto it = j.find(name);
                    return it != j.end() && it->is_number() ? report_fmt("%.2f", it->get<double>()) : std::string("-");
                };
            };
            row("Mean " + l + " (ms)", by_key("mean_" + k + "_ms"));
            row("Median " + l + " (ms)", by_key("median_" + k + "_ms"));
            for (const auto& w : pct_words) row("P" + w + " " + l + " (ms)", by_key("p" + w + "_" + k + "_ms"));
        }
        row("Preemptions", num({"llmemu", "engine_stats", "preemptions"}, "%.0f"));
        row("Peak running requests", num({"llmemu", "engine_stats", "max_running"}, "%.0f"));
        row("Peak waiting requests", num({"llmemu", "engine_stats", "max_waiting"}, "%.0f"));
        row("Peak KV-cache usage (%)", num({"llmemu", "engine_stats", "max_kv_usage"}, "%.2f", 100.0));
        row("Oracle exact / interpolated / out of range (%)", [](const nlohmann::json& j) {
            const auto tot = report_number(j, {"llmemu", "oracle_coverage", "total"});
            if (!tot || *tot <= 0) return std::string("-");
            auto pc = [&](const char* k) {
                return report_fmt("%.1f", report_number(j, {"llmemu", "oracle_coverage", k}).value_or(0) / *tot * 100);
            };
            return pc("exact") + " / " + pc("interpolated") + " / " + pc("out_of_range");
        });
        sec.tables.push_back(std::move(t));

        const struct {
            const char* key;
            const char* title;
            std::optional<double> slo;
        } cdfs[] = {{"ttft", "Time to first token (TTFT)", opt.slo_ttft_ms},
                    {"tpot", "Time per output token (TPOT, excl. 1st token)", opt.slo_tpot_ms},
                    {"itl", "Inter-token latency (ITL)", std::nullopt},
                    {"e2el", "End-to-end latency (E2E)", opt.slo_e2el_ms}};
        for (const auto& m : cdfs) {
            Chart c;
            c.id = std::string("cdf_") + m.key;
            c.title = std::string("CDF of ") + m.title;
            c.y = {"requests at or below (%)", false, 0.0, 100.0};
            bool from_summary = false;
            bool from_digest = false;
            double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
            for (const ReportInput* r : results) {
                Series s;
                s.name = r->name;
                s.colour = colour[r];
                if (auto vals = report_metric_values(r->json, m.key)) {
                    s.points = quantile_curve(std::move(*vals), qpoints);
                } else if (Points q = report_digest_quantiles(r->json, m.key, r->source); !q.empty()) {
                    s.points = std::move(q);
                    from_digest = true;
                } else {
                    s.points = report_summary_quantiles(r->json, m.key);
                    s.style = Series::Style::markers;
                    s.name += " (summary percentiles)";
                    from_summary = from_summary || !s.points.empty();
                }
                for (const auto& p : s.points)
                    if (p.first > 0.0) {
                        lo = std::min(lo, p.first);
                        hi = std::max(hi, p.first);
                    }
                c.series.push_back(std::move(s));
            }
            const bool log = hi > 0.0 && lo > 0.0 && hi / lo > 50.0;
            c.x = {std::string(m.key == std::string("e2el")   ? "E2E"
                               : m.key == std::string("itl")  ? "ITL"
                               : m.key == std::string("tpot") ? "TPOT"
                                                              : "TTFT") +
                       " (ms" + (log ? ", log scale" : "") + ")",
                   log, std::nullopt, std::nullopt};
            if (m.slo) c.lines.push_back({true, *m.slo, "SLO " + svg_label(*m.slo) + " ms", 6});
            c.note = from_summary  ? "Markers: results without per-request lists (only their median and pNN)."
                     : from_digest ? "Results without per-request lists: from their run's latency digests "
                                     "(llmemu.latency_quantiles, 1% steps)."
                                   : "From the per-request lists of each result.";
            if (std::any_of(c.series.begin(), c.series.end(), [](const Series& s) { return !s.points.empty(); }))
                sec.charts.push_back(std::move(c));
        }
        rep.sections.push_back(std::move(sec));
    }

    // ---- time series ----
    {
        struct Src {
            std::string name;
            std::size_t colour;
            TimeSeries ts;
        };
        std::vector<Src> srcs;
        std::vector<std::pair<std::string, std::size_t>> in_flight_names;
        std::vector<Points> in_flight;
        for (const ReportInput* r : results) {
            if (auto ts = report_ts_from_json(r->json, r->source))
                srcs.push_back({r->name, colour[r], std::move(*ts)});
            else if (Points p = report_in_flight(r->json); !p.empty()) {
                in_flight.push_back(minmax_downsample(p, maxp));
                in_flight_names.emplace_back(r->name, colour[r]);
            }
        }
        for (const ReportInput* c : ts_csvs) srcs.push_back({c->name, colour[c], report_ts_from_csv(*c)});
        Section sec;
        sec.id = "timeseries";
        sec.title = "Over time";
        sec.note = "Per-interval samples like vLLM's 1 s log (llmemu.timeseries of a result, or a time series "
                   "CSV such as a real vLLM run's timeseries.csv); long runs are down-sampled keeping each "
                   "bucket's minimum and maximum.";
        auto series_of = [&](const Src& s, const std::string& col) {
            Points p;
            auto it = s.ts.cols.find(col);
            if (it == s.ts.cols.end()) return p;
            for (std::size_t i = 0; i < s.ts.t.size() && i < it->second.size(); ++i)
                if (std::isfinite(s.ts.t[i]) && std::isfinite(it->second[i])) p.emplace_back(s.ts.t[i], it->second[i]);
            return minmax_downsample(p, maxp);
        };
        auto chart = [&](const std::string& id, const std::string& title, const std::string& ylabel,
                         std::vector<std::pair<std::string, std::string>> cols, std::optional<double> ymax) {
            Chart c;
            c.id = id;
            c.title = title;
            c.x = {"time since the start of the run (s)", false, 0.0, std::nullopt};
            c.y = {ylabel, false, 0.0, ymax};
            for (std::size_t k = 0; k < cols.size(); ++k)
                for (const Src& s : srcs) {
                    Points p = series_of(s, cols[k].first);
                    if (p.empty()) continue;
                    Series se;
                    se.name = s.name + (cols.size() > 1 ? " " + cols[k].second : "");
                    se.colour = s.colour;
                    se.dashed = k > 0;
                    se.points = std::move(p);
                    c.series.push_back(std::move(se));
                }
            return c;
        };
        Chart req = chart("ts_requests", "Running and waiting requests", "requests",
                          {{"running", "running"}, {"waiting", "waiting (dashed)"}}, std::nullopt);
        for (std::size_t i = 0; i < in_flight.size(); ++i) {
            Series se;
            se.name = in_flight_names[i].first + " in flight";
            se.colour = in_flight_names[i].second;
            se.style = Series::Style::step;
            se.points = std::move(in_flight[i]);
            req.series.push_back(std::move(se));
        }
        if (!in_flight.empty())
            req.note = "Results without llmemu.timeseries show their requests in flight (arrived, not finished), "
                       "computed from start_times and latencies.";
        Chart kv = chart("ts_kv", "KV-cache usage", "KV-cache usage (%)", {{"kv_cache_pct", "KV"}}, 100.0);
        Chart thr = chart("ts_throughput", "Token throughput", "tokens per second",
                          {{"gen", "generation"}, {"prompt", "prompt (dashed)"}}, std::nullopt);
        Chart pre = chart("ts_preemptions", "Preemptions", "preemptions per interval", {{"preemptions", "preemptions"}},
                          std::nullopt);
        for (Chart* c : {&req, &kv, &thr, &pre})
            if (!c->series.empty()) sec.charts.push_back(std::move(*c));
        if (!sec.charts.empty()) rep.sections.push_back(std::move(sec));
    }

    // ---- steps: latency histogram and oracle coverage ----
    {
        Section sec;
        sec.id = "steps";
        sec.title = "Engine steps";
        sec.note = "Every step the run drew from its latency model (llmemu.step_latency_histogram and "
                   "llmemu.coverage_grid of a result).";
        Chart h;
        h.id = "step_latency";
        h.title = "Step latency histogram";
        h.x = {"step latency (ms, log scale)", true, std::nullopt, std::nullopt};
        h.y = {"share of steps (%)", false, 0.0, std::nullopt};
        for (const ReportInput* r : results) {
            const nlohmann::json* hj = report_find(r->json, {"llmemu", "step_latency_histogram"});
            if (hj == nullptr) continue;
            const auto edges = report_array(report_find(*hj, {"edges_ms"}));
            const auto counts = report_array(report_find(*hj, {"counts"}));
            if (!edges || !counts || counts->empty()) continue;
            if (edges->size() != counts->size() + 1)
                report_fail(r->source + ": llmemu.step_latency_histogram has " + std::to_string(counts->size()) +
                            " counts but " + std::to_string(edges->size()) + " edges; give one more edge than counts");
            double total = 0.0;
            for (double v : *counts) total += v;
            if (total <= 0.0) continue;
            Series s;
            s.name = r->name;
            s.colour = colour[r];
            s.style = Series::Style::step;
            s.points.emplace_back((*edges)[0], 0.0);
            for (std::size_t i = 0; i < counts->size(); ++i)
                s.points.emplace_back((*edges)[i], (*counts)[i] / total * 100);
            s.points.emplace_back(edges->back(), counts->back() / total * 100);
            s.points.emplace_back(edges->back(), 0.0);
            h.series.push_back(std::move(s));
        }
        if (!h.series.empty()) sec.charts.push_back(std::move(h));
        for (const ReportInput* r : results) {
            const nlohmann::json* g = report_find(r->json, {"llmemu", "coverage_grid"});
            if (g == nullptr) continue;
            Heatmap m;
            m.id = "coverage_" + std::to_string(colour[r]);
            m.title = "Oracle coverage: " + r->name;
            m.note = "Steps per (scheduled tokens, scheduled requests) bin, coloured by how the profile answered "
                     "most of them.";
            m.x_label = "requests in the step";
            m.y_label = "tokens in the step";
            m.x_edges = report_array(report_find(*g, {"requests_edges"})).value_or(std::vector<double>{});
            m.y_edges = report_array(report_find(*g, {"tokens_edges"})).value_or(std::vector<double>{});
            m.class_names = {"exact", "interpolated", "out of range"};
            m.class_colours = {2, 5, 1}; // bluish green, sky blue, vermillion: apart for every colour vision
            bool any = false;
            for (const char* k : {"exact", "interpolated", "out_of_range"}) {
                std::vector<std::vector<double>> rows;
                if (const nlohmann::json* a = report_find(*g, {k}); a != nullptr && a->is_array())
                    for (const auto& row : *a) {
                        auto v = report_array(&row);
                        if (!v || v->size() + 1 != m.x_edges.size() || rows.size() + 1 >= m.y_edges.size())
                            report_fail(r->source + ": llmemu.coverage_grid." + k +
                                        " does not match tokens_edges x requests_edges; regenerate the result");
                        for (double c : *v) any = any || c > 0;
                        rows.push_back(std::move(*v));
                    }
                m.counts.push_back(std::move(rows));
            }
            if (any) sec.heatmaps.push_back(std::move(m));
        }
        if (!sec.charts.empty() || !sec.heatmaps.empty()) rep.sections.push_back(std::move(sec));
    }

    // ---- fleets: per-replica bars, per-replica time series, pools ----
    {
        Section sec;
        sec.id = "fleet";
        sec.title = "Replicas";
        sec.note = "Per-replica sections of fleet results (llmemu.fleet.per_replica, written by llmemu simulate "
                   "--replicas N or --data-parallel-size N): requests routed to each replica, its peak KV-cache "
                   "usage, prefix-cache hit rate and mean TTFT.";
        struct Metric {
            const char* id;
            const char* title;
            const char* ylabel;
        };
        const Metric ms[] = {{"fleet_load", "Requests routed per replica", "requests"},
                             {"fleet_kv", "Peak KV-cache usage per replica", "KV-cache usage (%)"},
                             {"fleet_hit", "Prefix-cache hit rate per replica", "hit rate (%)"},
                             {"fleet_ttft", "Mean TTFT per replica", "mean TTFT (ms)"}};
        auto per_replica = [](const ReportInput* r) {
            const nlohmann::json* a = report_find(r->json, {"llmemu", "fleet", "per_replica"});
            return a != nullptr && a->is_array() && !a->empty() ? a : nullptr;
        };
        std::size_t nrep = 0;
        std::size_t fleets = 0;
        for (const ReportInput* r : results)
            if (const auto* a = per_replica(r)) {
                nrep = std::max(nrep, a->size());
                ++fleets;
            }
        for (const Metric& m : ms) {
            if (nrep == 0) break;
            const std::string id = m.id;
            Chart c;
            c.id = id;
            c.title = m.title;
            c.x = {"replica", false, std::nullopt, std::nullopt};
            c.y = {m.ylabel, false, 0.0,
                   id == "fleet_kv" || id == "fleet_hit" ? std::optional<double>(100) : std::nullopt};
            for (std::size_t i = 0; i < nrep; ++i) c.categories.push_back(std::to_string(i));
            for (const ReportInput* r : results) {
                const auto* a = per_replica(r);
                if (a == nullptr) continue;
                Series s;
                s.name = r->name;
                s.colour = colour[r];
                s.style = Series::Style::bars;
                for (std::size_t i = 0; i < a->size(); ++i) {
                    const nlohmann::json& x = (*a)[i];
                    if (!x.is_object())
                        report_fail(r->source + ": llmemu.fleet.per_replica[" + std::to_string(i) +
                                    "] is not an object; regenerate the result with llmemu simulate --replicas N");
                    const double idx = report_number(x, {"replica"}).value_or(static_cast<double>(i));
                    std::optional<double> v;
                    if (id == "fleet_load") {
                        v = report_number(x, {"routed"});
                        if (!v) v = report_number(x, {"engine_stats", "requests_received"});
                    } else if (id == "fleet_kv") {
                        v = report_number(x, {"engine_stats", "max_kv_usage"});
                        if (v) *v *= 100.0;
                    } else if (id == "fleet_hit") {
                        const auto q = report_number(x, {"engine_stats", "prefix_cache_queries"});
                        const auto h = report_number(x, {"engine_stats", "prefix_cache_hits"});
                        if (q && h) v = *q > 0 ? *h / *q * 100.0 : 0.0;
                    } else {
                        v = report_number(x, {"mean_ttft_ms"});
                    }
                    if (v) s.points.emplace_back(idx, *v);
                }
                if (!s.points.empty()) c.series.push_back(std::move(s));
            }
            if (id == "fleet_hit" && std::all_of(c.series.begin(), c.series.end(), [](const Series& s) {
                    return std::all_of(s.points.begin(), s.points.end(), [](const auto& p) { return p.second == 0.0; });
                }))
                c.note = "0% on every replica: no request found its prompt's prefix cached (no shared prompts, or "
                         "prefix caching off).";
            if (!c.series.empty()) sec.charts.push_back(std::move(c));
        }
        // Each replica's running requests over time (one fleet result: one colour per replica).
        if (fleets == 1)
            for (const ReportInput* r : results) {
                const auto* a = per_replica(r);
                if (a == nullptr) continue;
                Chart c;
                c.id = "fleet_running";
                c.title = "Running requests per replica: " + r->name;
                c.note = "Each replica's own 1 s series (llmemu.fleet.per_replica[].timeseries).";
                c.x = {"time since the start of the run (s)", false, 0.0, std::nullopt};
                c.y = {"running requests", false, 0.0, std::nullopt};
                for (std::size_t i = 0; i < a->size(); ++i) {
                    nlohmann::json wrap;
                    if (const auto* ts = report_find((*a)[i], {"timeseries"}); ts != nullptr)
                        wrap["llmemu"]["timeseries"] = *ts;
                    const auto ts = report_ts_from_json(wrap, r->source + " (replica " + std::to_string(i) + ")");
                    if (!ts) continue;
                    auto it = ts->cols.find("running");
                    if (it == ts->cols.end()) continue;
                    Points p;
                    for (std::size_t k = 0; k < ts->t.size(); ++k)
                        if (std::isfinite(ts->t[k]) && std::isfinite(it->second[k]))
                            p.emplace_back(ts->t[k], it->second[k]);
                    if (p.empty()) continue;
                    Series s;
                    s.name = "replica " + std::to_string(i);
                    s.colour = i;
                    s.toggle = "replica-" + std::to_string(i);
                    s.points = minmax_downsample(p, maxp);
                    c.series.push_back(std::move(s));
                }
                if (!c.series.empty()) sec.charts.push_back(std::move(c));
            }
        // Pools of a heterogeneous fleet (llmemu.fleet.pools, simulate --fleet FILE).
        for (const ReportInput* r : results) {
            const nlohmann::json* pools = report_find(r->json, {"llmemu", "fleet", "pools"});
            if (pools == nullptr || !pools->is_array() || pools->empty()) continue;
            Table t;
            t.id = "fleet_pools_" + std::to_string(colour[r]);
            t.title = "Pools: " + r->name;
            t.note = "GPU-hours = replicas x tensor-parallel size x simulated hours; cost in the fleet file's "
                     "cost_per_gpu_hour units.";
            t.header = {"pool",           "replicas",       "profile",   "TP",  "completed",
                        "mean TTFT (ms)", "mean TPOT (ms)", "GPU-hours", "cost"};
            for (const auto& p : *pools) {
                auto cell = [&](const char* k, const char* f) {
                    const auto v = report_number(p, {k});
                    return v ? report_fmt(f, *v) : std::string("-");
                };
                const nlohmann::json* name = report_find(p, {"name"});
                const nlohmann::json* prof = report_find(p, {"profile"});
                t.rows.push_back({name != nullptr ? report_text(*name) : "-", cell("replicas", "%.0f"),
                                  prof != nullptr ? report_text(*prof) : "-", cell("tensor_parallel_size", "%.0f"),
                                  cell("completed", "%.0f"), cell("mean_ttft_ms", "%.2f"), cell("mean_tpot_ms", "%.2f"),
                                  cell("gpu_hours", "%.3f"), cell("cost", "%.2f")});
            }
            sec.tables.push_back(std::move(t));
        }
        if (!sec.charts.empty() || !sec.tables.empty()) rep.sections.push_back(std::move(sec));
    }

    // ---- sweeps ----
    for (const ReportInput* in : sweeps) {
        const CsvTable& t = in->table;
        Section sec;
        sec.id = "sweep_" + std::to_string(rep.sections.size());
        sec.title = "Sweep: " + in->name;
        sec.note = "Mean over seeds per request rate; one colour per engine setting.";
        // The engine setting of a row: every column before num_requests except the rate,
        // the seed and the derived ones.
        const std::size_t setting_end = t.column("num_requests").value_or(t.header.size());
        // Only the columns that vary name a setting (the others are the same for every row).
        std::vector<std::size_t> key_cols;
        for (std::size_t c = 0; c < setting_end; ++c) {
            const std::string& h = t.header[c];
            if (h == "request_rate" || h == "seed" || h == "burstiness" || h == "max_model_len") continue;
            for (const auto& row : t.rows)
                if (row[c] != t.rows.front()[c]) {
                    key_cols.push_back(c);
                    break;
                }
        }
        std::vector<std::string> settings;
        std::map<std::string, std::map<double, std::vector<std::size_t>>> rows_of;
        for (std::size_t r = 0; r < t.rows.size(); ++r) {
            std::string key;
            for (std::size_t c : key_cols) {
                if (!key.empty()) key += ' ';
                key += t.header[c] + "=" + t.rows[r][c];
            }
            if (!rows_of.count(key)) settings.push_back(key);
            const auto rate = csv_number(t, r, "request_rate", in->source);
            if (!rate)
                report_fail(in->source + ":" + std::to_string(t.lines[r]) + ": empty request_rate; regenerate the CSV");
            rows_of[key][*rate].push_back(r);
        }
        std::string p_word;
        for (const auto& h : t.header)
            if (h.size() > 9 && h[0] == 'p' && h.ends_with("_ttft_ms")) p_word = h.substr(1, h.size() - 9);
        auto mean_of = [&](const std::vector<std::size_t>& rows, const std::string& col) -> std::optional<double> {
            double s = 0.0;
            std::size_t n = 0;
            for (std::size_t r : rows)
                if (auto v = csv_number(t, r, col, in->source); v && std::isfinite(*v)) {
                    s += *v;
                    ++n;
                }
            if (n == 0) return std::nullopt;
            return s / static_cast<double>(n);
        };
        const bool with_att = t.column("slo_attainment").has_value();
        bool skipped_inf = false;
        auto lat_chart = [&](const std::string& metric, const std::string& label, std::optional<double> slo) {
            Chart c;
            c.id = sec.id + "_" + metric;
            c.title = label + " against request rate";
            c.x = {"request rate (req/s)", false, 0.0, std::nullopt};
            double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
            for (std::size_t si = 0; si < settings.size(); ++si) {
                for (int which = 0; which < 2; ++which) {
                    const std::string col =
                        which == 0 ? (p_word.empty() ? "mean_" + metric + "_ms" : "p" + p_word + "_" + metric + "_ms")
                                   : "median_" + metric + "_ms";
                    Series s;
                    s.name = (settings[si].empty() ? std::string() : settings[si] + " ") +
                             (which == 0 ? (p_word.empty() ? "mean" : "p" + p_word) : "median (dashed)");
                    s.colour = si;
                    s.dashed = which == 1;
                    for (const auto& [rate, rows] : rows_of[settings[si]]) {
                        if (std::isinf(rate)) {
                            skipped_inf = true;
                            continue;
                        }
                        if (auto v = mean_of(rows, col)) s.points.emplace_back(rate, *v);
                    }
                    if (!s.points.empty()) c.series.push_back(std::move(s));
                }
            }
            for (const auto& s : c.series)
                for (const auto& p : s.points)
                    if (p.second > 0.0) {
                        lo = std::min(lo, p.second);
                        hi = std::max(hi, p.second);
                    }
            const bool log = hi > 0.0 && hi / lo > 20.0;
            c.y = {label + (log ? " (ms, log scale)" : " (ms)"), log, std::nullopt, std::nullopt};
            if (slo) c.lines.push_back({false, *slo, "SLO " + svg_label(*slo) + " ms", 6});
            return c;
        };
        Chart ct = lat_chart("ttft", "TTFT", opt.slo_ttft_ms);
        Chart cp = lat_chart("tpot", "TPOT", opt.slo_tpot_ms);
        Chart ce = lat_chart("e2el", "E2E", opt.slo_e2el_ms);
        Chart thr;
        thr.id = sec.id + "_throughput";
        thr.title = "Output throughput against request rate";
        thr.x = {"request rate (req/s)", false, 0.0, std::nullopt};
        thr.y = {"output tokens per second", false, 0.0, std::nullopt};
        for (std::size_t si = 0; si < settings.size(); ++si) {
            Series s;
            s.name = settings[si].empty() ? "output throughput" : settings[si];
            s.colour = si;
            for (const auto& [rate, rows] : rows_of[settings[si]])
                if (!std::isinf(rate))
                    if (auto v = mean_of(rows, "output_throughput")) s.points.emplace_back(rate, *v);
            if (!s.points.empty()) thr.series.push_back(std::move(s));
        }
        // The sustainable rate: sustainable_rate(), the rule `llmemu sweep --slo` prints.
        Table cap;
        cap.id = sec.id + "_capacity";
        cap.title = "Sustainable request rate";
        cap.header = {"engine setting", "sustainable rate (req/s)", "first rate missing the SLOs"};
        for (std::size_t si = 0; si < settings.size() && with_att; ++si) {
            std::vector<RateAttainment> runs;
            for (const auto& [rate, rows] : rows_of[settings[si]])
                for (std::size_t r : rows)
                    runs.push_back({rate, csv_number(t, r, "slo_attainment", in->source).value_or(0.0)});
            const SustainableRate found = sustainable_rate(std::move(runs), opt.slo_attainment);
            const std::optional<double> best = found.rate, miss = found.first_miss;
            cap.rows.push_back({settings[si].empty() ? "(one setting)" : settings[si],
                                best ? report_rate_text(*best) : "none of the rates",
                                miss ? report_rate_text(*miss) : "none (try higher rates)"});
            if (best && std::isfinite(*best))
                for (Chart* c : {&ct, &cp, &ce, &thr})
                    c->lines.push_back({true, *best,
                                        report_rate_text(*best) + " req/s sustained" +
                                            (settings.size() > 1 ? " (" + settings[si] + ")" : ""),
                                        si});
        }
        if (with_att)
            cap.note = "Sustained: at least " + report_fmt("%g", opt.slo_attainment * 100.0) +
                       "% of requests meet the SLOs (slo_attainment column) at that rate and every lower one, on "
                       "every seed.";
        else
            sec.note += " The CSV has no slo_attainment column: run llmemu sweep with --slo to mark the "
                        "sustainable rate.";
        if (skipped_inf) sec.note += " Rate inf (all at once) is not drawn.";
        if (with_att) sec.tables.push_back(std::move(cap));
        for (Chart* c : {&ct, &cp, &ce, &thr})
            if (!c->series.empty()) sec.charts.push_back(std::move(*c));
        if (!sec.charts.empty())
            rep.sections.push_back(std::move(sec));
        else
            rep.notes.push_back(in->source + ": no finite request rate with latency columns to draw");
    }

    // ---- plans: cost against the first SLO, the Pareto frontier joined ----
    for (const ReportInput* in : plans) {
        const CsvTable& t = in->table;
        const auto pass_col = t.column("pass");
        if (!pass_col || *pass_col + 1 >= t.header.size() || t.header[*pass_col + 1] == "fewest") {
            rep.notes.push_back(in->source + ": a plan CSV without an SLO column after 'pass'; nothing to draw");
            continue;
        }
        const std::string metric = t.header[*pass_col + 1];
        Section sec;
        sec.id = "plan_" + std::to_string(rep.sections.size());
        sec.title = "Plan: " + in->name;
        Chart c;
        c.id = sec.id + "_frontier";
        c.title = "Cost per hour against " + metric;
        c.x = {"cost per hour", false, 0.0, std::nullopt};
        std::vector<std::string> names;
        std::map<std::string, Series> by_candidate;
        Series frontier;
        frontier.name = "Pareto frontier";
        frontier.colour = 6; // black, as reference lines
        std::size_t failing = 0;
        double lo = 1e300, hi = 0.0;
        for (std::size_t r = 0; r < t.rows.size(); ++r) {
            const auto cost = csv_number(t, r, "cost_per_hour", in->source);
            const auto value = csv_number(t, r, metric, in->source);
            if (csv_number(t, r, "pass", in->source).value_or(0.0) != 1.0 || !cost || !value ||
                !std::isfinite(*value)) {
                ++failing;
                continue;
            }
            const std::string name =
                "#" + t.rows[r][0] + " " + t.rows[r][*t.column("fleet")] + " " + t.rows[r][*t.column("router")];
            if (!by_candidate.count(name)) {
                names.push_back(name);
                by_candidate[name].name = name;
                by_candidate[name].colour = names.size() - 1;
                by_candidate[name].style = Series::Style::markers;
            }
            by_candidate[name].points.emplace_back(*cost, *value);
            if (csv_number(t, r, "pareto", in->source).value_or(0.0) == 1.0)
                frontier.points.emplace_back(*cost, *value);
            if (*value > 0.0) {
                lo = std::min(lo, *value);
                hi = std::max(hi, *value);
            }
        }
        std::sort(frontier.points.begin(), frontier.points.end());
        const bool log = hi > 0.0 && hi / lo > 20.0;
        c.y = {metric + (log ? " (log scale)" : ""), log, std::nullopt, std::nullopt};
        for (const auto& n : names) c.series.push_back(std::move(by_candidate[n]));
        if (!frontier.points.empty()) c.series.push_back(std::move(frontier));
        sec.note = "Every passing point the plan ran (one colour per candidate); the line joins the cost/latency "
                   "Pareto frontier (no cheaper passing point has a better " +
                   metric + ").";
        if (failing > 0) sec.note += " " + std::to_string(failing) + " failing points are not drawn.";
        if (!c.series.empty()) {
            sec.charts.push_back(std::move(c));
            rep.sections.push_back(std::move(sec));
        } else {
            rep.notes.push_back(in->source + ": no passing point to draw");
        }
    }

    // ---- validation tables ----
    for (const ReportInput* in : validations) {
        const CsvTable& t = in->table;
        Section sec;
        sec.id = "validation_" + std::to_string(rep.sections.size());
        sec.title = "Emulated vs real: " + in->name;
        sec.note = "Signed % error of the mean ((emu - real) / real), paired by request rate, and the largest "
                   "absolute error over rates (LLM-Emu's Table 1).";
        Table tb;
        tb.id = sec.id + "_table";
        tb.title = "% error per request rate";
        tb.header = {"request rate", "TTFT %", "TPOT %", "ITL %", "E2E %", "TPS %"};
        const char* cols[] = {"ttft_mean_pct", "tpot_mean_pct", "itl_mean_pct", "e2e_mean_pct", "tps_pct"};
        std::vector<double> maxabs(5, 0.0);
        bool has_max_row = false;
        for (std::size_t r = 0; r < t.rows.size(); ++r) {
            const bool is_max = t.rows[r][0] == "max_abs";
            std::vector<std::string> cells{is_max ? "max |err|" : t.rows[r][0]};
            for (std::size_t k = 0; k < 5; ++k) {
                const auto v = csv_number(t, r, cols[k], in->source);
                cells.push_back(v ? report_fmt(is_max ? "%.2f" : "%+.2f", *v) : "-");
                if (v && std::isfinite(*v) && !is_max) maxabs[k] = std::max(maxabs[k], std::abs(*v));
            }
            has_max_row = has_max_row || is_max;
            tb.rows.push_back(std::move(cells));
        }
        if (!has_max_row) {
            std::vector<std::string> cells{"max |err|"};
            for (double v : maxabs) cells.push_back(report_fmt("%.2f", v));
            tb.rows.push_back(std::move(cells));
        }
        sec.tables.push_back(std::move(tb));
        rep.sections.push_back(std::move(sec));
    }
    // ---- per-request validation (llmemu validate --json of one real and one emulated run) ----
    for (const ReportInput* in : request_validations) {
        const nlohmann::json& j = in->json;
        Section sec;
        sec.id = "validation_" + std::to_string(rep.sections.size());
        sec.title = "Emulated vs real, per request: " + in->name;
        sec.note = "Per-request latency of one real and one emulated run: each statistic real and emulated, and "
                   "the signed % error (emu - real) / real; the Kolmogorov-Smirnov distance of the distributions.";
        Table tb;
        tb.id = sec.id + "_table";
        tb.title = "Latency statistics and % error";
        tb.header = {"metric", "statistic", "real (ms)", "emulated (ms)", "error %"};
        const std::pair<const char*, const char*> metrics[] = {{"ttft", "TTFT"}, {"tpot", "TPOT"}, {"e2e", "E2E"}};
        const nlohmann::json& m = j["metrics"];
        double maxabs = 0.0;
        for (const auto& [key, label] : metrics) {
            const nlohmann::json* stats = report_find(m, {key});
            if (stats == nullptr || !stats->is_object()) continue;
            for (const char* st : {"mean", "median", "p90", "p99"}) {
                const nlohmann::json* c = report_find(*stats, {st});
                if (c == nullptr) continue;
                if (!c->is_object())
                    report_fail(in->source + ": metrics." + key + "." + st +
                                " is not an object {real, emu, pct}; give the output of llmemu validate --json");
                auto cell = [&](const char* k, const char* f) {
                    const auto v = report_number(*c, {k});
                    return v ? report_fmt(f, *v) : std::string("n/a");
                };
                if (const auto pct = report_number(*c, {"pct"})) maxabs = std::max(maxabs, std::abs(*pct));
                tb.rows.push_back({label, st, cell("real", "%.2f"), cell("emu", "%.2f"), cell("pct", "%+.2f")});
            }
        }
        if (tb.rows.empty())
            report_fail(in->source + ": 'metrics' has none of ttft, tpot, e2e with mean / median / p90 / p99; give "
                                     "the output of llmemu validate --json");
        tb.rows.push_back({"all", "max |err|", "", "", report_fmt("%.2f", maxabs)});
        sec.tables.push_back(std::move(tb));
        if (const auto* ks = report_find(j, {"ks"}); ks != nullptr && ks->is_object()) {
            Table k;
            k.id = sec.id + "_ks";
            k.title = "Kolmogorov-Smirnov distance (0 = same distribution, 1 = disjoint)";
            k.header = {"metric", "KS distance"};
            for (const auto& [key, label] : {std::pair{"ttft", "TTFT"}, std::pair{"e2e", "E2E"}})
                if (const auto* v = report_find(*ks, {key}))
                    k.rows.push_back({label, v->is_number() ? report_fmt("%.4f", v->get<double>()) : "n/a"});
            if (!k.rows.empty()) sec.tables.push_back(std::move(k));
        }
        if (const auto* ts = report_find(j, {"timeseries", "series"}); ts != nullptr && ts->is_object()) {
            Table k;
            k.id = sec.id + "_timeseries";
            k.title = "Engine time series, real vs emulated";
            if (const auto p = report_number(j, {"timeseries", "points"}))
                k.note = "Means over " + report_fmt("%.0f", *p) + " common sample times.";
            k.header = {"series", "real mean", "emulated mean", "mean |difference|"};
            for (auto it = ts->begin(); it != ts->end(); ++it) {
                auto cell = [&](const char* f) {
                    const auto v = report_number(*it, {f});
                    return v ? report_fmt("%.3f", *v) : std::string("n/a");
                };
                k.rows.push_back({it.key(), cell("real_mean"), cell("emu_mean"), cell("mean_abs_diff")});
            }
            if (!k.rows.empty()) sec.tables.push_back(std::move(k));
        }
        rep.sections.push_back(std::move(sec));
    }
    if (rep.sections.empty())
        report_fail("nothing to draw in the inputs (" + inputs.front().source + (inputs.size() > 1 ? ", ..." : "") +
                    "); give a result JSON, a sweep or validation CSV");
    return rep;
}

namespace detail {
inline const char* report_css() {
    return R"(
:root{--fg:#1a1a1a;--muted:#555;--line:#d0d0d0;--bg:#fff}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1320px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 4px;border-bottom:2px solid var(--fg);padding-bottom:2px}
h3{font-size:15px;margin:0}p.note,p.sub{color:var(--muted);margin:2px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid var(--line);border-left:6px solid var(--c,#999);padding:8px 12px;flex:1 1 380px;max-width:640px}
.card table{border-collapse:collapse;font-size:12.5px}.card td{padding:1px 8px 1px 0;vertical-align:top}
.card td:first-child{color:var(--muted);white-space:nowrap}
.grid{display:flex;flex-wrap:wrap;gap:18px}
figure{margin:0;border:1px solid var(--line);padding:10px 10px 4px;break-inside:avoid;page-break-inside:avoid;max-width:100%}
.grid figure{width:602px}
figure.table{width:fit-content;margin-bottom:14px}
figure svg{max-width:100%;height:auto;display:block}
table.data{border-collapse:collapse;margin:8px 0 4px;font-size:13px;font-variant-numeric:tabular-nums}
table.data th,table.data td{border:1px solid var(--line);padding:3px 9px;text-align:right}
table.data th:first-child,table.data td:first-child{text-align:left}
table.data thead th{background:#f2f2f2}
svg .plot-bg{fill:#fff}svg .frame{fill:none;stroke:#333;stroke-width:1}
svg .grid{stroke:#e3e3e3;stroke-width:1}svg .tick{font-size:11px;fill:#333}
svg .axis-label{font-size:12.5px;fill:#1a1a1a}svg .legend{font-size:12px;fill:#1a1a1a}
svg .legend-entry[data-series]{cursor:pointer}svg .off{opacity:.15}
ul.notes{color:#8a3b00}
@media print{body{padding:0;max-width:none}figure{border-color:#999}h2{break-after:avoid}}
)";
}

// Optional: a click on a legend entry hides or shows that input's curves in every chart.
// The page is complete without it (printing, no-script viewers).
inline const char* report_js() {
    return R"((function(){
  document.querySelectorAll('svg .legend-entry[data-series]').forEach(function(e){
    e.addEventListener('click',function(){
      var k=e.getAttribute('data-series');
      document.querySelectorAll('[data-series="'+k+'"]').forEach(function(x){x.classList.toggle('off');});
    });
  });
  var drawn=0,charts=document.querySelectorAll('svg.chart');
  charts.forEach(function(s){
    var ok=false;
    s.querySelectorAll('.data').forEach(function(d){var b=d.getBBox();if(b.width>0||b.height>0)ok=true;});
    if(ok)drawn++;
  });
  document.documentElement.setAttribute('data-charts',String(charts.length));
  document.documentElement.setAttribute('data-charts-drawn',String(drawn));
})();)";
}

inline void report_table_html(std::string& o, const Table& t) {
    o += "<figure class=\"table\" data-table=\"" + svg_escape(t.id) + "\"><figcaption><h3>" + svg_escape(t.title) +
         "</h3>";
    if (!t.note.empty()) o += "<p class=\"note\">" + svg_escape(t.note) + "</p>";
    o += "</figcaption><table class=\"data\"><thead><tr>";
    for (const auto& h : t.header) o += "<th>" + svg_escape(h) + "</th>";
    o += "</tr></thead><tbody>";
    for (const auto& r : t.rows) {
        o += "<tr>";
        for (const auto& c : r) o += "<td>" + svg_escape(c) + "</td>";
        o += "</tr>";
    }
    o += "</tbody></table></figure>";
}
} // namespace detail

/// The report as one self-contained HTML page.
inline std::string render_html(const Report& rep) {
    using namespace detail;
    std::string o;
    o.reserve(1 << 16);
    o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width, initial-scale=1\"><title>" +
         svg_escape(rep.title) + "</title><style>" + report_css() + "</style></head><body>\n";
    o += "<header><h1>" + svg_escape(rep.title) +
         "</h1><p class=\"sub\">Written by llmemu " LLMEMU_VERSION_STRING " from " +
         std::to_string(rep.configs.size()) + " input" + (rep.configs.size() == 1 ? "" : "s") +
         ". Self-contained: no network access needed; prints on paper.</p><div class=\"cards\">";
    for (const auto& c : rep.configs) {
        o += "<div class=\"card\" style=\"--c:" + std::string(c.colour < palette_size ? palette[c.colour] : "#999") +
             "\"><h3>" + svg_escape(c.name) + " <small>(" + svg_escape(c.kind) + ")</small></h3><table>";
        for (const auto& [k, v] : c.fields)
            o += "<tr><td>" + svg_escape(k) + "</td><td>" + svg_escape(v) + "</td></tr>";
        o += "</table></div>";
    }
    o += "</div></header>\n";
    if (!rep.notes.empty()) {
        o += "<ul class=\"notes\">";
        for (const auto& n : rep.notes) o += "<li>" + svg_escape(n) + "</li>";
        o += "</ul>";
    }
    for (const auto& s : rep.sections) {
        o += "<section id=\"" + svg_escape(s.id) + "\"><h2>" + svg_escape(s.title) + "</h2>";
        if (!s.note.empty()) o += "<p class=\"note\">" + svg_escape(s.note) + "</p>";
        for (const auto& t : s.tables) report_table_html(o, t);
        o += "<div class=\"grid\">";
        for (const auto& c : s.charts) {
            o += "<figure><figcaption><h3>" + svg_escape(c.title) + "</h3>";
            if (!c.note.empty()) o += "<p class=\"note\">" + svg_escape(c.note) + "</p>";
            o += "</figcaption>" + render_svg(c) + "</figure>\n";
        }
        for (const auto& h : s.heatmaps) {
            o += "<figure><figcaption><h3>" + svg_escape(h.title) + "</h3>";
            if (!h.note.empty()) o += "<p class=\"note\">" + svg_escape(h.note) + "</p>";
            o += "</figcaption>" + render_svg(h) + "</figure>\n";
        }
        o += "</div></section>\n";
    }
    o += "<script>" + std::string(report_js()) + "</script></body></html>\n";
    return o;
}

/// Builds and writes the report of `inputs` to `path`. Throws report_error naming the
/// file when it cannot be written.
inline void write_html_report(const std::filesystem::path& path, const std::vector<ReportInput>& inputs,
                              const ReportOptions& opt = {}) {
    const std::string html = render_html(build_report(inputs, opt));
    std::ofstream out(path, std::ios::binary);
    if (!out) detail::report_fail(path.string() + ": cannot write the report; check the directory");
    out << html;
    if (!out) detail::report_fail(path.string() + ": write failed (disk full?)");
}

} // namespace report
LLMEMU_END_NAMESPACE
