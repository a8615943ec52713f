#pragma once
/// \file validation_timeseries.hpp
/// Comparing an engine's time series with a real run's: vLLM's 1 s log as CSV
/// (`timeseries.csv`: t, prompt_throughput, gen_throughput, running, waiting,
/// kv_cache_pct) against the `llmemu.timeseries` section of an llmemu result JSON
/// (EngineTimeSeries: t_s, interval_s and the same series names, plus preemptions). Each
/// point stands for the interval that ends at its t; after a side's last point its
/// engine is idle (every series 0). Needs nlohmann-json.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/engine/timeseries.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A time series table: point i covers (t_s[i] - interval_s, t_s[i]].
struct TimeSeriesTable {
    std::string source;
    double interval_s = 1.0;
    std::vector<double> t_s;
    /// (name, values) in file order; every values vector has t_s.size() entries.
    std::vector<std::pair<std::string, std::vector<double>>> columns;

    [[nodiscard]] const std::vector<double>* find(std::string_view name) const noexcept {
        for (const auto& [n, v] : columns)
            if (n == name) return &v;
        return nullptr;
    }
    /// The value of series `values` for the interval holding time t (0 outside the table).
    [[nodiscard]] double at(const std::vector<double>& values, double t) const noexcept {
        const auto it = std::lower_bound(t_s.begin(), t_s.end(), t - 1e-9);
        if (it == t_s.end()) return 0.0;
        if (*it - interval_s > t + 1e-9) return 0.0;
        return values[static_cast<std::size_t>(it - t_s.begin())];
    }
};

/// Parses vLLM's 1 s log CSV: a header with a `t` column and numeric columns, then one
/// row per interval in increasing t. The interval is the smallest gap between rows (1 s
/// when there is one row). Throws config_error naming `source`, the line and the fix.
[[nodiscard]] inline TimeSeriesTable parse_timeseries_csv(std::string_view text, const std::string& source) {
    TimeSeriesTable tab;
    tab.source = source;
    auto fail = [&source](std::size_t line, const std::string& what) {
        detail::text_fail<config_error>({source, line}, what);
    };
    std::vector<std::string_view> cells;
    std::size_t line_no = 0, pos = 0, t_col = 0;
    bool have_header = false;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        detail::csv_split(line, cells);
        if (!have_header) {
            bool found = false;
            for (std::size_t i = 0; i < cells.size(); ++i) {
                const std::string name(cells[i]);
                if (name == "t" || name == "t_s") {
                    if (found) fail(line_no, "header has two time columns ('t' or 't_s'); keep one");
                    t_col = i;
                    found = true;
                } else {
                    if (name.empty()) fail(line_no, "header has an empty column name");
                    if (tab.find(name) != nullptr)
                        fail(line_no,
                             "header names column '" + detail::text_echo(name) + "' twice; give each column once");
                    tab.columns.emplace_back(name, std::vector<double>{});
                }
            }
            if (!found)
                fail(line_no, "header has no 't' column; expected vLLM's 1 s log columns t,prompt_throughput,"
                              "gen_throughput,running,waiting,kv_cache_pct");
            have_header = true;
            continue;
        }
        if (cells.size() != tab.columns.size() + 1)
            fail(line_no, "has " + std::to_string(cells.size()) + " cells but the header has " +
                              std::to_string(tab.columns.size() + 1));
        std::size_t col = 0;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const std::string_view name = i == t_col ? std::string_view("t") : tab.columns[col].first;
            const double v =
                detail::csv_number<config_error>(cells[i], {source, line_no}, name, "give a number in every cell");
            if (i == t_col) {
                if (!tab.t_s.empty() && !(v > tab.t_s.back())) fail(line_no, "t must increase from row to row");
                tab.t_s.push_back(v);
            } else {
                tab.columns[col++].second.push_back(v);
            }
        }
    }
    if (!have_header || tab.t_s.empty())
        detail::throw_error<config_error>("time series '" + source + "' has no rows; give vLLM's 1 s log CSV");
    double gap = 1.0;
    if (tab.t_s.size() > 1) {
        gap = tab.t_s[1] - tab.t_s[0];
        for (std::size_t i = 2; i < tab.t_s.size(); ++i) gap = std::min(gap, tab.t_s[i] - tab.t_s[i - 1]);
    }
    tab.interval_s = gap;
    return tab;
}

