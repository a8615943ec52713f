#pragma once
// One emulated run, shared by `llmemu simulate` and `llmemu sweep`: a workload through the
// reference engine on an EmulatedExecutor<AnyLatencyModel, Clock>, summarised the way
// `vllm bench serve` summarises a real run.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llmemu/engine/config.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/request_metrics.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/workload/workload.hpp"

namespace llmemu::cli {

/// The engine requests of a workload: request i has id i, a synthetic prompt of
/// prompt_len tokens, and generates exactly output_len tokens (max_tokens with ignore_eos,
/// as trace replay and vLLM's random dataset do).
inline std::vector<TimedRequest> to_timed_requests(const Workload& w) {
    std::vector<TimedRequest> out;
    out.reserve(w.requests.size());
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        const auto& r = w.requests[i];
        TimedRequest t;
        t.arrival = std::chrono::nanoseconds(std::llround(r.arrival_s * 1e9));
        t.spec.id = i;
        t.spec.prompt_len = r.prompt_len;
        t.spec.max_tokens = r.output_len;
        t.spec.ignore_eos = true;
        out.push_back(std::move(t));
    }
    return out;
}

/// The longest prompt + output of a workload.
inline std::uint32_t longest_request(const Workload& w) {
    std::uint64_t m = 0;
    for (const auto& r : w.requests) m = std::max<std::uint64_t>(m, std::uint64_t{r.prompt_len} + r.output_len);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(m, 0xFFFFFFFFULL));
}

/// What one run produced: the simulation, its summary, the model's coverage and the
/// engine's resolved configuration.
struct RunOutcome {
    SimulationResult sim;
    BenchResult bench;
    Coverage coverage;
    EngineConfig config;
    /// Wall-clock seconds the run took.
    double wall_s = 0.0;
};

/// Runs `workload` on `model` (copied; coverage counted for this run only) with `config`,
/// on the clock C (VirtualClock: as fast as possible; WallClock: real time).
template <class C>
RunOutcome run_emulation(const AnyLatencyModel& model, const EngineConfig& config, const Workload& workload,
                         std::uint64_t seed, const SummaryOptions& summary, bool record_steps,
                         std::function<void(double)> progress = {}) {
    const auto wall_start = std::chrono::steady_clock::now();
    C clock;
    AnyLatencyModel m = model;
    m.reset_coverage();
    using Exec = EmulatedExecutor<AnyLatencyModel, C>;
    Engine<Exec, C> engine(Exec(std::move(m), clock, {}, seed), clock, config);
    SimulationOptions opts;
    opts.record_steps = record_steps;
    opts.timeseries_interval = std::chrono::seconds(1); // vLLM's 1 s engine log (bounded memory)
    opts.progress = std::move(progress);
    RunOutcome out;
    out.config = engine.config();
    out.sim = run_simulation(engine, to_timed_requests(workload), opts);
    out.coverage = engine.executor().model().coverage();
    std::sort(out.sim.records.begin(), out.sim.records.end(),
              [](const RequestRecord& a, const RequestRecord& b) { return a.id < b.id; });
    std::vector<RequestTiming> timings;
    timings.reserve(out.sim.records.size());
    for (const auto& r : out.sim.records) timings.push_back(timing_from_record(r));
    const double duration = std::chrono::duration<double>(out.sim.duration).count();
    out.bench = summarize(timings, duration > 0.0 ? duration : 1e-9, summary);
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return out;
}

} // namespace llmemu::cli
