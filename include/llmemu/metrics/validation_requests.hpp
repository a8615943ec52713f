#pragma once
/// \file validation_requests.hpp
/// Per-request records for validation: vLLM's own per-request record (`requests.jsonl`,
/// one JSON object per line with RequestStateStats' queued_ts, first_token_ts,
/// last_token_ts and the token counts), and the per-request lists of a `vllm bench serve
/// --save-detailed` result or an llmemu result JSON (ttfts, latencies or itls,
/// output_lens, errors). read_request_samples() tells them apart by content. Metric
/// definitions (shared/data/README.md): TTFT = first_token_ts - queued_ts, TPOT =
/// (last_token_ts - first_token_ts) / (output_toks - 1), E2E = last_token_ts - queued_ts.
/// Needs nlohmann-json.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/metrics/validation.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {

inline constexpr const char* requests_jsonl_shape =
    "each line must be one JSON object of vLLM's per-request record with input_toks, output_toks, queued_ts, "
    "first_token_ts and last_token_ts (seconds of one monotonic clock)";

[[noreturn, gnu::cold]] inline void requests_fail(const std::string& source, std::size_t line,
                                                  const std::string& what) {
    throw_error<config_error>(source + ":" + std::to_string(line) + ": " + what);
}

inline double requests_number(const nlohmann::json& j, const char* key, const std::string& source, std::size_t line) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null())
        requests_fail(source, line, std::string("field '") + key + "' is missing; " + requests_jsonl_shape);
    if (!it->is_number())
        requests_fail(source, line, std::string("field '") + key + "' is not a number; " + requests_jsonl_shape);
    const double v = it->get<double>();
    if (!std::isfinite(v) || v < 0.0)
        requests_fail(source, line,
                      std::string("field '") + key + "' is negative or not finite; give a time or count >= 0");
    return v;
}

inline std::uint32_t requests_count(const nlohmann::json& j, const char* key, const std::string& source,
                                    std::size_t line) {
    const double v = requests_number(j, key, source, line);
    if (v != std::floor(v) || v > 4.0e9)
        requests_fail(source, line, std::string("field '") + key + "' must be a whole number of tokens");
    return static_cast<std::uint32_t>(v);
}

/// The first non-blank line of `text` (empty when none).
inline std::string_view requests_first_line(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        if (line.find_first_not_of(" \t\r") != std::string_view::npos) return line;
        pos = end + 1;
    }
    return {};
}

} // namespace detail

/// Whether `text` looks like vLLM's requests.jsonl: its first non-blank line is a JSON
/// object with a "queued_ts" field.
[[nodiscard]] inline bool looks_like_requests_jsonl(std::string_view text) {
    const std::string_view first = detail::requests_first_line(text);
    if (first.empty()) return false;
    const nlohmann::json j = nlohmann::json::parse(first, nullptr, /*allow_exceptions=*/false);
    return j.is_object() && j.contains("queued_ts");
}

/// Parses vLLM's per-request records (one JSON object per line; blank lines are
/// skipped). Arrival = queued_ts minus the earliest queued_ts. A record with 0 output
/// tokens counts as failed. Throws config_error naming `source`, the line and the fix
/// for anything malformed (not JSON, a missing or non-numeric field, first_token_ts
/// before queued_ts, last_token_ts before first_token_ts, no records at all).
[[nodiscard]] inline RequestSamples parse_vllm_requests_jsonl(std::string_view text, const std::string& source) {
    RequestSamples out;
    out.source = source;
    out.format = "vLLM requests.jsonl";
    std::vector<double> queued;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded())
            detail::requests_fail(source, line_no, std::string("not valid JSON; ") + detail::requests_jsonl_shape);
        if (!j.is_object())
            detail::requests_fail(source, line_no, std::string("not a JSON object; ") + detail::requests_jsonl_shape);
        const std::uint32_t input = detail::requests_count(j, "input_toks", source, line_no);
        const std::uint32_t output = detail::requests_count(j, "output_toks", source, line_no);
        const double q = detail::requests_number(j, "queued_ts", source, line_no);
        if (output == 0) {
            ++out.failed;
            continue;
        }
        const double first = detail::requests_number(j, "first_token_ts", source, line_no);
        const double last = detail::requests_number(j, "last_token_ts", source, line_no);
        if (first < q)
            detail::requests_fail(source, line_no,
                                  "first_token_ts is earlier than queued_ts; both must come from the engine's "
                                  "monotonic clock (vLLM's RequestStateStats)");
        if (last < first) detail::requests_fail(source, line_no, "last_token_ts is earlier than first_token_ts");
        RequestSample s;
        s.input_toks = input;
        s.output_toks = output;
        s.arrival_s = q;
        s.ttft_s = first - q;
        s.e2e_s = last - q;
        s.tpot_s =
            output > 1 ? (last - first) / static_cast<double>(output - 1) : std::numeric_limits<double>::quiet_NaN();
        out.requests.push_back(s);
        queued.push_back(q);
    }
    if (out.requests.empty())
        detail::throw_error<config_error>("requests file '" + source + "' has no finished request; " +
                                          detail::requests_jsonl_shape);
    const double origin = *std::min_element(queued.begin(), queued.end());
    for (auto& s : out.requests) s.arrival_s -= origin;
    return out;
}

