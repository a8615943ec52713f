#pragma once
/// \file mooncake.hpp
/// Request traces in Mooncake's JSONL format (kvcache-ai/Mooncake, FAST'25 traces): one JSON
/// object per line, `{"timestamp": ms, "input_length": tokens, "output_length": tokens,
/// "hash_ids": [...]}`, where hash_ids names each 512-token block of the prompt (the last one
/// possibly partial) and equal ids mean identical block content. Each hash id becomes one
/// PromptSegment, so requests that share ids share token ids and the engine's prefix cache
/// sees the trace's real reuse.
///
/// MooncakeReader streams the file line by line (one line in memory at a time); every
/// malformed line is reported as `file:line: what is wrong; how to fix it`. Unknown keys are
/// ignored. looks_like_mooncake_trace tells a Mooncake file from a CSV trace by its content.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/trace.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Tokens per hash id in Mooncake traces.
inline constexpr std::uint32_t mooncake_block_tokens = 512;

/// One line of a Mooncake trace.
struct MooncakeRequest {
    /// Seconds from the start (the file's `timestamp` is milliseconds).
    double arrival_s = 0.0;
    std::uint32_t input_length = 0;
    std::uint32_t output_length = 0;
    /// One id per 512-token block of the prompt: ceil(input_length / 512) of them.
    std::vector<std::uint64_t> hash_ids;
};

/// The segment content of Mooncake hash id `id` (a fixed bijective scramble, so ids from a
/// Mooncake trace do not line up with other generators' small contents).
[[nodiscard]] inline std::uint64_t mooncake_content(std::uint64_t id) noexcept {
    return (id ^ 0x4D6F6F6E63616B65ULL) * 0xD1B54A32D192ED03ULL; // odd multiplier: a bijection
}

/// The prompt of a Mooncake request: one segment per hash id, 512 tokens each, the last one
/// the remainder (input_length - 512 (n - 1)).
[[nodiscard]] inline PromptSegments mooncake_prompt(const MooncakeRequest& r) {
    PromptSegments s;
    s.reserve(r.hash_ids.size());
    std::uint64_t left = r.input_length;
    for (const std::uint64_t id : r.hash_ids) {
        const std::uint32_t n = left < mooncake_block_tokens ? static_cast<std::uint32_t>(left) : mooncake_block_tokens;
        s.push_back({mooncake_content(id), n});
        left -= n;
    }
    return s;
}

namespace detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void mooncake_fail(const std::string& source, std::size_t line,
                                                                 const std::string& what) {
    throw_error<workload_error>(source + ":" + std::to_string(line) + ": " + what);
}

inline constexpr const char* mooncake_line_shape =
    "each line must be one JSON object {\"timestamp\": ms, \"input_length\": tokens, \"output_length\": "
    "tokens, \"hash_ids\": [one id per 512-token block]}";

inline std::uint32_t mooncake_tokens(simdjson::dom::element e, const std::string& source, std::size_t line,
                                     const char* key) {
    std::uint64_t v = 0;
    if (e.get_uint64().get(v) != simdjson::SUCCESS || v == 0 || v > 0xFFFFFFFFULL)
        mooncake_fail(source, line,
                      std::string("'") + key + "' is " + simdjson::to_string(e) +
                          "; it must be a whole number of tokens from 1 to 4294967295; fix or delete this line");
    return static_cast<std::uint32_t>(v);
}

} // namespace detail

/// Reads a Mooncake trace one request at a time.
class MooncakeReader {
public:
    /// Reads from `in` (kept by reference: it must outlive the reader); `source` names it in
    /// error messages.
    MooncakeReader(std::istream& in, std::string source) : m_in(&in), m_source(std::move(source)) {}

    /// The next request into `out`; false at the end of the input. Throws workload_error for
    /// a line that is not a JSON object, a missing or ill-typed key, a zero or fractional
    /// length, a negative or decreasing timestamp, or a hash_ids list whose size is not
    /// ceil(input_length / 512).
    bool next(MooncakeRequest& out) {
        while (std::getline(*m_in, m_line)) {
            ++m_line_no;
            std::string_view l = m_line;
            if (m_line_no == 1 && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3); // UTF-8 BOM
            while (!l.empty() && (l.back() == '\r' || l.back() == ' ' || l.back() == '\t')) l.remove_suffix(1);
            while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
            if (l.empty()) continue;
            parse(l, out);
            ++m_count;
            return true;
        }
        if (m_in->bad())
            detail::throw_error<workload_error>(m_source + ": read error after line " + std::to_string(m_line_no) +
                                                "; check the file");
        return false;
    }

