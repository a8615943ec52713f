#pragma once
/// \file trace.hpp
/// Request traces in the CSV format of the bundled Azure (Splitwise) traces:
/// `arrived_at,num_prefill_tokens,num_decode_tokens` (arrival in seconds from the start,
/// prompt tokens, output tokens). Columns are found by name, extra columns (named in the
/// header) are ignored, and `arrived_at` may be absent (length-only files such as the arXiv
/// one, used as an empirical length source with synthetic arrivals). TraceCsvReader streams
/// a file request by request; parse_trace_csv / read_trace_csv load it whole. Every
/// malformed line is reported as `file:line: what is wrong; how to fix it`.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/workload/lengths.hpp"

LLMEMU_BEGIN_NAMESPACE

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
    text_fail<workload_error>({source, line}, what);
}

inline double workload_number(std::string_view field, const std::string& source, std::size_t line, const char* column) {
    return csv_number<workload_error>(field, {source, line}, column, "fix or delete this line");
}

inline std::uint32_t workload_tokens(std::string_view field, const std::string& source, std::size_t line,
                                     const char* column) {
    const double v = workload_number(field, source, line, column);
    if (v != std::floor(v) || v < 0.0)
        workload_throw_at(source, line,
                          std::string("column '") + column + "' has '" + text_echo(field) +
                              "', which is not a whole number of tokens; fix or delete this line");
    // 2^28, the engine's longest max_model_len: a prompt plus its output must fit in 32 bits.
    if (v > 268435456.0)
        workload_throw_at(source, line,
                          std::string("column '") + column + "' has " + text_echo(field) +
                              " tokens, more than the 268435456 a request may have; fix or delete this line");
    if (v == 0.0)
        workload_throw_at(source, line,
                          std::string("column '") + column +
                              "' is 0: every request needs at least 1 prompt token and 1 output token; "
                              "fix or delete this line");
    return static_cast<std::uint32_t>(v);
}

} // namespace detail

/// Reads a trace CSV one request at a time, in memory independent of the file's length
/// (a line buffer and the header's column map). Strict: the header is the first line (a
/// UTF-8 BOM before it is skipped), names each column once and must hold
/// `num_prefill_tokens` and `num_decode_tokens` (and `arrived_at` when arrivals are
/// required); every data line has exactly the header's number of fields and is at most
/// max_line_bytes long; blank lines after the header are skipped. Every violation throws
/// workload_error as `file:line: what is wrong; how to fix it`.
///
/// Other trace formats (e.g. Mooncake JSONL) get a reader of their own next to this one
/// with the same next(TraceRequest&) shape, chosen by the file's content.
class TraceCsvReader {
public:
    /// Longest line accepted (a real trace line is a few dozen bytes).
    static constexpr std::size_t max_line_bytes = 4096;

    /// Reads and checks the header. `source` names the input in messages.
    TraceCsvReader(std::istream& in, std::string source, bool require_arrivals = false)
        : m_in(in), m_source(std::move(source)) {
        if (!read_line())
            detail::throw_error<workload_error>(
                m_source + ": empty file; a trace needs a header 'arrived_at,num_prefill_tokens,num_decode_tokens' "
                           "and one line per request");
        std::string_view header = m_line;
        if (header.size() >= 3 && header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3); // UTF-8 BOM
        if (detail::text_trim(header).empty())
            fail("is blank, but a trace's first line must be its header "
                 "'arrived_at,num_prefill_tokens,num_decode_tokens'; delete the blank lines before it");
        detail::csv_split(header, m_fields);
        m_num_columns = m_fields.size();
        for (std::size_t i = 0; i < m_fields.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j)
                if (m_fields[j] == m_fields[i])
                    fail("the header names column '" + detail::text_echo(m_fields[i]) +
                         "' twice; give every column one name");
            if (m_fields[i] == "arrived_at")
                m_col_arrival = static_cast<std::ptrdiff_t>(i);
            else if (m_fields[i] == "num_prefill_tokens")
                m_col_prompt = static_cast<std::ptrdiff_t>(i);
            else if (m_fields[i] == "num_decode_tokens")
                m_col_output = static_cast<std::ptrdiff_t>(i);
        }
        if (m_col_prompt < 0 || m_col_output < 0 || (require_arrivals && m_col_arrival < 0))
            fail("header '" + detail::text_echo(detail::text_trim(header)) + "' lacks " +
                 (require_arrivals && m_col_arrival < 0 ? "'arrived_at', " : "") +
                 (m_col_prompt < 0 ? "'num_prefill_tokens', " : "") +
                 (m_col_output < 0 ? "'num_decode_tokens', " : "") +
                 "expected the columns arrived_at,num_prefill_tokens,num_decode_tokens "
                 "(arrival seconds, prompt tokens, output tokens)");
    }

    /// The file has an `arrived_at` column.
    [[nodiscard]] bool has_arrivals() const noexcept { return m_col_arrival >= 0; }
    /// Where the requests come from (for messages).
    [[nodiscard]] const std::string& source() const noexcept { return m_source; }
    /// The line last read (1 = the header).
    [[nodiscard]] std::size_t line() const noexcept { return m_line_no; }
    /// Requests returned so far.
    [[nodiscard]] std::size_t count() const noexcept { return m_count; }

    /// The next request into `out`; false at the end of the file. Throws workload_error for
    /// a malformed line (see the class comment), a non-numeric, fractional or zero token
    /// count, or a negative, non-finite or decreasing arrival time.
    bool next(TraceRequest& out) {
        for (;;) {
            if (!read_line()) return false;
            const std::string_view l = detail::text_trim(m_line);
            if (l.empty()) continue;
            detail::csv_split(l, m_fields);
            if (m_fields.size() != m_num_columns)
                fail("has " + std::to_string(m_fields.size()) + " fields but the header has " +
                     std::to_string(m_num_columns) + "; fix or delete this line");
            TraceRequest r;
            if (m_col_arrival >= 0) {
                const std::string_view field = m_fields[static_cast<std::size_t>(m_col_arrival)];
                r.arrived_at = detail::workload_number(field, m_source, m_line_no, "arrived_at");
                if (r.arrived_at < 0.0)
                    fail("arrived_at is negative (" + detail::text_echo(field) +
                         "); arrival times are seconds from the start, >= 0");
                if (r.arrived_at < m_last)
                    fail("arrived_at " + detail::text_echo(field) +
                         " is earlier than the previous line's; sort the trace by arrived_at");
                m_last = r.arrived_at;
            }
            r.prompt_len = detail::workload_tokens(m_fields[static_cast<std::size_t>(m_col_prompt)], m_source,
                                                   m_line_no, "num_prefill_tokens");
            r.output_len = detail::workload_tokens(m_fields[static_cast<std::size_t>(m_col_output)], m_source,
                                                   m_line_no, "num_decode_tokens");
            ++m_count;
            out = r;
            return true;
        }
    }

