// Tests for multi-turn sessions (workload/sessions.hpp, the closed-loop WorkloadSource of
// workload/source.hpp and the FeedbackRequestSource hook of run_simulation and
// run_fleet_simulation) and workload specs (workload/workload_spec.hpp).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/sessions.hpp"
#include "llmemu/workload/source.hpp"
#include "llmemu/workload/workload.hpp"
#include "llmemu/workload/workload_spec.hpp"

using namespace llmemu;

namespace {

using Exec = EmulatedExecutor<AnyLatencyModel, VirtualClock>;

/// A WorkloadSource that also records each request's prompt ids, output ids and arrival.
struct RecordingSource {
    WorkloadSource inner;
    std::map<RequestId, std::vector<TokenId>> prompts, outputs;
    std::map<RequestId, std::chrono::nanoseconds> arrivals, finishes;

    bool next(TimedRequest& t) {
        if (!inner.next(t)) return false;
        arrivals[t.spec.id] = t.arrival;
        t.notify = true; // see every request's tokens
        return true;
    }
    bool on_event(const TokenEvent& e) {
        if (e.has_token) outputs[e.id].push_back(e.token);
        if (e.finished) finishes[e.id] = e.time;
        return inner.on_event(e);
    }
    void put_back(TimedRequest&& t) { inner.put_back(std::move(t)); }
};
static_assert(FeedbackRequestSource<WorkloadSource>);
static_assert(FeedbackRequestSource<RecordingSource>);
static_assert(!FeedbackRequestSource<VectorRequestSource>);

/// One session of `turns` turns: a 40-token first prompt, 20 output tokens per turn, 8 new
/// tokens per later turn, `think` seconds between turns.
Workload one_session(std::uint32_t turns, double think) {
    WorkloadSpec s;
    s.kind = WorkloadKind::random;
    s.num_prompts = 1;
    s.input_len = 40;
    s.output_len = 20;
    SessionShape shape;
    shape.turns = turns;
    shape.new_tokens = 8;
    shape.think_samples = {think}; // a fixed think time
    s.sessions = shape;
    return build_workload(s);
}

EngineConfig small_config(bool caching = true, std::uint32_t max_model_len = 4096) {
    EngineConfig c;
    c.num_gpu_blocks = 2000;
    c.block_size = 16;
    c.enable_prefix_caching = caching;
    c.max_model_len = max_model_len;
    return c;
}

std::string spec_error(const std::string& json) {
    try {
        (void)parse_workload_spec(json, "w.json");
    } catch (const workload_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("Workload.sessions.turn_prompt_is_previous_prompt_output_and_new_tokens") {
    const Workload w = one_session(3, 2.0);
    REQUIRE(w.requests.size() == 3);
    CHECK(has_sessions(w));
    // Static lengths: 40, 40 + 20 + 8 = 68, 68 + 20 + 8 = 96.
    CHECK(w.requests[0].prompt_len == 40);
    CHECK(w.requests[1].prompt_len == 68);
    CHECK(w.requests[2].prompt_len == 96);
    CHECK(w.requests[1].previous_turn == 0);
    CHECK(w.requests[0].next_turn == 1);
    CHECK(w.requests[2].next_turn == no_turn);

    VirtualClock clock;
    Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel::from_spec("const:1"), clock), clock, small_config());
    RecordingSource src{WorkloadSource(w), {}, {}, {}, {}};
    SimulationOptions opts;
    opts.prepare = prepare_workload_prompt(w);
    std::map<RequestId, std::vector<TokenId>> joined; // the ids the engine got
    opts.prepare = [&](RequestSpec& s) {
        prepare_workload_prompt(w)(s);
        joined[s.id] = s.prompt_tokens;
    };
    const SimulationResult r = run_simulation(engine, src, opts, 3);
    REQUIRE(r.records.size() == 3);
    for (RequestId k = 1; k < 3; ++k) {
        CAPTURE(k);
        // Turn k's prompt = turn k-1's prompt ids + its real output ids + 8 new ids.
        std::vector<TokenId> expect = joined[k - 1];
        expect.insert(expect.end(), src.outputs[k - 1].begin(), src.outputs[k - 1].end());
        REQUIRE(joined[k].size() == expect.size() + 8);
        CHECK(std::equal(expect.begin(), expect.end(), joined[k].begin()));
        // Sent exactly the think time after the previous turn finished (closed loop).
        CHECK(src.arrivals[k] == src.finishes[k - 1] + std::chrono::seconds(2));
    }
    // Hand-worked prefix hits (16-token blocks; a turn's last output token is never computed):
    //  turn 1: turn 0 computed 40 + 19 = 59 tokens -> 3 full blocks = 48 hits;
    //  turn 2: turn 1 computed 68 + 19 = 87 tokens -> 5 full blocks = 80 hits.
    std::map<RequestId, std::uint32_t> cached;
    for (const auto& rec : r.records) cached[rec.id] = rec.num_cached_tokens;
    CHECK(cached[0] == 0);
    CHECK(cached[1] == 48);
    CHECK(cached[2] == 80);
    const PrefixReuseCounter ideal = ideal_prefix_reuse(w, 16);
    CHECK(ideal.hits() == 128);
    CHECK(r.stats.prefix_cache_hits == 128);
    CHECK(r.stats.prefix_cache_queries == 40 + 68 + 96);

    // Caching off: the same prompts, no hits.
    VirtualClock clock2;
    Engine<Exec, VirtualClock> off(Exec(AnyLatencyModel::from_spec("const:1"), clock2), clock2, small_config(false));
    WorkloadSource s2(w);
    SimulationOptions o2;
    o2.prepare = prepare_workload_prompt(w);
    const SimulationResult r2 = run_simulation(off, s2, o2, 3);
    CHECK(r2.records.size() == 3);
    CHECK(r2.stats.prefix_cache_hits == 0);
    CHECK(r2.stats.prompt_tokens == 40 + 68 + 96);
}

TEST_CASE("Workload.sessions.many_sessions_reach_the_ideal_and_run_on_fleets") {
    WorkloadSpec s;
    s.kind = WorkloadKind::random;
    s.num_prompts = 12;
    s.input_len = 300;
    s.output_len = 40;
    s.range_ratio = 0.5;
    s.request_rate = 0.5;
    s.seed = 7;
    SessionShape shape;
    shape.turns = 4;
    shape.think_time_s = 3.0;
    shape.new_tokens = 30;
    s.sessions = shape;
    const Workload w = build_workload(s);
    REQUIRE(w.requests.size() == 48);
    CHECK(w.description.find("12 sessions") != std::string::npos);
    // Deterministic per seed.
    const Workload again = build_workload(s);
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        CHECK(again.requests[i].prompt == w.requests[i].prompt);
        CHECK(again.requests[i].think_s == w.requests[i].think_s);
    }
    const PrefixReuseCounter ideal = ideal_prefix_reuse(w, 16);
    CHECK(ideal.hit_rate() > 0.5);

