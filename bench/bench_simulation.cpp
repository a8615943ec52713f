// Virtual-time simulation of the bundled one-hour Azure conversation trace (19,366
// requests, data/splitwise_conv.csv) on the A40 Qwen3-8B profile pack: the whole
// reference engine (scheduler, KV cache, prefix cache, async scheduling) plus the
// latency oracle, as fast as one core allows. Target: under 3 s, i.e. over 1,000x
// faster than real time. Counters: requests simulated per second of wall time and the
// speed-up over real time. Baseline in the same run: the oracle alone drawing the same
// step shapes, so the ratio shows what the engine adds on top of the latency model.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"

using namespace llmemu;

namespace {

const std::string source_dir = LLMEMU_SOURCE_DIR;

/// arrived_at (s), num_prefill_tokens, num_decode_tokens -> requests that generate exactly
/// num_decode_tokens (ignore_eos).
std::vector<TimedRequest> load_trace(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::string line;
    std::getline(in, line); // header
    std::vector<TimedRequest> reqs;
    RequestId id = 1;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        double at = 0;
        unsigned prefill = 0;
        unsigned decode = 0;
        if (std::sscanf(line.c_str(), "%lf,%u,%u", &at, &prefill, &decode) != 3)
            throw std::runtime_error(path + ": bad line '" + line + "'");
        TimedRequest t;
        t.arrival = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(at));
        t.spec.id = id++;
        t.spec.prompt_len = prefill;
        t.spec.max_tokens = decode == 0 ? 1 : decode;
        t.spec.ignore_eos = true;
        reqs.push_back(std::move(t));
    }
    return reqs;
}

struct Fixture {
    std::vector<TimedRequest> trace = load_trace(source_dir + "/data/splitwise_conv.csv");
    AnyLatencyModel model = AnyLatencyModel::from_spec(source_dir + "/data/llm-emu-A40-Qwen3-8B-subset.json");
    std::vector<StepShape> shapes; // recorded by the first simulation, for the baseline
};
Fixture& fixture() {
    static Fixture f;
    return f;
}

EngineConfig trace_config() {
    EngineConfig c;
    c.max_model_len = 16384; // the trace's longest request is 14,089 tokens
    c.num_gpu_blocks = 0;    // derived from the pack: A40 48 GB at 0.9, Qwen3-8B
    return c;
}

void BM_simulate_splitwise_conv(benchmark::State& state) {
    Fixture& f = fixture();
    const bool record_tokens = state.range(0) != 0;
    SimulationResult last;
    double cpu_s = 0;
    for (auto _ : state) {
        const std::clock_t c0 = std::clock();
        VirtualClock clock;
        using X = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
        Engine<X, VirtualClock> engine(X(f.model, clock, {}, 1), clock, trace_config());
        SimulationOptions opt;
        opt.record_token_times = record_tokens;
        opt.record_steps = f.shapes.empty();
        last = run_simulation(engine, f.trace, opt);
        cpu_s += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        if (f.shapes.empty())
            for (const auto& s : last.steps) f.shapes.push_back(s.shape);
    }
    cpu_s /= static_cast<double>(state.iterations());
    const double sim_s = std::chrono::duration<double>(last.duration).count();
    state.counters["requests"] = static_cast<double>(last.records.size());
    state.counters["steps"] = static_cast<double>(last.stats.steps);
    state.counters["preemptions"] = static_cast<double>(last.stats.preemptions);
    state.counters["rejected"] = static_cast<double>(last.stats.rejected());
    state.counters["simulated_s"] = sim_s;
    state.counters["requests_per_s"] =
        benchmark::Counter(static_cast<double>(last.records.size()), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["speedup_x"] = benchmark::Counter(sim_s, benchmark::Counter::kIsIterationInvariantRate);
    // The same per CPU second of this process (what one otherwise idle core achieves;
    // the machine may be shared, which only stretches the real time).
    state.counters["requests_per_cpu_s"] = static_cast<double>(last.records.size()) / cpu_s;
    state.counters["speedup_cpu_x"] = sim_s / cpu_s;
    state.counters["cpu_s"] = cpu_s;
}
BENCHMARK(BM_simulate_splitwise_conv)
    ->Arg(1)
    ->Arg(0)
    ->ArgName("token_times")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

/// Baseline: the latency model alone drawing every step shape of the simulation.
void BM_baseline_oracle_only(benchmark::State& state) {
    Fixture& f = fixture();
    if (f.shapes.empty()) {
        state.SkipWithError("run BM_simulate_splitwise_conv first (it records the step shapes)");
        return;
    }
    AnyLatencyModel model = f.model;
    Rng rng(1);
    for (auto _ : state) {
        double sum = 0;
        for (const auto& s : f.shapes) sum += model.sample(s, rng);
        benchmark::DoNotOptimize(sum);
    }
    state.counters["steps"] = static_cast<double>(f.shapes.size());
}
BENCHMARK(BM_baseline_oracle_only)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
