// libFuzzer target for validation's readers: vLLM's requests.jsonl, vLLM's 1 s log CSV,
// the per-request lists of a result JSON and of its llmemu.replicates.runs. Any byte string
// either parses or raises llmemu::config_error with a message - never a crash, hang, other
// exception or sanitizer report. What parses must be consistent: finite, non-negative latencies, E2E >= TTFT, a
// TPOT only for multi-token requests, increasing time-series times, and a comparison of a
// run with itself must show 0 % error everywhere and a KS distance of 0.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmemu/error.hpp"
#include "llmemu/metrics/validation.hpp"
#include "llmemu/metrics/validation_requests.hpp"
#include "llmemu/metrics/validation_timeseries.hpp"

namespace {

void check_samples(const llmemu::RequestSamples& s) {
    for (const auto& r : s.requests) {
        if (!(std::isfinite(r.ttft_s) && r.ttft_s >= 0.0 && std::isfinite(r.e2e_s) && r.e2e_s >= r.ttft_s))
            std::abort();
        if (r.output_toks == 0) std::abort();
        if (r.output_toks > 1 ? !(r.tpot_s >= 0.0) : !std::isnan(r.tpot_s)) std::abort();
    }
    if (s.requests.empty()) return;
    const llmemu::DistributionReport rep = llmemu::compare_distributions(s, s);
    if (rep.ks_ttft != 0.0 || rep.ks_e2e != 0.0) std::abort();
    for (const auto& row : rep.rows)
        if (!(std::isnan(row.pct) || row.pct == 0.0)) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        check_samples(llmemu::parse_vllm_requests_jsonl(text, "fuzz.jsonl"));
    } catch (const llmemu::config_error&) {
    }
    try {
        const llmemu::TimeSeriesTable t = llmemu::parse_timeseries_csv(text, "fuzz.csv");
        for (std::size_t i = 1; i < t.t_s.size(); ++i)
            if (!(t.t_s[i] > t.t_s[i - 1])) std::abort();
        for (const auto& [name, v] : t.columns)
            if (v.size() != t.t_s.size()) std::abort();
        if (!(t.interval_s > 0.0)) std::abort();
        (void)llmemu::compare_timeseries(t, t);
    } catch (const llmemu::config_error&) {
    }
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) {
        try {
            if (const auto s = llmemu::request_samples_from_result_json(j, "fuzz.json")) check_samples(*s);
        } catch (const llmemu::config_error&) {
        }
        try { // llmemu.replicates.runs: each run as consistent as one result's lists
            const auto runs = llmemu::replicate_request_samples(j, "fuzz.json");
            bool all = runs.size() >= 2;
            for (const auto& s : runs) {
                check_samples(s);
                all = all && !s.requests.empty();
            }
            if (all) {
                const llmemu::DistributionReport rep = llmemu::compare_distributions(runs[0], runs);
                for (const auto& row : rep.rows)
                    if (row.emu_ci95 < 0.0) std::abort();
            }
        } catch (const llmemu::config_error&) {
        }
        try {
            (void)llmemu::timeseries_from_result_json(j, "fuzz.json");
        } catch (const llmemu::config_error&) {
        }
    }
    return 0;
}
