#pragma once
/// \file inputs.hpp
/// What `llmemu report` reads, recognised by content (not by file name):
/// - a result JSON: `vllm bench serve --save-result` keys, with or without llmemu's
///   `llmemu` section (`llmemu simulate --result-json`, `llmemu bench --result-json`);
/// - a sweep CSV (`llmemu sweep -o`, header starting `request_rate,`);
/// - a plan CSV (`llmemu plan --csv`, header starting `candidate,` with cost_per_hour, pareto);
/// - a validation CSV (`llmemu validate --csv`, LLM-Emu's per_rate_deltas.csv, header
///   `rate,ttft_mean_pct,...`) or the same comparison as JSON (`llmemu validate --json` of
///   mean-only results: {"rates": [{"rate", "ttft_mean_pct", ...}], "max_abs": {...}}), read
///   into the same table;
/// - a per-request validation JSON (`llmemu validate --json` of one real and one emulated
///   run with per-request lists: {"real", "emu", "metrics", "ks", ["timeseries"]});
/// - a per-second time series CSV (vLLM's 1 s log as LLMServingSim's runs save it:
///   header with `t` and at least one of running, waiting, kv_cache_pct,
///   prompt_throughput, gen_throughput).
/// Errors name the file, the line and the fix. Needs nlohmann-json.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// An input of the HTML report is missing, malformed or of an unknown kind.
class report_error : public error {
public:
    using error::error;
};

namespace report {

/// A CSV file as a header and rows of cells (every row as wide as the header).
struct CsvTable {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    /// The 1-based file line of each row, for messages.
    std::vector<std::size_t> lines;

