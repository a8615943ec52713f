// libFuzzer target for the Mooncake JSONL trace reader: any byte string either parses into
// a trace or raises llmemu::workload_error, never a crash, hang, other exception or
// sanitizer report. A trace that parses must be consistent (prompt segments sum to each
// input length, 512-token blocks, arrivals in order), must survive write -> read
// unchanged, and must give ideal prefix hits within what was queried.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/workload/mooncake.hpp"
#include "llmemu/workload/prompt.hpp"

namespace {

std::string to_jsonl(const llmemu::MooncakeTrace& t, const std::vector<std::vector<std::uint64_t>>& ids) {
    std::string out;
    for (std::size_t i = 0; i < t.trace.requests.size(); ++i) {
        const auto& r = t.trace.requests[i];
        char ts[64];
        std::snprintf(ts, sizeof ts, "%.17g", r.arrived_at * 1000.0);
        out += std::string("{\"timestamp\": ") + ts + ", \"input_length\": " + std::to_string(r.prompt_len) +
               ", \"output_length\": " + std::to_string(r.output_len) + ", \"hash_ids\": [";
        for (std::size_t k = 0; k < ids[i].size(); ++k) out += (k ? ", " : "") + std::to_string(ids[i][k]);
        out += "]}\n";
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    // The reader itself, keeping the raw ids for the round trip.
    std::vector<std::vector<std::uint64_t>> ids;
    llmemu::MooncakeTrace trace;
    try {
        std::istringstream in(text);
        llmemu::MooncakeReader reader(in, "fuzz.jsonl");
        llmemu::MooncakeRequest r;
        while (reader.next(r)) {
            trace.trace.requests.push_back({r.arrival_s, r.input_length, r.output_length});
            trace.prompts.push_back(llmemu::mooncake_prompt(r));
            ids.push_back(r.hash_ids);
        }
        std::istringstream again(text);
        (void)llmemu::parse_mooncake_trace(again, "fuzz.jsonl");
    } catch (const llmemu::workload_error&) {
        return 0; // rejected with a message: fine
    }
    llmemu::PrefixReuseCounter ideal(16);
    double last = 0.0;
    for (std::size_t i = 0; i < trace.prompts.size(); ++i) {
        const auto& r = trace.trace.requests[i];
        if (r.prompt_len == 0 || r.output_len == 0 || r.arrived_at < last) std::abort();
        last = r.arrived_at;
        if (llmemu::prompt_length(trace.prompts[i]) != r.prompt_len) std::abort();
        for (const auto& s : trace.prompts[i])
            if (s.length == 0 || s.length > llmemu::mooncake_block_tokens) std::abort();
        if (ideal.observe(trace.prompts[i]) >= r.prompt_len) std::abort(); // one token is always computed
    }
    if (ideal.hits() > ideal.queries()) std::abort();
    if (trace.prompts.empty()) return 0;
    // Accepted: writing it back and reading it again gives the same requests.
    std::istringstream in(to_jsonl(trace, ids));
    const llmemu::MooncakeTrace back = llmemu::parse_mooncake_trace(in, "fuzz-roundtrip.jsonl");
    if (back.prompts != trace.prompts || back.trace.requests.size() != trace.trace.requests.size()) std::abort();
    for (std::size_t i = 0; i < back.trace.requests.size(); ++i) {
        const auto& a = back.trace.requests[i];
        const auto& b = trace.trace.requests[i];
        if (a.prompt_len != b.prompt_len || a.output_len != b.output_len ||
            std::fabs(a.arrived_at - b.arrived_at) > 1e-12 * std::fabs(b.arrived_at))
            std::abort();
    }
    return 0;
}
