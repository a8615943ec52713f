// Fleets (fleet/router.hpp, fleet/fleet.hpp, fleet/emulation.hpp, fleet/sweep.hpp, fleet/plan.hpp); the
// streaming summaries they feed are tested in test_metrics.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/engine/chrome_trace.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/plan.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/fleet/sweep.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_sketch.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/report/step_digest.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/tokens/eos_at_length_emitter.hpp"
#include "llmemu/workload/trace.hpp"
#include "run_support.hpp"

using namespace llmemu;
using run_test::attach;
using run_test::workload;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {
using Exec = EmulatedExecutor<AffineProfile, VirtualClock>;
using VEngine = Engine<Exec, VirtualClock>;

EngineConfig cfg() {
    EngineConfig c;
    c.num_gpu_blocks = 3000;
    return c;
}

AffineProfile profile() {
    return AffineProfile{10.0, 20.0, 100.0};
}

std::vector<ReplicaView> views(std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> rw) {
    std::vector<ReplicaView> v;
    for (const auto& [running, waiting] : rw) v.push_back(ReplicaView{running, waiting, 0.0, nullptr});
    return v;
}

RequestSpec spec_with_tokens(int group, int n) {
    RequestSpec s;
    for (int k = 0; k < n; ++k) s.prompt_tokens.push_back(group * 1000 + k);
    s.max_tokens = 4;
    return s;
}

} // namespace

TEST_CASE("Fleet.router.round_robin_order") {
    RoundRobinRouter r;
    const auto v = views({{9, 9}, {0, 0}, {5, 5}});
    RequestSpec s;
    std::vector<std::uint32_t> got;
    for (int i = 0; i < 7; ++i) got.push_back(r.route(RoutingRequest{s, nanoseconds(i)}, v));
    CHECK(got == std::vector<std::uint32_t>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("Fleet.router.least_loaded_ties_go_to_the_lowest_index") {
    LeastLoadedRouter r;
    RequestSpec s;
    CHECK(r.route({s}, views({{2, 1}, {1, 2}, {0, 3}})) == 0); // 3, 3, 3
    CHECK(r.route({s}, views({{5, 0}, {1, 1}, {2, 0}})) == 1); // 5, 2, 2
    CHECK(r.route({s}, views({{5, 0}, {4, 0}, {0, 1}})) == 2); // 5, 4, 1
}

TEST_CASE("Fleet.router.prefix_aware_sends_equal_prefixes_to_one_replica") {
    PrefixAwareRouter r(16, 2);
    const auto v = views({{0, 0}, {0, 0}, {0, 0}, {0, 0}});
    std::map<int, std::uint32_t> home;
    std::set<std::uint32_t> used;
    for (int rep = 0; rep < 3; ++rep)
        for (int g = 0; g < 16; ++g) {
            RequestSpec s = spec_with_tokens(g, 40);
            s.prompt_tokens.push_back(77777 + rep); // the tail after the hashed blocks differs
            const std::uint32_t to = r.route({s}, v);
            if (rep == 0) home[g] = to;
            CHECK(home[g] == to);
            used.insert(to);
        }
    CHECK(used.size() > 1); // sixteen prefixes do not all hash to one replica
    // Under a block of token ids (or none): least loaded.
    RequestSpec shortp = spec_with_tokens(1, 15);
    CHECK(r.route({shortp}, views({{3, 0}, {1, 0}, {2, 0}})) == 1);
    RequestSpec synthetic;
    synthetic.prompt_len = 500;
    CHECK(r.route({synthetic}, views({{3, 0}, {1, 0}, {0, 0}})) == 2);
}

TEST_CASE("Fleet.router.scored_weights_queue_kv_and_prefix") {
    KVCacheManager warm(100, 16, true), cold(100, 16, true);
    // Put a 64-token prompt's blocks into `warm`'s prefix cache.
    {
        RequestKV kv;
        kv.tokens = spec_with_tokens(7, 64).prompt_tokens;
        std::vector<std::uint32_t> hits;
        REQUIRE(warm.allocate_slots(kv, 0, 64, std::span<const std::uint32_t>(hits), 64));
        warm.cache_blocks(kv, 64);
        warm.free(kv);
    }
    const RequestSpec s = spec_with_tokens(7, 64);
    std::vector<ReplicaView> v{{4, 0, 0.5, &warm}, {0, 0, 0.0, &cold}};
    // Default weights (queue 1, kv 1, prefix 2): warm scores 0 + 0.5 + 2 * 48/64 = 2.0,
    // cold 1 + 1 + 0 = 2.0: a tie goes to the lowest index.
    CHECK(ScoredRouter{}.route({s}, v) == 0);
    CHECK(ScoredRouter(ScorerWeights{1, 1, 3}).route({s}, v) == 0);
    CHECK(ScoredRouter(ScorerWeights{1, 1, 1}).route({s}, v) == 1);
    CHECK(ScoredRouter(ScorerWeights{0, 0, 1}).route({s}, v) == 0);
    // Without token ids only queue and KV count.
    RequestSpec synthetic;
    synthetic.prompt_len = 64;
    CHECK(ScoredRouter(ScorerWeights{0, 0, 100}).route({synthetic}, v) == 0); // all zero: lowest index
    CHECK(ScoredRouter{}.route({synthetic}, v) == 1);
}

TEST_CASE("Fleet.router.data_parallel_is_vllms_balancer") {
    // vLLM: score = 4 * waiting + running from a snapshot refreshed every 100 ms; each
    // request sent adds one to its engine's waiting count until the next snapshot.
    DataParallelRouter r;
    RequestSpec s;
    const auto idle = views({{0, 0}, {0, 0}, {0, 0}});
    std::vector<std::uint32_t> got;
    for (int i = 0; i < 4; ++i) got.push_back(r.route({s, milliseconds(10 * i)}, idle));
    CHECK(got == std::vector<std::uint32_t>{0, 1, 2, 0});
    // At 100 ms a new snapshot: replica 1 runs 3 (score 3), 0 runs 5 (5), 2 has 1 waiting (4).
    const auto busy = views({{5, 0}, {3, 0}, {0, 1}});
    CHECK(r.route({s, milliseconds(100)}, busy) == 1); // 3 -> then 1 has 4w+3 = 7
    CHECK(r.route({s, milliseconds(150)}, busy) == 2); // 4 beats 5 and 7
    CHECK(r.route({s, milliseconds(160)}, busy) == 0); // 5 beats 8 and 7
    CHECK_THROWS_AS(DataParallelRouter(nanoseconds(0)), config_error);
}

TEST_CASE("Fleet.router.make_router_names_the_choices") {
    for (const auto name : router_names) CHECK_NOTHROW((void)make_router(name));
    try {
        (void)make_router("random");
        FAIL("no throw");
    } catch (const config_error& e) {
        CHECK(std::string(e.what()).find("round_robin, least_loaded, prefix_aware, scored or data_parallel") !=
              std::string::npos);
    }
}

TEST_CASE("Fleet.one_replica_behind_any_router_is_the_single_engine") {
    VirtualClock a;
    VEngine ea(Exec(profile(), a), a, cfg());
    const auto ref = run_simulation(ea, workload(60, true));
    std::map<RequestId, RequestRecord> m;
    for (const auto& r : ref.records) m[r.id] = r;
    for (const auto name : router_names) {
        CAPTURE(name);
        VirtualClock b;
        VEngine eb(Exec(profile(), b), b, cfg());
        AnyRouter router = make_router(name);
        VectorRequestSource src(workload(60, true));
        const auto got = run_fleet_simulation<Exec>({&eb}, b, src, router);
        REQUIRE(got.records.size() == ref.records.size());
        CHECK(got.duration == ref.duration);
        for (const auto& r : got.records) {
            CHECK(r.token_times == m[r.id].token_times);
            CHECK(r.finish == m[r.id].finish);
        }
    }
}

TEST_CASE("Fleet.each_replica_is_its_own_single_engine_whatever_the_others_do") {
    // Replicas of different speeds behind round robin: the fleet polls an engine only when it
    // is given a request or its step's deadline is due (a heap of deadlines, not a look at
    // every engine), so each replica must see exactly what it would alone with its share.
    const std::vector<AffineProfile> speeds = {AffineProfile{10.0, 20.0, 100.0}, AffineProfile{3.0, 7.0, 40.0},
                                               AffineProfile{25.0, 35.0, 300.0}, AffineProfile{10.0, 20.0, 100.0}};
    const auto n = static_cast<std::uint32_t>(speeds.size());
    const std::vector<TimedRequest> all = workload(400, false, 3);
    VirtualClock clock;
    std::vector<std::unique_ptr<VEngine>> engines;
    std::vector<VEngine*> ptrs;
    for (std::uint32_t i = 0; i < n; ++i) {
        engines.push_back(std::make_unique<VEngine>(Exec(speeds[i], clock, {}, 1 + i), clock, cfg()));
        ptrs.push_back(engines.back().get());
    }
    RoundRobinRouter router;
    VectorRequestSource src(all);
    const auto fleet = run_fleet_simulation<Exec>(ptrs, clock, src, router);
    REQUIRE(fleet.records.size() == all.size());
    std::map<RequestId, std::pair<RequestRecord, std::uint32_t>> got;
    for (std::size_t k = 0; k < fleet.records.size(); ++k)
        got[fleet.records[k].id] = {fleet.records[k], fleet.replica[k]};
    for (std::uint32_t i = 0; i < n; ++i) {
        CAPTURE(i);
        std::vector<TimedRequest> mine;
        for (std::size_t k = i; k < all.size(); k += n) mine.push_back(all[k]);
        VirtualClock alone;
        VEngine e(Exec(speeds[i], alone, {}, 1 + i), alone, cfg());
        const auto ref = run_simulation(e, std::move(mine));
        CHECK(fleet.stats[i].steps == ref.stats.steps);
        for (const auto& r : ref.records) {
            const auto& [f, replica] = got.at(r.id);
            CHECK(replica == i);
            CHECK(f.first_token == r.first_token);
            CHECK(f.finish == r.finish);
            CHECK(f.token_times == r.token_times);
        }
    }
}

TEST_CASE("Fleet.prefix_aware_beats_round_robin_on_prefix_hits") {
    auto hit_rate = [](const char* name) {
        VirtualClock clock;
        std::vector<std::unique_ptr<VEngine>> es;
        std::vector<VEngine*> ptrs;
        for (int i = 0; i < 4; ++i) {
            es.push_back(std::make_unique<VEngine>(Exec(profile(), clock, {}, i), clock, cfg()));
            ptrs.push_back(es.back().get());
        }
        AnyRouter router = make_router(name);
        VectorRequestSource src(workload(100, true));
        const auto res = run_fleet_simulation<Exec>(ptrs, clock, src, router);
        const EngineStats s = fleet_stats(res.stats);
        CHECK(s.succeeded() == 100);
        return s.prefix_cache_hit_rate();
    };
    const double rr = hit_rate("round_robin"), pa = hit_rate("prefix_aware"), sc = hit_rate("scored");
    CHECK(pa > rr);
    CHECK(sc > rr);
}

TEST_CASE("Fleet.deterministic_and_refuses_a_source_out_of_order") {
    auto run = [] {
        VirtualClock clock;
        VEngine e0(Exec(profile(), clock, {}, 1), clock, cfg()), e1(Exec(profile(), clock, {}, 2), clock, cfg());
        LeastLoadedRouter router;
        VectorRequestSource src(workload(50));
        return run_fleet_simulation<Exec>({&e0, &e1}, clock, src, router);
    };
    const auto a = run(), b = run();
    REQUIRE(a.records.size() == b.records.size());
    for (std::size_t i = 0; i < a.records.size(); ++i) {
        CHECK(a.records[i].id == b.records[i].id);
        CHECK(a.replica[i] == b.replica[i]);
        CHECK(a.records[i].token_times == b.records[i].token_times);
    }
    CHECK(a.routed[0] + a.routed[1] == 50);

    struct Backwards {
        int n = 0;
        bool next(TimedRequest& r) {
            if (n == 2) return false;
            r = TimedRequest{};
            r.arrival = milliseconds(n == 0 ? 50 : 10);
            r.spec.id = static_cast<RequestId>(n++);
            r.spec.prompt_len = 10;
            r.spec.max_tokens = 2;
            return true;
        }
    };
    VirtualClock clock;
    VEngine e(Exec(profile(), clock), clock, cfg());
    Backwards src;
    RoundRobinRouter router;
    CHECK_THROWS_WITH_AS(run_fleet_simulation<Exec>({&e}, clock, src, router), doctest::Contains("arrival order"),
                         error);
}

#include "llmemu/fleet/fleet_json.hpp"

TEST_CASE("Fleet.file.replica_range is plan's search range, checked") {
    const FleetSpec f = parse_fleet_json(R"({"pools":[{"name":"a","replicas":2,"replica_range":[2,32]}]})", "f.json");
    REQUIRE(f.pools[0].replica_range.has_value());
    CHECK(f.pools[0].replica_range->first == 2);
    CHECK(f.pools[0].replica_range->second == 32);
    CHECK(f.num_replicas() == 2); // a single run uses replicas
    auto error_of = [](const char* text) {
        try {
            (void)parse_fleet_json(text, "f.json");
        } catch (const config_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of(R"({"pools":[{"name":"a","replica_range":[4,2]}]})").find("key 'replica_range': LO 4 > HI 2") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","replica_range":[0,2]}]})").find("expected an integer >= 1") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","replica_range":4}]})").find("expected [LO, HI]") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","replica_range":[1,2],"autoscale":{"max_replicas":2,"metric":"waiting",)"
                   R"("target":1}}]})")
              .find("drop autoscale or replica_range") != std::string::npos);
}