private:
    [[noreturn]] void fail(const std::string& what) const { detail::workload_throw_at(m_source, m_line_no, what); }

    // One line into m_line without its '\n' (and '\r'); false at the end of the input.
    bool read_line() {
        m_line.clear();
        std::streambuf* buf = m_in.rdbuf();
        if (buf == nullptr) return false;
        bool any = false;
        for (;;) {
            const auto c = buf->sbumpc();
            if (c == std::char_traits<char>::eof()) {
                if (!any) return false;
                break;
            }
            any = true;
            if (c == '\n') break;
            if (m_line.size() >= max_line_bytes) {
                ++m_line_no;
                fail("is longer than " + std::to_string(max_line_bytes) +
                     " bytes; is this a trace CSV (arrived_at,num_prefill_tokens,num_decode_tokens)?");
            }
            m_line += static_cast<char>(c);
        }
        ++m_line_no;
        if (!m_line.empty() && m_line.back() == '\r') m_line.pop_back();
        return true;
    }

    std::istream& m_in;
    std::string m_source;
    std::string m_line;
    std::size_t m_line_no = 0;
    std::size_t m_count = 0;
    std::vector<std::string_view> m_fields;
    std::size_t m_num_columns = 0;
    std::ptrdiff_t m_col_arrival = -1, m_col_prompt = -1, m_col_output = -1;
    double m_last = 0.0;
};

/// Parses a whole trace from `in` into memory (see TraceCsvReader for the rules and the
/// errors; prefer the reader itself for long traces); `source` names it in messages.
/// Also throws workload_error when there are no requests.
inline Trace parse_trace_csv(std::istream& in, const std::string& source, bool require_arrivals = false) {
    TraceCsvReader reader(in, source, require_arrivals);
    Trace trace;
    trace.source = source;
    trace.has_arrivals = reader.has_arrivals();
    TraceRequest r;
    while (reader.next(r)) trace.requests.push_back(r);
    if (trace.requests.empty())
        detail::throw_error<workload_error>(source + ": has a header but no requests; add one line per request");
    return trace;
}

/// Opens a trace CSV file for TraceCsvReader. Throws workload_error when it cannot be opened.
inline std::ifstream open_trace_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::throw_error<workload_error>("trace '" + path.string() +
                                            "': cannot open the file; check the path (CSV with columns "
                                            "arrived_at,num_prefill_tokens,num_decode_tokens)");
    return in;
}

/// True when the trace file's header has an `arrived_at` column (reads the header only,
/// by TraceCsvReader's rules, so a file it would refuse is refused here too).
inline bool trace_file_has_arrivals(const std::filesystem::path& path) {
    std::ifstream in = open_trace_file(path);
    return TraceCsvReader(in, path.string()).has_arrivals();
}

/// Reads a trace CSV file (see parse_trace_csv). Throws workload_error when it cannot be opened.
inline Trace read_trace_csv(const std::filesystem::path& path, bool require_arrivals = false) {
    std::ifstream in = open_trace_file(path);
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

LLMEMU_END_NAMESPACE