    /// The index of column `name`, or nullopt.
    [[nodiscard]] std::optional<std::size_t> column(std::string_view name) const {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (header[i] == name) return i;
        return std::nullopt;
    }
};

/// The kinds of input the report draws.
enum class InputKind { result, sweep_csv, validation_csv, timeseries_csv, validation_requests, plan_csv };

/// "result JSON", "sweep CSV", ...
constexpr const char* to_string(InputKind k) noexcept {
    switch (k) {
    case InputKind::result:
        return "result JSON";
    case InputKind::sweep_csv:
        return "sweep CSV";
    case InputKind::plan_csv:
        return "plan CSV";
    case InputKind::validation_csv:
        return "validation per rate";
    case InputKind::validation_requests:
        return "validation per request";
    case InputKind::timeseries_csv:
        return "time series CSV";
    }
    return "?";
}

/// One input file, parsed.
struct ReportInput {
    /// The file as given (for messages and the page's header).
    std::string source;
    /// The name curves and columns carry: the result's label, else the file's stem.
    std::string name;
    InputKind kind = InputKind::result;
    /// The document (kind == result, validation_requests).
    nlohmann::json json;
    /// The table (the CSV kinds; validation_csv also from `validate --json`).
    CsvTable table;
};

namespace detail {

[[noreturn, gnu::cold]] inline void report_fail(const std::string& message) {
    llmemu::detail::throw_error<report_error>(message);
}

inline std::string report_stem(const std::string& source) {
    std::string stem = std::filesystem::path(source).stem().string();
    return stem.empty() ? source : stem;
}

} // namespace detail

/// Parses comma-separated `text` (no quoting: llmemu's and vLLM's CSVs have none). Blank
/// lines are skipped; a row with a different number of cells than the header is refused.
inline CsvTable parse_csv(std::string_view text, const std::string& source) {
    CsvTable t;
    std::vector<std::string_view> fields;
    std::size_t line_no = 0, pos = 0;
    while (pos <= text.size()) {
        const std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        line = llmemu::detail::text_trim(line);
        if (line.empty()) continue;
        llmemu::detail::csv_split(line, fields);
        std::vector<std::string> cells(fields.begin(), fields.end());
        if (t.header.empty()) {
            for (const auto& c : cells)
                if (c.empty())
                    detail::report_fail(source + ":" + std::to_string(line_no) +
                                        ": the header has an empty column name; name every column");
            t.header = std::move(cells);
            continue;
        }
        if (cells.size() != t.header.size())
            detail::report_fail(source + ":" + std::to_string(line_no) + ": " + std::to_string(cells.size()) +
                                " cells but the header has " + std::to_string(t.header.size()) +
                                " columns; give every row the header's columns");
        t.rows.push_back(std::move(cells));
        t.lines.push_back(line_no);
    }
    if (t.header.empty()) detail::report_fail(source + ": empty file; give a result JSON or a CSV with a header");
    return t;
}

/// The number in cell (row, column name) of `t`: "inf" and "nan" allowed; an empty cell
/// or a missing column gives nullopt; anything else that is not a number throws,
/// naming file, line and column.
inline std::optional<double> csv_number(const CsvTable& t, std::size_t row, std::string_view name,
                                        const std::string& source) {
    const auto col = t.column(name);
    if (!col) return std::nullopt;
    const std::string& cell = t.rows[row][*col];
    if (cell.empty()) return std::nullopt;
    if (cell == "inf" || cell == "+inf") return std::numeric_limits<double>::infinity();
    if (cell == "nan" || cell == "NaN") return std::numeric_limits<double>::quiet_NaN();
    std::string_view text = cell;
    if (text.front() == '+') text.remove_prefix(1);
    if (const auto v = parse_number<double>(text)) return *v;
    llmemu::detail::text_fail<report_error>(
        {source, t.lines[row]}, "column '" + std::string(name) + "' has '" + llmemu::detail::text_echo(cell) +
                                    "', which is not a number; fix or regenerate the file");
}

namespace detail {

/// The per-rate comparison of `llmemu validate --json` as the table of `llmemu validate
/// --csv` (the same columns, null as nan, the max_abs object as the last row).
inline CsvTable report_validation_table(const nlohmann::json& j, const std::string& source) {
    static const char* const cols[] = {"ttft_mean_pct", "tpot_mean_pct", "itl_mean_pct", "e2e_mean_pct", "tps_pct"};
    CsvTable t;
    t.header = {"rate"};
    for (const char* c : cols) t.header.emplace_back(c);
    auto row = [&](const nlohmann::json& r, const std::string& where, std::string rate) {
        if (!r.is_object())
            report_fail(source + ": " + where + " is not an object; give the output of llmemu validate --json");
        std::vector<std::string> cells{std::move(rate)};
        for (const char* c : cols) {
            const auto it = r.find(c);
            if (it == r.end() || it->is_null())
                cells.emplace_back("nan");
            else if (it->is_number()) {
                char buf[64];
                std::snprintf(buf, sizeof buf, "%.17g", it->get<double>());
                cells.emplace_back(buf);
            } else
                report_fail(source + ": " + where + "." + c +
                            " is not a number or null; give the output of llmemu "
                            "validate --json");
        }
        t.rows.push_back(std::move(cells));
        t.lines.push_back(1);
    };
    const nlohmann::json& rates = j["rates"];
    for (std::size_t i = 0; i < rates.size(); ++i) {
        const std::string where = "rates[" + std::to_string(i) + "]";
        const nlohmann::json* rate = rates[i].is_object() && rates[i].contains("rate") ? &rates[i]["rate"] : nullptr;
        std::string rate_text;
        if (rate != nullptr && rate->is_number()) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%g", rate->get<double>());
            rate_text = buf;
        } else if (rate != nullptr && rate->is_string() && rate->get<std::string>() == "inf")
            rate_text = "inf";
        else
            report_fail(source + ": " + where +
                        " has no 'rate' (a number or \"inf\"); give the output of llmemu "
                        "validate --json");
        row(rates[i], where, std::move(rate_text));
    }
    row(j["max_abs"], "max_abs", "max_abs");
    if (t.rows.size() < 2) report_fail(source + ": 'rates' is empty; compare at least one rate with llmemu validate");
    return t;
}

} // namespace detail