TEST_CASE("Fleet.file.reads_pools_and_names_pool_and_key_in_errors") {
    const FleetSpec f = parse_fleet_json(
        R"({"router":"scored","pools":[{"name":"a40","replicas":3,"tensor_parallel_size":2,"cost_per_gpu_hour":0.5,
            "engine":{"max_num_seqs":64,"enable_prefix_caching":false,"gpu_memory_utilization":0.8}},
            {"name":"fast","profile":"const:5"}]})",
        "f.json");
    REQUIRE(f.pools.size() == 2);
    CHECK(f.router == "scored");
    CHECK(f.num_replicas() == 4);
    CHECK(f.pools[0].tensor_parallel_size == 2);
    CHECK(f.pools[0].engine.max_num_seqs == 64U);
    CHECK(f.pools[0].engine.enable_prefix_caching == false);
    CHECK_FALSE(f.pools[0].engine.max_num_batched_tokens.has_value());
    CHECK(f.pools[1].profile == "const:5");
    CHECK(f.pools[1].replicas == 1);
    auto error_of = [](const char* text) {
        try {
            (void)parse_fleet_json(text, "f.json");
        } catch (const config_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of(R"({"pools":[{"name":"a","replicas":0}]})").find("pool 'a' (pools[0]) key 'replicas'") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","engine":{"max_num_seqs":"x"}}]})").find("key 'engine.max_num_seqs'") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","engine":{"bogus":1}}]})").find("unknown engine setting") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","gpu":1}]})").find("key 'gpu': unknown pool key") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a"},{"name":"a"}]})").find("used twice") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"replicas":1}]})").find("pools[0]: key 'name' is missing") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"p","role":"prefill"}]})").find("needs a decode pool too") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"p","role":"prefill"},{"name":"d","role":"decode"}]})")
              .find("key 'kv_transfer': missing") != std::string::npos);
    CHECK(error_of(R"({"kv_transfer":{"bandwidth_gbps":1},"pools":[{"name":"p","role":"prefill"},{"name":"m"}]})")
              .find("pool 'm' key 'role': a fleet with prefill/decode pools cannot also have a mixed one") !=
          std::string::npos);
    CHECK(error_of(R"({"kv_transfer":{"bandwidth_gbps":0},"pools":[{"name":"p"}]})")
              .find("key 'kv_transfer.bandwidth_gbps': expected a number > 0") != std::string::npos);
    CHECK(error_of(R"({"kv_transfer":{"bandwidth_gbps":10},"pools":[{"name":"p"}]})").find("without prefill/decode") !=
          std::string::npos);
    CHECK(error_of(R"({"kv_transfer":{"gbps":10},"pools":[{"name":"p"}]})").find("use bandwidth_gbps and latency_ms") !=
          std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"p","role":"both"}]})").find("unknown role 'both'") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","autoscale":{"max_replicas":2,"metric":"qps","target":1}}]})")
              .find("pool 'a' (pools[0]) key 'autoscale.metric': unknown metric 'qps'") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","autoscale":{"max_replicas":2,"metric":"waiting"}}]})")
              .find("give max_replicas, metric and target") != std::string::npos);
    CHECK(error_of(
              R"({"pools":[{"name":"a","replicas":3,"autoscale":{"max_replicas":2,"metric":"waiting","target":1}}]})")
              .find("key 'replicas': the starting count 3 is outside autoscale's [1, 2]") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","autoscale":{"max_replicas":2,"metric":"ttft_slo","target":0.9}}]})")
              .find("needs slo_ttft_ms") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","autoscale":{"max_replicas":2,"metric":"kv_usage","target":2}}]})")
              .find("share in (0, 1]") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","autoscale":{"max_replicas":2,"metric":"waiting","target":1,"x":1}}]})")
              .find("unknown autoscale key") != std::string::npos);
    const FleetSpec pd = parse_fleet_json(
        R"({"kv_transfer":{"bandwidth_gbps":25,"latency_ms":1.5},"pools":[{"name":"p","role":"prefill",
            "model_config":"c.json"},{"name":"d","role":"decode","replicas":2,
            "autoscale":{"min_replicas":2,"max_replicas":5,"metric":"ttft_slo","target":0.9,"slo_ttft_ms":250,
                         "interval_s":10,"cold_start_s":30,"window_s":20}}]})",
        "pd.json");
    CHECK(pd.disaggregated());
    REQUIRE(pd.kv_transfer.has_value());
    CHECK(pd.kv_transfer->bandwidth_gbps == 25.0);
    CHECK(pd.kv_transfer->latency == std::chrono::microseconds(1500));
    CHECK(pd.pools[0].model_config == "c.json");
    REQUIRE(pd.pools[1].autoscale.has_value());
    CHECK(pd.pools[1].autoscale->max_replicas == 5);
    CHECK(pd.pools[1].autoscale->slo_ttft == milliseconds(250));
    CHECK(pd.pools[1].autoscale->cold_start == std::chrono::seconds(30));
    CHECK(pd.num_replicas() == 6); // engines: 1 + the autoscaled pool's max 5
    CHECK(error_of(R"({"pools":[]})").find("non-empty list") != std::string::npos);
    CHECK(error_of(R"({"router":"x"})").find("'pools' is missing") != std::string::npos);
    CHECK(error_of(R"({"pools":)").find("f.json': not valid JSON") != std::string::npos);
    CHECK(error_of(R"({"pools":[{"name":"a","engine":{"gpu_memory_utilization":1.5}}]})").find("(0, 1]") !=
          std::string::npos);
}

