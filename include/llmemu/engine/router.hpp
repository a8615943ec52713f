#pragma once
/// \file router.hpp
/// Several engine replicas on one VirtualClock behind a request router (round-robin,
/// least-loaded, prefix-aware), simulated in virtual time: each replica keeps its own
/// scheduler, KV cache and serial executor; the shared clock advances from event to
/// event (the next step to end, the next arrival), so replicas overlap in time exactly as
/// separate GPUs would.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/engine/block_hash.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/error.hpp"
#include "llmemu/time/virtual_clock.hpp"

namespace llmemu {

/// How a request picks its replica.
/// round_robin: in arrival order. least_loaded: fewest running + waiting requests (ties:
/// lowest index). prefix_aware: requests with token ids go to the replica chosen by the
/// hash of their first full block (equal prefixes meet in one prefix cache); others, and
/// prompts shorter than a block, fall back to least_loaded.
enum class RoutingPolicy : std::uint8_t { round_robin, least_loaded, prefix_aware };

/// "round_robin", "least_loaded" or "prefix_aware".
[[nodiscard]] inline const char* to_string(RoutingPolicy p) noexcept {
    switch (p) {
    case RoutingPolicy::round_robin:
        return "round_robin";
    case RoutingPolicy::least_loaded:
        return "least_loaded";
    case RoutingPolicy::prefix_aware:
        return "prefix_aware";
    }
    return "round_robin";
}

/// What a replicated run produced.
struct ReplicatedResult {
    /// One record per request, in order of finishing.
    std::vector<RequestRecord> records;
    /// replica[i] is the replica that served records[i].
    std::vector<std::uint32_t> replica;
    /// Each replica's statistics at the end.
    std::vector<EngineStats> stats;
    /// From the start of the run to its last event.
    std::chrono::nanoseconds duration{0};
};

/// Routes `requests` (any order; stably sorted by arrival) over `replicas`, which must
/// all be idle and run on `clock`, until every request has finished. Deterministic for
/// given executor seeds. Throws config_error for no replica or a replica on another clock.
template <class E>
ReplicatedResult run_replicated_simulation(const std::vector<Engine<E, VirtualClock>*>& replicas, VirtualClock& clock,
                                           std::vector<TimedRequest> requests, RoutingPolicy policy,
                                           const SimulationOptions& options = {}) {
    if (replicas.empty()) detail::throw_error<config_error>("run_replicated_simulation: no replica given");
    for (auto* e : replicas) {
        if (e == nullptr || &e->clock() != &clock)
            detail::throw_error<config_error>("run_replicated_simulation: every replica must run on the given clock");
        if (e->busy())
            detail::throw_error<error>("run_replicated_simulation: a replica still has requests; use idle ones");
    }
    std::stable_sort(requests.begin(), requests.end(),
                     [](const TimedRequest& a, const TimedRequest& b) { return a.arrival < b.arrival; });
    const auto origin = clock.now();
    for (auto* e : replicas) {
        e->set_origin(origin);
        e->set_record_token_times(options.record_token_times);
    }
    ReplicatedResult result;
    result.records.reserve(requests.size());
    result.replica.reserve(requests.size());
    const auto n = static_cast<std::uint32_t>(replicas.size());
    std::uint32_t rr = 0;
    auto least_loaded = [&] {
        std::uint32_t best = 0;
        std::uint64_t best_load = std::numeric_limits<std::uint64_t>::max();
        for (std::uint32_t i = 0; i < n; ++i) {
            const auto& s = replicas[i]->stats();
            const std::uint64_t load = static_cast<std::uint64_t>(s.running) + s.waiting;
            if (load < best_load) {
                best_load = load;
                best = i;
            }
        }
        return best;
    };
    auto route = [&](const RequestSpec& spec) -> std::uint32_t {
        switch (policy) {
        case RoutingPolicy::round_robin:
            return rr++ % n;
        case RoutingPolicy::least_loaded:
            return least_loaded();
        case RoutingPolicy::prefix_aware: {
            const std::uint32_t bs = replicas[0]->config().block_size;
            if (spec.prompt_tokens.size() >= bs) {
                const std::uint64_t h =
                    hash_block_tokens(root_block_hash, std::span<const TokenId>(spec.prompt_tokens.data(), bs));
                return static_cast<std::uint32_t>(h % n);
            }
            return least_loaded();
        }
        }
        return 0;
    };
    const std::size_t total = requests.size();
    const std::size_t progress_every = std::max<std::size_t>(1, total / 100);
    std::size_t next_progress = progress_every;
    auto collect = [&] {
        for (std::uint32_t i = 0; i < n; ++i) {
            auto& done = replicas[i]->finished_records();
            for (auto& r : done) {
                result.records.push_back(std::move(r));
                result.replica.push_back(i);
            }
            done.clear();
        }
        if (options.progress && result.records.size() >= next_progress) {
            options.progress(static_cast<double>(result.records.size()) / static_cast<double>(total));
            next_progress = result.records.size() + progress_every;
        }
    };
    std::size_t next = 0;
    for (;;) {
        const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - origin);
        while (next < total && requests[next].arrival <= t) {
            const std::uint32_t i = route(requests[next].spec);
            replicas[i]->add_request(std::move(requests[next].spec), requests[next].arrival);
            ++next;
        }
        bool progressed = false;
        for (auto* e : replicas) progressed |= e->poll();
        collect();
        if (progressed) continue;
        // Nothing can happen before the next event: a step ending or a request arriving.
        std::optional<VirtualClock::time_point> target = clock.next_deadline();
        if (next < total) {
            const auto arrival = origin + requests[next].arrival;
            if (!target || arrival < *target) target = arrival;
        }
        if (!target) {
            for (auto* e : replicas)
                if (e->busy())
                    detail::throw_error<error>("run_replicated_simulation: a replica has requests but nothing to run");
            break;
        }
        clock.advance_to(*target);
    }
    collect();
    if (options.progress) options.progress(1.0);
    result.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - origin);
    for (auto* e : replicas) {
        result.stats.push_back(e->stats());
        e->set_record_token_times(true);
    }
    return result;
}

} // namespace llmemu
