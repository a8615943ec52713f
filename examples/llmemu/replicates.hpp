#pragma once
// `llmemu simulate --replicates K`: K virtual runs with seeds seed, seed+1, ... in parallel
// on every core (each run depends only on its seed, so the answer does not depend on the
// thread count), and each summary metric as mean +- the half-width of its 95 % Student-t
// confidence interval over the replicates.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/workload.hpp"
#include "report.hpp"
#include "simulation_run.hpp"

namespace llmemu::cli {

/// Mean and 95 % confidence interval of one metric over replicates.
struct ReplicateStat {
    std::string name;
    double mean = 0.0;
    double half_width = 0.0; // mean +- half_width is the 95 % CI
    double min = 0.0;
    double max = 0.0;
};

/// The 97.5 % quantile of Student's t with `df` degrees of freedom.
inline double student_t975(std::size_t df) {
    static constexpr double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                       2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                       2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df == 0) return 0.0;
    if (df <= 30) return table[df - 1];
    return 1.95996 + 2.4 / static_cast<double>(df); // within 0.1 % above 30
}

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
    const std::size_t n = runs.size();
    for (const Metric& m : metrics) {
        ReplicateStat s;
        s.name = m.name;
        if (n == 0) {
            out.push_back(s);
            continue;
        }
        double sum = 0.0;
        s.min = m.get(runs[0]);
        s.max = s.min;
        for (const auto& r : runs) {
            const double v = m.get(r);
            sum += v;
            s.min = std::min(s.min, v);
            s.max = std::max(s.max, v);
        }
        s.mean = sum / static_cast<double>(n);
        if (n > 1) {
            double sq = 0.0;
            for (const auto& r : runs) sq += (m.get(r) - s.mean) * (m.get(r) - s.mean);
            const double sd = std::sqrt(sq / static_cast<double>(n - 1));
            s.half_width = student_t975(n - 1) * sd / std::sqrt(static_cast<double>(n));
        }
        out.push_back(s);
    }
    return out;
}

/// Runs K virtual replicates of `spec` (the workload redrawn per seed where it is
/// synthetic) on `model` with `config`, seeds seed..seed+K-1, on up to `threads` threads.
inline std::vector<BenchResult> run_replicates(const AnyLatencyModel& model, const EngineConfig& config,
                                               WorkloadSpec spec, std::uint64_t seed, std::size_t k,
                                               const SummaryOptions& summary, unsigned threads) {
    std::vector<BenchResult> out(k);
    std::atomic<std::size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
        for (std::size_t i = next++; i < k; i = next++) {
            try {
                WorkloadSpec s = spec;
                s.seed = seed + i;
                const Workload w = build_workload(s);
                out[i] = run_emulation<VirtualClock>(model, config, w, seed + i, summary, false).bench;
            } catch (...) {
                const std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
            }
        }
    };
    const unsigned n = std::max(1U, std::min<unsigned>(threads, static_cast<unsigned>(k)));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < n; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
    return out;
}

/// Prints the replicate table (one line per metric: mean +- CI half-width [min, max]).
inline void print_replicates(std::ostream& os, const std::vector<ReplicateStat>& stats, std::size_t k,
                             std::uint64_t seed) {
    os << "Replicates: " << k << " runs, seeds " << seed << ".." << seed + k - 1
       << " (mean +- 95% CI, Student t; [min, max])\n";
    for (const auto& s : stats)
        print_line(os, s.name + ":",
                   fmt("%.2f", s.mean) + " +- " + fmt("%.2f", s.half_width) + "  [" + fmt("%.2f", s.min) + ", " +
                       fmt("%.2f", s.max) + "]");
}

/// The replicate table as JSON (for --result-json).
inline nlohmann::json replicates_json(const std::vector<ReplicateStat>& stats, std::size_t k, std::uint64_t seed) {
    nlohmann::json j;
    j["count"] = k;
    j["first_seed"] = seed;
    j["metrics"] = nlohmann::json::object();
    for (const auto& s : stats)
        j["metrics"][s.name] = {{"mean", s.mean}, {"ci95_half_width", s.half_width}, {"min", s.min}, {"max", s.max}};
    return j;
}

} // namespace llmemu::cli
