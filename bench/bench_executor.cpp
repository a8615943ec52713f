// Executor overhead per step beyond the latency-model call: EmulatedExecutor on a
// VirtualClock (dispatch, shape, latency draw, token emission, timer, resolution, get)
// against calling the latency model alone on the same step shape, measured in the same
// run. Target: overhead under 1 µs per step for 256 requests.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/tokens/emitters.hpp"

namespace {

using llmemu::StepBatch;

// n decoding requests with realistic context lengths.
StepBatch decode_batch(std::uint32_t n) {
    StepBatch b;
    b.step_id = 1;
    for (std::uint32_t i = 0; i < n; ++i)
        b.requests.push_back(llmemu::ScheduledRequest::decode(i, 200 + 7 * i, 50));
    return b;
}

const std::filesystem::path pack_path =
    std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";

llmemu::AnyLatencyModel pack_model() {
    return llmemu::AnyLatencyModel::from_spec(pack_path.string());
}

template <class M>
void model_alone(benchmark::State& state, M model) {
    const StepBatch batch = decode_batch(static_cast<std::uint32_t>(state.range(0)));
    const llmemu::StepShape shape = batch.shape();
    llmemu::Rng rng(1);
    for (auto _ : state) {
        benchmark::DoNotOptimize(model.sample(shape, rng));
    }
}

template <class M, class E>
void executor_step(benchmark::State& state, M model, E emitter) {
    const StepBatch batch = decode_batch(static_cast<std::uint32_t>(state.range(0)));
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<M, llmemu::VirtualClock, E> exec(std::move(model), clock, std::move(emitter), 1);
    for (auto _ : state) {
        auto f = exec.execute(batch);
        llmemu::StepOutput out = f.get(); // advances the virtual clock and fires the timer
        benchmark::DoNotOptimize(out.outputs.data());
    }
}

void BM_shape_only(benchmark::State& state) {
    const StepBatch batch = decode_batch(static_cast<std::uint32_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(batch.shape());
}
void BM_model_affine(benchmark::State& state) {
    model_alone(state, llmemu::AffineProfile{5.0, 20.0, 10.0});
}
void BM_executor_affine_uniform(benchmark::State& state) {
    executor_step(state, llmemu::AffineProfile{5.0, 20.0, 10.0}, llmemu::UniformVocabEmitter(151936));
}
void BM_executor_affine_constant_tokens(benchmark::State& state) {
    executor_step(state, llmemu::AffineProfile{5.0, 20.0, 10.0}, llmemu::ConstantTokenEmitter(7));
}
void BM_model_pack(benchmark::State& state) {
    model_alone(state, pack_model());
}
void BM_executor_pack_uniform(benchmark::State& state) {
    executor_step(state, pack_model(), llmemu::UniformVocabEmitter(151936));
}

// Collects, per benchmark, the fastest repetition's CPU time per iteration: on a shared,
// time-sliced machine, CPU time (not wall time) and the minimum over repetitions are the
// best estimates of the uncontended cost.
class Collector : public benchmark::ConsoleReporter {
public:
    std::map<std::string, double> ns_per_iter;
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (r.run_type != Run::RT_Iteration || r.iterations <= 0) continue;
            const std::string name = r.run_name.function_name + "/" + r.run_name.args;
            const double ns = r.cpu_accumulated_time * 1e9 / static_cast<double>(r.iterations);
            const auto it = ns_per_iter.find(name);
            if (it == ns_per_iter.end() || ns < it->second) ns_per_iter[name] = ns;
        }
        ConsoleReporter::ReportRuns(runs);
    }
};

} // namespace

BENCHMARK(BM_shape_only)->Arg(1)->Arg(64)->Arg(256)->Repetitions(5)->MinTime(0.1);
BENCHMARK(BM_model_affine)->Arg(1)->Arg(64)->Arg(256)->Repetitions(5)->MinTime(0.1);
BENCHMARK(BM_executor_affine_uniform)->Arg(1)->Arg(64)->Arg(256)->Repetitions(5)->MinTime(0.1);
BENCHMARK(BM_executor_affine_constant_tokens)->Arg(1)->Arg(64)->Arg(256)->Repetitions(5)->MinTime(0.1);
BENCHMARK(BM_model_pack)->Arg(1)->Arg(64)->Arg(256)->Repetitions(5)->MinTime(0.1);
BENCHMARK(BM_executor_pack_uniform)->Arg(1)->Arg(64)->Arg(256)->Repetitions(5)->MinTime(0.1);

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    Collector reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    auto get = [&](const std::string& name) {
        const auto it = reporter.ns_per_iter.find(name);
        return it == reporter.ns_per_iter.end() ? -1.0 : it->second;
    };
    std::printf(
        "\nExecutor overhead per step beyond the latency model (CPU ns, fastest of 5 repetitions; virtual clock)\n");
    std::printf("%-8s %-30s %10s %10s %12s %8s\n", "requests", "executor", "step", "model", "overhead", "step/model");
    for (const char* n : {"1", "64", "256"}) {
        const std::string a = n;
        const struct {
            const char* executor;
            const char* model;
        } pairs[] = {{"BM_executor_affine_uniform", "BM_model_affine"},
                     {"BM_executor_affine_constant_tokens", "BM_model_affine"},
                     {"BM_executor_pack_uniform", "BM_model_pack"}};
        for (const auto& p : pairs) {
            const double step = get(std::string(p.executor) + "/" + a);
            const double model = get(std::string(p.model) + "/" + a);
            if (step < 0 || model < 0) continue;
            std::printf("%-8s %-30s %10.1f %10.1f %12.1f %7.2fx\n", n, p.executor + 3, step, model, step - model,
                        step / model);
        }
    }
    return 0;
}