namespace {
/// A request of `prompt` synthetic tokens generating exactly `out` tokens.
TimedRequest timed(RequestId id, nanoseconds arrival, std::uint32_t prompt, std::uint32_t out) {
    TimedRequest t;
    t.arrival = arrival;
    t.spec.id = id;
    t.spec.prompt_len = prompt;
    t.spec.max_tokens = out;
    t.spec.ignore_eos = true;
    return t;
}

EngineConfig sync_cfg(std::uint32_t max_num_seqs = 256) {
    EngineConfig c;
    c.num_gpu_blocks = 1000;
    c.async_scheduling = false;
    c.max_num_seqs = max_num_seqs;
    return c;
}
} // namespace

TEST_CASE("Fleet.disaggregated.hand_worked_ttft_and_e2e") {
    // One prefill replica (every step 10 ms), one decode replica (every step 5 ms), a link
    // of 8 Gbit/s (1 byte/ns) and 2 ms latency, 1000 KV bytes per token.
    // Request 0: 100 prompt tokens, 4 output tokens, arrives at 0.
    //   prefill: scheduled at 0 with max_tokens 1, its step ends at 10 ms (first token there,
    //            discarded by the proxy); KV = 100 x 1000 B = 100,000 B -> 2 ms + 0.1 ms;
    //   decode:  arrives at 12.1 ms with 100 tokens computed elsewhere; it recomputes the
    //            last prompt token (1 token) and samples: first token at 17.1 ms; then three
    //            5 ms decode steps: 22.1, 27.1, 32.1 ms.
    //   client:  TTFT 17.1 ms, E2E 32.1 ms, ITL 5 ms; queue time 0 (scheduled at once on P).
    // Request 1: 40 tokens, 2 out, arrives at 30 ms (decode replica still busy with 0):
    //   prefill 30 -> 40 ms, KV 40,000 B -> 2.04 ms, at D at 42.04 ms: batched with request 0?
    //   No: request 0 finished at 32.1. So D steps at 42.04 -> 47.04 (first), 52.04 (last):
    //   TTFT 17.04 ms, E2E 22.04 ms.
    VirtualClock clock;
    VEngine p(Exec(AffineProfile{10.0, 0.0, 0.0}, clock), clock, sync_cfg());
    VEngine d(Exec(AffineProfile{5.0, 0.0, 0.0}, clock), clock, sync_cfg());
    std::vector<VEngine*> rs{&p, &d};
    std::vector<TimedRequest> w;
    w.push_back(timed(0, nanoseconds(0), 100, 4));
    w.push_back(timed(1, milliseconds(30), 40, 2));
    VectorRequestSource src(std::move(w));
    FleetLayout layout;
    layout.role = {ReplicaRole::prefill, ReplicaRole::decode};
    layout.kv_bytes_per_token = {1000, 1000};
    layout.link = KvLink{8.0, milliseconds(2)};
    std::vector<RequestRecord> client;
    std::vector<std::uint32_t> client_tokens;
    SimulationOptions o;
    o.on_record = [&](std::uint32_t r, const RequestRecord& rec) {
        if (r == fleet_client) client.push_back(rec);
    };
    o.on_tokens = [&](std::uint32_t r, const StepTokenTimes& t) {
        if (r == fleet_client) client_tokens.push_back(t.tokens);
    };
    AnyRouter pr = make_router("round_robin"), dr = make_router("round_robin");
    const FleetResult res = run_fleet_simulation(rs, clock, src, pr, o, 2, &layout, &dr);
    REQUIRE(client.size() == 2);
    REQUIRE(res.records.size() == 2);
    const RequestRecord& a = res.records[0];
    CHECK(a.id == 0);
    CHECK(res.replica[0] == 1); // served (decoded) by the decode replica
    CHECK(a.arrival == nanoseconds(0));
    CHECK(a.first_scheduled == nanoseconds(0));
    CHECK(a.ttft() == nanoseconds(17'100'000));
    CHECK(a.e2e() == nanoseconds(32'100'000));
    CHECK(a.output_len == 4);
    REQUIRE(a.token_times.size() == 4);
    CHECK(a.token_times[1] - a.token_times[0] == milliseconds(5));
    const RequestRecord& b = res.records[1];
    CHECK(b.id == 1);
    CHECK(b.ttft() == nanoseconds(17'040'000));
    CHECK(b.e2e() == nanoseconds(22'040'000));
    // Transfers: both from the prefill replica.
    CHECK(res.kv_sent[0].transfers == 2);
    CHECK(res.kv_sent[0].bytes == 140'000);
    CHECK(res.kv_sent[0].total_time == nanoseconds(2'100'000 + 2'040'000));
    CHECK(res.kv_sent[0].max_time == nanoseconds(2'100'000));
    CHECK(res.kv_sent[1].transfers == 0);
    // The prefill replica computed the prompts; the decode replica only the last prompt
    // token of each and the decodes, holding the whole prompt's KV blocks.
    CHECK(res.stats[0].scheduled_tokens == 140);
    CHECK(res.stats[0].generation_tokens == 2);
    CHECK(res.stats[1].scheduled_tokens == 1 + 3 + 1 + 1);
    CHECK(res.stats[1].generation_tokens == 6);
    CHECK(res.stats[1].max_kv_usage == doctest::Approx(7.0 / 1000.0)); // ceil(103 / 16) blocks of 1000
    CHECK(res.routed == std::vector<std::uint64_t>{2, 2});
    // The client's stream: only the decode replica's tokens (4 + 2, one step at a time).
    std::uint32_t streamed = 0;
    for (const auto n : client_tokens) streamed += n;
    CHECK(streamed == 6);
    CHECK(res.duration == nanoseconds(52'040'000));
}

TEST_CASE("Fleet.disaggregated.decode_kv_pressure_is_real") {
    // A decode replica of 20 usable blocks (16 tokens each; vLLM reserves one more) holds at
    // most two 150-token prompts (10 blocks each, up to 160 tokens): a third request waits
    // there, although its KV is already computed.
    VirtualClock clock;
    EngineConfig small = sync_cfg();
    small.num_gpu_blocks = 21;
    small.max_model_len = 256;
    small.enable_prefix_caching = false;
    VEngine p(Exec(AffineProfile{10.0, 0.0, 0.0}, clock), clock, sync_cfg());
    VEngine d(Exec(AffineProfile{5.0, 0.0, 0.0}, clock), clock, small);
    std::vector<VEngine*> rs{&p, &d};
    std::vector<TimedRequest> w;
    for (RequestId i = 0; i < 3; ++i) w.push_back(timed(i, nanoseconds(0), 150, 8));
    VectorRequestSource src(std::move(w));
    FleetLayout layout;
    layout.role = {ReplicaRole::prefill, ReplicaRole::decode};
    layout.kv_bytes_per_token = {10, 10};
    layout.link = KvLink{1000.0, nanoseconds(0)};
    AnyRouter pr = make_router("least_loaded"), dr = make_router("least_loaded");
    const FleetResult res = run_fleet_simulation(rs, clock, src, pr, {}, 3, &layout, &dr);
    REQUIRE(res.records.size() == 3);
    CHECK(res.stats[1].max_running == 2);
    CHECK(res.stats[1].max_waiting >= 1);
    CHECK(res.stats[1].max_kv_usage > 0.9);
    // The third one decodes only after one of the first two finished.
    std::vector<nanoseconds> first;
    for (const auto& r : res.records) first.push_back(r.first_token);
    std::sort(first.begin(), first.end());
    CHECK(first[2] > first[1]);
}

TEST_CASE("Fleet.disaggregated.layout_errors") {
    VirtualClock clock;
    VEngine p(Exec(profile(), clock), clock, cfg());
    VEngine d(Exec(profile(), clock), clock, cfg());
    std::vector<VEngine*> rs{&p, &d};
    VectorRequestSource src(workload(2));
    AnyRouter pr = make_router("round_robin"), dr = make_router("round_robin");
    FleetLayout layout;
    layout.role = {ReplicaRole::prefill, ReplicaRole::prefill};
    layout.kv_bytes_per_token = {1, 1};
    CHECK_THROWS_WITH_AS(run_fleet_simulation(rs, clock, src, pr, {}, 0, &layout, &dr),
                         doctest::Contains("needs prefill and decode replicas"), config_error);
    layout.role = {ReplicaRole::prefill, ReplicaRole::decode};
    CHECK_THROWS_WITH_AS(run_fleet_simulation(rs, clock, src, pr, {}, 0, &layout), doctest::Contains("decode router"),
                         config_error);
    layout.link.bandwidth_gbps = 0.0;
    CHECK_THROWS_WITH_AS(run_fleet_simulation(rs, clock, src, pr, {}, 0, &layout, &dr),
                         doctest::Contains("bandwidth > 0"), config_error);
}

TEST_CASE("Fleet.autoscale.step_in_load_scales_out_after_cold_start_and_in_after_drain") {
    // One pool of at most 2 replicas (1 at the start), least_loaded, every step 100 ms,
    // max_num_seqs 1: a 10-token request takes exactly 1 s. Metric: waiting per serving
    // replica, target 1, evaluated every 1 s (before that instant's arrivals and step
    // ends), cold start 2 s.
    // Load: r0 at 0 s; then a step: r1..r12 every 0.5 s from 10.0 s to 15.5 s (r12 is
    // 25 tokens, 2.5 s).
    //   replica 0 serves r1 [10, 11), r2 [11, 12), ...; at 11 s 1 waits (r2: target met),
    //   at 12 s 2 wait (r3, r4): desired ceil(1 x 2 / 1) = 2 -> replica 1 starts, serves
    //   at 14 s. r9 (14.0) .. r12 go to replica 1 (least loaded): r9 [14, 15),
    //   r10 [15, 16), r11 [16, 17), r12 [17, 19.5); replica 0 ends r8 at 18 s.
    //   At 18 s nobody waits: desired max(1, 0) -> replica 1 drains, still serving r12; it
    //   leaves when r12 ends at 19.5 s, the run's end.
    //   Replica-hours: replica 0 0..19.5 s, replica 1 12..19.5 s: 27 s = 0.0075 h.
    VirtualClock clock;
    VEngine a(Exec(AffineProfile{100.0, 0.0, 0.0}, clock), clock, sync_cfg(1));
    VEngine b(Exec(AffineProfile{100.0, 0.0, 0.0}, clock), clock, sync_cfg(1));
    std::vector<VEngine*> rs{&a, &b};
    std::vector<TimedRequest> w;
    w.push_back(timed(0, nanoseconds(0), 10, 10));
    for (RequestId i = 1; i <= 12; ++i)
        w.push_back(timed(i, milliseconds(10000 + 500 * (static_cast<int>(i) - 1)), 10, i == 12 ? 25 : 10));
    VectorRequestSource src(std::move(w));
    FleetLayout layout;
    layout.pool = {0, 0};
    layout.initial = {1};
    AutoscalePolicy as;
    as.min_replicas = 1;
    as.max_replicas = 2;
    as.metric = AutoscalePolicy::Metric::waiting;
    as.target = 1.0;
    as.interval = std::chrono::seconds(1);
    as.cold_start = std::chrono::seconds(2);
    as.slo_ttft = milliseconds(1500);
    layout.autoscale = {as};
    AnyRouter router = make_router("least_loaded");
    SimulationOptions o;
    o.timeseries_interval = std::chrono::seconds(1);
    const FleetResult res = run_fleet_simulation(rs, clock, src, router, o, 13, &layout);
    REQUIRE(res.records.size() == 13);
    CHECK(res.routed == std::vector<std::uint64_t>{9, 4});
    CHECK(res.duration == milliseconds(19500));
    struct P {
        double t;
        std::uint32_t serving, starting, draining;
    };
    const std::vector<P> want{{0, 1, 0, 0}, {12, 1, 1, 0}, {14, 2, 0, 0}, {18, 1, 0, 1}, {19.5, 1, 0, 0}};
    REQUIRE(res.scale.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        CAPTURE(i);
        CHECK(std::chrono::duration<double>(res.scale[i].time).count() == doctest::Approx(want[i].t));
        CHECK(res.scale[i].serving == want[i].serving);
        CHECK(res.scale[i].starting == want[i].starting);
        CHECK(res.scale[i].draining == want[i].draining);
    }
    CHECK(res.replica_seconds[0] == doctest::Approx(19.5));
    CHECK(res.replica_seconds[1] == doctest::Approx(7.5));
    CHECK((res.replica_seconds[0] + res.replica_seconds[1]) / 3600.0 == doctest::Approx(0.0075));
    // TTFT <= 1.5 s: r0 (0.1 s); of the step, those that waited less than 1.4 s.
    CHECK(res.slo_finished[0] == 13);
    std::uint64_t met = 0;
    for (const auto& r : res.records) met += r.ttft() <= milliseconds(1500) ? 1U : 0U;
    CHECK(res.slo_met[0] == met);
    CHECK(met < 13);
    // The fleet's series sums the replicas: the 13 requests' 10 x 12 + 25 tokens.
    std::uint64_t gen = 0;
    for (const auto& pt : res.fleet_timeseries.points()) gen += pt.generation_tokens;
    CHECK(gen == 145);
    // Deterministic: the same run again gives the same counts.
    VirtualClock clock2;
    VEngine a2(Exec(AffineProfile{100.0, 0.0, 0.0}, clock2), clock2, sync_cfg(1));
    VEngine b2(Exec(AffineProfile{100.0, 0.0, 0.0}, clock2), clock2, sync_cfg(1));
    std::vector<VEngine*> rs2{&a2, &b2};
    std::vector<TimedRequest> w2;
    w2.push_back(timed(0, nanoseconds(0), 10, 10));
    for (RequestId i = 1; i <= 12; ++i)
        w2.push_back(timed(i, milliseconds(10000 + 500 * (static_cast<int>(i) - 1)), 10, i == 12 ? 25 : 10));
    VectorRequestSource src2(std::move(w2));
    AnyRouter router2 = make_router("least_loaded");
    const FleetResult res2 = run_fleet_simulation(rs2, clock2, src2, router2, o, 13, &layout);
    CHECK(res2.replica_seconds == res.replica_seconds);
    CHECK(res2.routed == res.routed);
}

namespace {
/// FNV-1a over 64-bit words: a fleet run's results in one number.
struct Fnv {
    std::uint64_t h = 0xCBF29CE484222325ULL;
    void add(std::uint64_t v) {
        for (int k = 0; k < 8; ++k) {
            h ^= (v >> (8 * k)) & 0xFFU;
            h *= 0x100000001B3ULL;
        }
    }
    void add(nanoseconds t) { add(static_cast<std::uint64_t>(t.count())); }
    void add_real(double d) { add(std::bit_cast<std::uint64_t>(d)); }
};

/// Everything a fleet run reports, hashed: every record (sorted by id) with its replica and
/// every token's time, each replica's statistics and routed count, and the streamed summary.
/// `threads` 0: every replica on the fleet clock; otherwise each on its own clock, advanced
/// on that many threads. `series` > 0 also hashes the fleet's and each replica's series.
/// "exact_least_loaded": least_loaded without routes_by_load, so the fleet routes every
/// arrival with the replicas advanced to it (no routing ahead). `shape` gets the run's
/// window counts (FleetResult::windows, window_advances, routed_ahead).
struct ExactLeastLoaded {
    std::uint32_t route(const RoutingRequest&, std::span<const ReplicaView> v) const {
        return llmemu::detail::fleet_least_loaded(v);
    }
};
std::uint64_t fleet_digest(std::uint32_t replicas, EngineConfig c, const std::vector<TimedRequest>& work,
                           const char* router_name, EngineStats* total = nullptr, unsigned threads = 0,
                           nanoseconds series = nanoseconds(0), FleetResult* shape = nullptr) {
    VirtualClock clock;
    std::vector<std::unique_ptr<VirtualClock>> own;
    std::vector<std::unique_ptr<VEngine>> es;
    std::vector<VEngine*> ptrs;
    const std::vector<AffineProfile> speeds = {AffineProfile{10.0, 20.0, 100.0}, AffineProfile{3.0, 7.0, 40.0},
                                               AffineProfile{25.0, 35.0, 300.0}};
    for (std::uint32_t i = 0; i < replicas; ++i) {
        if (threads > 0) own.push_back(std::make_unique<VirtualClock>());
        VirtualClock& ck = threads > 0 ? *own.back() : clock;
        es.push_back(std::make_unique<VEngine>(Exec(speeds[i % speeds.size()], ck, {}, 7 + i), ck, c));
        ptrs.push_back(es.back().get());
    }
    VectorRequestSource src(work);
    StreamingSummary sum;
    SimulationOptions o;
    attach(o, sum);
    o.threads = threads;
    o.timeseries_interval = series;
    const bool exact = std::string_view(router_name) == "exact_least_loaded";
    ExactLeastLoaded exact_router;
    AnyRouter router = make_router(exact ? "least_loaded" : router_name);
    const auto res = exact ? run_fleet_simulation<Exec>(ptrs, clock, src, exact_router, o)
                           : run_fleet_simulation<Exec>(ptrs, clock, src, router, o);
    if (shape != nullptr) {
        shape->windows = res.windows;
        shape->window_advances = res.window_advances;
        shape->routed_ahead = res.routed_ahead;
    }
    std::vector<std::size_t> order(res.records.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return res.records[a].id < res.records[b].id; });
    Fnv f;
    for (const std::size_t k : order) {
        const RequestRecord& r = res.records[k];
        f.add(r.id);
        f.add(res.replica[k]);
        f.add(std::uint64_t{r.prompt_len} << 32U | r.output_len);
        f.add(r.arrival);
        f.add(r.first_scheduled);
        f.add(r.first_token);
        f.add(r.finish);
        f.add(static_cast<std::uint64_t>(r.reason));
        f.add(std::uint64_t{r.num_preemptions} << 32U | r.num_cached_tokens);
        for (const auto t : r.token_times) f.add(t);
    }
    for (std::uint32_t i = 0; i < replicas; ++i) {
        const EngineStats& s = res.stats[i];
        for (const std::uint64_t v :
             {s.steps, s.prefill_steps, s.decode_steps, s.scheduled_tokens, s.scheduled_requests, s.preemptions,
              s.prompt_tokens, s.generation_tokens, s.discarded_tokens, s.prefix_cache_queries, s.prefix_cache_hits,
              s.preempted_prefix_cache_queries, s.preempted_prefix_cache_hits, std::uint64_t{s.max_step_tokens},
              std::uint64_t{s.max_running}, std::uint64_t{s.max_waiting}, res.routed[i]})
            f.add(v);
        f.add_real(s.max_kv_usage);
    }
    f.add(res.duration);
    CHECK(clock.now() == VirtualClock::time_point(res.duration)); // the fleet clock ends with the run
    if (series.count() > 0) {
        std::vector<const EngineTimeSeries*> all{&res.fleet_timeseries};
        for (const auto& t : res.timeseries) all.push_back(&t);
        for (const EngineTimeSeries* t : all) {
            f.add(t->points().size());
            for (const auto& p : t->points()) {
                f.add(p.prompt_tokens);
                f.add(p.generation_tokens);
                f.add(p.preemptions);
                f.add(std::uint64_t{p.running} << 32U | p.waiting);
                f.add_real(p.kv_usage);
            }
        }
    }
    if (total != nullptr) *total = fleet_stats(res.stats);
    const BenchResult b = sum.result(std::chrono::duration<double>(res.duration).count());
    f.add(static_cast<std::uint64_t>(b.completed));
    for (const MetricStats* m : {&b.ttft, &b.tpot, &b.itl, &b.e2el}) {
        f.add_real(m->mean_ms);
        f.add_real(m->median_ms);
        for (const auto& [p, v] : m->percentiles_ms) f.add_real(v);
    }
    return f.h;
}
/// The engine settings the golden fleet runs cover, each on top of cfg().
struct GoldenConfigs {
    EngineConfig small = cfg(); // preemptions: a pool far below the offered load
    EngineConfig chunked = cfg(); // chunked prefill under a small token budget, a long-prefill cap
    EngineConfig sync;          // small, synchronous scheduling
    EngineConfig priority;      // small, priority policy
    GoldenConfigs() {
        small.max_model_len = 1024;
        small.num_gpu_blocks = 160;
        chunked.max_num_batched_tokens = 256;
        chunked.long_prefill_token_threshold = 96;
        chunked.max_num_seqs = 24;
        sync = small;
        sync.async_scheduling = false;
        priority = small;
        priority.policy = SchedulingPolicy::priority;
    }
};
/// `work` with priorities 0, 1, 2 in turn.
std::vector<TimedRequest> with_priorities(std::vector<TimedRequest> work) {
    for (std::size_t i = 0; i < work.size(); ++i) work[i].spec.priority = static_cast<int>(i % 3);
    return work;
}
} // namespace

