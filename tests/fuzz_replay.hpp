#pragma once
// Replays a fuzz target's seed corpus (fuzz/corpus_<name>/ or fuzz/corpus/<name>/, as
// fuzz/run.sh finds it) through its entry point: what test_fuzz_corpora.cpp and
// test_server_http.cpp use to run the fuzz seeds as unit tests.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace llmemu_test {

/// One fuzz target: its name (fuzz/fuzz_<name>.cpp) and its renamed LLVMFuzzerTestOneInput.
struct FuzzTarget {
    const char* name;
    int (*entry)(const std::uint8_t*, std::size_t);
};

/// Runs every seed file of the target's corpus through its entry point (in name order);
/// returns how many ran. A seed that breaks an invariant aborts inside the target.
inline std::size_t replay_corpus(const FuzzTarget& t) {
    const std::filesystem::path fuzz = std::filesystem::path(LLMEMU_SOURCE_DIR) / "fuzz";
    std::vector<std::filesystem::path> seeds;
    for (const auto& dir : {fuzz / ("corpus_" + std::string(t.name)), fuzz / "corpus" / t.name}) {
        if (!std::filesystem::is_directory(dir)) continue;
        for (const auto& e : std::filesystem::directory_iterator(dir))
            if (e.is_regular_file()) seeds.push_back(e.path());
        break; // the first that exists, as fuzz/run.sh
    }
    std::sort(seeds.begin(), seeds.end());
    for (const auto& p : seeds) {
        CAPTURE(p.string());
        std::ifstream in(p, std::ios::binary);
        REQUIRE(in);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(t.entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
    }
    return seeds.size();
}

} // namespace llmemu_test
