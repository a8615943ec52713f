// libFuzzer target for the vLLM dataset readers (custom JSONL, ShareGPT JSON) and the rate
// schedule CSV reader: the first byte picks the reader, the rest is the file. Any input either parses or raises
// llmemu::workload_error, never a crash, hang, other exception or sanitizer report. What
// parses must be consistent: non-empty prompts whose ids are the documented rule's ids of
// some text, the ShareGPT filter never accepting what it must reject.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/tokens/vocabulary.hpp"
#include "llmemu/workload/datasets.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/schedule.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 3U == 2U) { // rate schedule: what parses must invert monotonically
        try {
            std::istringstream in(text);
            const llmemu::RateSchedule s = llmemu::parse_rate_schedule_csv(in, "fuzz.csv");
            double last = 0.0;
            for (const double n : {0.0, 0.5, 1.0, 7.0, 100.0, 1e6}) {
                const double t = s.inverse(n);
                if (!(t >= last) || !std::isfinite(t)) std::abort();
                last = t;
                if (!(s.rate(t) >= 0.0)) std::abort();
            }
        } catch (const llmemu::workload_error&) {
        }
        return 0;
    }
    const bool sharegpt = data[0] % 3U == 1U;
    std::vector<llmemu::TextPrompt> prompts;
    try {
        if (sharegpt) {
            prompts = llmemu::parse_sharegpt_dataset(text, "fuzz.json");
        } else {
            std::istringstream in(text);
            prompts = llmemu::parse_custom_dataset(in, "fuzz.jsonl");
        }
    } catch (const llmemu::workload_error&) {
        return 0; // rejected with a message: fine
    }
    if (prompts.empty()) std::abort();
    llmemu::PrefixReuseCounter ideal(16);
    for (const auto& p : prompts) {
        if (!sharegpt && p.prompt_ids.empty()) std::abort();
        if (!sharegpt && p.completion_len != 0) std::abort();
        for (const auto id : p.prompt_ids)
            if (id < 0 || static_cast<std::uint32_t>(id) >= llmemu::SyntheticVocabulary::id_space) std::abort();
        const auto n = static_cast<std::uint32_t>(p.prompt_ids.size());
        if (llmemu::sharegpt_valid(n, p.completion_len, false) &&
            (n < 4 || n > 1024 || p.completion_len < 4 || n + std::uint64_t{p.completion_len} > 2048))
            std::abort();
        if (n > 0 && ideal.observe_tokens(p.prompt_ids) >= n) std::abort();
    }
    return 0;
}