TEST_CASE("Fleet.golden.results_are_pinned") {
    // Engine speed work (scheduler, KV cache, executor, fleet loop) must not change any
    // result: these digests of whole fleet runs (every record, token time, counter and the
    // streamed summary) were taken before it. A deliberate change of the engine's rules
    // changes them; then say so and pin the new values.
    const std::vector<TimedRequest> plain = workload(700, false, 2);
    const std::vector<TimedRequest> tokens = workload(500, true, 2);
    const auto [small, chunked, sync, priority] = GoldenConfigs();
    const std::vector<TimedRequest> prioritised = with_priorities(plain);
    EngineStats st;
    CHECK(fleet_digest(4, cfg(), plain, "least_loaded") == 13184184181545461187ULL);
    CHECK(fleet_digest(3, cfg(), tokens, "prefix_aware", &st) == 15815267486900940773ULL);
    CHECK(st.prefix_cache_hits > 0);
    CHECK(fleet_digest(4, small, plain, "round_robin", &st) == 15662543328434925998ULL);
    CHECK(st.preemptions > 0);
    CHECK(fleet_digest(3, small, tokens, "scored", &st) == 7608000878605324172ULL);
    CHECK(st.preemptions > 0);
    CHECK(st.prefix_cache_hits > 0);
    CHECK(fleet_digest(4, chunked, plain, "least_loaded", &st) == 13782516791941012137ULL);
    CHECK(st.max_step_tokens == 256);
    CHECK(fleet_digest(4, sync, plain, "least_loaded", &st) == 13490372918057871569ULL);
    CHECK(st.preemptions > 0);
    CHECK(fleet_digest(3, priority, prioritised, "least_loaded", &st) == 2643100931336839959ULL);
    CHECK(st.preemptions > 0);
}

