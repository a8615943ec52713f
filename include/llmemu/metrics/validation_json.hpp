#pragma once
/// \file validation_json.hpp
/// Reads the numbers validation compares from a `vllm bench serve` result JSON (or an
/// llmemu one: same keys). Needs nlohmann-json.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/metrics/validation.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {
inline double metrics_json_number(const nlohmann::json& j, const char* key, const std::string& source, bool required) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required)
            throw_error<config_error>("result '" + source + "' has no '" + key +
                                      "'; give a vllm bench serve result JSON (--save-result)");
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (!it->is_number()) throw_error<config_error>("result '" + source + "': '" + key + "' is not a number");
    return it->get<double>();
}
} // namespace detail

namespace detail {

// The request rate a result file's name carries: "..._r8.json", "r2.5-..." (an `r` after
// the start, '_' or '-', ended by '_', '-', '.' or the end) or "...16qps...". Hand-written
// rather than std::regex, whose libstdc++ 12 code trips -Wmaybe-uninitialized under -O1.
inline std::optional<double> rate_from_file_name(std::string_view name) {
    const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    const auto digits_from = [&](std::size_t i) {
        while (i < name.size() && is_digit(name[i])) ++i;
        return i;
    };
    const auto number = [&](std::size_t b, std::size_t e) { return parse_number<double>(name.substr(b, e - b)); };
    const auto ends_ok = [&](std::size_t i) {
        return i == name.size() || name[i] == '_' || name[i] == '-' || name[i] == '.';
    };
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] != 'r' || (i > 0 && name[i - 1] != '_' && name[i - 1] != '-')) continue;
        const std::size_t b = i + 1;
        const std::size_t int_end = digits_from(b);
        if (int_end == b) continue;
        if (int_end + 1 < name.size() && name[int_end] == '.' && is_digit(name[int_end + 1])) {
            const std::size_t frac_end = digits_from(int_end + 1);
            if (ends_ok(frac_end)) return number(b, frac_end);
        }
        if (ends_ok(int_end)) return number(b, int_end);
    }
    for (std::size_t q = name.find("qps"); q != std::string_view::npos; q = name.find("qps", q + 1)) {
        std::size_t b = q;
        while (b > 0 && is_digit(name[b - 1])) --b;
        if (b == q) continue;
        if (b >= 2 && name[b - 1] == '.' && is_digit(name[b - 2])) {
            b -= 1;
            while (b > 0 && is_digit(name[b - 1])) --b;
        }
        return number(b, q);
    }
    return std::nullopt;
}

} // namespace detail

/// The ValidationPoint of a parsed result JSON. The request rate comes from "request_rate"
/// (a number or "inf"), else from the file name (`..._r8.json`, `...-8.0qps-...json`).
/// mean_e2el_ms, absent when vLLM ran with its default --percentile-metrics, is then the
/// mean of "latencies" over successful requests.
inline ValidationPoint validation_point_from_json(const nlohmann::json& j, const std::string& source) {
    if (!j.is_object()) detail::throw_error<config_error>("result '" + source + "' is not a JSON object");
    ValidationPoint p;
    p.source = source;
    bool have_rate = false;
    if (const auto it = j.find("request_rate"); it != j.end()) {
        if (it->is_number()) {
            p.request_rate = it->get<double>();
            have_rate = true;
        } else if (it->is_string() && (*it == "inf" || *it == "Infinity")) {
            p.request_rate = std::numeric_limits<double>::infinity();
            have_rate = true;
        }
    }
    if (!have_rate) {
        const std::string name = std::filesystem::path(source).filename().string();
        if (const auto rate = detail::rate_from_file_name(name)) {
            p.request_rate = *rate;
            have_rate = true;
        }
    }
    if (!have_rate)
        detail::throw_error<config_error>("result '" + source +
                                          "' has no 'request_rate' and its name carries none (like real_r8.json); "
                                          "add the key or rename the file");
    p.ttft_mean_ms = detail::metrics_json_number(j, "mean_ttft_ms", source, true);
    p.tpot_mean_ms = detail::metrics_json_number(j, "mean_tpot_ms", source, true);
    p.itl_mean_ms = detail::metrics_json_number(j, "mean_itl_ms", source, true);
    p.output_throughput = detail::metrics_json_number(j, "output_throughput", source, true);
    p.e2el_mean_ms = detail::metrics_json_number(j, "mean_e2el_ms", source, false);
    if (std::isnan(p.e2el_mean_ms)) {
        if (const auto it = j.find("latencies"); it != j.end() && it->is_array()) {
            double sum = 0.0;
            std::size_t n = 0;
            const auto errs = j.find("errors");
            for (std::size_t i = 0; i < it->size(); ++i) {
                if (!(*it)[i].is_number()) continue;
                const bool failed = errs != j.end() && errs->is_array() && i < errs->size() && (*errs)[i].is_string() &&
                                    !(*errs)[i].get<std::string>().empty();
                if (failed) continue;
                sum += (*it)[i].get<double>();
                ++n;
            }
            if (n > 0) p.e2el_mean_ms = sum / static_cast<double>(n) * 1000.0;
        }
    }
    return p;
}

/// Reads and parses one result file. Throws config_error naming the file and the problem.
inline ValidationPoint read_validation_point(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) detail::throw_error<config_error>("result '" + path.string() + "': cannot open the file; check the path");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception& e) {
        detail::throw_error<config_error>("result '" + path.string() + "' is not valid JSON (" + e.what() + ")");
    }
    return validation_point_from_json(j, path.string());
}

LLMEMU_END_NAMESPACE
