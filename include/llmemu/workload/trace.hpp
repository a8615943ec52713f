#pragma once
/// \file trace.hpp
/// Request traces in the CSV format of the bundled Azure (Splitwise) traces:
/// `arrived_at,num_prefill_tokens,num_decode_tokens` (arrival in seconds from the start,
/// prompt tokens, output tokens). Columns are found by name, extra columns are ignored, and
/// `arrived_at` may be absent (length-only files such as the arXiv one, used as an empirical
/// length source with synthetic arrivals). Every malformed line is reported as
/// `file:line: what is wrong; how to fix it`.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/workload/lengths.hpp"

namespace llmemu {

/// One request of a trace.
struct TraceRequest {
    /// Seconds from the start of the trace (0 when the file has no arrival column).
    double arrived_at = 0.0;
    std::uint32_t prompt_len = 0;
    std::uint32_t output_len = 0;
};

/// A request trace read from CSV.
struct Trace {
    /// Where it came from (for messages).
    std::string source;
    /// The file had an `arrived_at` column.
    bool has_arrivals = false;
    std::vector<TraceRequest> requests;

    /// Seconds from t = 0 to the last arrival.
    [[nodiscard]] double span_s() const noexcept { return requests.empty() ? 0.0 : requests.back().arrived_at; }
    /// Mean request rate with vLLM's convention (n requests, the last sent at n / rate),
    /// i.e. n / span; 0 when every request arrives at t = 0.
    [[nodiscard]] double mean_rate() const noexcept {
        const double span = span_s();
        return span > 0.0 ? static_cast<double>(requests.size()) / span : 0.0;
    }
    /// The (prompt, output) pairs, for an EmpiricalLengths model.
    [[nodiscard]] std::vector<LengthPair> lengths() const {
        std::vector<LengthPair> out;
        out.reserve(requests.size());
        for (const auto& r : requests) out.push_back({r.prompt_len, r.output_len});
        return out;
    }
};

namespace detail {

[[noreturn, gnu::cold]] inline void workload_throw_at(const std::string& source, std::size_t line,
                                                      const std::string& what) {
    throw_error<workload_error>(source + ":" + std::to_string(line) + ": " + what);
}

inline std::string_view workload_trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

inline void workload_split(std::string_view line, std::vector<std::string_view>& fields) {
    fields.clear();
    std::size_t pos = 0;
    for (;;) {
        const std::size_t comma = line.find(',', pos);
        if (comma == std::string_view::npos) {
            fields.push_back(workload_trim(line.substr(pos)));
            return;
        }
        fields.push_back(workload_trim(line.substr(pos, comma - pos)));
        pos = comma + 1;
    }
}

inline double workload_number(std::string_view field, const std::string& source, std::size_t line, const char* column) {
    double v = 0.0;
    const auto res = std::from_chars(field.data(), field.data() + field.size(), v);
    if (field.empty() || res.ec != std::errc() || res.ptr != field.data() + field.size() || !std::isfinite(v))
        workload_throw_at(source, line,
                          std::string("column '") + column + "' has '" + std::string(field) +
                              "', which is not a finite number; fix or delete this line");
    return v;
}

inline std::uint32_t workload_tokens(std::string_view field, const std::string& source, std::size_t line,
                                     const char* column) {
    const double v = workload_number(field, source, line, column);
    if (v != std::floor(v) || v < 0.0 || v > 4.0e9)
        workload_throw_at(source, line,
                          std::string("column '") + column + "' has '" + std::string(field) +
                              "', which is not a whole number of tokens; fix or delete this line");
    if (v == 0.0)
        workload_throw_at(source, line,
                          std::string("column '") + column +
                              "' is 0: every request needs at least 1 prompt token and 1 output token; "
                              "fix or delete this line");
    return static_cast<std::uint32_t>(v);
}

} // namespace detail

/// Parses a trace from `in`; `source` names it in error messages. Needs a header line with
/// `num_prefill_tokens` and `num_decode_tokens` (and, when `require_arrivals`, `arrived_at`).
/// Throws workload_error for a missing column, a line with too few fields, a non-numeric,
/// fractional or zero token count, a negative or decreasing arrival time, or no requests.
inline Trace parse_trace_csv(std::istream& in, const std::string& source, bool require_arrivals = false) {
    Trace trace;
    trace.source = source;
    std::string line;
    std::size_t line_no = 0;
    std::vector<std::string_view> fields;
    std::ptrdiff_t col_arrival = -1, col_prompt = -1, col_output = -1;
    std::size_t num_columns = 0;
    // Header: the first non-empty line.
    while (std::getline(in, line)) {
        ++line_no;
        if (!detail::workload_trim(line).empty()) break;
    }
    if (detail::workload_trim(line).empty())
        detail::throw_error<workload_error>(
            source + ": empty file; a trace needs a header 'arrived_at,num_prefill_tokens,num_decode_tokens' "
                     "and one line per request");
    {
        std::string_view header = line;
        if (header.size() >= 3 && header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3); // UTF-8 BOM
        detail::workload_split(header, fields);
        num_columns = fields.size();
        for (std::size_t i = 0; i < fields.size(); ++i) {
            if (fields[i] == "arrived_at")
                col_arrival = static_cast<std::ptrdiff_t>(i);
            else if (fields[i] == "num_prefill_tokens")
                col_prompt = static_cast<std::ptrdiff_t>(i);
            else if (fields[i] == "num_decode_tokens")
                col_output = static_cast<std::ptrdiff_t>(i);
        }
        if (col_prompt < 0 || col_output < 0 || (require_arrivals && col_arrival < 0))
            detail::workload_throw_at(source, line_no,
                                      "header '" + std::string(detail::workload_trim(header)) + "' lacks " +
                                          (require_arrivals && col_arrival < 0 ? "'arrived_at', " : "") +
                                          (col_prompt < 0 ? "'num_prefill_tokens', " : "") +
                                          (col_output < 0 ? "'num_decode_tokens', " : "") +
                                          "expected the columns arrived_at,num_prefill_tokens,num_decode_tokens "
                                          "(arrival seconds, prompt tokens, output tokens)");
    }
    trace.has_arrivals = col_arrival >= 0;
    double last = 0.0;
    while (std::getline(in, line)) {
        ++line_no;
        const std::string_view l = detail::workload_trim(line);
        if (l.empty()) continue;
        detail::workload_split(l, fields);
        if (fields.size() < num_columns)
            detail::workload_throw_at(source, line_no,
                                      "has " + std::to_string(fields.size()) + " fields but the header has " +
                                          std::to_string(num_columns) + "; fix or delete this line");
        TraceRequest r;
        if (col_arrival >= 0) {
            r.arrived_at =
                detail::workload_number(fields[static_cast<std::size_t>(col_arrival)], source, line_no, "arrived_at");
            if (r.arrived_at < 0.0)
                detail::workload_throw_at(source, line_no,
                                          "arrived_at is negative (" +
                                              std::string(fields[static_cast<std::size_t>(col_arrival)]) +
                                              "); arrival times are seconds from the start, >= 0");
            if (r.arrived_at < last)
                detail::workload_throw_at(source, line_no,
                                          "arrived_at " + std::string(fields[static_cast<std::size_t>(col_arrival)]) +
                                              " is earlier than the previous line's; sort the trace by arrived_at");
            last = r.arrived_at;
        }
        r.prompt_len = detail::workload_tokens(fields[static_cast<std::size_t>(col_prompt)], source, line_no,
                                               "num_prefill_tokens");
        r.output_len =
            detail::workload_tokens(fields[static_cast<std::size_t>(col_output)], source, line_no, "num_decode_tokens");
        trace.requests.push_back(r);
    }
    if (trace.requests.empty())
        detail::throw_error<workload_error>(source + ": has a header but no requests; add one line per request");
    return trace;
}

/// Reads a trace CSV file (see parse_trace_csv). Throws workload_error when it cannot be opened.
inline Trace read_trace_csv(const std::filesystem::path& path, bool require_arrivals = false) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::throw_error<workload_error>("trace '" + path.string() +
                                            "': cannot open the file; check the path (CSV with columns "
                                            "arrived_at,num_prefill_tokens,num_decode_tokens)");
    return parse_trace_csv(in, path.string(), require_arrivals);
}

/// Keeps the first `n` requests (all of them when n is 0 or larger than the trace).
inline void take_first(Trace& trace, std::size_t n) {
    if (n != 0 && n < trace.requests.size()) trace.requests.resize(n);
}

/// Stretches or compresses time so the trace's mean rate (Trace::mean_rate) becomes
/// `target_rate`, keeping the relative timing (bursts stay bursts).
inline void rescale_to_rate(Trace& trace, double target_rate) {
    if (!(target_rate > 0.0) || std::isinf(target_rate))
        detail::throw_error<workload_error>("trace '" + trace.source + "': cannot rescale to request rate " +
                                            std::to_string(target_rate) + "; give a finite rate > 0");
    if (!trace.has_arrivals)
        detail::throw_error<workload_error>("trace '" + trace.source +
                                            "' has no arrived_at column to rescale; use it as a length source "
                                            "with a synthetic --request-rate instead");
    const double rate = trace.mean_rate();
    if (rate <= 0.0)
        detail::throw_error<workload_error>("trace '" + trace.source +
                                            "': every request arrives at t=0, so there is no rate to rescale");
    const double factor = rate / target_rate;
    for (auto& r : trace.requests) r.arrived_at *= factor;
}

} // namespace llmemu