    VirtualClock clock;
    Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel::from_spec("const:1"), clock), clock, small_config());
    WorkloadSource src(w);
    SimulationOptions opts;
    opts.prepare = prepare_workload_prompt(w);
    const SimulationResult r = run_simulation(engine, src, opts, w.requests.size());
    CHECK(r.records.size() == 48);
    CHECK(r.stats.prefix_cache_hits == ideal.hits()); // the pool holds everything
    std::uint64_t planned = 0;
    for (const auto& q : w.requests) planned += q.prompt_len;
    CHECK(r.stats.prompt_tokens == planned);

    // Two replicas behind the prefix-aware router: the hook works for fleets, every turn
    // is sent and the prompts are the same lengths; turns follow their session's blocks.
    VirtualClock fc;
    Engine<Exec, VirtualClock> a(Exec(AnyLatencyModel::from_spec("const:1"), fc), fc, small_config());
    Engine<Exec, VirtualClock> b(Exec(AnyLatencyModel::from_spec("const:1"), fc, {}, 1), fc, small_config());
    WorkloadSource fsrc(w);
    RouterOptions ro;
    ro.block_size = 16;
    AnyRouter router = make_router("prefix_aware", ro);
    const FleetResult f = run_fleet_simulation<Exec>({&a, &b}, fc, fsrc, router, opts, w.requests.size());
    CHECK(f.records.size() == 48);
    const EngineStats fs = fleet_stats(f.stats);
    CHECK(fs.prompt_tokens == planned);
    CHECK(fs.prefix_cache_hits == ideal.hits());
}

TEST_CASE("Workload.sessions.overlapping_sessions_send_every_turn") {
    // Sessions that overlap in time: releases while the driver holds a request it took
    // from an earlier release (it hands back several before taking them again).
    for (const bool async : {false, true}) {
        CAPTURE(async);
        WorkloadSpec s;
        s.kind = WorkloadKind::random;
        s.num_prompts = 40;
        s.input_len = 200;
        s.output_len = 20;
        s.request_rate = 2.0;
        SessionShape shape;
        shape.turns = 5;
        shape.think_time_s = 1.0;
        shape.new_tokens = 30;
        s.sessions = shape;
        const Workload w = build_workload(s);
        REQUIRE(w.requests.size() == 200);
        VirtualClock clock;
        EngineConfig c = small_config();
        c.async_scheduling = async;
        Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel::from_spec("const:1"), clock), clock, c);
        WorkloadSource src(w);
        SimulationOptions opts;
        opts.prepare = prepare_workload_prompt(w);
        const SimulationResult r = run_simulation(engine, src, opts, w.requests.size());
        CHECK(r.records.size() == 200);
        CHECK(r.stats.prefix_cache_hits == ideal_prefix_reuse(w, 16).hits());
    }
}

