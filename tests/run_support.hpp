#pragma once
// Shared by the fleet and metrics tests (test_fleet.cpp, test_metrics.cpp): a synthetic
// timed workload and the hooks that feed a StreamingSummary from a run.
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "llmemu/engine/simulation.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/request_metrics.hpp"
#include "llmemu/random.hpp"

namespace run_test {

/// n requests every `every_ms` ms: prompts of 30-429 tokens, 3-42 output tokens (seeded);
/// with_tokens: five distinct 64-token system prompts, then a unique 20-token tail.
inline std::vector<llmemu::TimedRequest> workload(int n, bool with_tokens = false, int every_ms = 7) {
    std::vector<llmemu::TimedRequest> v;
    llmemu::Rng g(5);
    for (int i = 0; i < n; ++i) {
        llmemu::TimedRequest t;
        t.arrival = std::chrono::milliseconds(i * every_ms);
        t.spec.id = static_cast<llmemu::RequestId>(i);
        t.spec.prompt_len = 30 + static_cast<std::uint32_t>(llmemu::uniform_index(g, 400));
        t.spec.max_tokens = 3 + static_cast<std::uint32_t>(llmemu::uniform_index(g, 40));
        t.spec.ignore_eos = true;
        if (with_tokens) {
            const int group = i % 5;
            for (int k = 0; k < 64; ++k) t.spec.prompt_tokens.push_back(group * 1000 + k);
            for (int k = 0; k < 20; ++k) t.spec.prompt_tokens.push_back(100000 + i * 100 + k);
            t.spec.prompt_len = 0;
        }
        v.push_back(std::move(t));
    }
    return v;
}

/// Feeds a StreamingSummary from a run's hooks, as the command line does.
inline void attach(llmemu::SimulationOptions& o, llmemu::StreamingSummary& s) {
    o.on_added = [&s](std::uint32_t, llmemu::RequestId, std::chrono::nanoseconds arrival, bool ok) {
        if (ok) s.started(arrival);
    };
    o.on_tokens = [&s](std::uint32_t, const llmemu::StepTokenTimes& t) {
        s.tokens(t.time, t.tokens);
        if (t.run_tokens > 0) s.itl(t.run_gap, t.run_tokens);
        for (const auto g : t.other_gaps) s.itl(g);
    };
    o.on_record = [&s](std::uint32_t, const llmemu::RequestRecord& r) {
        s.add(llmemu::timing_from_record(r), r.reason != llmemu::FinishReason::rejected, r.id);
    };
    o.on_advance = [&s](std::chrono::nanoseconds now) { s.advance(now); };
}

} // namespace run_test
