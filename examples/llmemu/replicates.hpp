#pragma once
// `llmemu simulate --replicates K`: K virtual runs with seeds seed, seed+1, ... in parallel
// on every core (each run depends only on its seed, so the answer does not depend on the
// thread count), and each summary metric as mean +- the half-width of its 95 % Student-t
// confidence interval over the replicates. With --bootstrap-profile each replicate also
// samples a bootstrap resample of the pack (seeded by its seed), so the interval covers the
// profile's sampling uncertainty too.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/core/parallel.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/interval.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/workload.hpp"
#include "report.hpp"

namespace llmemu::cli {

/// Mean and 95 % confidence interval of one metric over replicates.
struct ReplicateStat {
    std::string name;
    double mean = 0.0;
    double half_width = 0.0; // mean +- half_width is the 95 % CI
    double min = 0.0;
    double max = 0.0;
};

/// The summary metrics of `runs` as mean +- 95 % CI.
inline std::vector<ReplicateStat> replicate_stats(const std::vector<BenchResult>& runs) {
    struct Metric {
        const char* name;
        double (*get)(const BenchResult&);
    };
    static const Metric metrics[] = {
        {"Request throughput (req/s)", [](const BenchResult& r) { return r.request_throughput; }},
        {"Output token throughput (tok/s)", [](const BenchResult& r) { return r.output_throughput; }},
        {"Mean TTFT (ms)", [](const BenchResult& r) { return r.ttft.mean_ms; }},
        {"Median TTFT (ms)", [](const BenchResult& r) { return r.ttft.median_ms; }},
        {"Mean TPOT (ms)", [](const BenchResult& r) { return r.tpot.mean_ms; }},
        {"Median TPOT (ms)", [](const BenchResult& r) { return r.tpot.median_ms; }},
        {"Mean ITL (ms)", [](const BenchResult& r) { return r.itl.mean_ms; }},
        {"Mean E2EL (ms)", [](const BenchResult& r) { return r.e2el.mean_ms; }},
        {"Benchmark duration (s)", [](const BenchResult& r) { return r.duration_s; }},
    };
    std::vector<ReplicateStat> out;
    std::vector<double> values(runs.size());
    for (const Metric& m : metrics) {
        for (std::size_t i = 0; i < runs.size(); ++i) values[i] = m.get(runs[i]);
        const MeanInterval ci = mean_interval(values);
        out.push_back({m.name, ci.mean, ci.half_width, ci.min, ci.max});
    }
    return out;
}

/// Runs K virtual replicates of `spec` (the workload redrawn per seed where it is
/// synthetic) on `model` with `config`, seeds seed..seed+K-1, on up to `threads` threads.
/// How the replicates run.
struct ReplicateOptions {
    /// Replicate i runs on bootstrap_model(model, seed + i) (a pack model only).
    bool bootstrap_profile = false;
    /// Keep each replicate's per-request lists (--save-detailed; for `validate --replicates`).
    bool detailed = false;
};

inline std::vector<BenchResult> run_replicates(const AnyLatencyModel& model, const EngineConfig& config,
                                               WorkloadSpec spec, std::uint64_t seed, std::size_t k,
                                               const SummaryOptions& summary, unsigned threads,
                                               const ReplicateOptions& opts = {}) {
    std::vector<BenchResult> out(k);
    parallel_for(k, std::max(1U, threads), [&](std::size_t i) {
        WorkloadSpec s = spec;
        s.seed = seed + i;
        const Workload w = build_workload(s);
        const AnyLatencyModel m = opts.bootstrap_profile ? bootstrap_model(model, seed + i) : model;
        FleetSettings one;
        one.detailed = opts.detailed;
        out[i] = run_emulation<VirtualClock>(m, config, w, seed + i, summary, false, {}, one).bench;
    });
    return out;
}

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
