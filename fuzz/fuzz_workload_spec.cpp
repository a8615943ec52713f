// libFuzzer target for the workload-spec reader (llmemu/workload/workload_spec.hpp): any
// byte string either parses into a spec that keeps the reader's promises or raises
// llmemu::workload_error, never a crash, hang, other exception or sanitizer report. A small
// spec that reads no file is also built: its requests must come sorted by arrival, with
// session links that point at each other and prompts whose segments sum to their lengths.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/workload.hpp"
#include "llmemu/workload/workload_spec.hpp"

namespace {

/// Whether building `f` is quick and reads no file.
bool small_and_self_contained(const llmemu::WorkloadSpecFile& f) {
    double requests = 0.0;
    for (const auto& c : f.clients) {
        const llmemu::WorkloadSpec& s = c.spec;
        if (!s.trace_path.empty() || !s.dataset_path.empty() || !s.output_lengths.empty() || !c.sessions_fit.empty())
            return false;
        if (!s.rate_schedule.empty()) return false; // a CSV path, or a day of 5-minute points
        double n = static_cast<double>(s.num_prompts == 0 ? 1000 : s.num_prompts);
        if (c.share > 0.0 && f.num_prompts) n = static_cast<double>(*f.num_prompts);
        if (s.sessions) n *= s.sessions->turns;
        requests += n;
        const double tokens = (static_cast<double>(s.input_len) * (1.0 + s.range_ratio) + s.random_prefix_len +
                               s.prefix_len + s.suffix_len + s.prefix_pool.tokens);
        if (tokens > 20000.0 || s.prefix_pool.prompts > 10000) return false;
        if (s.sessions && static_cast<double>(s.sessions->new_tokens) + s.output_len > 20000.0) return false;
    }
    return requests <= 3000.0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    llmemu::WorkloadSpecFile f;
    try {
        f = llmemu::parse_workload_spec(text, "fuzz.json");
    } catch (const llmemu::workload_error&) {
        return 0; // rejected with a message: fine
    }
    if (f.clients.empty()) std::abort();
    std::set<std::string> names;
    for (const auto& c : f.clients) {
        if (c.name.empty() || !names.insert(c.name).second) std::abort();
        if (!(c.share >= 0.0) || !(c.start_s >= 0.0) || !std::isfinite(c.start_s)) std::abort();
        if (!(c.spec.range_ratio >= 0.0 && c.spec.range_ratio < 1.0) || !(c.spec.burstiness > 0.0)) std::abort();
        if (c.spec.repeat == 0 || c.spec.copies == 0) std::abort();
        if (c.spec.sessions && !c.sessions_fit.empty() && c.spec.sessions->turns != 1) std::abort();
    }
    if (!small_and_self_contained(f)) return 0;
    llmemu::Workload w;
    try {
        w = llmemu::build_workload(f, 1);
    } catch (const llmemu::workload_error&) {
        return 0;
    }
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        const auto& r = w.requests[i];
        if (i > 0 && w.requests[i - 1].arrival_s > r.arrival_s) std::abort();
        if (r.next_turn != llmemu::no_turn &&
            (r.next_turn <= i || r.next_turn >= w.requests.size() || w.requests[r.next_turn].previous_turn != i))
            std::abort();
        if (!r.prompt.empty() && llmemu::prompt_length(r.prompt) != r.prompt_len) std::abort();
    }
    (void)llmemu::ideal_prefix_reuse(w, 16);
    return 0;
}