TEST_CASE("Workload.sessions.a_refused_turn_ends_its_session") {
    // max_model_len 100: turn 2 (96 + 20 = 116 tokens) is refused, so its session ends.
    const Workload w = one_session(4, 0.0);
    VirtualClock clock;
    Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel::from_spec("const:1"), clock), clock,
                                      small_config(true, 100));
    WorkloadSource src(w);
    SimulationOptions opts;
    opts.prepare = prepare_workload_prompt(w);
    const SimulationResult r = run_simulation(engine, src, opts, 4);
    REQUIRE(r.records.size() == 3);
    CHECK(r.records.back().reason == FinishReason::rejected);
    CHECK(src.ended_early() == 1);
}

TEST_CASE("Workload.sessions.fit_from_a_mooncake_trace_in_turn_order") {
    // A: blocks [1,2,3] (1100 tokens, full blocks [1,2]); B resends A's full blocks;
    // C is new; D resends B's full blocks [1,2,7]. Sessions {A, B, D} and {C}.
    const auto p = std::filesystem::temp_directory_path() / "llmemu_test_sessions.jsonl";
    std::ofstream(p) << R"({"timestamp": 0, "input_length": 1100, "output_length": 10, "hash_ids": [1, 2, 3]}
{"timestamp": 5000, "input_length": 1600, "output_length": 20, "hash_ids": [1, 2, 7, 8]}
{"timestamp": 6000, "input_length": 100, "output_length": 5, "hash_ids": [9]}
{"timestamp": 9000, "input_length": 1700, "output_length": 5, "hash_ids": [1, 2, 7, 10]}
)";
    const SessionFit f = fit_sessions(p);
    CHECK(f.requests == 4);
    CHECK(f.sessions == 2);
    CHECK(f.follow_ups == 2);
    CHECK(f.shape.turn_samples == std::vector<std::uint32_t>{3, 1});
    CHECK(f.shape.think_samples == std::vector<double>{5.0, 4.0});
    // B: 1600 - (1100 + 10) = 490 new; D: 1700 - (1600 + 20) = 80 new.
    CHECK(f.shape.new_token_samples == std::vector<std::uint32_t>{490, 80});
    CHECK(f.shape.mean_turns() == doctest::Approx(2.0));
    std::filesystem::remove(p);
}

TEST_CASE("Workload.spec.clients_share_rate_and_count_deterministically") {
    const std::string json = R"({"request_rate": 4, "num_prompts": 100, "clients": [
        {"name": "chat", "share": 3, "dataset": "random", "input_len": 200, "output_len": 30,
         "prefix_pool": {"prompts": 2, "tokens": 64},
         "sessions": {"turns": 2, "think_time_s": 1, "new_tokens": 16}},
        {"name": "batch", "share": 1, "dataset": "prefix_repetition", "prefix_len": 32, "suffix_len": 32,
         "num_prefixes": 5, "prefix_output_len": 8, "start_s": 10}]})";
    const WorkloadSpecFile f = parse_workload_spec(json, "w.json");
    REQUIRE(f.clients.size() == 2);
    const Workload w = build_workload(f, 1);
    // chat: 75 sessions x 2 turns; batch: 25 prompts over 5 prefixes.
    std::size_t chat = 0;
    std::size_t batch = 0;
    for (const auto& r : w.requests) (r.prompt_len >= 264 ? chat : batch) += 1;
    CHECK(chat == 150);
    CHECK(batch == 25);
    CHECK(w.description.find("2 clients") != std::string::npos);
    CHECK(w.description.find("chat: random dataset") != std::string::npos);
    for (std::size_t i = 1; i < w.requests.size(); ++i) CHECK(w.requests[i - 1].arrival_s <= w.requests[i].arrival_s);
    for (const auto& r : w.requests)
        if (r.prompt_len == 64) CHECK(r.arrival_s >= 10.0); // batch starts at 10 s
    // Links survive the merge: every later turn's previous turn points back at it.
    for (std::size_t i = 0; i < w.requests.size(); ++i)
        if (w.requests[i].next_turn != no_turn) CHECK(w.requests[w.requests[i].next_turn].previous_turn == i);
    // Deterministic per seed, different across seeds.
    const Workload same = build_workload(f, 1);
    const Workload other = build_workload(f, 2);
    REQUIRE(same.requests.size() == w.requests.size());
    bool differs = false;
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        CHECK(same.requests[i].arrival_s == w.requests[i].arrival_s);
        CHECK(same.requests[i].prompt == w.requests[i].prompt);
        differs = differs || other.requests[i].arrival_s != w.requests[i].arrival_s;
    }
    CHECK(differs);
}