TEST_CASE("Fleet.own_clocks.same_results_as_one_clock_on_any_thread_count") {
    // Replicas each on a clock of their own are advanced window by window (between arrivals
    // and series boundaries), on several threads, and their hooks replayed in the one-clock
    // loop's order: every record, token time, counter, summary and time series must be the
    // one-clock run's, for any thread count (the golden cases: preemption, prefix hits,
    // chunked prefill, sync and priority scheduling).
    const std::vector<TimedRequest> plain = workload(700, false, 2);
    const std::vector<TimedRequest> tokens = workload(500, true, 2);
    const GoldenConfigs g;
    const EngineConfig &small = g.small, &chunked = g.chunked, &sync = g.sync;
    struct Case {
        std::uint32_t replicas;
        EngineConfig config;
        const std::vector<TimedRequest>* work;
        const char* router;
    };
    const std::vector<Case> cases = {{4, cfg(), &plain, "least_loaded"},   {3, cfg(), &tokens, "prefix_aware"},
                                     {4, small, &plain, "round_robin"},    {3, small, &tokens, "scored"},
                                     {4, chunked, &plain, "least_loaded"}, {4, sync, &plain, "least_loaded"},
                                     {1, small, &plain, "least_loaded"}};
    for (const Case& c : cases) {
        CAPTURE(c.router);
        CAPTURE(c.replicas);
        const std::uint64_t one = fleet_digest(c.replicas, c.config, *c.work, c.router);
        for (const unsigned threads : {1U, 2U, 3U})
            CHECK(fleet_digest(c.replicas, c.config, *c.work, c.router, nullptr, threads) == one);
        // With time series (the command line's 1 s engine log): boundaries cut the windows too.
        const std::uint64_t series =
            fleet_digest(c.replicas, c.config, *c.work, c.router, nullptr, 0, std::chrono::milliseconds(250));
        CHECK(series != one);
        CHECK(fleet_digest(c.replicas, c.config, *c.work, c.router, nullptr, 2, std::chrono::milliseconds(250)) ==
              series);
    }
}

TEST_CASE("Fleet.own_clocks.routing_ahead_by_load_changes_nothing") {
    // least_loaded, round_robin and prefix_aware route by load: the fleet routes arrivals
    // ahead of the replicas' steps from the finishes their steps in flight will give, and
    // runs a window of many replicas' steps at once. Every result must be the one-clock
    // run's and that of the same router seen exactly at each arrival (no routing ahead):
    // async and sync scheduling, preemption, priority, chunked prefill, rejected requests,
    // request ids out of order and reused.
    CHECK(llmemu::routes_by_load(LeastLoadedRouter{}));
    CHECK(llmemu::routes_by_load(RoundRobinRouter{}));
    CHECK(llmemu::routes_by_load(PrefixAwareRouter(16)));
    CHECK_FALSE(llmemu::routes_by_load(ScoredRouter{}));
    CHECK_FALSE(llmemu::routes_by_load(DataParallelRouter{}));
    CHECK_FALSE(llmemu::routes_by_load(ExactLeastLoaded{}));
    CHECK(make_router("least_loaded").routes_by_load());
    CHECK_FALSE(make_router("scored").routes_by_load());
    std::vector<TimedRequest> dense = workload(900, false, 1); // far above the fleet's rate
    dense[40].spec.prompt_len = 100000;                         // refused: longer than the model
    std::vector<TimedRequest> shuffled = dense;                  // ids not in arrival order
    for (std::size_t i = 0; i < shuffled.size(); ++i) shuffled[i].spec.id = (i * 7919) % shuffled.size();
    std::vector<TimedRequest> reused = dense; // an id given again while it may be in flight
    for (std::size_t i = 100; i < reused.size(); i += 50) reused[i].spec.id = reused[i - 3].spec.id;
    const auto [small, chunked, sync, priority] = GoldenConfigs();
    const std::vector<TimedRequest> prioritised = with_priorities(dense);
    struct Case {
        EngineConfig config;
        const std::vector<TimedRequest>* work;
        bool ahead; // most arrivals routed ahead
    };
    const std::vector<Case> cases = {{cfg(), &dense, true},         {small, &dense, true},
                                     {sync, &dense, false},         {priority, &prioritised, true},
                                     {chunked, &dense, true},       {cfg(), &shuffled, false},
                                     {small, &reused, true}};
    for (const Case& c : cases) {
        CAPTURE(&c - cases.data());
        EngineStats st;
        const std::uint64_t one = fleet_digest(4, c.config, *c.work, "least_loaded", &st);
        FleetResult exact, ahead;
        CHECK(fleet_digest(4, c.config, *c.work, "exact_least_loaded", nullptr, 2, nanoseconds(0), &exact) == one);
        CHECK(exact.routed_ahead == 0);
        for (const unsigned threads : {1U, 2U}) {
            CHECK(fleet_digest(4, c.config, *c.work, "least_loaded", nullptr, threads, nanoseconds(0), &ahead) == one);
            CHECK(ahead.windows <= exact.windows);
            if (c.ahead) { // most arrivals routed ahead, in windows of several steps
                CHECK(ahead.routed_ahead * 2 > c.work->size());
                CHECK(ahead.windows * 3 < exact.windows);
            }
        }
        if (c.config.num_gpu_blocks == 160) CHECK(st.preemptions > 0);
    }
}