/// Recognises and parses one input from its text. Throws report_error naming `source`
/// when the text is not JSON/CSV of a known kind.
inline ReportInput parse_report_input(std::string_view text, const std::string& source) {
    ReportInput in;
    in.source = source;
    in.name = detail::report_stem(source);
    std::size_t first = 0;
    while (first < text.size() &&
           (text[first] == ' ' || text[first] == '\n' || text[first] == '\r' || text[first] == '\t'))
        ++first;
    if (first < text.size() && (text[first] == '{' || text[first] == '[')) {
        nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded())
            detail::report_fail(source + ": not valid JSON; give a result JSON written by llmemu simulate / bench "
                                         "--result-json or vllm bench serve --save-result");
        if (j.is_object() && j.contains("rates") && j["rates"].is_array() && j.contains("max_abs")) {
            in.kind = InputKind::validation_csv;
            in.table = detail::report_validation_table(j, source);
            return in;
        }
        if (j.is_object() && j.contains("metrics") && j.contains("real") && j.contains("emu")) {
            if (!j["metrics"].is_object())
                detail::report_fail(source + ": 'metrics' is not an object; give the output of llmemu validate --json");
            in.kind = InputKind::validation_requests;
            in.json = std::move(j);
            return in;
        }
        if (!j.is_object() || !(j.contains("completed") || j.contains("ttfts") || j.contains("mean_ttft_ms")))
            detail::report_fail(source + ": a JSON document without 'completed', 'ttfts' or 'mean_ttft_ms'; give a "
                                         "result JSON of llmemu simulate / bench --result-json or vllm bench serve, "
                                         "or the output of llmemu validate --json");
        if (j.contains("label") && j["label"].is_string() && !j["label"].get<std::string>().empty())
            in.name = j["label"].get<std::string>();
        in.kind = InputKind::result;
        in.json = std::move(j);
        return in;
    }
    in.table = parse_csv(text, source);
    const CsvTable& t = in.table;
    if (t.header.front() == "request_rate" && t.column("median_ttft_ms")) {
        in.kind = InputKind::sweep_csv;
    } else if (t.header.front() == "candidate" && t.column("cost_per_hour") && t.column("pareto")) {
        in.kind = InputKind::plan_csv;
    } else if (t.header.front() == "rate" && t.column("ttft_mean_pct")) {
        in.kind = InputKind::validation_csv;
    } else if (t.column("t") && (t.column("running") || t.column("waiting") || t.column("kv_cache_pct") ||
                                 t.column("gen_throughput") || t.column("prompt_throughput"))) {
        in.kind = InputKind::timeseries_csv;
    } else {
        detail::report_fail(source + ":1: a CSV of unknown kind (header '" + t.header.front() +
                            ",...'); give a sweep CSV (llmemu sweep -o), a validation CSV (llmemu validate --csv) "
                            "or a time series CSV with columns t,running,waiting,kv_cache_pct");
    }
    // Check the numbers of the all-numeric kinds now (a sweep CSV may carry text columns,
    // e.g. a router name: its numbers are checked where they are read).
    if (in.kind != InputKind::sweep_csv && in.kind != InputKind::plan_csv)
        for (std::size_t r = 0; r < t.rows.size(); ++r)
            for (const auto& name : t.header) {
                if (in.kind == InputKind::validation_csv && name == "rate" && t.rows[r][0] == "max_abs") continue;
                (void)csv_number(t, r, name, source);
            }
    if (t.rows.empty()) detail::report_fail(source + ": a " + std::string(to_string(in.kind)) + " without rows");
    return in;
}

/// Reads and parses one input file (see parse_report_input).
inline ReportInput read_report_input(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) detail::report_fail(path.string() + ": cannot open the file; check the path");
    std::ostringstream ss;
    ss << f.rdbuf();
    return parse_report_input(ss.str(), path.string());
}

} // namespace report
LLMEMU_END_NAMESPACE