TEST_CASE("Workload.spec.trace_repeat_and_copies") {
    const auto p = std::filesystem::temp_directory_path() / "llmemu_test_repeat.jsonl";
    std::ofstream(p) << R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2]}
{"timestamp": 1000, "input_length": 600, "output_length": 4, "hash_ids": [1, 3]}
{"timestamp": 2000, "input_length": 600, "output_length": 4, "hash_ids": [1, 4]}
)";
    WorkloadSpec s;
    s.kind = WorkloadKind::trace;
    s.trace_path = p;
    const Workload once = build_workload(s);
    s.repeat = 3;
    s.copies = 2;
    const Workload day = build_workload(s);
    REQUIRE(day.requests.size() == 18);
    // Replays back to back (span 2 s + one mean gap of 1 s), copies half a gap apart.
    CHECK(day.requests[0].arrival_s == 0.0);
    CHECK(day.requests[1].arrival_s == doctest::Approx(0.5));
    CHECK(day.requests[6].arrival_s == doctest::Approx(3.0));
    CHECK(day.requests[17].arrival_s == doctest::Approx(8.5));
    CHECK(day.description.find("replayed 3 times back to back, 2 interleaved copies") != std::string::npos);
    // Each replay and copy has its own contents: the ideal hits scale with the copies.
    CHECK(ideal_prefix_reuse(day, 16).hits() == 6 * ideal_prefix_reuse(once, 16).hits());

    const WorkloadSpecFile f = parse_workload_spec(
        R"({"clients": [{"name": "day", "trace": ")" + p.string() + R"(", "repeat": 3, "copies": 2}]})", "w.json");
    CHECK(build_workload(f, 0).requests.size() == 18);
    std::filesystem::remove(p);
}

TEST_CASE("Workload.spec.errors_name_file_client_key_and_fix") {
    CHECK(spec_error("{").find("workload spec 'w.json': not valid JSON") != std::string::npos);
    CHECK(spec_error("{}").find("key 'clients' is missing") != std::string::npos);
    CHECK(spec_error(R"({"clients": [{"name": "a", "input_len": "x"}]})")
              .find("client 'a' (clients[0]) key 'input_len': expected a whole number") != std::string::npos);
    CHECK(spec_error(R"({"clients": [{"name": "a", "colour": 1}]})")
              .find("client 'a' (clients[0]) key 'colour': unknown client key; use name, share") != std::string::npos);
    CHECK(spec_error(R"({"clients": [{"share": 1}]})").find("neither 'request_rate' nor 'num_prompts'") !=
          std::string::npos);
    CHECK(spec_error(R"({"num_prompts": 5, "clients": [{"share": 1, "num_prompts": 3}]})").find("key 'share' splits") !=
          std::string::npos);
    CHECK(spec_error(R"({"clients": [{"sessions": {"turns": 0}}]})")
              .find("client 'client0' (clients[0]) key 'sessions.turns': expected a whole number from 1") !=
          std::string::npos);
    CHECK(spec_error(R"({"clients": [{"sessions": {"fit": "t.jsonl", "turns": 2}}]})").find("drop it or the fixed") !=
          std::string::npos);
    CHECK(spec_error(R"({"clients": [{"dataset": "trace"}]})").find("needs key 'trace'") != std::string::npos);
    CHECK(spec_error(R"({"clients": [{"dataset": "nope"}]})").find("unknown dataset 'nope'") != std::string::npos);
    CHECK(spec_error(R"({"clients": [{"name": "a"}, {"name": "a"}]})").find("used twice") != std::string::npos);
    CHECK(spec_error(R"({"clients": [{"ramp_up": {"strategy": "linear", "start_rps": 2}}]})")
              .find("key 'ramp_up': give both start_rps and end_rps") != std::string::npos);
    // Refusals of the builder name the client.
    const WorkloadSpecFile f = parse_workload_spec(R"({"clients": [{"name": "t", "trace": "none.csv"}]})", "w.json");
    try {
        (void)build_workload(f, 0);
        FAIL("expected an error");
    } catch (const workload_error& e) {
        CHECK(std::string(e.what()).find("workload spec 'w.json': client 't': trace 'none.csv'") != std::string::npos);
    }
    const WorkloadSpecFile g =
        parse_workload_spec(R"({"clients": [{"name": "s", "dataset": "random", "repeat": 2}]})", "w.json");
    CHECK_THROWS_WITH_AS((void)build_workload(g, 0), doctest::Contains("repeat and copies replay a trace"),
                         workload_error);
}