/// The per-request samples of a `vllm bench serve --save-detailed` result or an llmemu
/// result JSON: ttfts and output_lens, plus latencies (or itls, summed after the TTFT);
/// requests with a non-empty error or 0 output tokens count as failed. Arrival from
/// start_times when present. nullopt when the document has no per-request lists.
/// Throws config_error naming `source` when the lists are malformed.
[[nodiscard]] inline std::optional<RequestSamples> request_samples_from_result_json(const nlohmann::json& j,
                                                                                    const std::string& source) {
    if (!j.is_object()) return std::nullopt;
    const auto ttfts = j.find("ttfts");
    const auto outs = j.find("output_lens");
    if (ttfts == j.end() || outs == j.end() || !ttfts->is_array() || !outs->is_array()) return std::nullopt;
    const auto lat = j.find("latencies");
    const auto itls = j.find("itls");
    const bool have_lat = lat != j.end() && lat->is_array();
    const bool have_itl = itls != j.end() && itls->is_array();
    auto bad = [&source](const std::string& what) {
        detail::throw_error<config_error>("result '" + source + "': " + what +
                                          "; write it with vllm bench serve --save-result --save-detailed or "
                                          "llmemu simulate --result-json");
    };
    if (!have_lat && !have_itl) bad("has 'ttfts' but neither 'latencies' nor 'itls'");
    const std::size_t n = ttfts->size();
    if (outs->size() != n || (have_lat && lat->size() != n) || (have_itl && !have_lat && itls->size() != n))
        bad("its per-request lists (ttfts, output_lens, latencies/itls) differ in length");
    const auto errs = j.find("errors");
    const auto starts = j.find("start_times");
    const bool have_starts = starts != j.end() && starts->is_array() && starts->size() == n;
    RequestSamples out;
    out.source = source;
    out.format = "result JSON";
    double origin = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
        const bool failed = errs != j.end() && errs->is_array() && i < errs->size() && (*errs)[i].is_string() &&
                            !(*errs)[i].get<std::string>().empty();
        const auto& o = (*outs)[i];
        if (!o.is_number()) bad("output_lens[" + std::to_string(i) + "] is not a number");
        const double out_len = o.get<double>();
        if (!(out_len <= 4.0e9)) bad("output_lens[" + std::to_string(i) + "] is not a token count");
        if (failed || !(out_len >= 1.0)) {
            ++out.failed;
            continue;
        }
        if (!(*ttfts)[i].is_number()) bad("ttfts[" + std::to_string(i) + "] is not a number");
        RequestSample s;
        s.output_toks = static_cast<std::uint32_t>(out_len);
        if (const auto in = j.find("input_lens");
            in != j.end() && in->is_array() && i < in->size() && (*in)[i].is_number()) {
            const double v = (*in)[i].get<double>();
            if (v >= 0.0 && v <= 4.0e9) s.input_toks = static_cast<std::uint32_t>(v);
        }
        s.ttft_s = (*ttfts)[i].get<double>();
        if (have_lat) {
            if (!(*lat)[i].is_number()) bad("latencies[" + std::to_string(i) + "] is not a number");
            s.e2e_s = (*lat)[i].get<double>();
        } else {
            const auto& gaps = (*itls)[i];
            if (!gaps.is_array()) bad("itls[" + std::to_string(i) + "] is not a list");
            double sum = 0.0;
            for (const auto& g : gaps) {
                if (!g.is_number()) bad("itls[" + std::to_string(i) + "] holds a non-number");
                sum += g.get<double>();
            }
            s.e2e_s = s.ttft_s + sum;
        }
        if (!std::isfinite(s.ttft_s) || !std::isfinite(s.e2e_s) || s.ttft_s < 0.0 || s.e2e_s < s.ttft_s)
            bad("request " + std::to_string(i) + " has a negative TTFT or an E2E latency below its TTFT");
        s.tpot_s = s.output_toks > 1 ? (s.e2e_s - s.ttft_s) / static_cast<double>(s.output_toks - 1)
                                     : std::numeric_limits<double>::quiet_NaN();
        if (have_starts && (*starts)[i].is_number()) {
            s.arrival_s = (*starts)[i].get<double>();
            origin = std::min(origin, s.arrival_s);
        }
        out.requests.push_back(s);
    }
    if (std::isfinite(origin))
        for (auto& s : out.requests) s.arrival_s -= origin;
    return out;
}

