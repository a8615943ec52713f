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
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/parallel.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/engine/timeseries.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/layout.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/time/virtual_clock.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Bytes of KV one token of the model `m` holds over all its GPUs (what a P/D transfer
/// moves per prompt token): 2 (K and V) x layers x KV heads x head_dim x dtype bytes.
/// Throws config_error when the model config lacks a field.
[[nodiscard]] inline std::uint64_t kv_bytes_per_token(ModelConfig m) {
    m.tensor_parallel_size = 1;
    return kv_block_bytes(m, 1);
}

/// Hooks of SimulationOptions called with this replica index carry what the fleet's
/// client sees (vLLM's disaggregated proxy) rather than one engine's view: with P/D, each
/// request is added, streamed and finished once so (its decode replica's tokens, a record
/// from its arrival at the proxy to its last token); the per-replica calls are each engine's
/// own (a prefill replica's records have one output token). Only P/D fleets make them.
inline constexpr std::uint32_t fleet_client = 0xFFFFFFFFU;

/// KV transfers of a prefill replica (or of a pool, or the fleet).
struct KvTransferStats {
    std::uint64_t transfers = 0;
    std::uint64_t bytes = 0;
    std::chrono::nanoseconds total_time{0};
    std::chrono::nanoseconds max_time{0};
    void add(std::uint64_t b, std::chrono::nanoseconds t) {
        ++transfers;
        bytes += b;
        total_time += t;
        max_time = std::max(max_time, t);
    }
    KvTransferStats& operator+=(const KvTransferStats& o) {
        transfers += o.transfers;
        bytes += o.bytes;
        total_time += o.total_time;
        max_time = std::max(max_time, o.max_time);
        return *this;
    }
};

/// A pool's replica count changed (autoscaling): the counts from `time` on.
struct ScalePoint {
    std::chrono::nanoseconds time{0};
    std::uint32_t pool = 0;
    std::uint32_t serving = 0, starting = 0, draining = 0;
    [[nodiscard]] std::uint32_t provisioned() const noexcept { return serving + starting + draining; }
};

/// What a fleet run produced.
struct FleetResult {
    /// One record per request, in order of finishing (SimulationOptions::keep_records);
    /// with P/D the client's records (see fleet_client), served by their decode replica.
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
    /// The whole fleet's series (same interval): running, waiting, preemptions and tokens
    /// summed over the replicas, KV usage the mean over the provisioned replicas.
    EngineTimeSeries fleet_timeseries;
    /// Per replica: KV sent (prefill replicas of a P/D fleet).
    std::vector<KvTransferStats> kv_sent;
    /// Per replica: seconds it was provisioned (starting, serving or draining).
    std::vector<double> replica_seconds;
    /// Autoscaled pools' counts: the first point of each, then one per change.
    std::vector<ScalePoint> scale;
    /// Per pool: requests finished with a first token and, of them, those that met the
    /// pool's autoscale slo_ttft (0 and 0 without one).
    std::vector<std::uint64_t> slo_finished, slo_met;
    /// From the start of the run to its last event.
    std::chrono::nanoseconds duration{0};
    /// Requests run.
    std::size_t num_requests = 0;
    /// Replicas on clocks of their own: the windows the run went through, the replica
    /// advances they held (what the threads share), and the requests routed ahead of the
    /// replicas' steps (see run_fleet_simulation; 0 on one clock).
    std::uint64_t windows = 0, window_advances = 0, routed_ahead = 0;
};

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
        t.prefix_cache_requests += s.prefix_cache_requests;
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

namespace detail {
enum class ReplicaState : std::uint8_t { off, starting, serving, draining };

/// The longest a fleet window runs past its first event (see run_fleet_simulation).
inline constexpr std::chrono::nanoseconds window_span{std::chrono::milliseconds(100)};

/// One hook call of a window, as run_fleet_simulation replays them: sorted by the poll's
/// time, the replica's poll count at that time, arrivals (0) before tokens (1) before
/// records (2), replica, and order within the replica (arrivals: replica 0, routing order).
struct WindowEvent {
    VirtualClock::time_point t;
    std::uint32_t k = 0;
    std::uint32_t phase = 0;
    std::uint32_t replica = 0;
    std::uint32_t index = 0;
    bool operator<(const WindowEvent& o) const noexcept {
        if (t != o.t) return t < o.t;
        if (k != o.k) return k < o.k;
        if (phase != o.phase) return phase < o.phase;
        if (replica != o.replica) return replica < o.replica;
        return index < o.index;
    }
};

/// What one replica's polls produced in a window: its token batches (their gaps copied,
/// since StepTokenTimes only lends them) and its finished records, each with the poll it
/// came from. Written by the thread advancing the replica, read back by the driver.
struct WindowBuffer {
    struct Tokens {
        VirtualClock::time_point t;
        std::uint32_t k = 0;
        StepTokenTimes times;
        std::size_t gaps = 0, num_gaps = 0; // where its other_gaps are in `gaps`
    };
    struct Record {
        VirtualClock::time_point t;
        std::uint32_t k = 0;
        RequestRecord record;
    };
    /// A request routed ahead of the replica's steps (see run_fleet_simulation), added by
    /// the thread that advances the replica.
    struct Add {
        TimedRequest request;  // its spec is moved into the replica
        RequestId id = 0;
        bool expected = true;  // add_request's answer the router counted on
        bool ok = false;       // add_request's answer
    };
    std::vector<Tokens> tokens;
    std::vector<std::chrono::nanoseconds> gaps;
    std::vector<Record> records;
    std::vector<Add> adds;
    VirtualClock::time_point now{}, last{};
    std::uint32_t k = 0;
    bool polled = false;

    void tokens_at(const StepTokenTimes& t) {
        tokens.push_back(Tokens{now, k, t, gaps.size(), t.other_gaps.size()});
        tokens.back().times.other_gaps = {};
        gaps.insert(gaps.end(), t.other_gaps.begin(), t.other_gaps.end());
    }
    [[nodiscard]] StepTokenTimes tokens_of(std::size_t i) const {
        StepTokenTimes t = tokens[i].times;
        t.other_gaps = std::span<const std::chrono::nanoseconds>(gaps.data() + tokens[i].gaps, tokens[i].num_gaps);
        return t;
    }
    /// A poll at `t`: its count at that time.
    void poll_at(VirtualClock::time_point t) noexcept {
        k = polled && t == now ? k + 1 : 0;
        now = t;
        polled = true;
        if (t > last) last = t;
    }
    void index(std::uint32_t replica, std::vector<WindowEvent>& out) const {
        for (std::size_t i = 0; i < tokens.size(); ++i)
            out.push_back({tokens[i].t, tokens[i].k, 1, replica, static_cast<std::uint32_t>(i)});
        for (std::size_t i = 0; i < records.size(); ++i)
            out.push_back({records[i].t, records[i].k, 2, replica, static_cast<std::uint32_t>(i)});
    }
    void clear() noexcept {
        tokens.clear();
        gaps.clear();
        records.clear();
        adds.clear();
    }
};

/// Runs one replica on its own clock through the window [t0, end): a poll at t0 when it
/// was given a request (`dirty`), then one at each deadline of its oldest step before
/// `end`, and for each request routed to it ahead (b.adds, in arrival order) the polls
/// before its arrival, then at its arrival the request and a poll; what they produce goes
/// to `b`.
template <class Eng>
void advance_window(Eng& e, WindowBuffer& b, bool dirty, VirtualClock::time_point t0, VirtualClock::time_point end) {
    VirtualClock& c = e.clock();
    auto poll = [&] {
        b.poll_at(c.now());
        e.poll();
        auto& done = e.finished_records();
        for (auto& r : done) b.records.push_back(WindowBuffer::Record{c.now(), b.k, std::move(r)});
        done.clear();
    };
    auto run_until = [&](VirtualClock::time_point until) {
        for (;;) {
            const auto d = e.output_deadline();
            if (!d || !(*d < until)) return;
            c.advance_to(*d);
            if (!e.output_ready())
                throw_error<contract_error>("run_fleet_simulation: a replica's step is not done at its deadline");
            poll();
        }
    };
    if (dirty) {
        c.advance_to(t0);
        poll();
    }
    const auto origin = e.to_time_point(std::chrono::nanoseconds{0});
    for (std::size_t k = 0; k < b.adds.size();) {
        const std::chrono::nanoseconds at = b.adds[k].request.arrival;
        run_until(origin + at);
        c.advance_to(origin + at);
        for (; k < b.adds.size() && b.adds[k].request.arrival == at; ++k) {
            WindowBuffer::Add& a = b.adds[k];
            a.ok = e.add_request(std::move(a.request.spec), at);
            if (a.ok != a.expected)
                throw_error<contract_error>("run_fleet_simulation: a replica answered a request routed ahead "
                                            "otherwise than the router was told; this is a bug in llmemu");
        }
        poll();
    }
    run_until(end);
}
} // namespace detail

/// Routes the requests of `source` (arrival order) with `router` over `replicas`, which
/// must all be idle and run on `clock`, until every request has finished. Deterministic
/// for given executor seeds and a deterministic router. `total` (0 = unknown) scales the
/// progress hook. `layout` (nullptr: every replica serves, mixed) adds prefill/decode
/// roles and autoscaled pools; `decode_router` (a second router of the same kind) routes
/// within the decode role (required with P/D). Throws config_error for no replica, one on
/// another clock or a bad layout, request_error for a request id already in flight, and
/// contract_error for a source out of arrival order or a router naming no replica.
template <class E, Router R, RequestSource S>
FleetResult run_fleet_simulation(const std::vector<Engine<E, VirtualClock>*>& replicas, VirtualClock& clock, S& source,
                                 R& router, const SimulationOptions& options = {}, std::size_t total = 0,
                                 const FleetLayout* layout = nullptr, R* decode_router = nullptr) {
    using detail::ReplicaState;
    using std::chrono::nanoseconds;
    if (replicas.empty()) detail::throw_error<config_error>("run_fleet_simulation: no replica given");
    if (replicas[0] == nullptr) detail::throw_error<config_error>("run_fleet_simulation: a replica is null");
    // Either every replica runs on `clock` (one timeline, one thread), or each on a clock of
    // its own at the same time (replicas advanced window by window, on options.threads).
    const bool own_clocks = &replicas[0]->clock() != &clock;
    for (std::size_t k = 0; k < replicas.size(); ++k) {
        const auto* e = replicas[k];
        if (e == nullptr) detail::throw_error<config_error>("run_fleet_simulation: a replica is null");
        if (!own_clocks && &e->clock() != &clock)
            detail::throw_error<config_error>(
                "run_fleet_simulation: put every replica on the given clock, or each on a clock of its own");
        if (own_clocks && (&e->clock() == &clock || e->clock().now() != clock.now()))
            detail::throw_error<config_error>("run_fleet_simulation: replicas on clocks of their own need one clock "
                                              "each, at the fleet clock's time; put them all on the fleet clock or "
                                              "none");
        if (e->busy())
            detail::throw_error<contract_error>("run_fleet_simulation: a replica still has requests; use idle ones");
    }
    if (own_clocks) {
        std::vector<const VirtualClock*> clocks;
        for (const auto* e : replicas) clocks.push_back(&e->clock());
        std::sort(clocks.begin(), clocks.end());
        if (std::adjacent_find(clocks.begin(), clocks.end()) != clocks.end())
            detail::throw_error<config_error>(
                "run_fleet_simulation: two replicas share a clock that is not the fleet clock; give each its own");
        if constexpr (!Engine<E, VirtualClock>::has_output_deadline)
            detail::throw_error<config_error>("run_fleet_simulation: replicas on clocks of their own need an executor "
                                              "whose futures know their deadline (EmulatedExecutor's)");
    }
    const auto n = static_cast<std::uint32_t>(replicas.size());
    const FleetLayout none;
    const FleetLayout& L = layout != nullptr ? *layout : none;
    auto bad_layout = [](const std::string& what) {
        detail::throw_error<config_error>("run_fleet_simulation: " + what);
    };
    if (!L.role.empty() && L.role.size() != n) bad_layout("layout.role needs one role per replica");
    if (own_clocks &&
        (std::any_of(L.role.begin(), L.role.end(), [](ReplicaRole r) { return r != ReplicaRole::mixed; }) ||
         !L.autoscale.empty()))
        bad_layout("prefill/decode pools and autoscaling need every replica on the fleet clock");
    if (!L.pool.empty() && L.pool.size() != n) bad_layout("layout.pool needs one pool per replica");
    const bool pd = std::any_of(L.role.begin(), L.role.end(), [](ReplicaRole r) { return r != ReplicaRole::mixed; });
    auto role = [&L](std::uint32_t i) { return L.role.empty() ? ReplicaRole::mixed : L.role[i]; };
    if (pd) {
        bool p = false, d = false, m = false;
        for (std::uint32_t i = 0; i < n; ++i) {
            p |= role(i) == ReplicaRole::prefill;
            d |= role(i) == ReplicaRole::decode;
            m |= role(i) == ReplicaRole::mixed;
        }
        if (!p || !d || m) bad_layout("a disaggregated fleet needs prefill and decode replicas and no mixed one");
        if (decode_router == nullptr) bad_layout("a disaggregated fleet needs a decode router");
        if (L.kv_bytes_per_token.size() != n) bad_layout("layout.kv_bytes_per_token needs one value per replica");
        if (!(L.link.bandwidth_gbps > 0.0) || !std::isfinite(L.link.bandwidth_gbps) || L.link.latency.count() < 0)
            bad_layout("the KV link needs a bandwidth > 0 and a latency >= 0");
    }
    std::uint32_t num_pools = 1;
    for (const auto p : L.pool) num_pools = std::max(num_pools, p + 1);
    auto pool_of = [&L](std::uint32_t i) { return L.pool.empty() ? 0U : L.pool[i]; };
    std::vector<std::optional<AutoscalePolicy>> scaler(num_pools);
    for (std::size_t p = 0; p < L.autoscale.size() && p < num_pools; ++p) scaler[p] = L.autoscale[p];
    std::vector<std::vector<std::uint32_t>> members(num_pools);
    for (std::uint32_t i = 0; i < n; ++i) members[pool_of(i)].push_back(i);
    for (std::uint32_t p = 0; p < num_pools; ++p)
        if (scaler[p]) {
            const AutoscalePolicy& a = *scaler[p];
            if (a.min_replicas < 1 || a.min_replicas > a.max_replicas || a.max_replicas != members[p].size() ||
                a.interval.count() <= 0 || a.cold_start.count() < 0 || a.window.count() <= 0 || !(a.target > 0.0) ||
                !std::isfinite(a.target))
                bad_layout("pool " + std::to_string(p) +
                           ": autoscale needs 1 <= min <= max = the pool's replicas, an interval > 0 and a target > 0");
        }

    const auto origin = clock.now();
    FleetResult result;
    result.steps.resize(options.record_steps ? n : 0);
    result.routed.assign(n, 0);
    result.kv_sent.assign(n, {});
    result.replica_seconds.assign(n, 0.0);
    result.slo_finished.assign(num_pools, 0);
    result.slo_met.assign(num_pools, 0);
    const bool series = options.timeseries_interval.count() > 0;
    if (series) {
        result.timeseries.assign(n, EngineTimeSeries(options.timeseries_interval));
        result.fleet_timeseries = EngineTimeSeries(options.timeseries_interval);
    }
    // Replicas on clocks of their own: what each one's polls produced in the current window,
    // replayed on this thread in the order the one-clock loop gives (see the window loop).
    std::vector<detail::WindowBuffer> window(own_clocks ? n : 0);
    std::vector<detail::RunRecording<Engine<E, VirtualClock>>> recording; // restores the replicas, even on a throw
    recording.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        Engine<E, VirtualClock>* e = replicas[i];
        e->set_origin(origin);
        std::function<void(const StepTokenTimes&)> on_tokens;
        if (own_clocks && options.on_tokens) {
            on_tokens = [b = &window[i]](const StepTokenTimes& t) { b->tokens_at(t); };
        } else if (options.on_tokens) {
            const bool client = pd && role(i) == ReplicaRole::decode;
            on_tokens = [&options, i, client](const StepTokenTimes& t) {
                options.on_tokens(i, t);
                if (client) options.on_tokens(fleet_client, t);
            };
        }
        recording.emplace_back(*e, options, options.record_steps ? &result.steps[i] : nullptr,
                               result.timeseries.empty() ? nullptr : &result.timeseries[i], std::move(on_tokens));
    }
    if (options.keep_records && total > 0) {
        result.records.reserve(total);
        result.replica.reserve(total);
    }

    // Replica states (autoscaling) and the provisioned time they accumulate.
    std::vector<ReplicaState> state(n, ReplicaState::serving);
    std::vector<nanoseconds> ready_at(n, nanoseconds{0}), since(n, nanoseconds{0});
    for (std::uint32_t p = 0; p < num_pools; ++p) {
        const std::uint32_t start = scaler[p]
                                        ? std::clamp(p < L.initial.size() ? L.initial[p] : scaler[p]->min_replicas,
                                                     scaler[p]->min_replicas, scaler[p]->max_replicas)
                                        : static_cast<std::uint32_t>(members[p].size());
        for (std::size_t k = start; k < members[p].size(); ++k) state[members[p][k]] = ReplicaState::off;
    }
    auto set_state = [&](std::uint32_t i, ReplicaState s, nanoseconds now) {
        const bool was = state[i] != ReplicaState::off, will = s != ReplicaState::off;
        if (was && !will) result.replica_seconds[i] += std::chrono::duration<double>(now - since[i]).count();
        if (!was && will) since[i] = now;
        state[i] = s;
    };
    constexpr std::size_t npos = ~std::size_t{0};
    std::vector<std::size_t> last_point(num_pools, npos);
    auto record_scale = [&](std::uint32_t p, nanoseconds now) {
        ScalePoint sp{now, p, 0, 0, 0};
        for (const auto i : members[p]) {
            sp.serving += state[i] == ReplicaState::serving ? 1U : 0U;
            sp.starting += state[i] == ReplicaState::starting ? 1U : 0U;
            sp.draining += state[i] == ReplicaState::draining ? 1U : 0U;
        }
        // Several changes at one instant (cold starts ending together) make one point.
        if (last_point[p] != npos && result.scale[last_point[p]].time == now)
            result.scale[last_point[p]] = sp;
        else {
            last_point[p] = result.scale.size();
            result.scale.push_back(sp);
        }
    };
    const bool scaling = std::any_of(scaler.begin(), scaler.end(), [](const auto& a) { return a.has_value(); });
    std::vector<nanoseconds> next_eval(num_pools, nanoseconds::max());
    for (std::uint32_t p = 0; p < num_pools; ++p)
        if (scaler[p]) {
            next_eval[p] = scaler[p]->interval;
            record_scale(p, nanoseconds{0});
        }
    // TTFT-SLO attainment: per pool, (finish, met) of the requests of the last window.
    std::vector<std::deque<std::pair<nanoseconds, bool>>> slo_window(num_pools);

    // Disaggregation: requests between their prefill and their decode.
    struct Handoff {
        RequestSpec spec; // the decode request (original max_tokens, prompt token ids)
        nanoseconds arrival{0}, first_scheduled{0};
        std::uint32_t prefill = 0, cached = 0, preemptions = 0;
    };
    std::unordered_map<RequestId, Handoff> handoff;
    struct Transfer {
        nanoseconds ready;
        std::uint64_t seq;
        RequestId id;
        bool operator>(const Transfer& o) const { return ready != o.ready ? ready > o.ready : seq > o.seq; }
    };
    std::priority_queue<Transfer, std::vector<Transfer>, std::greater<>> transfers;
    std::uint64_t transfer_seq = 0;

    std::vector<ReplicaView> views;
    std::vector<std::uint32_t> candidates;
    views.reserve(n);
    candidates.reserve(n);
    // Routes among the serving replicas of `want` (mixed/prefill: arrivals; decode: handoffs).
    auto route = [&](R& r, ReplicaRole want, const RequestSpec& spec, nanoseconds now) -> std::uint32_t {
        views.clear();
        candidates.clear();
        for (std::uint32_t i = 0; i < n; ++i) {
            if (state[i] != ReplicaState::serving || role(i) != want) continue;
            const EngineStats& s = replicas[i]->stats();
            views.push_back(ReplicaView{s.running, s.waiting, s.kv_usage, &replicas[i]->scheduler().kv_cache()});
            candidates.push_back(i);
        }
        if (candidates.empty())
            detail::throw_error<contract_error>(std::string("run_fleet_simulation: no ") + to_string(want) +
                                                " replica is serving (an autoscaled pool keeps at least min_replicas)");
        const std::uint32_t k = r.route(RoutingRequest{spec, now}, std::span<const ReplicaView>(views));
        if (k >= candidates.size())
            detail::throw_error<contract_error>("run_fleet_simulation: the router named replica " + std::to_string(k) +
                                                " of " + std::to_string(candidates.size()));
        return candidates[k];
    };

    detail::RunProgress progress(options.progress, total);
    // TTFT-SLO bookkeeping of a request served by pool p (that pool's autoscaler, if any).
    auto note_slo = [&](std::uint32_t p, const RequestRecord& r) {
        if (r.first_token == RequestRecord::unset || !scaler[p] || scaler[p]->slo_ttft.count() <= 0) return;
        const bool met = r.ttft() <= scaler[p]->slo_ttft;
        ++result.slo_finished[p];
        result.slo_met[p] += met ? 1U : 0U;
        slo_window[p].emplace_back(r.finish, met);
    };
    auto client_record = [&](std::uint32_t i, const RequestRecord& r) {
        progress.count();
        // With P/D both sides' pools count it.
        note_slo(pool_of(i), r);
        if (pd) {
            const auto it = handoff.find(r.id);
            if (it != handoff.end() && pool_of(it->second.prefill) != pool_of(i))
                note_slo(pool_of(it->second.prefill), r);
        }
        if (pd && options.on_record) options.on_record(fleet_client, r);
        if (options.keep_records) {
            result.records.push_back(r);
            result.replica.push_back(i);
        }
    };
    // Moves the finished records of `which` engines (ascending; null: all) to the hooks.
    auto collect = [&](const std::vector<std::uint32_t>* which) {
        const std::size_t count = which != nullptr ? which->size() : n;
        for (std::size_t k = 0; k < count; ++k) {
            const std::uint32_t i = which != nullptr ? (*which)[k] : static_cast<std::uint32_t>(k);
            auto& done = replicas[i]->finished_records();
            if (done.empty()) continue;
            for (auto& r : done) {
                if (options.on_record) options.on_record(i, r);
                if (!pd) {
                    progress.count();
                    note_slo(pool_of(i), r);
                    if (options.keep_records) {
                        result.records.push_back(std::move(r));
                        result.replica.push_back(i);
                    }
                    continue;
                }
                const auto it = handoff.find(r.id);
                if (role(i) == ReplicaRole::prefill) {
                    if (!r.success() || it == handoff.end()) { // refused or aborted: the client's answer
                        client_record(i, r);
                        if (it != handoff.end()) handoff.erase(it);
                        continue;
                    }
                    Handoff& h = it->second;
                    h.first_scheduled = r.first_scheduled;
                    h.cached = r.num_cached_tokens;
                    h.preemptions = r.num_preemptions;
                    const std::uint64_t bytes = L.kv_bytes_per_token[i] * r.prompt_len;
                    const nanoseconds dt = L.link.transfer_time(bytes);
                    result.kv_sent[i].add(bytes, dt);
                    transfers.push(Transfer{r.finish + dt, transfer_seq++, r.id});
                    continue;
                }
                // Decode side: the client's record spans from its arrival at the proxy.
                RequestRecord c = std::move(r);
                if (it != handoff.end()) {
                    c.arrival = it->second.arrival;
                    c.first_scheduled = it->second.first_scheduled;
                    c.num_cached_tokens = it->second.cached;
                    c.num_preemptions += it->second.preemptions;
                    if (c.reason == FinishReason::rejected) {
                        c.reason = FinishReason::abort; // the fleet had accepted it
                        c.error = "the decode replica refused it: " + c.error;
                        c.finish = c.first_scheduled == RequestRecord::unset ? c.arrival : c.finish;
                    }
                }
                client_record(i, c);
                if (it != handoff.end()) handoff.erase(it);
            }
            done.clear();
        }
        progress.report();
    };

    // The fleet's time series: observed as each interval boundary passes.
    nanoseconds next_boundary = series ? options.timeseries_interval : nanoseconds::max();
    std::vector<EngineStats> snapshot;
    auto observe_fleet = [&](nanoseconds at) {
        snapshot.clear();
        std::uint32_t provisioned = 0;
        double kv = 0.0;
        for (std::uint32_t i = 0; i < n; ++i) {
            snapshot.push_back(replicas[i]->stats());
            if (state[i] != ReplicaState::off || replicas[i]->busy()) {
                ++provisioned;
                kv += snapshot.back().kv_usage;
            }
        }
        EngineStats f = fleet_stats(snapshot);
        f.kv_usage = provisioned == 0 ? 0.0 : kv / provisioned;
        result.fleet_timeseries.observe(at, f);
    };

    // One autoscaler evaluation of pool p at `now`.
    auto evaluate = [&](std::uint32_t p, nanoseconds now) {
        const AutoscalePolicy& a = *scaler[p];
        std::uint32_t serving = 0, starting = 0;
        double waiting = 0.0, kv = 0.0;
        for (const auto i : members[p]) {
            if (state[i] == ReplicaState::serving) {
                ++serving;
                waiting += replicas[i]->stats().waiting;
                kv += replicas[i]->stats().kv_usage;
            }
            starting += state[i] == ReplicaState::starting ? 1U : 0U;
        }
        const std::uint32_t current = serving + starting;
        std::int64_t desired = current;
        if (a.metric == AutoscalePolicy::Metric::ttft_slo) {
            auto& w = slo_window[p];
            while (!w.empty() && w.front().first < now - a.window) w.pop_front();
            std::size_t met = 0;
            for (const auto& [t, ok] : w) met += ok ? 1U : 0U;
            if (w.empty() || met == w.size())
                desired = static_cast<std::int64_t>(current) - 1;
            else if (static_cast<double>(met) / static_cast<double>(w.size()) < a.target)
                desired = static_cast<std::int64_t>(current) + 1;
        } else if (serving > 0) {
            const double value = (a.metric == AutoscalePolicy::Metric::waiting ? waiting : kv) / serving;
            desired = static_cast<std::int64_t>(std::ceil(current * value / a.target - 1e-9));
        }
        desired = std::clamp<std::int64_t>(desired, a.min_replicas, a.max_replicas);
        bool changed = false;
        std::uint32_t have = current;
        // Out: warm draining replicas first (lowest index), then cold ones.
        for (auto it = members[p].begin(); desired > have && it != members[p].end(); ++it)
            if (state[*it] == ReplicaState::draining) {
                set_state(*it, ReplicaState::serving, now);
                ++have, changed = true;
            }
        for (auto it = members[p].begin(); desired > have && it != members[p].end(); ++it)
            if (state[*it] == ReplicaState::off && !replicas[*it]->busy()) {
                set_state(*it, a.cold_start.count() > 0 ? ReplicaState::starting : ReplicaState::serving, now);
                ready_at[*it] = now + a.cold_start;
                ++have, changed = true;
            }
        // In: starting replicas first (newest), then serving ones (highest index) drain.
        for (auto it = members[p].rbegin(); desired < have && it != members[p].rend(); ++it)
            if (state[*it] == ReplicaState::starting) {
                set_state(*it, ReplicaState::off, now);
                --have, changed = true;
            }
        for (auto it = members[p].rbegin(); desired < have && it != members[p].rend(); ++it)
            if (state[*it] == ReplicaState::serving) {
                set_state(*it, ReplicaState::draining, now);
                --have, changed = true;
            }
        if (changed) record_scale(p, now);
    };

    // Engines to poll at an event: those given a request (dirty) and those whose oldest step's
    // output is ready. When the futures know their deadlines (the emulated executor's), a heap
    // of each engine's next output deadline finds the ready ones, so an event costs what the
    // engines it touches cost, not a look at every engine of the fleet.
    constexpr bool timed = Engine<E, VirtualClock>::has_output_deadline;
    using TimePoint = VirtualClock::time_point;
    std::vector<char> dirty(n, 1);
    std::vector<std::uint32_t> dirty_list(n);
    for (std::uint32_t i = 0; i < n; ++i) dirty_list[i] = i;
    auto mark = [&dirty, &dirty_list](std::uint32_t i) {
        if (dirty[i]) return;
        dirty[i] = 1;
        dirty_list.push_back(i);
    };
    std::vector<std::optional<TimePoint>> registered(n); // the deadline each engine has in `due`
    std::priority_queue<std::pair<TimePoint, std::uint32_t>, std::vector<std::pair<TimePoint, std::uint32_t>>,
                        std::greater<>>
        due;
    std::vector<std::pair<TimePoint, std::uint32_t>> not_yet;
    std::vector<std::uint32_t> touched; // engines polled at this event, ascending
    TimedRequest pending;
    bool has_pending = source.next(pending);
    detail::SourceFeedback<S> feedback(source); // closed-loop sources (see FeedbackRequestSource)
    // P/D: the decode side's events go to the source (the prefill side only samples one token).
    std::unordered_map<RequestId, std::function<void(const TokenEvent&)>> decode_feedback;
    nanoseconds last_arrival{0};
    // The run is over (nothing left to happen): a replica still holding requests is stuck.
    auto require_idle = [&replicas] {
        for (auto* e : replicas)
            if (e->busy())
                detail::throw_error<contract_error>("run_fleet_simulation: a replica has requests but nothing to run");
    };
    if (own_clocks) {
        // Window by window: a window starts at an arrival (or a series boundary) and ends
        // just before the next one. Arrivals are routed on this thread, seeing every replica
        // as of just before them; within a window the replicas do not interact, so each one
        // runs its own steps due in the window on its own clock, on any thread. What their
        // polls produced (token batches, finished records) is then replayed here sorted by
        // (poll time, the replica's poll count at that time, arrivals before tokens before
        // records, replica, order), which is the order in which the one-clock loop below
        // calls the hooks; so results are the same for any thread count (and the same as
        // that loop's, except that with steps of zero duration, same-instant hooks of
        // different replicas may interleave differently).
        //
        // Routing ahead: a router that routes by load (llmemu::routes_by_load) needs of each
        // replica only its running + waiting, which changes where it is given a request
        // (known here) and where a step's output finishes requests. The output of a
        // replica's oldest step in flight is known at its dispatch (the emulated executor's
        // futures hold it), and with async scheduling its second step, dispatched behind
        // it, ends no earlier than the request a new poll would dispatch. So until its
        // second step ends (or its oldest, when it has one step in flight), a replica's load
        // is known at every instant without running it, and a window may run on to the
        // earliest such horizon over the fleet, its arrivals routed first and handed to
        // their replicas, which add them at their arrival times: about one step of every
        // replica per window in a saturated fleet instead of one step in all. An idle
        // replica given a request bounds the window just past that arrival; a request id
        // not above every one before it (it could still be in flight) waits for the next
        // window, where its replica's answer is known.
        WorkTeam team(parallel_threads(options.threads, n));
        const nanoseconds never = nanoseconds::max();
        TimePoint t0 = clock.now(), last = clock.now();
        std::vector<std::uint32_t> work;
        std::vector<detail::WindowEvent> events;
        // Every replica serves (no autoscaler, one role), so the router sees all of them; their
        // views change only where a request was added or a window ran.
        auto view_of = [&](std::uint32_t i) {
            const EngineStats& st = replicas[i]->stats();
            return ReplicaView{st.running, st.waiting, st.kv_usage, &replicas[i]->scheduler().kv_cache()};
        };
        std::vector<ReplicaView> live;
        for (std::uint32_t i = 0; i < n; ++i) live.push_back(view_of(i));
        const bool ahead = routes_by_load(router);
        struct Horizon {
            nanoseconds until{0};        // its load is known at every instant before this
            nanoseconds oldest{0};       // when its oldest step's output finishes...
            std::uint32_t finishing = 0; // ...this many requests (when oldest < until)
            bool idle = true;            // no step in flight
        };
        std::vector<Horizon> horizon(n);
        auto look_ahead = [&](std::uint32_t i) {
            Horizon& h = horizon[i];
            const auto& e = *replicas[i];
            h = Horizon{never, never, 0, e.steps_in_flight() == 0};
            if (h.idle) return;
            h.oldest = std::chrono::duration_cast<nanoseconds>(*e.output_deadline() - origin);
            h.until = h.oldest + nanoseconds(1);
            if (e.steps_in_flight() < 2) return;
            if (const std::optional<std::uint32_t> f = e.finishing_at_oldest()) {
                h.finishing = *f;
                h.until = std::chrono::duration_cast<nanoseconds>(*e.second_output_deadline() - origin) + nanoseconds(1);
            }
        };
        struct Finish {
            nanoseconds at;
            std::uint32_t replica, count;
        };
        std::vector<Finish> finishes;                               // of this window, by time
        std::vector<std::pair<std::uint32_t, std::uint32_t>> order; // arrivals routed ahead: (replica, index)
        std::vector<char> given(n, 0);                              // replicas given requests ahead
        std::vector<std::uint32_t> given_list;
        std::optional<RequestId> top_id; // the highest request id routed so far
        auto note_id = [&top_id](RequestId id) {
            if (!top_id || id > *top_id) top_id = id;
        };
        auto admit = [&] { // checks and hooks of the arrival in `pending`, before it is routed
            if (pending.arrival < last_arrival) detail::simulation_bad_order(last_arrival, pending.arrival);
            if (pending.notify)
                bad_layout("a closed-loop (multi-turn) workload needs every replica on the fleet clock");
            last_arrival = pending.arrival;
            if (origin + pending.arrival > last) last = origin + pending.arrival;
            if (options.prepare) options.prepare(pending.spec);
        };
        auto route_live = [&]() {
            const std::uint32_t i =
                router.route(RoutingRequest{pending.spec, pending.arrival}, std::span<const ReplicaView>(live));
            if (i >= n)
                detail::throw_error<contract_error>("run_fleet_simulation: the router named replica " +
                                                    std::to_string(i) + " of " + std::to_string(n));
            return i;
        };
        for (;;) {
            const nanoseconds t = std::chrono::duration_cast<nanoseconds>(t0 - origin);
            while (has_pending && pending.arrival <= t) {
                admit();
                const std::uint32_t i = route_live();
                const RequestId id = pending.spec.id;
                note_id(id);
                const bool ok = replicas[i]->add_request(std::move(pending.spec), pending.arrival);
                live[i] = view_of(i);
                mark(i);
                ++result.routed[i];
                ++result.num_requests;
                if (options.on_added) options.on_added(i, id, pending.arrival, ok);
                has_pending = source.next(pending);
            }
            if (options.on_advance) options.on_advance(t);
            // The window: [t0, end). Its replicas: those given a request, and those with a
            // step due before its end. A window spans at most detail::window_span past its
            // first event, so what it buffers stays bounded when arrivals are sparse or over
            // (the drain of a backlog); where windows are cut does not change any result.
            // Routed ahead, it runs on to the first arrival that is not (past the replicas'
            // horizon, or an id that may be in flight).
            nanoseconds first = dirty_list.empty() ? never : t;
            if (!due.empty())
                first = std::min(first, std::chrono::duration_cast<nanoseconds>(due.top().first - origin));
            if (has_pending) first = std::min(first, pending.arrival);
            nanoseconds limit = never; // of the window
            if (first != never && first < limit - detail::window_span) limit = first + detail::window_span;
            if (series && next_boundary < limit) limit = next_boundary; // observed before arrivals at it
            nanoseconds end = std::min(limit, has_pending ? pending.arrival : never);
            if (ahead && has_pending && pending.arrival < limit) {
                end = limit; // arrivals before `end` may be routed ahead
                for (std::uint32_t i = 0; i < n; ++i)
                    end = std::min(end, horizon[i].idle && dirty[i] ? t + nanoseconds(1) : horizon[i].until);
                finishes.clear();
                for (std::uint32_t i = 0; i < n; ++i)
                    if (horizon[i].oldest < end && horizon[i].finishing > 0)
                        finishes.push_back(Finish{horizon[i].oldest, i, horizon[i].finishing});
                std::sort(finishes.begin(), finishes.end(), [](const Finish& a, const Finish& b) {
                    return a.at != b.at ? a.at < b.at : a.replica < b.replica;
                });
                std::size_t f = 0;
                while (has_pending && pending.arrival < end) {
                    if (top_id && pending.spec.id <= *top_id) { // maybe in flight: route it with exact views
                        end = pending.arrival;
                        break;
                    }
                    admit();
                    for (; f < finishes.size() && finishes[f].at < pending.arrival; ++f) {
                        ReplicaView& v = live[finishes[f].replica];
                        const std::uint32_t c = finishes[f].count, r = std::min(v.running, c);
                        v.running -= r;
                        v.waiting -= std::min(v.waiting, c - r);
                    }
                    const std::uint32_t i = route_live();
                    note_id(pending.spec.id);
                    const bool ok = !replicas[i]->check(pending.spec);
                    if (ok) ++live[i].waiting;
                    if (horizon[i].idle && !dirty[i] && !given[i]) // it dispatches at this arrival
                        end = std::min(end, pending.arrival + nanoseconds(1));
                    if (!given[i]) {
                        given[i] = 1;
                        given_list.push_back(i);
                    }
                    order.emplace_back(i, static_cast<std::uint32_t>(window[i].adds.size()));
                    const RequestId id = pending.spec.id;
                    window[i].adds.push_back(detail::WindowBuffer::Add{std::move(pending), id, ok, false});
                    ++result.routed[i];
                    ++result.num_requests;
                    has_pending = source.next(pending);
                }
                end = std::min(limit, has_pending ? pending.arrival : never);
            }
            const bool boundary = series && next_boundary <= end;
            const TimePoint end_tp = end == never ? TimePoint::max() : origin + end;
            work.swap(dirty_list);
            dirty_list.clear();
            while (!due.empty() && due.top().first < end_tp) {
                const auto top = due.top();
                due.pop();
                if (registered[top.second] != top.first) continue; // stale
                registered[top.second].reset();
                if (!dirty[top.second] && !given[top.second]) work.push_back(top.second);
            }
            for (const std::uint32_t i : given_list)
                if (!dirty[i]) work.push_back(i);
            ++result.windows;
            result.window_advances += work.size();
            result.routed_ahead += order.size();
            team.run(work.size(), [&](std::size_t w) {
                const std::uint32_t i = work[w];
                detail::advance_window(*replicas[i], window[i], dirty[i] != 0, t0, end_tp);
                if (ahead) look_ahead(i);
            });
            events.clear();
            for (const std::uint32_t i : work) {
                dirty[i] = 0;
                given[i] = 0;
                const std::optional<TimePoint> d = replicas[i]->output_deadline();
                if (d != registered[i]) {
                    registered[i] = d;
                    if (d) due.emplace(*d, i);
                }
                window[i].index(i, events);
                if (window[i].last > last) last = window[i].last;
                live[i] = view_of(i);
            }
            given_list.clear();
            for (std::size_t q = 0; q < order.size(); ++q)
                events.push_back(detail::WindowEvent{origin + window[order[q].first].adds[order[q].second].request.arrival,
                                                     0, 0, 0, static_cast<std::uint32_t>(q)});
            std::sort(events.begin(), events.end());
            TimePoint advanced = t0;
            for (std::size_t q = 0; q < events.size(); ++q) {
                const detail::WindowEvent& ev = events[q];
                if (ev.phase == 0) { // a request routed ahead, as the routing above would have said
                    const auto [i, k] = order[ev.index];
                    const detail::WindowBuffer::Add& a = window[i].adds[k];
                    if (options.on_added) options.on_added(i, a.id, a.request.arrival, a.ok);
                    if (q + 1 == events.size() || events[q + 1].phase != 0 || events[q + 1].t != ev.t) {
                        if (options.on_advance) options.on_advance(a.request.arrival);
                        advanced = ev.t;
                    }
                    continue;
                }
                if (ev.t != advanced && options.on_advance)
                    options.on_advance(std::chrono::duration_cast<nanoseconds>(ev.t - origin));
                advanced = ev.t;
                detail::WindowBuffer& b = window[ev.replica];
                if (ev.phase == 1) {
                    if (options.on_tokens) options.on_tokens(ev.replica, b.tokens_of(ev.index));
                    continue;
                }
                RequestRecord& r = b.records[ev.index].record;
                if (options.on_record) options.on_record(ev.replica, r);
                progress.count();
                if (options.keep_records) {
                    result.records.push_back(std::move(r));
                    result.replica.push_back(ev.replica);
                }
            }
            order.clear();
            for (const std::uint32_t i : work) window[i].clear();
            progress.report();
            const bool more = has_pending || !due.empty();
            if (boundary && more) {
                observe_fleet(next_boundary - nanoseconds(1));
                next_boundary += options.timeseries_interval;
            }
            if (!more) {
                require_idle();
                break;
            }
            t0 = end_tp;
        }
        clock.advance_to(last);
    }
    for (; !own_clocks;) {
        const auto t = std::chrono::duration_cast<nanoseconds>(clock.now() - origin);
        feedback.refresh(pending, has_pending);
        while (t >= next_boundary) { // state as of just before t is that of the boundary
            observe_fleet(next_boundary - nanoseconds(1));
            next_boundary += options.timeseries_interval;
        }
        // Cold starts that end, then the autoscalers' evaluations due.
        for (std::uint32_t i = 0; scaling && i < n; ++i)
            if (state[i] == ReplicaState::starting && ready_at[i] <= t) {
                set_state(i, ReplicaState::serving, t);
                record_scale(pool_of(i), t);
            }
        for (std::uint32_t p = 0; p < num_pools; ++p)
            while (next_eval[p] <= t) {
                evaluate(p, next_eval[p]);
                next_eval[p] += scaler[p]->interval;
            }
        // KV transfers that arrived: the proxy sends each to a decode replica.
        while (!transfers.empty() && transfers.top().ready <= t) {
            const Transfer x = transfers.top();
            transfers.pop();
            Handoff& h = handoff.at(x.id);
            const std::uint32_t d = route(*decode_router, ReplicaRole::decode, h.spec, x.ready);
            RequestSpec spec = h.spec; // keep the token ids for the record's lookups
            spec.num_external_computed_tokens = spec.effective_prompt_len();
            std::function<void(const TokenEvent&)> on_event;
            if (const auto fb = decode_feedback.find(x.id); fb != decode_feedback.end()) {
                on_event = std::move(fb->second);
                decode_feedback.erase(fb);
            }
            const bool ok = replicas[d]->add_request(std::move(spec), x.ready, std::move(on_event));
            mark(d);
            ++result.routed[d];
            if (options.on_added) options.on_added(d, x.id, x.ready, ok);
        }
        while (has_pending && pending.arrival <= t) {
            if (pending.arrival < last_arrival) detail::simulation_bad_order(last_arrival, pending.arrival);
            last_arrival = pending.arrival;
            if (options.prepare) options.prepare(pending.spec);
            const ReplicaRole entry = pd ? ReplicaRole::prefill : ReplicaRole::mixed;
            const std::uint32_t i = route(router, entry, pending.spec, pending.arrival);
            const RequestId id = pending.spec.id;
            auto on_event = feedback.handler(pending);
            bool ok = false;
            if (pd) {
                if (on_event) decode_feedback.emplace(id, std::move(on_event));
                // vLLM's P/D proxies send the prefill side the request with max_tokens 1.
                RequestSpec p = pending.spec;
                p.max_tokens = 1;
                p.min_tokens = 0;
                if (!handoff.emplace(id, Handoff{std::move(pending.spec), pending.arrival, {}, i, 0, 0}).second)
                    detail::throw_error<request_error>("run_fleet_simulation: request id " + std::to_string(id) +
                                                       " is already in flight; ids must be unique");
                ok = replicas[i]->add_request(std::move(p), pending.arrival);
                if (options.on_added) options.on_added(fleet_client, id, pending.arrival, ok);
            } else {
                ok = replicas[i]->add_request(std::move(pending.spec), pending.arrival, std::move(on_event));
            }
            mark(i);
            ++result.routed[i];
            ++result.num_requests;
            if (options.on_added) options.on_added(i, id, pending.arrival, ok);
            has_pending = source.next(pending);
            feedback.refresh(pending, has_pending); // a refused request may release another
        }
        if (options.on_advance) options.on_advance(t);
        // Only an engine with a new request or a step output ready can do anything (see
        // Engine::output_ready): polling every engine at every event made a fleet's cost
        // grow with the square of its size (each poll of an async engine re-ran schedule()).
        touched.swap(dirty_list);
        dirty_list.clear();
        if constexpr (timed) {
            const TimePoint now_tp = clock.now();
            while (!due.empty() && due.top().first <= now_tp) {
                const auto top = due.top();
                due.pop();
                if (registered[top.second] != top.first) continue; // stale: that step was completed
                if (replicas[top.second]->output_ready()) {
                    registered[top.second].reset();
                    touched.push_back(top.second);
                } else {
                    not_yet.push_back(top); // due now, its timer not run yet
                }
            }
            for (const auto& x : not_yet) due.push(x);
            not_yet.clear();
        } else {
            for (std::uint32_t i = 0; i < n; ++i)
                if (!dirty[i] && replicas[i]->output_ready()) touched.push_back(i);
        }
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
        bool progressed = false;
        for (const std::uint32_t i : touched) {
            dirty[i] = 0;
            progressed |= replicas[i]->poll();
            if constexpr (timed) {
                const std::optional<TimePoint> d = replicas[i]->output_deadline();
                if (d != registered[i]) {
                    registered[i] = d;
                    if (d) due.emplace(*d, i);
                }
            }
        }
        collect(&touched);
        // Draining replicas leave when empty.
        for (std::uint32_t i = 0; scaling && i < n; ++i)
            if (state[i] == ReplicaState::draining && !replicas[i]->busy()) {
                set_state(i, ReplicaState::off, t);
                record_scale(pool_of(i), t);
            }
        if (progressed) continue;
        feedback.refresh(pending, has_pending);
        if (has_pending && pending.arrival <= t) continue; // released now (no think time)
        // Nothing can happen before the next event: a step ending, a request arriving, a KV
        // transfer ending, a cold start ending or an autoscaler's evaluation.
        std::optional<VirtualClock::time_point> target = clock.next_deadline();
        auto consider = [&](nanoseconds at) {
            const auto tp = origin + at;
            if (!target || tp < *target) target = tp;
        };
        if (has_pending) consider(pending.arrival);
        if (!transfers.empty()) consider(transfers.top().ready);
        const bool work = target.has_value() || !handoff.empty();
        if (work) {
            for (std::uint32_t i = 0; scaling && i < n; ++i)
                if (state[i] == ReplicaState::starting) consider(ready_at[i]);
            for (std::uint32_t p = 0; p < num_pools; ++p)
                if (scaler[p]) consider(next_eval[p]);
        }
        if (!target) {
            require_idle();
            break;
        }
        clock.advance_to(*target);
    }
    collect(nullptr);
    progress.done();
    result.duration = std::chrono::duration_cast<nanoseconds>(clock.now() - origin);
    if (series) {
        while (result.duration >= next_boundary) {
            observe_fleet(next_boundary - nanoseconds(1));
            next_boundary += options.timeseries_interval;
        }
        observe_fleet(result.duration);
    }
    for (std::uint32_t i = 0; i < n; ++i)
        if (state[i] != ReplicaState::off)
            result.replica_seconds[i] += std::chrono::duration<double>(result.duration - since[i]).count();
    for (auto* e : replicas) result.stats.push_back(e->stats());
    return result;
}

/// The result of run_replicated_simulation (the older name).
using ReplicatedResult = FleetResult;

/// Routes `requests` (any order; stably sorted by arrival) over `replicas` with `router`:
/// any RoutingPolicy — a provided router (RoundRobinRouter{}, PrefixAwareRouter(block_size)
/// ...), the AnyRouter make_router(name) gives, or your own type. See run_fleet_simulation.
template <class E, class R>
requires RoutingPolicy<std::remove_cvref_t<R>>
    ReplicatedResult run_replicated_simulation(const std::vector<Engine<E, VirtualClock>*>& replicas,
                                               VirtualClock& clock, std::vector<TimedRequest> requests, R&& router,
                                               const SimulationOptions& options = {}) {
    VectorRequestSource source(std::move(requests));
    const std::size_t total = source.size();
    return run_fleet_simulation(replicas, clock, source, router, options, total);
}

LLMEMU_END_NAMESPACE
