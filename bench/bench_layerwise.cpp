// Replay of the recorded vLLM run (data/vllm-runs/RTX4090-Llama-3.1-8B: 300
// ShareGPT requests, ~183 s on one RTX 4090) through the reference engine on the RTX 4090
// Llama-3.1-8B layer-wise profile, with the engine settings of the run (2,588 KV blocks,
// 256 sequences, 2,048 tokens per step, max_model_len 32,768). Target: under 0.4 s wall,
// 1,000x faster than LLMServingSim's 396 s on the same run. Baseline in the same run: the
// layer-wise model alone composing every step batch of the replay, so the ratio shows what
// the engine adds on top of the latency model; and the same replay over the model's
// aggregate-shape path (kv=aggregate).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/time/virtual_clock.hpp"

using namespace llmemu;

namespace {

const std::filesystem::path data_dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data";
const std::filesystem::path run_dir = data_dir / "vllm-runs" / "RTX4090-Llama-3.1-8B";
const std::filesystem::path profile_dir =
    data_dir / "layerwise-profiles" / "RTX4090" / "meta-llama" / "Llama-3.1-8B" / "bf16";

/// arrived_at (s), num_prefill_tokens, num_decode_tokens -> requests that generate exactly
/// num_decode_tokens (the run used ignore_eos).
std::vector<TimedRequest> load_trace(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
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
            throw std::runtime_error(path.string() + ": bad line '" + line + "'");
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

EngineConfig run_config() {
    EngineConfig c;
    c.num_gpu_blocks = 2588;
    c.max_num_seqs = 256;
    c.max_num_batched_tokens = 2048;
    c.max_model_len = 32768;
    return c;
}

/// Forwards to a LayerwiseModel and keeps a copy of every batch (for the baseline).
struct RecordingModel {
    LayerwiseModel* model;
    std::vector<StepBatch>* log;
    LatencySample sample(const StepBatch& b, Rng& rng) {
        log->push_back(b);
        return model->sample(b, rng);
    }
};

struct Fixture {
    std::vector<TimedRequest> trace;
    LayerwiseModel layerwise = LayerwiseModel::load(profile_dir);
    std::vector<StepBatch> batches; // every step of one replay
    Fixture() : trace(load_trace(run_dir / "workload.csv")) {
        VirtualClock clock;
        LayerwiseModel copy = layerwise;
        using X = EmulatedExecutor<RecordingModel, VirtualClock>;
        Engine<X, VirtualClock> engine(X(RecordingModel{&copy, &batches}, clock, {}, 1), clock, run_config());
        (void)run_simulation(engine, trace, {});
    }
};
Fixture& fixture() {
    static Fixture f;
    return f;
}

void replay(benchmark::State& state, const AnyLatencyModel& model) {
    Fixture& f = fixture();
    SimulationResult last;
    double cpu_s = 0;
    for (auto _ : state) {
        const std::clock_t c0 = std::clock();
        VirtualClock clock;
        using X = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
        Engine<X, VirtualClock> engine(X(model, clock, {}, 1), clock, run_config());
        last = run_simulation(engine, f.trace, {});
        cpu_s += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    }
    cpu_s /= static_cast<double>(state.iterations());
    const double sim_s = std::chrono::duration<double>(last.duration).count();
    state.counters["requests"] = static_cast<double>(last.records.size());
    state.counters["steps"] = static_cast<double>(last.stats.steps);
    state.counters["preemptions"] = static_cast<double>(last.stats.preemptions);
    state.counters["simulated_s"] = sim_s;
    state.counters["speedup_x"] = benchmark::Counter(sim_s, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["cpu_s"] = cpu_s;
    // LLMServingSim needed 396 s of wall time for this run.
    state.counters["vs_llmservingsim_x"] = benchmark::Counter(396.0, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_replay_rtx4090_layerwise(benchmark::State& state) {
    replay(state, AnyLatencyModel(fixture().layerwise));
}
BENCHMARK(BM_replay_rtx4090_layerwise)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_replay_rtx4090_layerwise_aggregate(benchmark::State& state) {
    LayerwiseOptions o;
    o.aggregate = true;
    replay(state, AnyLatencyModel(LayerwiseModel::load(profile_dir, {}, o)));
}
BENCHMARK(BM_replay_rtx4090_layerwise_aggregate)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

/// Baseline: the layer-wise model alone composing every step batch of the replay.
void BM_baseline_layerwise_model_only(benchmark::State& state) {
    Fixture& f = fixture();
    LayerwiseModel model = f.layerwise;
    Rng rng(1);
    double wall_s = 0;
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        double sum = 0;
        for (const auto& b : f.batches) sum += model.sample(b, rng);
        benchmark::DoNotOptimize(sum);
        wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    state.counters["steps"] = static_cast<double>(f.batches.size());
    state.counters["ns_per_step"] =
        wall_s * 1e9 / (static_cast<double>(state.iterations()) * static_cast<double>(f.batches.size()));
}
BENCHMARK(BM_baseline_layerwise_model_only)->Unit(benchmark::kMillisecond)->Iterations(20)->UseRealTime();

// Sharing: one LayerwiseModel sampled by every benchmark thread (const sample(), atomic
// coverage counters) vs a copy per thread (own counters). Batches: the replay's steps.
void sample_replay_steps(benchmark::State& st, const LayerwiseModel& m) {
    const auto& v = fixture().batches;
    Rng rng(1 + static_cast<std::uint64_t>(st.thread_index()));
    std::size_t i = static_cast<std::size_t>(st.thread_index()) * 977 % v.size();
    double sink = 0;
    for (auto _ : st) {
        sink += m.sample(v[i], rng);
        if (++i == v.size()) i = 0;
    }
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
}
void BM_Share_OneLayerwiseAllThreads(benchmark::State& st) {
    static const LayerwiseModel& shared = fixture().layerwise;
    sample_replay_steps(st, shared);
}
void BM_Share_LayerwiseCopyPerThread(benchmark::State& st) {
    const LayerwiseModel mine = fixture().layerwise; // own counters; shares the profile tables
    sample_replay_steps(st, mine);
}
BENCHMARK(BM_Share_OneLayerwiseAllThreads)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Share_LayerwiseCopyPerThread)->Threads(1)->Threads(2)->UseRealTime();

/// Loading the profile folder and its config.json (what `--profile DIR` costs up front).
void BM_load_rtx4090_profile(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(LayerwiseModel::load(profile_dir));
}
BENCHMARK(BM_load_rtx4090_profile)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