TEST_CASE("Fleet.own_clocks.routing_ahead_counts_eos_and_min_tokens") {
    // Requests that stop at EOS (drawn per request by the emitter, not at max_tokens) or
    // are held to min_tokens: the finishes a step in flight will give, as the fleet counts
    // them ahead, are those its output then gives.
    using EosExec = EmulatedExecutor<AffineProfile, VirtualClock, EosAtLengthEmitter>;
    using EosEngine = Engine<EosExec, VirtualClock>;
    std::vector<TimedRequest> work = workload(600, false, 1);
    for (std::size_t i = 0; i < work.size(); ++i) {
        work[i].spec.ignore_eos = i % 4 == 0;
        work[i].spec.max_tokens += 30;
        work[i].spec.min_tokens = i % 3 == 0 ? 12 : 0;
    }
    auto run = [&](unsigned threads, auto& router) {
        VirtualClock clock;
        std::vector<std::unique_ptr<VirtualClock>> own;
        std::vector<std::unique_ptr<EosEngine>> es;
        std::vector<EosEngine*> ptrs;
        for (std::uint32_t i = 0; i < 3; ++i) {
            if (threads > 0) own.push_back(std::make_unique<VirtualClock>());
            VirtualClock& ck = threads > 0 ? *own.back() : clock;
            EosAtLengthEmitter emitter;
            emitter.set_sampler([](RequestId, llmemu::Rng& g) { return 1 + static_cast<std::uint32_t>(uniform_index(g, 40)); });
            es.push_back(std::make_unique<EosEngine>(EosExec(AffineProfile{10.0, 20.0, 100.0}, ck, std::move(emitter), 3 + i),
                                                     ck, cfg()));
            ptrs.push_back(es.back().get());
        }
        VectorRequestSource src(work);
        SimulationOptions o;
        o.threads = threads;
        const FleetResult res = run_fleet_simulation<EosExec>(ptrs, clock, src, router, o);
        Fnv f;
        std::uint64_t stopped = 0;
        for (std::size_t k = 0; k < res.records.size(); ++k) {
            const RequestRecord& r = res.records[k];
            f.add(r.id);
            f.add(res.replica[k]);
            f.add(r.output_len);
            f.add(r.finish);
            f.add(static_cast<std::uint64_t>(r.reason));
            stopped += r.reason == FinishReason::stop ? 1U : 0U;
        }
        CHECK(stopped > 100);
        return std::pair{f.h, res.routed_ahead};
    };
    LeastLoadedRouter ll;
    ExactLeastLoaded exact;
    const auto one = run(0, ll);
    CHECK(run(0, exact).first == one.first);
    for (const unsigned threads : {1U, 2U}) {
        const auto [h, ahead] = run(threads, ll);
        CHECK(h == one.first);
        CHECK(ahead * 2 > work.size());
    }
}

TEST_CASE("Fleet.own_clocks.run_emulation_on_a_pack_with_a_shared_step_digest") {
    // What `llmemu simulate --replicas 3 -j T --result-json` runs: the A40 pack (copied per
    // replica) and one step digest that every replica's model reports to, from whichever
    // thread advances it. The summary, every replica's, and the digest are the same for T.
    const auto pack =
        llmemu::AnyLatencyModel::from_spec(std::string(LLMEMU_SOURCE_DIR) + "/data/llm-emu-A40-Qwen3-8B-subset.json");
    llmemu::EngineConfig config;
    config.max_model_len = 4096;
    config.num_gpu_blocks = 600; // a little preemption
    llmemu::Workload w;
    for (std::uint32_t i = 0; i < 120; ++i) {
        llmemu::WorkloadRequest r;
        r.arrival_s = 0.01 * i;
        r.prompt_len = 200 + 37 * (i % 11);
        r.output_len = 20 + i % 17;
        w.requests.push_back(r);
    }
    llmemu::SummaryOptions summary;
    std::vector<std::string> outs;
    for (const unsigned threads : {1U, 2U}) {
        auto digest = std::make_shared<llmemu::report::StepDigest>();
        const llmemu::AnyLatencyModel model(llmemu::report::ObservedModel(pack, digest));
        llmemu::FleetSettings fleet;
        fleet.replicas = 3;
        fleet.router = "least_loaded";
        fleet.threads = threads;
        const llmemu::RunOutcome r =
            llmemu::run_emulation<llmemu::VirtualClock>(model, config, w, 11, summary, false, {}, fleet);
        CHECK(r.bench.completed == 120);
        std::string out = std::to_string(r.bench.ttft.mean_ms) + " " + std::to_string(r.bench.itl.mean_ms) + " " +
                          std::to_string(r.sim.stats.steps) + " " + digest->to_json().dump();
        for (const auto& b : r.replica_bench) out += " " + std::to_string(b.e2el.mean_ms);
        CHECK(digest->steps() == r.sim.stats.steps);
        outs.push_back(out);
    }
    CHECK(outs[0] == outs[1]);
}

TEST_CASE("Fleet.own_clocks.refused_where_the_fleet_needs_one_clock") {
    EngineConfig c = cfg();
    VirtualClock fleet_clock, a, b;
    VEngine e1(Exec(AffineProfile{10.0, 20.0, 100.0}, a, {}, 1), a, c);
    VEngine e2(Exec(AffineProfile{10.0, 20.0, 100.0}, b, {}, 2), b, c);
    VEngine shared(Exec(AffineProfile{10.0, 20.0, 100.0}, fleet_clock, {}, 3), fleet_clock, c);
    VEngine twin(Exec(AffineProfile{10.0, 20.0, 100.0}, a, {}, 4), a, c);
    RoundRobinRouter rr;
    auto run = [&](std::vector<VEngine*> ptrs, const FleetLayout* layout = nullptr) {
        VectorRequestSource src(workload(4, false, 2));
        return run_fleet_simulation(ptrs, fleet_clock, src, rr, SimulationOptions{}, 0, layout);
    };
    CHECK_THROWS_WITH_AS(run({&e1, &shared}), doctest::Contains("clock"), config_error);
    CHECK_THROWS_WITH_AS(run({&shared, &e1}), doctest::Contains("clock"), config_error);
    CHECK_THROWS_WITH_AS(run({&e1, &twin}), doctest::Contains("share a clock"), config_error);
    FleetLayout scaled;
    scaled.autoscale.push_back(AutoscalePolicy{});
    CHECK_THROWS_WITH_AS(run({&e1, &e2}, &scaled), doctest::Contains("fleet clock"), config_error);
    const FleetResult ok = run({&e1, &e2});
    CHECK(ok.num_requests == 4);
    CHECK(ok.routed == std::vector<std::uint64_t>{2, 2});
    CHECK(fleet_clock.now() == VirtualClock::time_point(ok.duration));
}

TEST_CASE("Fleet.run_emulation.one_engine_or_a_fleet_summarised_like_the_cli") {
    const auto model = llmemu::AnyLatencyModel::from_spec("const:5ms");
    llmemu::EngineConfig config;
    config.num_gpu_blocks = 4000;
    config.max_model_len = 2048;
    llmemu::Workload w;
    std::uint64_t output_tokens = 0;
    for (std::uint32_t i = 0; i < 40; ++i) {
        llmemu::WorkloadRequest r;
        r.arrival_s = 0.05 * i;
        r.prompt_len = 100 + 10 * (i % 7);
        r.output_len = 8 + i % 5;
        output_tokens += r.output_len;
        w.requests.push_back(r);
    }
    llmemu::SummaryOptions summary;
    summary.percentiles = {50, 99};
    const llmemu::RunOutcome one = llmemu::run_emulation<llmemu::VirtualClock>(model, config, w, 7, summary, true);
    CHECK_FALSE(one.fleet);
    CHECK(one.bench.completed == 40);
    CHECK(one.bench.total_output_tokens == output_tokens);
    CHECK(one.sim.steps.size() == one.sim.stats.steps); // record_steps
    CHECK(one.coverage.total == one.sim.stats.steps);   // a latency per step
    CHECK(one.config.num_gpu_blocks == 4000);
    CHECK(one.bench.ttft.percentiles_ms.size() == 2);
    const llmemu::RunOutcome again = llmemu::run_emulation<llmemu::VirtualClock>(model, config, w, 7, summary, false);
    CHECK(again.bench.ttft.mean_ms == one.bench.ttft.mean_ms); // deterministic
    CHECK(again.sim.steps.empty());

    // Three replicas behind round robin, each with its own observer.
    llmemu::FleetSettings fleet;
    fleet.replicas = 3;
    fleet.router = "round_robin";
    std::vector<llmemu::ChromeTraceObserver> traces(3);
    for (auto& t : traces) fleet.observers.push_back(&t);
    const llmemu::RunOutcome f =
        llmemu::run_emulation<llmemu::VirtualClock>(model, config, w, 7, summary, false, {}, fleet);
    CHECK(f.fleet);
    CHECK(f.bench.completed == 40);
    REQUIRE(f.replica_bench.size() == 3);
    REQUIRE(f.replica_routed.size() == 3);
    std::uint64_t routed = 0, steps = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(f.replica_routed[i] >= 13);
        CHECK(traces[i].requests().size() == f.replica_routed[i]);
        CHECK(traces[i].steps().size() == f.replica_stats[i].steps);
        routed += f.replica_routed[i];
        steps += f.replica_stats[i].steps;
    }
    CHECK(routed == 40);
    CHECK(f.coverage.total == steps); // summed over the replicas' models

    // A fleet needs the virtual clock; a run needs a replica.
    CHECK_THROWS_AS((void)llmemu::run_emulation<llmemu::WallClock>(model, config, w, 7, summary, false, {}, fleet),
                    llmemu::config_error);
    fleet.replicas = 0;
    CHECK_THROWS_AS((void)llmemu::run_emulation<llmemu::VirtualClock>(model, config, w, 7, summary, false, {}, fleet),
                    llmemu::config_error);
}

