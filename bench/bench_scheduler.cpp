// One scheduling step of the reference engine (schedule + update from the step's output)
// with 16, 256 and 1,024 requests decoding. vLLM's Python scheduler needs milliseconds
// here; the target is under 20 us at 256. Baseline in the same run: copying the step's
// batch (the least any host must do per step), so the ratio is machine-independent.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "llmemu/engine/scheduler.hpp"

using namespace llmemu;

namespace {

EngineConfig bench_config(std::uint32_t n, bool prefix_caching) {
    EngineConfig c;
    c.max_num_seqs = n;
    c.max_num_batched_tokens = 8192;
    c.max_model_len = 8192;
    c.num_gpu_blocks = n * 300 + 16; // no preemption: measure the common path
    c.enable_prefix_caching = prefix_caching;
    c.async_scheduling = false;
    return c;
}

RequestSpec bench_spec(RequestId id) {
    RequestSpec s;
    s.id = id;
    s.prompt_len = 100 + static_cast<std::uint32_t>(id % 200);
    s.max_tokens = 4000;
    s.ignore_eos = true;
    return s;
}

void fill_output(const ScheduledStep& s, StepOutput& out) {
    out.step_id = s.batch.step_id;
    out.outputs.resize(s.batch.requests.size());
    for (std::size_t k = 0; k < s.batch.requests.size(); ++k) {
        out.outputs[k].id = s.batch.requests[k].id;
        out.outputs[k].token = s.batch.requests[k].samples_token ? std::optional<TokenId>(42) : std::nullopt;
        out.outputs[k].is_eos = false;
    }
}

/// N requests admitted and prefilled, then timed decode steps; finished requests are
/// replaced so N stay running.
void BM_scheduler_step(benchmark::State& state) {
    const auto n = static_cast<std::uint32_t>(state.range(0));
    Scheduler sch(bench_config(n, state.range(1) != 0));
    RequestId next_id = 1;
    for (std::uint32_t i = 0; i < n; ++i) sch.add_request(bench_spec(next_id++), std::chrono::nanoseconds{0});
    ScheduledStep step;
    StepOutput out;
    std::chrono::nanoseconds t{0};
    // Warm up: admit everything (prefill) and reach steady decoding.
    for (int i = 0; i < 8; ++i) {
        sch.schedule(step, t);
        fill_output(step, out);
        sch.update_from_output(step, out, t);
    }
    for (auto _ : state) {
        t += std::chrono::milliseconds(1);
        sch.schedule(step, t);
        fill_output(step, out);
        sch.update_from_output(step, out, t);
        auto& done = sch.finished_records();
        if (!done.empty()) {
            const std::size_t k = done.size();
            done.clear();
            for (std::size_t i = 0; i < k; ++i) sch.add_request(bench_spec(next_id++), t);
        }
        benchmark::DoNotOptimize(step.batch.requests.data());
    }
    state.counters["running"] = static_cast<double>(sch.num_running());
}
BENCHMARK(BM_scheduler_step)
    ->ArgsProduct({{16, 256, 1024}, {1, 0}})
    ->ArgNames({"running", "prefix_caching"})
    ->Unit(benchmark::kMicrosecond);

/// Async pattern: step N+1 scheduled with placeholders before step N's output arrives.
void BM_scheduler_step_async(benchmark::State& state) {
    const auto n = static_cast<std::uint32_t>(state.range(0));
    EngineConfig c = bench_config(n, true);
    c.async_scheduling = true;
    Scheduler sch(c);
    RequestId next_id = 1;
    for (std::uint32_t i = 0; i < n; ++i) sch.add_request(bench_spec(next_id++), std::chrono::nanoseconds{0});
    ScheduledStep steps[2];
    StepOutput out;
    std::chrono::nanoseconds t{0};
    int cur = 0;
    sch.schedule(steps[cur], t);
    for (int i = 0; i < 8; ++i) {
        sch.schedule(steps[1 - cur], t);
        fill_output(steps[cur], out);
        sch.update_from_output(steps[cur], out, t);
        cur = 1 - cur;
    }
    for (auto _ : state) {
        t += std::chrono::milliseconds(1);
        sch.schedule(steps[1 - cur], t);
        fill_output(steps[cur], out);
        sch.update_from_output(steps[cur], out, t);
        cur = 1 - cur;
        auto& done = sch.finished_records();
        if (!done.empty()) {
            const std::size_t k = done.size();
            done.clear();
            for (std::size_t i = 0; i < k; ++i) sch.add_request(bench_spec(next_id++), t);
        }
    }
}
BENCHMARK(BM_scheduler_step_async)->Arg(16)->Arg(256)->Arg(1024)->ArgName("running")->Unit(benchmark::kMicrosecond);

/// Baseline: copy a decode batch of N requests (what any host does per step at least).
void BM_baseline_copy_batch(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    StepBatch src;
    for (std::size_t i = 0; i < n; ++i) src.requests.push_back(ScheduledRequest::decode(i + 1, 500, 10));
    StepBatch dst;
    dst.requests.reserve(n);
    for (auto _ : state) {
        dst.requests.assign(src.requests.begin(), src.requests.end());
        benchmark::DoNotOptimize(dst.requests.data());
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_baseline_copy_batch)->Arg(16)->Arg(256)->Arg(1024)->ArgName("running")->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
