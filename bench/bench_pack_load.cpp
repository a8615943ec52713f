// Loading an LLM-Emu pack the size of the original A40 file (10,960,068 characters),
// generated here, against reading the same file's bytes (the floor any reader pays).
// Target: under 50 ms.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/random.hpp"

namespace {

using namespace llmemu;

constexpr std::size_t target_chars = 10'960'068;

// A synthetic pack shaped like the real one: decode buckets along tt ~ conc, prefill and
// step-cycle buckets over tt 1..2048 x conc 2..257, samples of ~8 significant digits.
std::filesystem::path make_pack() {
    const auto path = std::filesystem::temp_directory_path() / "llmemu_bench_pack_11mb.json";
    Rng rng(2024);
    auto gen = [&](std::size_t buckets, std::uint32_t tt_max, bool decode, std::size_t per_bucket) {
        std::map<BucketKey, std::vector<float>> m;
        while (m.size() < buckets) {
            const auto tt = static_cast<std::uint32_t>(1 + uniform_index(rng, tt_max));
            const auto conc = decode ? static_cast<std::uint32_t>(bucket_centre(tt, 5))
                                     : static_cast<std::uint32_t>(bucket_centre(1 + uniform_index(rng, 257), 5));
            auto& v = m[{tt, conc}];
            const std::size_t n = 1 + uniform_index(rng, 2 * per_bucket);
            for (std::size_t i = 0; i < n; ++i)
                v.push_back(static_cast<float>(
                    std::round((25000.0 + 100.0 * conc + 300000.0 * uniform01(rng) * uniform01(rng) * uniform01(rng)) *
                               10.0) /
                    10.0));
        }
        std::vector<BucketKey> keys;
        std::vector<std::uint32_t> counts;
        std::vector<float> samples;
        for (auto& [k, v] : m) {
            keys.push_back(k);
            counts.push_back(static_cast<std::uint32_t>(v.size()));
            samples.insert(samples.end(), v.begin(), v.end());
        }
        return ProfileTable({1, 5}, std::move(keys), std::move(counts), std::move(samples));
    };
    ProfileStore s;
    s.set_bucketing({1, 5});
    ModelConfig m;
    m.model_name = "synthetic";
    m.num_hidden_layers = 36;
    s.set_model_config(m);
    // Scale the per-bucket sample count until the text is the original's size.
    std::size_t per = 40;
    std::string text;
    for (int iter = 0; iter < 8; ++iter) {
        s.set_table(TableKind::prefill, gen(2500, 2048, false, per / 4));
        s.set_table(TableKind::decode, gen(250, 256, true, per * 4));
        s.set_table(TableKind::step_cycle, gen(2800, 2048, false, per / 2));
        text = to_llm_emu_json(s);
        if (text.size() > target_chars * 98 / 100 && text.size() < target_chars * 102 / 100) break;
        per = static_cast<std::size_t>(static_cast<double>(per) * static_cast<double>(target_chars) /
                                       static_cast<double>(text.size()));
    }
    std::ofstream(path, std::ios::binary).write(text.data(), static_cast<std::streamsize>(text.size()));
    return path;
}

const std::filesystem::path& pack() {
    static const std::filesystem::path p = make_pack();
    return p;
}

void BM_ReadBytes(benchmark::State& st) {
    for (auto _ : st) {
        std::ifstream f(pack(), std::ios::binary);
        std::string bytes(std::filesystem::file_size(pack()), '\0');
        f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        benchmark::DoNotOptimize(bytes.data());
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) *
                         static_cast<std::int64_t>(std::filesystem::file_size(pack())));
}

void BM_LoadPack(benchmark::State& st) {
    std::size_t samples = 0;
    for (auto _ : st) {
        const ProfileStore s = load_llm_emu_pack(pack());
        samples = s.total_samples();
        benchmark::DoNotOptimize(samples);
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) *
                         static_cast<std::int64_t>(std::filesystem::file_size(pack())));
    st.counters["samples"] = static_cast<double>(samples);
}

BENCHMARK(BM_ReadBytes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadPack)->Unit(benchmark::kMillisecond);

class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (r.iterations == 0) continue;
            ms[r.benchmark_name()] = r.real_accumulated_time * 1e3 / static_cast<double>(r.iterations);
            cpu[r.benchmark_name()] = r.cpu_accumulated_time * 1e3 / static_cast<double>(r.iterations);
        }
        ConsoleReporter::ReportRuns(runs);
    }
    std::map<std::string, double> ms;
    std::map<std::string, double> cpu;
};

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    std::printf("generated pack: %s, %ju bytes\n", pack().string().c_str(),
                static_cast<std::uintmax_t>(std::filesystem::file_size(pack())));
    RatioReporter rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    benchmark::Shutdown();
    const double load = rep.ms["BM_LoadPack"];
    const double read = rep.ms["BM_ReadBytes"];
    const ProfileStore s = load_llm_emu_pack(pack());
    std::printf(
        "\nload %.1f ms wall, %.1f ms CPU (target < 50 ms) = %.1fx (wall) / %.1fx (CPU) the time to read the file's "
        "bytes "
        "(%.2f ms wall, %.2f ms CPU); %zu samples in %zu buckets; samples %.2fx raw float size, index %zu bytes\n",
        load, rep.cpu["BM_LoadPack"], read > 0 ? load / read : 0.0,
        rep.cpu["BM_ReadBytes"] > 0 ? rep.cpu["BM_LoadPack"] / rep.cpu["BM_ReadBytes"] : 0.0, read,
        rep.cpu["BM_ReadBytes"], s.total_samples(),
        s.table(TableKind::prefill)->size() + s.table(TableKind::decode)->size() +
            s.table(TableKind::step_cycle)->size(),
        static_cast<double>(s.sample_bytes()) / (4.0 * static_cast<double>(s.total_samples())), s.index_bytes());
    std::filesystem::remove(pack());
    return 0;
}
