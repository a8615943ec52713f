#pragma once
// `llmemu simulate --replicates K`: the table and result JSON of the replicates that the
// library's run_replicates / replicate_stats (llmemu/fleet/emulation.hpp) compute.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/fleet/emulation.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "report.hpp"

namespace llmemu::cli {

/// Prints the replicate table (one line per metric: mean +- CI half-width [min, max]).
inline void print_replicates(std::ostream& os, const std::vector<ReplicateStat>& stats, std::size_t k,
                             std::uint64_t seed, bool bootstrap = false) {
    os << "Replicates: " << k << " runs, seeds " << seed << ".." << seed + k - 1
       << (bootstrap ? ", each on a bootstrap resample of the pack" : "")
       << " (mean +- 95% CI, Student t; [min, max])\n";
    for (const auto& s : stats)
        print_line(os, s.name + ":",
                   fmt("%.2f", s.mean) + " +- " + fmt("%.2f", s.half_width) + "  [" + fmt("%.2f", s.min) + ", " +
                       fmt("%.2f", s.max) + "]");
}

/// The replicate table as JSON (for --result-json).
inline nlohmann::json replicates_json(const std::vector<ReplicateStat>& stats, std::size_t k, std::uint64_t seed,
                                      bool bootstrap = false) {
    nlohmann::json j;
    j["count"] = k;
    j["first_seed"] = seed;
    j["bootstrap_profile"] = bootstrap;
    j["metrics"] = nlohmann::json::object();
    for (const auto& s : stats)
        j["metrics"][s.name] = {{"mean", s.mean}, {"ci95_half_width", s.half_width}, {"min", s.min}, {"max", s.max}};
    return j;
}

/// Each detailed replicate's per-request lists (input_lens, output_lens, ttfts, latencies,
/// errors, as --save-detailed writes them; itls left out), with its seed: the "runs" of the
/// result's llmemu.replicates, which `validate --replicates K` compares with a real run.
inline nlohmann::json replicate_runs_json(const std::vector<BenchResult>& runs, std::uint64_t seed) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const BenchResult& r = runs[i];
        out.push_back({{"seed", seed + i},
                       {"input_lens", r.input_lens},
                       {"output_lens", r.output_lens},
                       {"ttfts", r.ttfts},
                       {"latencies", r.latencies},
                       {"errors", r.errors}});
    }
    return out;
}

} // namespace llmemu::cli
