// Engine replicas on one virtual clock behind a router; Engine::poll (non-blocking).
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/time/virtual_clock.hpp"

using namespace llmemu;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {
using Exec = EmulatedExecutor<AffineProfile, VirtualClock>;
using VEngine = Engine<Exec, VirtualClock>;

EngineConfig cfg(bool async) {
    EngineConfig c;
    c.num_gpu_blocks = 2000;
    c.async_scheduling = async;
    return c;
}

std::vector<TimedRequest> workload(int n, bool with_tokens = false) {
    std::vector<TimedRequest> v;
    Rng g(3);
    for (int i = 0; i < n; ++i) {
        TimedRequest t;
        t.arrival = milliseconds(i * 7);
        t.spec.id = static_cast<RequestId>(i + 1);
        t.spec.prompt_len = 30 + static_cast<std::uint32_t>(uniform_index(g, 400));
        t.spec.max_tokens = 3 + static_cast<std::uint32_t>(uniform_index(g, 20));
        t.spec.ignore_eos = true;
        if (with_tokens) {
            // Four distinct 64-token system prompts, then a unique tail.
            const int group = i % 4;
            for (int k = 0; k < 64; ++k) t.spec.prompt_tokens.push_back(group * 1000 + k);
            for (int k = 0; k < 20; ++k) t.spec.prompt_tokens.push_back(100000 + i * 100 + k);
            t.spec.prompt_len = 0;
        }
        v.push_back(std::move(t));
    }
    return v;
}

AffineProfile profile() {
    return AffineProfile{10.0, 20.0, 100.0};
}
} // namespace

TEST_CASE("Engine.poll.matches_step_driven_simulation") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        VirtualClock a;
        VEngine ea(Exec(profile(), a), a, cfg(async));
        const auto ref = run_simulation(ea, workload(40));
        // A single replica driven through poll() gives the same records.
        VirtualClock b;
        VEngine eb(Exec(profile(), b), b, cfg(async));
        const auto got = run_replicated_simulation<Exec>({&eb}, b, workload(40), RoundRobinRouter{});
        REQUIRE(got.records.size() == ref.records.size());
        std::map<RequestId, RequestRecord> m;
        for (const auto& r : ref.records) m[r.id] = r;
        for (const auto& r : got.records) {
            CHECK(r.token_times == m[r.id].token_times);
            CHECK(r.first_scheduled == m[r.id].first_scheduled);
        }
        CHECK(got.duration == ref.duration);
        CHECK(got.stats[0].steps == ref.stats.steps);
    }
}

TEST_CASE("Router.round_robin.replicas_are_independent_gpus") {
    // Round robin sends odd ids to replica 0 and even ids to replica 1; each replica's
    // records equal a single engine's run of its half.
    VirtualClock clock;
    VEngine r0(Exec(profile(), clock), clock, cfg(true));
    VEngine r1(Exec(profile(), clock), clock, cfg(true));
    const auto res = run_replicated_simulation<Exec>({&r0, &r1}, clock, workload(60), RoundRobinRouter{});
    REQUIRE(res.records.size() == 60);
    std::vector<TimedRequest> half;
    for (auto& t : workload(60))
        if (t.spec.id % 2 == 1) half.push_back(std::move(t));
    VirtualClock solo_clock;
    VEngine solo(Exec(profile(), solo_clock), solo_clock, cfg(true));
    const auto ref = run_simulation(solo, half);
    std::map<RequestId, RequestRecord> m;
    for (const auto& r : ref.records) m[r.id] = r;
    int checked = 0;
    for (std::size_t i = 0; i < res.records.size(); ++i) {
        CHECK(res.replica[i] == (res.records[i].id % 2 == 1 ? 0U : 1U));
        if (res.replica[i] == 0) {
            CHECK(res.records[i].token_times == m[res.records[i].id].token_times);
            ++checked;
        }
    }
    CHECK(checked == 30);
    CHECK(res.stats.size() == 2);
    CHECK(res.stats[0].generation_tokens + res.stats[1].generation_tokens > 0);
}

