#pragma once
// The sharing benchmark loop of bench_oracle and bench_layerwise: every benchmark thread
// samples `model` (one shared object, or the thread's own copy) over `inputs` (shapes or
// batches), starting at a thread-dependent offset, with its own seeded Rng.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "llmemu/random.hpp"

namespace llmemu::bench {

template <class Model, class Input>
void sample_each_thread(benchmark::State& st, const Model& model, const std::vector<Input>& inputs) {
    Rng rng(1 + static_cast<std::uint64_t>(st.thread_index()));
    std::size_t i = static_cast<std::size_t>(st.thread_index()) * 977 % inputs.size();
    double sink = 0;
    for (auto _ : st) {
        sink += model.sample(inputs[i], rng);
        if (++i == inputs.size()) i = 0;
    }
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
}

} // namespace llmemu::bench