TEST_CASE("Fleet.run_replicates.seeds_in_parallel_and_their_intervals") {
    const auto model = llmemu::AnyLatencyModel::from_spec("affine:2ms,20us,50us");
    llmemu::EngineConfig config;
    config.num_gpu_blocks = 4000;
    config.max_model_len = 2048;
    llmemu::WorkloadSpec spec;
    spec.kind = llmemu::WorkloadKind::random;
    spec.num_prompts = 30;
    spec.input_len = 64;
    spec.output_len = 8;
    spec.range_ratio = 0.5; // lengths differ per seed
    spec.request_rate = 20.0;
    const llmemu::SummaryOptions summary;
    const auto runs = llmemu::run_replicates(model, config, spec, 5, 3, summary, 2);
    REQUIRE(runs.size() == 3);
    // Replicate i is the single run with seed 5 + i, whatever the thread count.
    spec.seed = 6;
    const llmemu::Workload w = llmemu::build_workload(spec);
    const auto second = llmemu::run_emulation<llmemu::VirtualClock>(model, config, w, 6, summary, false);
    CHECK(runs[1].ttft.mean_ms == second.bench.ttft.mean_ms);
    CHECK(runs[1].duration_s == second.bench.duration_s);
    CHECK(llmemu::run_replicates(model, config, spec, 5, 3, summary, 1)[2].e2el.mean_ms == runs[2].e2el.mean_ms);
    CHECK(runs[0].total_input_tokens != runs[1].total_input_tokens); // redrawn per seed

    const auto stats = llmemu::replicate_stats(runs);
    REQUIRE(stats.size() == 9);
    CHECK(stats[2].name == "Mean TTFT (ms)");
    for (const auto& st : stats) {
        CAPTURE(st.name);
        CHECK(st.min <= st.mean);
        CHECK(st.mean <= st.max);
        CHECK(st.half_width >= 0.0);
    }
    const double mean_ttft = (runs[0].ttft.mean_ms + runs[1].ttft.mean_ms + runs[2].ttft.mean_ms) / 3.0;
    CHECK(stats[2].mean == doctest::Approx(mean_ttft));
    CHECK(llmemu::replicate_stats({runs[0]})[2].half_width == 0.0); // one replicate: no interval
}

TEST_CASE("Fleet.pool_cost.provisioned_replica_hours_times_gpus_and_price") {
    llmemu::FleetSettings fleet;
    fleet.plans.resize(3);
    fleet.plans[0].pool = 0;
    fleet.plans[1].pool = 1;
    fleet.plans[2].pool = 1;
    llmemu::RunOutcome run;
    run.replica_seconds = {3600.0, 1800.0, 900.0}; // replica 2 was autoscaled in late
    const llmemu::PoolCost a = llmemu::pool_cost(run, fleet, 0, 1, 0.5);
    CHECK(a.replica_hours == doctest::Approx(1.0));
    CHECK(a.gpu_hours == doctest::Approx(1.0));
    CHECK(a.cost == doctest::Approx(0.5));
    const llmemu::PoolCost b = llmemu::pool_cost(run, fleet, 1, 4, 2.0);
    CHECK(b.replica_hours == doctest::Approx(0.75));
    CHECK(b.gpu_hours == doctest::Approx(3.0)); // tensor-parallel 4
    CHECK(b.cost == doctest::Approx(6.0));
    CHECK(llmemu::pool_cost(run, fleet, 2, 1, 1.0).replica_hours == 0.0); // no such pool
}

TEST_CASE("Fleet.sweep.grid_points_rows_search_and_capacity") {
    // The grid: every combination, routers innermost; bad values are refused by name.
    llmemu::SweepGrid grid;
    grid.max_num_seqs = {8, 64};
    grid.num_gpu_blocks = {4000, 3};
    const auto settings = llmemu::sweep_settings(grid);
    REQUIRE(settings.size() == 4);
    CHECK(settings[1].max_num_seqs == 8);
    CHECK(settings[1].num_gpu_blocks == 3);
    CHECK(settings[2].max_num_seqs == 64);
    CHECK(settings[0].describe() == "max_num_seqs=8 max_num_batched_tokens=2048 num_gpu_blocks=4000");
    CHECK(settings[0].router_column() == "none");
    llmemu::SweepGrid fleet_grid;
    fleet_grid.replicas = {1, 2};
    fleet_grid.routers = {"round_robin", "least_loaded"};
    const auto fleet_settings = llmemu::sweep_settings(fleet_grid);
    REQUIRE(fleet_settings.size() == 4);
    CHECK(fleet_settings[1].router == "least_loaded");
    CHECK(fleet_settings[3].describe() ==
          "max_num_seqs=256 max_num_batched_tokens=2048 num_gpu_blocks=derived replicas=2 router=least_loaded");
    llmemu::SweepGrid bad = grid;
    bad.num_gpu_blocks = {1};
    CHECK_THROWS_AS((void)llmemu::sweep_settings(bad), llmemu::config_error);
    bad = grid;
    bad.replicas = {0};
    CHECK_THROWS_AS((void)llmemu::sweep_settings(bad), llmemu::config_error);
    bad = grid;
    bad.routers = {"nearest"};
    CHECK_THROWS_AS((void)llmemu::sweep_settings(bad), llmemu::config_error);

    const auto model = llmemu::AnyLatencyModel::from_spec("affine:4ms,40us,200us");
    llmemu::SweepRun run;
    run.model = &model;
    run.workload.kind = llmemu::WorkloadKind::random;
    run.workload.num_prompts = 40;
    run.workload.input_len = 256;
    run.workload.output_len = 32;
    run.summary.percentiles = {50, 99};
    run.summary.slo_ttft_ms = 200.0;
    run.settings = settings;

    // A point is run_emulation of its setting, rate and seed; max_model_len 0 is resolved.
    const llmemu::SweepPoint p = llmemu::run_sweep_point(run, 0, 8.0, 3);
    REQUIRE(p.ok());
    CHECK(p.num_requests == 40);
    CHECK(p.config.max_num_seqs == 8);
    CHECK(p.config.max_model_len >= 256 + 32);
    llmemu::WorkloadSpec spec = run.workload;
    spec.request_rate = 8.0;
    spec.seed = 3;
    const llmemu::Workload w = llmemu::build_workload(spec);
    const auto direct = llmemu::run_emulation<llmemu::VirtualClock>(
        model, llmemu::sweep_engine_config(run, settings[0], llmemu::longest_request(w)), w, 3, run.summary, false);
    CHECK(p.bench.ttft.mean_ms == direct.bench.ttft.mean_ms);
    CHECK(p.steps == direct.sim.stats.steps);
    CHECK(p.attainment == doctest::Approx(static_cast<double>(direct.bench.good_completed) / 40.0));

    // The tasks in row order (settings, rates, seeds), run on any number of threads alike.
    const std::vector<double> rates{2.0, 8.0};
    const auto tasks = llmemu::sweep_tasks(2, rates, 3, 2);
    REQUIRE(tasks.size() == 8);
    CHECK(tasks[1].setting == 0);
    CHECK(tasks[1].rate == 2.0);
    CHECK(tasks[1].seed == 4);
    CHECK(tasks[2].rate == 8.0);
    CHECK(tasks[4].setting == 1);
    CHECK(llmemu::sweep_tasks(3, {}, 0, 2).size() == 6); // searches: one per setting and seed
    const auto many = llmemu::run_sweep_points(run, tasks, 2);
    const auto one = llmemu::run_sweep_points(run, tasks, 1);
    REQUIRE(many.size() == 8);
    CHECK(many[2].bench.ttft.mean_ms == p.bench.ttft.mean_ms); // setting 0, rate 8, seed 3
    CHECK(many[2].seed == 3);
    for (std::size_t i = 0; i < many.size(); ++i) {
        CAPTURE(i);
        CHECK(many[i].error == one[i].error);
        CHECK(many[i].bench.e2el.mean_ms == one[i].bench.e2el.mean_ms);
        CHECK(many[i].ok() == (tasks[i].setting == 0)); // setting 1 has 3 KV blocks
    }

    // Rows line up with the header; a failed run (3 blocks cannot hold a request) keeps
    // its setting's columns and gives the reason, without commas, in the last one.
    const auto columns = [](const std::string& line) { return std::count(line.begin(), line.end(), ',') + 1; };
    const std::string header = llmemu::sweep_csv_header(run);
    CHECK(header.find(",request_goodput,slo_attainment,mean_ttft_ms,median_ttft_ms,p50_ttft_ms,p99_ttft_ms,") !=
          std::string::npos);
    const std::string row = llmemu::sweep_csv_row(run, p);
    CHECK(columns(row) == columns(header));
    CHECK(row.rfind("8,1,3,8,2048,4000,", 0) == 0);
    CHECK(row.substr(row.size() - 8) == ",1,none,");
    const llmemu::SweepPoint failed = llmemu::run_sweep_point(run, 1, 8.0, 3);
    CHECK_FALSE(failed.ok());
    CHECK(std::isnan(failed.attainment));
    const std::string frow = llmemu::sweep_csv_row(run, failed);
    CHECK(columns(frow) == columns(header));
    CHECK(frow.rfind("8,1,3,8,2048,3,,,,", 0) == 0);
    CHECK(frow.find("KV pool") != std::string::npos);

    // The search: a probe per rate tried, the answer meets the SLOs and the miss does not.
    const llmemu::SweepSearch s = llmemu::search_sweep_rate(run, 2, 3, {1.0, 512.0, 0.1}, 0.9);
    CHECK(s.error.empty());
    REQUIRE(s.rate);
    REQUIRE(s.first_miss);
    CHECK(*s.first_miss / *s.rate <= 1.1);
    CHECK(s.points.size() >= 3);
    for (const auto& pt : s.points) {
        CAPTURE(pt.rate);
        CHECK((pt.attainment >= 0.9) == (pt.rate <= *s.rate));
        if (pt.rate == *s.first_miss) CHECK(s.attainment_at_first_miss == pt.attainment);
    }
    const llmemu::SweepSearch sf = llmemu::search_sweep_rate(run, 1, 3, {1.0, 512.0, 0.1}, 0.9);
    CHECK(sf.points.size() == 1); // the first run fails: the search stops with its reason
    CHECK(sf.error == failed.error);
    CHECK_FALSE(sf.rate);

    // Capacity from a grid: every seed must meet the SLOs at the rate and every lower one.
    auto point = [](std::size_t setting, double rate, std::uint64_t seed, double att, double good) {
        llmemu::SweepPoint q;
        q.setting = setting;
        q.rate = rate;
        q.seed = seed;
        q.attainment = att;
        q.goodput = good;
        return q;
    };
    const std::vector<llmemu::SweepPoint> pts = {
        point(0, 1, 5, 1.0, 0.9),  point(0, 1, 6, 0.99, 0.95), point(0, 2, 5, 0.95, 1.9), point(0, 2, 6, 0.92, 1.8),
        point(0, 4, 5, 0.95, 3.8), point(0, 4, 6, 0.5, 2.0),   point(1, 1, 5, 0.2, 0.2),  point(1, 1, 6, 0.3, 0.3)};
    const auto cap = llmemu::sweep_capacity(pts, 2, 5, 2, 0.9);
    REQUIRE(cap.size() == 2);
    CHECK(cap[0].rate == 2.0);
    CHECK(cap[0].first_miss == 4.0);
    CHECK(cap[0].attainment_at_first_miss == 0.5);
    CHECK(cap[0].goodput == 1.8);
    REQUIRE(cap[0].per_seed.size() == 2);
    CHECK(cap[0].per_seed[0] == 4.0); // seed 5 alone sustains 4
    CHECK(cap[0].per_seed[1] == 2.0);
    CHECK(cap[0].seeds.per_seed.mean == 3.0);
    CHECK_FALSE(cap[1].rate);
    CHECK(cap[1].attainment_at_first_miss == 0.2);
    CHECK(cap[1].seeds.without_answer == 2);
    // ... and from searches: the lowest seed's rate, the runs they made.
    const std::vector<llmemu::SweepSearch> searches = {s, sf};
    const auto scap = llmemu::sweep_capacity(searches, 3);
    CHECK(scap[2].rate == s.rate);
    CHECK(scap[2].runs == s.points.size());
    CHECK_FALSE(scap[1].rate);
    CHECK(scap[1].failure == failed.error);
    CHECK(scap[0].per_seed.empty());
}