TEST_CASE("Router.least_loaded_and_prefix_aware.policies") {
    {
        VirtualClock clock;
        VEngine r0(Exec(profile(), clock), clock, cfg(true));
        VEngine r1(Exec(profile(), clock), clock, cfg(true));
        VEngine r2(Exec(profile(), clock), clock, cfg(true));
        // Everything at t=0: least-loaded spreads them evenly.
        auto w = workload(30);
        for (auto& t : w) t.arrival = nanoseconds{0};
        const auto res = run_replicated_simulation<Exec>({&r0, &r1, &r2}, clock, w, LeastLoadedRouter{});
        std::vector<int> per(3, 0);
        for (auto i : res.replica) ++per[i];
        CHECK(per == std::vector<int>{10, 10, 10});
    }
    std::uint64_t hits_rr = 0;
    std::uint64_t hits_prefix = 0;
    for (const char* policy : {"round_robin", "prefix_aware"}) {
        VirtualClock clock;
        VEngine r0(Exec(profile(), clock), clock, cfg(true));
        VEngine r1(Exec(profile(), clock), clock, cfg(true));
        VEngine r2(Exec(profile(), clock), clock, cfg(true));
        RouterOptions ro;
        ro.block_size = r0.config().block_size;
        const auto res =
            run_replicated_simulation<Exec>({&r0, &r1, &r2}, clock, workload(48, true), make_router(policy, ro));
        REQUIRE(res.records.size() == 48);
        std::uint64_t hits = 0;
        for (const auto& s : res.stats) hits += s.prefix_cache_hits;
        if (std::string(policy) == "prefix_aware") {
            hits_prefix = hits;
            // Requests sharing a system prompt all land on one replica.
            std::map<int, std::set<std::uint32_t>> where;
            for (std::size_t i = 0; i < res.records.size(); ++i)
                where[static_cast<int>((res.records[i].id - 1) % 4)].insert(res.replica[i]);
            for (const auto& [group, reps] : where) CHECK(reps.size() == 1);
        } else {
            hits_rr = hits;
        }
    }
    CHECK(hits_prefix > hits_rr);
}

TEST_CASE("Router.bad_input.no_replica_or_foreign_clock") {
    VirtualClock clock;
    VirtualClock other;
    VEngine e(Exec(profile(), other), other, cfg(true));
    VEngine f(Exec(profile(), clock), clock, cfg(true));
    CHECK_THROWS_AS(run_replicated_simulation<Exec>({}, clock, workload(2), RoundRobinRouter{}), config_error);
    // Either all on the fleet clock or each on its own (see Fleet.own_clocks.*), never a mix.
    CHECK_THROWS_AS(run_replicated_simulation<Exec>({&e, &f}, clock, workload(2), RoundRobinRouter{}), config_error);
    CHECK_THROWS_AS(run_replicated_simulation<Exec>({&f, &e}, clock, workload(2), RoundRobinRouter{}), config_error);
    CHECK(run_replicated_simulation<Exec>({&e}, clock, workload(2), RoundRobinRouter{}).num_requests == 2);
}

namespace {
/// A user-defined routing policy: any type with route() models llmemu::RoutingPolicy.
struct LastReplicaUnlessBusy {
    std::uint32_t calls = 0;
    std::uint32_t route(const RoutingRequest&, std::span<const ReplicaView> replicas) {
        ++calls;
        const auto last = static_cast<std::uint32_t>(replicas.size() - 1);
        return replicas[last].running + replicas[last].waiting < 4 ? last : 0;
    }
};
static_assert(RoutingPolicy<LastReplicaUnlessBusy> && Router<LastReplicaUnlessBusy>);
static_assert(RoutingPolicy<RoundRobinRouter> && RoutingPolicy<LeastLoadedRouter> && RoutingPolicy<PrefixAwareRouter> &&
              RoutingPolicy<ScoredRouter> && RoutingPolicy<DataParallelRouter> && RoutingPolicy<AnyRouter>);
static_assert(!RoutingPolicy<int> && !RoutingPolicy<EngineConfig>);
} // namespace

TEST_CASE("Router.user_defined_policy_routes_a_replicated_run") {
    VirtualClock clock;
    VEngine r0(Exec(profile(), clock), clock, cfg(true));
    VEngine r1(Exec(profile(), clock), clock, cfg(true));
    LastReplicaUnlessBusy router;
    const auto res = run_replicated_simulation<Exec>({&r0, &r1}, clock, workload(30), router);
    CHECK(router.calls == 30);
    CHECK(res.routed[0] + res.routed[1] == 30);
    CHECK(res.routed[1] >= 4); // it fills the last replica first
    CHECK(res.records.size() == 30);
    // The named routers go through the same overload (make_router's AnyRouter).
    VirtualClock c2;
    VEngine a(Exec(profile(), c2), c2, cfg(true));
    VEngine b(Exec(profile(), c2), c2, cfg(true));
    const auto named = run_replicated_simulation<Exec>({&a, &b}, c2, workload(30), make_router("round_robin"));
    CHECK(named.routed[0] == 15);
    CHECK(named.routed[1] == 15);
}