/// Reads `path` as vLLM's requests.jsonl or as a result JSON with per-request lists,
/// recognised by content. nullopt for a result JSON without per-request lists (only
/// means: use read_validation_point). Throws config_error naming the file otherwise.
[[nodiscard]] inline std::optional<RequestSamples> read_request_samples(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::throw_error<config_error>("'" + path.string() + "': cannot open the file; check the path");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (looks_like_requests_jsonl(text)) return parse_vllm_requests_jsonl(text, path.string());
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        detail::throw_error<config_error>("'" + path.string() +
                                          "' is not valid JSON; give vLLM's requests.jsonl (one record with "
                                          "queued_ts per line) or a vllm bench serve / llmemu result JSON");
    return request_samples_from_result_json(j, path.string());
}

/// The per-request lists of each replicate run in an llmemu result's
/// llmemu.replicates.runs (`simulate --replicates K --save-detailed --result-json`), in
/// order, each named "<source> llmemu.replicates.runs[i], seed S". Empty when the result
/// has no such runs; throws config_error naming the run when one has no per-request lists
/// or bad ones.
[[nodiscard]] inline std::vector<RequestSamples> replicate_request_samples(const nlohmann::json& result,
                                                                           const std::string& source) {
    std::vector<RequestSamples> out;
    if (!result.is_object()) return out;
    const auto ll = result.find("llmemu");
    if (ll == result.end() || !ll->is_object()) return out;
    const auto rep = ll->find("replicates");
    if (rep == ll->end() || !rep->is_object()) return out;
    const auto runs = rep->find("runs");
    if (runs == rep->end()) return out;
    if (!runs->is_array())
        detail::throw_error<config_error>("result '" + source +
                                          "': llmemu.replicates.runs is not an array; write it with llmemu simulate "
                                          "--replicates K --save-detailed --result-json");
    for (std::size_t i = 0; i < runs->size(); ++i) {
        const nlohmann::json& r = (*runs)[i];
        const auto seed = r.is_object() ? r.find("seed") : r.end();
        const std::string name = source + " llmemu.replicates.runs[" + std::to_string(i) + "]" +
                                 (r.is_object() && seed != r.end() && seed->is_number_unsigned()
                                      ? ", seed " + std::to_string(seed->get<std::uint64_t>())
                                      : std::string());
        auto s = request_samples_from_result_json(r, name);
        if (!s)
            detail::throw_error<config_error>("result '" + name +
                                              "': no per-request lists (ttfts, output_lens, latencies); write it "
                                              "with llmemu simulate --replicates K --save-detailed --result-json");
        out.push_back(std::move(*s));
    }
    return out;
}

/// A DistributionReport as JSON: {"real": {source, format, requests, failed}, "emu": {...},
/// "metrics": {"ttft": {"mean": {"real", "emu", "pct"}, "median", "p90", "p99"}, "tpot",
/// "e2e"}, "ks": {"ttft", "e2e"}} (times in ms; NaN as null). Over replicates every metric
/// row also has "emu_ci95_half_width" and "real_inside", "ks" the half-widths
/// "ttft_ci95_half_width" / "e2e_ci95_half_width", and "replicates" the count.
[[nodiscard]] inline nlohmann::json to_json(const DistributionReport& rep) {
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json j;
    j["real"] = {{"source", rep.real_source},
                 {"format", rep.real_format},
                 {"requests", rep.real_count},
                 {"failed", rep.real_failed}};
    j["emu"] = {{"source", rep.emu_source},
                {"format", rep.emu_format},
                {"requests", rep.emu_count},
                {"failed", rep.emu_failed}};
    nlohmann::json m = nlohmann::json::object();
    for (const auto& r : rep.rows) {
        m[r.metric][r.stat] = {{"real", num(r.real_ms)}, {"emu", num(r.emu_ms)}, {"pct", num(r.pct)}};
        if (rep.replicates > 0) {
            m[r.metric][r.stat]["emu_ci95_half_width"] = num(r.emu_ci95);
            m[r.metric][r.stat]["real_inside"] = r.real_inside;
        }
    }
    j["metrics"] = std::move(m);
    j["ks"] = {{"ttft", num(rep.ks_ttft)}, {"e2e", num(rep.ks_e2e)}};
    if (rep.replicates > 0) {
        j["replicates"] = rep.replicates;
        j["ks"]["ttft_ci95_half_width"] = num(rep.ks_ttft_ci95);
        j["ks"]["e2e_ci95_half_width"] = num(rep.ks_e2e_ci95);
    }
    return j;
}

LLMEMU_END_NAMESPACE
