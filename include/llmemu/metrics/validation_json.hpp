#pragma once
/// \file validation_json.hpp
/// Reads the numbers validation compares from a `vllm bench serve` result JSON (or an
/// llmemu one: same keys). Needs nlohmann-json.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "llmemu/error.hpp"
#include "llmemu/metrics/validation.hpp"

namespace llmemu {

namespace detail {
inline double metrics_json_number(const nlohmann::json& j, const char* key, const std::string& source,
                                  bool required) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required)
            throw_error<config_error>("result '" + source + "' has no '" + key +
                                      "'; give a vllm bench serve result JSON (--save-result)");
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (!it->is_number())
        throw_error<config_error>("result '" + source + "': '" + key + "' is not a number");
    return it->get<double>();
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
        std::smatch m;
        static const std::regex by_r(R"((?:^|[_\-])r(\d+(?:\.\d+)?)(?:[_\-.]|$))");
        static const std::regex by_qps(R"((\d+(?:\.\d+)?)qps)");
        if (std::regex_search(name, m, by_r) || std::regex_search(name, m, by_qps)) {
            p.request_rate = std::stod(m[1].str());
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
                const bool failed = errs != j.end() && errs->is_array() && i < errs->size() &&
                                    (*errs)[i].is_string() && !(*errs)[i].get<std::string>().empty();
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
    if (!in)
        detail::throw_error<config_error>("result '" + path.string() +
                                          "': cannot open the file; check the path");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception& e) {
        detail::throw_error<config_error>("result '" + path.string() + "' is not valid JSON (" + e.what() + ")");
    }
    return validation_point_from_json(j, path.string());
}

} // namespace llmemu
