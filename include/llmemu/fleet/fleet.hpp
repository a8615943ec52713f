#pragma once
/// \file fleet.hpp
/// A fleet of engine replicas on one VirtualClock behind a Router (fleet/router.hpp),
/// simulated in virtual time: each replica keeps its own scheduler, KV cache and serial
/// executor; the shared clock advances from event to event (the next step to end, the next
/// arrival), so replicas overlap in time exactly as separate GPUs would. Requests stream
/// from a RequestSource, and SimulationOptions' hooks see every arrival, token batch and
/// finish as it happens, so a run's memory is that of the requests in flight.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/engine/timeseries.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/time/virtual_clock.hpp"

namespace llmemu {

/// What a fleet run produced.
struct FleetResult {
    /// One record per request, in order of finishing (SimulationOptions::keep_records).
    std::vector<RequestRecord> records;
    /// replica[i] is the replica that served records[i].
    std::vector<std::uint32_t> replica;
    /// Each replica's statistics at the end.
    std::vector<EngineStats> stats;
    /// Each replica's executed steps (SimulationOptions::record_steps).
    std::vector<std::vector<StepRecord>> steps;
    /// Requests routed to each replica.
    std::vector<std::uint64_t> routed;
    /// Each replica's time series (SimulationOptions::timeseries_interval > 0).
    std::vector<EngineTimeSeries> timeseries;
    /// From the start of the run to its last event.
    std::chrono::nanoseconds duration{0};
    /// Requests run.
    std::size_t num_requests = 0;
};

/// Routes the requests of `source` (arrival order) with `router` over `replicas`, which
/// must all be idle and run on `clock`, until every request has finished. Deterministic
/// for given executor seeds and a deterministic router. `total` (0 = unknown) scales the
/// progress hook. Throws config_error for no replica or one on another clock, and
/// llmemu::error for a source out of arrival order or a router naming no replica.
template <class E, Router R, RequestSource S>
FleetResult run_fleet_simulation(const std::vector<Engine<E, VirtualClock>*>& replicas, VirtualClock& clock, S& source,
                                 R& router, const SimulationOptions& options = {}, std::size_t total = 0) {
    if (replicas.empty()) detail::throw_error<config_error>("run_fleet_simulation: no replica given");
    for (auto* e : replicas) {
        if (e == nullptr || &e->clock() != &clock)
            detail::throw_error<config_error>("run_fleet_simulation: every replica must run on the given clock");
        if (e->busy()) detail::throw_error<error>("run_fleet_simulation: a replica still has requests; use idle ones");
    }
    const auto n = static_cast<std::uint32_t>(replicas.size());
    const auto origin = clock.now();
    FleetResult result;
    result.steps.resize(options.record_steps ? n : 0);
    result.routed.assign(n, 0);
    if (options.timeseries_interval.count() > 0)
        result.timeseries.assign(n, EngineTimeSeries(options.timeseries_interval));
    for (std::uint32_t i = 0; i < n; ++i) {
        Engine<E, VirtualClock>* e = replicas[i];
        e->set_origin(origin);
        e->set_record_token_times(options.record_token_times);
        e->set_record_series(options.record_steps);
        e->set_step_log(options.record_steps ? &result.steps[i] : nullptr);
        if (!result.timeseries.empty()) e->set_timeseries(&result.timeseries[i]);
        if (options.on_tokens)
            e->set_token_observer([&options, i](const StepTokenTimes& t) { options.on_tokens(i, t); });
    }
    struct Restore { // leave the replicas as we found them, even when a step throws
        const std::vector<Engine<E, VirtualClock>*>& rs;
        ~Restore() {
            for (auto* e : rs) {
                e->set_timeseries(nullptr);
                e->set_step_log(nullptr);
                e->set_record_series(false);
                e->set_record_token_times(true);
                e->set_token_observer({});
            }
        }
    } restore{replicas};
    if (options.keep_records && total > 0) {
        result.records.reserve(total);
        result.replica.reserve(total);
    }
    std::vector<ReplicaView> views(n);
    const std::size_t progress_every = std::max<std::size_t>(1, total / 100);
    std::size_t next_progress = progress_every;
    std::size_t finished = 0;
    auto collect = [&] {
        for (std::uint32_t i = 0; i < n; ++i) {
            auto& done = replicas[i]->finished_records();
            if (done.empty()) continue;
            finished += done.size();
            for (auto& r : done) {
                if (options.on_record) options.on_record(i, r);
                if (options.keep_records) {
                    result.records.push_back(std::move(r));
                    result.replica.push_back(i);
                }
            }
            done.clear();
        }
        if (options.progress && total > 0 && finished >= next_progress) {
            options.progress(static_cast<double>(finished) / static_cast<double>(total));
            next_progress = finished + progress_every;
        }
    };
    TimedRequest pending;
    bool has_pending = source.next(pending);
    detail::SourceFeedback<S> feedback(source); // closed-loop sources (see FeedbackRequestSource)
    std::chrono::nanoseconds last_arrival{0};
    for (;;) {
        const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - origin);
        feedback.refresh(pending, has_pending);
        while (has_pending && pending.arrival <= t) {
            if (pending.arrival < last_arrival) detail::simulation_bad_order(last_arrival, pending.arrival);
            last_arrival = pending.arrival;
            if (options.prepare) options.prepare(pending.spec);
            for (std::uint32_t i = 0; i < n; ++i) {
                const EngineStats& s = replicas[i]->stats();
                views[i] = ReplicaView{s.running, s.waiting, s.kv_usage, &replicas[i]->scheduler().kv_cache()};
            }
            const std::uint32_t i =
                router.route(RoutingRequest{pending.spec, pending.arrival}, std::span<const ReplicaView>(views));
            if (i >= n)
                detail::throw_error<error>("run_fleet_simulation: the router named replica " + std::to_string(i) +
                                           " of " + std::to_string(n));
            const RequestId id = pending.spec.id;
            const bool ok =
                replicas[i]->add_request(std::move(pending.spec), pending.arrival, feedback.handler(pending));
            ++result.routed[i];
            ++result.num_requests;
            if (options.on_added) options.on_added(i, id, pending.arrival, ok);
            has_pending = source.next(pending);
            feedback.refresh(pending, has_pending);
        }
        if (options.on_advance) options.on_advance(t);
        bool progressed = false;
        for (auto* e : replicas) progressed |= e->poll();
        collect();
        if (progressed) continue;
        feedback.refresh(pending, has_pending);
        if (has_pending && pending.arrival <= t) continue; // released now (no think time)
        // Nothing can happen before the next event: a step ending or a request arriving.
        std::optional<VirtualClock::time_point> target = clock.next_deadline();
        if (has_pending) {
            const auto arrival = origin + pending.arrival;
            if (!target || arrival < *target) target = arrival;
        }
        if (!target) {
            for (auto* e : replicas)
                if (e->busy())
                    detail::throw_error<error>("run_fleet_simulation: a replica has requests but nothing to run");
            break;
        }
        clock.advance_to(*target);
    }
    collect();
    if (options.progress) options.progress(1.0);
    result.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - origin);
    for (auto* e : replicas) result.stats.push_back(e->stats());
    return result;
}

