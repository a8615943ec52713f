#pragma once
/// \file latency_quantiles.hpp
/// A run's latency distributions in a fixed size: the quantile functions of TTFT, TPOT, ITL
/// and E2E at evenly spaced percents, read from a StreamingSummary's digests (numpy's
/// percentile rule, exact while each digest holds its values exactly, else within its
/// relative error). `llmemu simulate` writes them as `llmemu.latency_quantiles`, so the
/// report draws whole CDFs of a run without per-request lists (a day-long fleet run) in a
/// few kilobytes. Needs nlohmann-json.

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/metrics/bench_result.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace report {

/// `{"percents": [0, ..., 100], "ttft_ms": [...], "tpot_ms": [...], "itl_ms": [...],
/// "e2el_ms": [...], "exact": bool}`: `points` evenly spaced percents (an odd count puts
/// one at exactly 50%, so its value is median_<metric>_ms) and each metric's value there in
/// ms; a metric without values has an empty array. `exact` is false when some digest has
/// become a sketch.
[[nodiscard]] inline nlohmann::json latency_quantiles_json(const StreamingSummary& s, std::size_t points = 101) {
    if (points < 2) points = 2;
    nlohmann::json j;
    nlohmann::json percents = nlohmann::json::array();
    for (std::size_t i = 0; i < points; ++i)
        percents.push_back(100.0 * static_cast<double>(i) / static_cast<double>(points - 1));
    bool exact = true;
    const std::pair<const char*, const MetricDigest*> metrics[] = {{"ttft_ms", &s.ttft_digest()},
                                                                   {"tpot_ms", &s.tpot_digest()},
                                                                   {"itl_ms", &s.itl_digest()},
                                                                   {"e2el_ms", &s.e2el_digest()}};
    for (const auto& [key, digest] : metrics) {
        nlohmann::json values = nlohmann::json::array();
        if (digest->count() > 0) {
            MetricDigest d = *digest; // percentile() sorts; the summary stays as it is
            exact = exact && d.exact();
            for (const auto& p : percents) values.push_back(d.percentile(p.get<double>()) * 1000.0);
        }
        j[key] = std::move(values);
    }
    j["percents"] = std::move(percents);
    j["exact"] = exact;
    return j;
}

} // namespace report
LLMEMU_END_NAMESPACE