/// Reads a time series CSV file (see parse_timeseries_csv).
[[nodiscard]] inline TimeSeriesTable read_timeseries_csv(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::throw_error<config_error>("time series '" + path.string() + "': cannot open the file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_timeseries_csv(text, path.string());
}

/// An EngineTimeSeries as JSON: {"interval_s", "t_s" (end of each interval), "running",
/// "waiting", "kv_cache_pct" (0..100), "preemptions" (per interval), "prompt_throughput"
/// and "gen_throughput" (tokens/s over the interval)}.
[[nodiscard]] inline nlohmann::json to_json(const EngineTimeSeries& ts) {
    const double w = std::chrono::duration<double>(ts.interval()).count();
    nlohmann::json j;
    std::vector<double> t, kv, prompt, gen;
    std::vector<std::uint32_t> running, waiting;
    std::vector<std::uint64_t> preempt;
    const auto& pts = ts.points();
    for (std::size_t k = 0; k < pts.size(); ++k) {
        t.push_back(static_cast<double>(k + 1) * w);
        running.push_back(pts[k].running);
        waiting.push_back(pts[k].waiting);
        kv.push_back(std::round(pts[k].kv_usage * 1e4) / 100.0);
        preempt.push_back(pts[k].preemptions);
        prompt.push_back(static_cast<double>(pts[k].prompt_tokens) / w);
        gen.push_back(static_cast<double>(pts[k].generation_tokens) / w);
    }
    j["interval_s"] = w;
    j["t_s"] = t;
    j["running"] = running;
    j["waiting"] = waiting;
    j["kv_cache_pct"] = kv;
    j["preemptions"] = preempt;
    j["prompt_throughput"] = prompt;
    j["gen_throughput"] = gen;
    return j;
}

/// The time series of an llmemu result JSON (its "llmemu" section's "timeseries").
/// Throws config_error naming `source` when it has none or it is malformed.
[[nodiscard]] inline TimeSeriesTable timeseries_from_result_json(const nlohmann::json& j, const std::string& source) {
    auto bad = [&source](const std::string& what) {
        detail::throw_error<config_error>("result '" + source + "': " + what +
                                          "; write it with llmemu simulate --result-json (this version or later)");
    };
    if (!j.is_object() || !j.contains("llmemu") || !j["llmemu"].is_object() || !j["llmemu"].contains("timeseries"))
        bad("has no llmemu.timeseries section");
    const nlohmann::json& ts = j["llmemu"]["timeseries"];
    if (!ts.is_object() || !ts.contains("t_s") || !ts["t_s"].is_array()) bad("llmemu.timeseries has no t_s list");
    TimeSeriesTable tab;
    tab.source = source;
    if (ts.contains("interval_s") && ts["interval_s"].is_number()) tab.interval_s = ts["interval_s"].get<double>();
    if (!(tab.interval_s > 0.0)) bad("llmemu.timeseries.interval_s must be positive");
    for (const auto& v : ts["t_s"]) {
        if (!v.is_number()) bad("llmemu.timeseries.t_s holds a non-number");
        tab.t_s.push_back(v.get<double>());
    }
    for (auto it = ts.begin(); it != ts.end(); ++it) {
        if (it.key() == "t_s" || !it->is_array()) continue;
        if (it->size() != tab.t_s.size()) bad("llmemu.timeseries." + it.key() + " differs in length from t_s");
        std::vector<double> vals;
        vals.reserve(it->size());
        for (const auto& v : *it) {
            if (!v.is_number()) bad("llmemu.timeseries." + it.key() + " holds a non-number");
            vals.push_back(v.get<double>());
        }
        tab.columns.emplace_back(it.key(), std::move(vals));
    }
    return tab;
}

/// One series compared: the mean of each side and the mean absolute difference over a
/// common time grid.
struct TimeSeriesRow {
    std::string name;
    double real_mean = 0.0;
    double emu_mean = 0.0;
    double mean_abs_diff = 0.0;
};

/// Real vs emulated time series, on the grid of the real series' times extended by the
/// emulated ones after the real run ended.
struct TimeSeriesReport {
    std::vector<TimeSeriesRow> rows;
    std::vector<double> grid;
    /// Per row: (real, emu) values on the grid.
    std::vector<std::pair<std::vector<double>, std::vector<double>>> values;
};

/// Compares every series both tables have. Throws config_error when they share none.
[[nodiscard]] inline TimeSeriesReport compare_timeseries(const TimeSeriesTable& real, const TimeSeriesTable& emu) {
    TimeSeriesReport rep;
    rep.grid = real.t_s;
    const double real_end = real.t_s.empty() ? 0.0 : real.t_s.back();
    for (double t : emu.t_s)
        if (t > real_end + 1e-9) rep.grid.push_back(t);
    for (const auto& [name, rv] : real.columns) {
        const std::vector<double>* ev = emu.find(name);
        if (ev == nullptr) continue;
        TimeSeriesRow row;
        row.name = name;
        std::vector<double> a, b;
        for (double t : rep.grid) {
            a.push_back(real.at(rv, t));
            b.push_back(emu.at(*ev, t));
            row.real_mean += a.back();
            row.emu_mean += b.back();
            row.mean_abs_diff += std::abs(a.back() - b.back());
        }
        const double n = rep.grid.empty() ? 1.0 : static_cast<double>(rep.grid.size());
        row.real_mean /= n;
        row.emu_mean /= n;
        row.mean_abs_diff /= n;
        rep.rows.push_back(row);
        rep.values.emplace_back(std::move(a), std::move(b));
    }
    if (rep.rows.empty())
        detail::throw_error<config_error>("time series '" + real.source + "' and '" + emu.source +
                                          "' share no series; expected columns such as running, waiting, "
                                          "kv_cache_pct, prompt_throughput, gen_throughput");
    return rep;
}

/// The report as a table (series, real mean, our mean, mean |difference|).
inline void print_timeseries_table(std::ostream& os, const TimeSeriesReport& rep) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-18s %12s %12s %14s\n", "series", "real mean", "ours mean", "mean |diff|");
    os << buf << std::string(59, '-') << '\n';
    for (const auto& r : rep.rows) {
        std::snprintf(buf, sizeof buf, "%-18s %12.2f %12.2f %14.2f\n", r.name.c_str(), r.real_mean, r.emu_mean,
                      r.mean_abs_diff);
        os << buf;
    }
}

/// The aligned series as CSV: t, then real_<name>,emu_<name> per compared series.
inline void write_timeseries_csv(std::ostream& os, const TimeSeriesReport& rep) {
    os << 't';
    for (const auto& r : rep.rows) os << ",real_" << r.name << ",emu_" << r.name;
    os << '\n';
    char buf[64];
    for (std::size_t i = 0; i < rep.grid.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%g", rep.grid[i]);
        os << buf;
        for (const auto& [a, b] : rep.values) {
            std::snprintf(buf, sizeof buf, ",%g,%g", a[i], b[i]);
            os << buf;
        }
        os << '\n';
    }
}

/// The report as JSON: {"series": {name: {"real_mean", "emu_mean", "mean_abs_diff"}}, "points"}.
[[nodiscard]] inline nlohmann::json to_json(const TimeSeriesReport& rep) {
    nlohmann::json j;
    j["points"] = rep.grid.size();
    nlohmann::json s = nlohmann::json::object();
    for (const auto& r : rep.rows)
        s[r.name] = {{"real_mean", r.real_mean}, {"emu_mean", r.emu_mean}, {"mean_abs_diff", r.mean_abs_diff}};
    j["series"] = std::move(s);
    return j;
}

LLMEMU_END_NAMESPACE