/// One EngineStats for a whole fleet: counters and running/waiting summed over replicas,
/// kv_usage and the peaks (max_running, max_waiting, max_kv_usage, max_step_*) the largest
/// of any replica,
/// num_gpu_blocks the fleet's total; no per-step series.
[[nodiscard]] inline EngineStats fleet_stats(const std::vector<EngineStats>& replicas) {
    EngineStats t;
    for (const EngineStats& s : replicas) {
        t.steps += s.steps;
        t.prefill_steps += s.prefill_steps;
        t.decode_steps += s.decode_steps;
        t.scheduled_tokens += s.scheduled_tokens;
        t.scheduled_requests += s.scheduled_requests;
        t.max_step_tokens = std::max(t.max_step_tokens, s.max_step_tokens);
        t.max_step_requests = std::max(t.max_step_requests, s.max_step_requests);
        t.requests_received += s.requests_received;
        for (std::size_t k = 0; k < t.finished.size(); ++k) t.finished[k] += s.finished[k];
        t.preemptions += s.preemptions;
        t.prompt_tokens += s.prompt_tokens;
        t.generation_tokens += s.generation_tokens;
        t.discarded_tokens += s.discarded_tokens;
        t.prefix_cache_queries += s.prefix_cache_queries;
        t.prefix_cache_hits += s.prefix_cache_hits;
        t.preempted_prefix_cache_queries += s.preempted_prefix_cache_queries;
        t.preempted_prefix_cache_hits += s.preempted_prefix_cache_hits;
        t.running += s.running;
        t.waiting += s.waiting;
        t.kv_usage = std::max(t.kv_usage, s.kv_usage);
        t.max_running = std::max(t.max_running, s.max_running);
        t.max_waiting = std::max(t.max_waiting, s.max_waiting);
        t.max_kv_usage = std::max(t.max_kv_usage, s.max_kv_usage);
        t.num_gpu_blocks += s.num_gpu_blocks;
        t.block_size = s.block_size;
    }
    return t;
}

/// The result of run_replicated_simulation (the older name).
using ReplicatedResult = FleetResult;

/// Routes `requests` (any order; stably sorted by arrival) over `replicas` with one of the
/// routers RoutingPolicy names (the block size of the first replica for prefix_aware).
/// See run_fleet_simulation.
template <class E>
ReplicatedResult run_replicated_simulation(const std::vector<Engine<E, VirtualClock>*>& replicas, VirtualClock& clock,
                                           std::vector<TimedRequest> requests, RoutingPolicy policy,
                                           const SimulationOptions& options = {}) {
    if (replicas.empty()) detail::throw_error<config_error>("run_replicated_simulation: no replica given");
    RouterOptions ro;
    if (replicas[0] != nullptr) ro.block_size = replicas[0]->config().block_size;
    AnyRouter router = make_router(to_string(policy), ro);
    VectorRequestSource source(std::move(requests));
    const std::size_t total = source.size();
    return run_fleet_simulation(replicas, clock, source, router, options, total);
}

} // namespace llmemu