    /// Lines read so far (the line of the last request returned).
    [[nodiscard]] std::size_t line() const noexcept { return m_line_no; }
    /// Requests returned so far.
    [[nodiscard]] std::size_t count() const noexcept { return m_count; }
    [[nodiscard]] const std::string& source() const noexcept { return m_source; }

private:
    void parse(std::string_view l, MooncakeRequest& out) {
        simdjson::dom::element doc;
        if (auto err = m_parser.parse(l.data(), l.size()).get(doc); err != simdjson::SUCCESS)
            detail::mooncake_fail(m_source, m_line_no,
                                  std::string("not valid JSON (") + simdjson::error_message(err) + "); " +
                                      detail::mooncake_line_shape);
        simdjson::dom::object obj;
        if (doc.get_object().get(obj) != simdjson::SUCCESS)
            detail::mooncake_fail(m_source, m_line_no,
                                  "is " + simdjson::to_string(doc).substr(0, 40) + ", not an object; " +
                                      detail::mooncake_line_shape);
        auto field = [&](const char* key) {
            simdjson::dom::element e;
            if (obj[key].get(e) != simdjson::SUCCESS)
                detail::mooncake_fail(m_source, m_line_no,
                                      std::string("lacks '") + key + "'; " + detail::mooncake_line_shape);
            return e;
        };
        double ts = 0.0;
        const simdjson::dom::element e_ts = field("timestamp");
        if (e_ts.get_double().get(ts) != simdjson::SUCCESS || !std::isfinite(ts) || ts < 0.0)
            detail::mooncake_fail(m_source, m_line_no,
                                  "'timestamp' is " + simdjson::to_string(e_ts) +
                                      "; it must be milliseconds from the start, a number >= 0");
        if (ts < m_last_ms)
            detail::mooncake_fail(m_source, m_line_no,
                                  "'timestamp' " + simdjson::to_string(e_ts) +
                                      " is earlier than the previous line's; sort the trace by timestamp");
        m_last_ms = ts;
        out.arrival_s = ts / 1000.0;
        out.input_length = detail::mooncake_tokens(field("input_length"), m_source, m_line_no, "input_length");
        out.output_length = detail::mooncake_tokens(field("output_length"), m_source, m_line_no, "output_length");
        simdjson::dom::array ids;
        const simdjson::dom::element e_ids = field("hash_ids");
        if (e_ids.get_array().get(ids) != simdjson::SUCCESS)
            detail::mooncake_fail(m_source, m_line_no,
                                  "'hash_ids' is " + simdjson::to_string(e_ids).substr(0, 40) +
                                      "; it must be a list of non-negative integer block ids");
        const std::uint64_t want =
            (std::uint64_t{out.input_length} + mooncake_block_tokens - 1) / mooncake_block_tokens;
        out.hash_ids.clear();
        for (simdjson::dom::element id : ids) {
            std::uint64_t v = 0;
            if (id.get_uint64().get(v) != simdjson::SUCCESS)
                detail::mooncake_fail(m_source, m_line_no,
                                      "'hash_ids' holds " + simdjson::to_string(id).substr(0, 40) +
                                          "; block ids must be non-negative integers");
            out.hash_ids.push_back(v);
        }
        if (out.hash_ids.size() != want)
            detail::mooncake_fail(m_source, m_line_no,
                                  "'hash_ids' has " + std::to_string(out.hash_ids.size()) + " ids but input_length " +
                                      std::to_string(out.input_length) + " needs " + std::to_string(want) +
                                      " (one per 512-token block, the last one partial); fix the ids or the length");
    }

    std::istream* m_in;
    std::string m_source;
    std::string m_line;
    std::size_t m_line_no = 0;
    std::size_t m_count = 0;
    double m_last_ms = 0.0;
    simdjson::dom::parser m_parser;
};

/// True when the file's first non-blank character is '{' (a JSONL trace such as Mooncake's),
/// false for anything else (a CSV trace starts with its header). Throws workload_error when
/// the file cannot be opened.
[[nodiscard]] inline bool looks_like_mooncake_trace(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::throw_error<workload_error>("trace '" + path.string() +
                                            "': cannot open the file; check the path (a CSV trace with columns "
                                            "arrived_at,num_prefill_tokens,num_decode_tokens, or a Mooncake JSONL "
                                            "trace)");
    char c = 0;
    int skipped_bom = 0;
    while (in.get(c)) {
        const auto u = static_cast<unsigned char>(c);
        if (skipped_bom < 3 && (u == 0xEF || u == 0xBB || u == 0xBF)) {
            ++skipped_bom;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        return c == '{';
    }
    return false;
}

/// A Mooncake trace as the workload builder uses it: arrivals and lengths (a Trace, so every
/// trace tool works on it) and each request's prompt segments.
struct MooncakeTrace {
    Trace trace;
    std::vector<PromptSegments> prompts;
};

/// Reads a Mooncake trace from `in`, keeping the first `max_requests` (0 = all; reading
/// stops there). Throws workload_error as MooncakeReader::next does, or when there is no
/// request.
inline MooncakeTrace parse_mooncake_trace(std::istream& in, const std::string& source, std::size_t max_requests = 0) {
    MooncakeTrace t;
    t.trace.source = source;
    t.trace.has_arrivals = true;
    MooncakeReader reader(in, source);
    MooncakeRequest r;
    while ((max_requests == 0 || t.trace.requests.size() < max_requests) && reader.next(r)) {
        t.trace.requests.push_back({r.arrival_s, r.input_length, r.output_length});
        t.prompts.push_back(mooncake_prompt(r));
    }
    if (t.trace.requests.empty())
        detail::throw_error<workload_error>(source + ": no requests; a Mooncake trace has one JSON object per line (" +
                                            detail::mooncake_line_shape + ")");
    return t;
}

/// Reads a Mooncake trace file (see parse_mooncake_trace).
inline MooncakeTrace read_mooncake_trace(const std::filesystem::path& path, std::size_t max_requests = 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::throw_error<workload_error>("trace '" + path.string() +
                                            "': cannot open the file; check the path (Mooncake JSONL trace)");
    return parse_mooncake_trace(in, path.string(), max_requests);
}

LLMEMU_END_NAMESPACE
