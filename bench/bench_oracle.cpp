// Oracle sampling speed on the bundled real A40 pack, as ratios to a baseline measured in
// the same run: exact-bucket hits vs "index a float array + one random draw" (target
// within 3x), sparse (Shepard) and out-of-range samples in absolute ns (target < 1 us).
// The learned model's sample() on the same shapes, against the oracle's exact hit (target < 1 us).
// Also prints the store's memory: samples vs their raw float size, and the index.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llmemu/oracle/learned_fit.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/random.hpp"

namespace {

using namespace llmemu;

std::shared_ptr<const ProfileStore> store() {
    static const auto s = std::make_shared<const ProfileStore>(
        load_llm_emu_pack(std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json"));
    return s;
}

struct Shapes {
    std::vector<StepShape> exact, sparse, out_of_range;
};

const Shapes& shapes() {
    static const Shapes s = [] {
        Shapes out;
        LatencyOracle<> o(store());
        Rng rng(99);
        for (Phase phase : {Phase::decode, Phase::prefill}) {
            const ProfileTable& t = *store()->table(o.table_for(phase));
            for (std::size_t i = 0; i < t.size(); ++i)
                if (t.count(i) >= o.options().min_exact_samples) out.exact.push_back({phase, t.tt(i), t.conc(i), 0});
            for (int k = 0; k < 200000 && out.sparse.size() < 8192; ++k) {
                const StepShape sh{
                    phase, static_cast<std::uint32_t>(t.tt_min() + uniform_index(rng, t.tt_max() - t.tt_min() + 1)),
                    static_cast<std::uint32_t>(t.conc_min() + uniform_index(rng, t.conc_max() - t.conc_min() + 1)), 0};
                if (o.resolve(sh).kind == CoverageKind::interpolated) out.sparse.push_back(sh);
            }
            for (int k = 0; k < 2048; ++k)
                out.out_of_range.push_back({phase,
                                            t.tt_max() + 1 + static_cast<std::uint32_t>(uniform_index(rng, 4096)),
                                            t.conc_max() + static_cast<std::uint32_t>(uniform_index(rng, 64)), 0});
        }
        // Shuffle so that consecutive samples hit different buckets (no cache-friendly order).
        for (auto* v : {&out.exact, &out.sparse, &out.out_of_range})
            for (std::size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[uniform_index(rng, i)]);
        return out;
    }();
    return s;
}

// Baseline: one random index into a flat float array of the same size as the table.
void BM_Baseline_FloatIndexOneDraw(benchmark::State& st) {
    const ProfileTable& t = *store()->table(TableKind::decode);
    const std::vector<float> samples(t.all_samples().begin(), t.all_samples().end());
    Rng rng(1);
    double sink = 0;
    for (auto _ : st) sink += static_cast<double>(samples[uniform_index(rng, samples.size())]);
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
}

void run_oracle(benchmark::State& st, const std::vector<StepShape>& v) {
    LatencyOracle<> o(store());
    Rng rng(1);
    std::size_t i = 0;
    double sink = 0;
    for (auto _ : st) {
        sink += o.sample(v[i], rng);
        if (++i == v.size()) i = 0;
    }
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
    st.counters["exact"] = static_cast<double>(o.coverage().exact) / static_cast<double>(o.coverage().total);
}

void BM_Oracle_ExactHit(benchmark::State& st) {
    run_oracle(st, shapes().exact);
}
void BM_Oracle_Sparse(benchmark::State& st) {
    run_oracle(st, shapes().sparse);
}
// The shapes an engine produces repeat: 64 distinct sparse shapes, memoised after first use.
void BM_Oracle_SparseRepeated(benchmark::State& st) {
    const std::vector<StepShape> few(shapes().sparse.begin(), shapes().sparse.begin() + 64);
    run_oracle(st, few);
}
void BM_Oracle_OutOfRange(benchmark::State& st) {
    run_oracle(st, shapes().out_of_range);
}

const LearnedLatencyModel& learned() {
    static const LearnedLatencyModel m = fit_learned_model(*store());
    return m;
}

void run_learned(benchmark::State& st, const std::vector<StepShape>& v) {
    LearnedLatencyModel m = learned();
    Rng rng(1);
    std::size_t i = 0;
    double sink = 0;
    for (auto _ : st) {
        sink += m.sample(v[i], rng);
        if (++i == v.size()) i = 0;
    }
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
}
void BM_Learned_ExactShapes(benchmark::State& st) {
    run_learned(st, shapes().exact);
}
void BM_Learned_SparseShapes(benchmark::State& st) {
    run_learned(st, shapes().sparse);
}
void BM_Learned_OutOfRange(benchmark::State& st) {
    run_learned(st, shapes().out_of_range);
}

// Baseline with the same shape cycling as the oracle runs: the cost of reading a shape
// plus indexing a float array plus one draw.
void BM_Baseline_ShapeCycleFloatIndex(benchmark::State& st) {
    const ProfileTable& t = *store()->table(TableKind::decode);
    const std::vector<float> samples(t.all_samples().begin(), t.all_samples().end());
    const auto& v = shapes().exact;
    Rng rng(1);
    std::size_t i = 0;
    double sink = 0;
    for (auto _ : st) {
        sink += static_cast<double>(samples[(uniform_index(rng, samples.size()) + v[i].total_tokens) % samples.size()]);
        if (++i == v.size()) i = 0;
    }
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
}

// Sharing: one oracle sampled by every benchmark thread (const sample(), lock-free memo,
// atomic counters) vs a copy per thread (own counters and memo). Shapes: the engine's mix
// of exact hits and repeated sparse shapes.
const std::vector<StepShape>& mixed_shapes() {
    static const std::vector<StepShape> v = [] {
        std::vector<StepShape> out;
        const auto& s = shapes();
        for (std::size_t i = 0; i < 4096; ++i)
            out.push_back(i % 2 == 0 ? s.exact[i % s.exact.size()] : s.sparse[i % 64]);
        return out;
    }();
    return v;
}
void sample_mixed(benchmark::State& st, const LatencyOracle<>& o) {
    const auto& v = mixed_shapes();
    Rng rng(1 + static_cast<std::uint64_t>(st.thread_index()));
    std::size_t i = static_cast<std::size_t>(st.thread_index()) * 977 % v.size();
    double sink = 0;
    for (auto _ : st) {
        sink += o.sample(v[i], rng);
        if (++i == v.size()) i = 0;
    }
    benchmark::DoNotOptimize(sink);
    st.SetItemsProcessed(st.iterations());
}
void BM_Share_OneOracleAllThreads(benchmark::State& st) {
    static const LatencyOracle<> shared(store());
    sample_mixed(st, shared);
}
void BM_Share_CopyPerThread(benchmark::State& st) {
    static const LatencyOracle<> proto(store());
    const LatencyOracle<> mine = proto; // own counters and memo; shares the store and tables
    sample_mixed(st, mine);
}
BENCHMARK(BM_Share_OneOracleAllThreads)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Share_CopyPerThread)->Threads(1)->Threads(2)->UseRealTime();

BENCHMARK(BM_Baseline_FloatIndexOneDraw);
BENCHMARK(BM_Baseline_ShapeCycleFloatIndex);
BENCHMARK(BM_Oracle_ExactHit);
BENCHMARK(BM_Oracle_Sparse);
BENCHMARK(BM_Oracle_SparseRepeated);
BENCHMARK(BM_Oracle_OutOfRange);
BENCHMARK(BM_Learned_ExactShapes);
BENCHMARK(BM_Learned_SparseShapes);
BENCHMARK(BM_Learned_OutOfRange);

class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (r.iterations == 0) continue;
            ns[r.benchmark_name()] = r.real_accumulated_time * 1e9 / static_cast<double>(r.iterations);
            cpu[r.benchmark_name()] = r.cpu_accumulated_time * 1e9 / static_cast<double>(r.iterations);
        }
        ConsoleReporter::ReportRuns(runs);
    }
    std::map<std::string, double> ns;
    std::map<std::string, double> cpu;
};

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    benchmark::Shutdown();
    // The machine may be shared: report wall-clock and CPU time (ratios in the same run).
    for (auto* m : {&rep.ns, &rep.cpu}) {
        auto get = [&](const char* n) { return m->count(n) ? m->at(n) : 0.0; };
        const double base = get("BM_Baseline_FloatIndexOneDraw");
        const double base2 = get("BM_Baseline_ShapeCycleFloatIndex");
        std::printf("\n[%s time]\nexact hit: %.1f ns = %.2fx the float-index baseline (%.1f ns), %.2fx the "
                    "shape-cycling baseline (%.1f ns); target <= 3x\n",
                    m == &rep.ns ? "wall" : "CPU", get("BM_Oracle_ExactHit"),
                    base > 0 ? get("BM_Oracle_ExactHit") / base : 0.0, base,
                    base2 > 0 ? get("BM_Oracle_ExactHit") / base2 : 0.0, base2);
        std::printf("sparse (Shepard) sample: %.1f ns distinct shapes, %.1f ns repeated shapes (target < 1000 ns); out "
                    "of range: %.1f ns\n",
                    get("BM_Oracle_Sparse"), get("BM_Oracle_SparseRepeated"), get("BM_Oracle_OutOfRange"));
        const double exact = get("BM_Oracle_ExactHit");
        std::printf("learned model sample: %.1f ns on the exact-hit shapes = %.2fx the oracle's exact hit; %.1f ns "
                    "sparse shapes, %.1f ns out of range (target < 1000 ns)\n",
                    get("BM_Learned_ExactShapes"), exact > 0 ? get("BM_Learned_ExactShapes") / exact : 0.0,
                    get("BM_Learned_SparseShapes"), get("BM_Learned_OutOfRange"));
    }
    {
        auto get = [&](const char* n) { return rep.ns.count(n) ? rep.ns.at(n) : 0.0; };
        // Items/s over both threads: per-thread wall time per sample / 2 threads.
        const double shared2 = get("BM_Share_OneOracleAllThreads/real_time/threads:2");
        const double copy2 = get("BM_Share_CopyPerThread/real_time/threads:2");
        const double shared1 = get("BM_Share_OneOracleAllThreads/real_time/threads:1");
        const double copy1 = get("BM_Share_CopyPerThread/real_time/threads:1");
        if (shared2 > 0 && copy2 > 0)
            std::printf("\nsharing, 2 threads: one oracle %.1f ns/sample per thread, a copy per thread %.1f ns "
                        "(shared = %.2fx the per-copy time); 1 thread: %.1f vs %.1f ns\n",
                        shared2, copy2, shared2 / copy2, shared1, copy1);
    }
    const ProfileStore& s = *store();
    std::printf(
        "store memory: samples %zu bytes = %.2fx their raw float size (%zu samples); keys+offsets+grids %zu bytes\n",
        s.sample_bytes(), static_cast<double>(s.sample_bytes()) / (4.0 * static_cast<double>(s.total_samples())),
        s.total_samples(), s.index_bytes());
    return 0;
}