TEST_CASE("Fleet.plan.cheapest_and_frontier") {
    // docs/plan.md's hand-worked case through the library: three single-pool candidates
    // (const: steps, four sequences per replica), 16 requests of 32 + 2 tokens at t = 0,
    // under ttft:p100:35. Pool a (10 ms, 1 GPU at 1.0/h) needs 2 replicas (30 ms), b (5 ms,
    // 2.5/h) 1 (35 ms), c (4.5 ms, TP 2 at 0.9/GPU-h) 1 (31.5 ms): c is the cheapest and the
    // frontier is c (1.80/h) then a (2.00/h). A fourth candidate's pool cannot run.
    std::vector<llmemu::PlanCandidate> cands;
    for (
        const char* f :
        {R"({"pools":[{"name":"a","profile":"const:10","cost_per_gpu_hour":1.0,"replica_range":[1,8]}]})",
         R"({"pools":[{"name":"b","profile":"const:5","cost_per_gpu_hour":2.5,"replica_range":[1,8]}]})",
         R"({"pools":[{"name":"c","profile":"const:4.5","tensor_parallel_size":2,"cost_per_gpu_hour":0.9,"replica_range":[1,8]}]})",
         R"({"pools":[{"name":"t","profile":"const:1","replica_range":[1,2]}]})"})
        for (auto& c : llmemu::plan_candidates("f.json", llmemu::parse_fleet_json(f, "f.json"), {}))
            cands.push_back(std::move(c));
    REQUIRE(cands.size() == 4);
    CHECK(cands[0].router == "round_robin");
    CHECK((cands[0].lo == 1 && cands[0].hi == 8));
    CHECK(llmemu::fleet_cost_per_hour(cands[2].at(3)) == doctest::Approx(5.4));
    CHECK(llmemu::fleet_gpus(cands[2].at(3)) == 6.0);
    CHECK(llmemu::fleet_pools_text(cands[0].at(2)) == "a=2");
    // No common scale: 3 replicas are not a multiple of 2.
    const llmemu::FleetSpec odd =
        llmemu::parse_fleet_json(R"({"pools":[{"name":"x","replicas":2,"replica_range":[3,3]}]})", "g.json");
    CHECK_THROWS_WITH_AS((void)llmemu::plan_candidates("g.json", odd, {}), doctest::Contains("'g.json'"),
                         llmemu::config_error);
    const auto two_routers = llmemu::plan_candidates("f.json", cands[0].spec, {"least_loaded", "round_robin"});
    REQUIRE(two_routers.size() == 2);
    CHECK(two_routers[0].router == "least_loaded");

    const auto base = llmemu::AnyLatencyModel::from_spec("const:1");
    llmemu::PlanRun run;
    run.model = &base;
    run.engine.max_num_seqs = 4;
    run.engine.num_gpu_blocks = 1000;
    run.engine.max_model_len = 64;
    run.slo = llmemu::parse_slo_targets("ttft:p100:35", 0.9);
    run.summary.percentiles.clear();
    run.slo.apply(run.summary);
    std::size_t built = 0;
    std::mutex built_mutex;
    run.add_pools = [&](const llmemu::PlanCandidate&, const llmemu::FleetSpec& f, const llmemu::Workload&,
                        llmemu::FleetSettings& fleet, llmemu::PoolModels& models) {
        {
            const std::lock_guard<std::mutex> lock(built_mutex);
            ++built;
        }
        for (std::uint32_t pi = 0; pi < f.pools.size(); ++pi) {
            const llmemu::PoolSpec& p = f.pools[pi];
            if (p.name == "t") throw llmemu::config_error("pool 't' cannot run");
            auto& m = models[p.profile];
            if (!m) m = std::make_unique<llmemu::AnyLatencyModel>(llmemu::AnyLatencyModel::from_spec(p.profile));
            for (std::uint32_t r = 0; r < p.replicas; ++r) fleet.plans.push_back({m.get(), run.engine, pi});
            fleet.pools.push_back(p.name);
        }
    };
    llmemu::WorkloadSpec spec;
    spec.kind = llmemu::WorkloadKind::random;
    spec.num_prompts = 16;
    spec.input_len = 32;
    spec.output_len = 2;
    spec.request_rate = std::numeric_limits<double>::infinity();
    const std::vector<llmemu::Workload> workloads{llmemu::build_workload(spec)};
    const auto searches = llmemu::run_plan_searches(run, cands, workloads, 0, 2);
    REQUIRE(searches.size() == 4);
    CHECK(searches[0].fewest == 2u);
    CHECK(searches[1].fewest == 1u);
    CHECK(searches[2].fewest == 1u);
    CHECK_FALSE(searches[3].fewest);
    REQUIRE_FALSE(searches[3].probes.empty());
    CHECK(searches[3].probes.back().error == "pool 't' cannot run");

    const llmemu::PlanResult plan = llmemu::plan_result(cands, searches, 1, run.slo);
    CHECK(plan.order == std::vector<std::size_t>{2, 0, 1, 3});
    REQUIRE(plan.cheapest);
    CHECK(*plan.cheapest == 2);
    CHECK(plan.runs == built);
    CHECK(plan.grid_runs == 8 + 8 + 8 + 2);
    REQUIRE(plan.frontier.size() == 2);
    const llmemu::PlanPoint& f0 = plan.points[plan.frontier[0]];
    const llmemu::PlanPoint& f1 = plan.points[plan.frontier[1]];
    CHECK((f0.candidate == 2 && f0.scale == 1));
    CHECK(f0.cost == doctest::Approx(1.8));
    CHECK(f0.values[0] == doctest::Approx(31.5));
    CHECK((f1.candidate == 0 && f1.scale == 2));
    CHECK(f1.cost == doctest::Approx(2.0));
    CHECK(f1.values[0] == doctest::Approx(30.0));
    const llmemu::PlanPoint* a1 = plan.point(0, 1);
    REQUIRE(a1 != nullptr);
    CHECK_FALSE(a1->ok());
    CHECK(a1->values[0] == doctest::Approx(70.0));
    CHECK_FALSE(plan.point(3, 2)->ok());
    CHECK(std::isnan(plan.point(3, 2)->values[0]));
    CHECK(plan.point(3, 2)->error == "pool 't' cannot run");
    CHECK(plan.candidates[0].combined.per_seed.mean == doctest::Approx(2.0));
    // Two seeds: each probed point counts both (the same answers with const: steps).
    const std::vector<llmemu::Workload> two{workloads[0], workloads[0]};
    const auto twice = llmemu::plan_result(cands, llmemu::run_plan_searches(run, cands, two, 0, 1), 2, run.slo);
    CHECK(twice.runs == 2 * plan.runs);
    CHECK(twice.cheapest == plan.cheapest);
    CHECK(twice.points[twice.frontier[0]].seeds == 2);
    CHECK_THROWS_AS((void)llmemu::plan_result(cands, searches, 2, run.slo), llmemu::contract_error);
}
