// libFuzzer target for the output-length model reader: any byte string either parses into
// a model or raises llmemu::workload_error, never a crash, hang, other exception or
// sanitizer report. A model that parses must survive write -> read unchanged, sample
// only lengths it holds, and give a proper predictive distribution.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/random.hpp"
#include "llmemu/workload/length_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<llmemu::LengthPair> pairs;
    std::size_t k = 0;
    try {
        const llmemu::OutputLengthModel m = llmemu::parse_output_length_model(text, "fuzz.json");
        pairs = m.pairs();
        k = m.k();
    } catch (const llmemu::workload_error&) {
        return 0; // rejected with a message: fine
    }
    const llmemu::OutputLengthModel m(pairs, k, "fuzz");
    const llmemu::OutputLengthModel again =
        llmemu::parse_output_length_model(llmemu::write_output_length_model(m), "fuzz-roundtrip.json");
    if (again.pairs() != m.pairs() || again.k() != m.k()) std::abort();
    llmemu::Rng rng(size);
    const std::uint32_t probes[] = {0, 1, 2, 100, 4096, 0xFFFFFFFFU};
    std::vector<std::uint32_t> prompts;
    for (const std::uint32_t p : probes) {
        const auto [first, last] = m.window(p);
        if (first >= last || last > pairs.size() || last - first != m.k()) std::abort();
        const std::uint32_t v = m.sample(p, rng);
        bool held = false;
        for (std::size_t i = first; i < last; ++i) held = held || m.pairs()[i].output_len == v;
        if (!held || v == 0) std::abort();
        prompts.push_back(p);
    }
    double total = 0.0;
    for (const auto& [v, p] : llmemu::predictive_pmf(m, prompts)) {
        if (!(p > 0.0) || v == 0) std::abort();
        total += p;
    }
    if (std::fabs(total - 1.0) > 1e-9) std::abort();
    return 0;
}
