// The reference engine end to end: golden timings worked out by hand on a virtual clock,
// async vs sync scheduling, determinism, wall-clock vs virtual-clock agreement.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/time/timer_future.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"

using namespace llmemu;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

// Sanitizer builds wake threads milliseconds late on a loaded host: the wall-clock run
// still runs (for the race checks) but its timing is not compared.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool timing_reliable = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool timing_reliable = false;
#else
constexpr bool timing_reliable = true;
#endif
#else
constexpr bool timing_reliable = true;
#endif

constexpr double ms(nanoseconds t) {
    return static_cast<double>(t.count()) / 1e6;
}

/// A serial executor with a hand-set latency (ms, from the step's shape) and an EOS rule,
/// so golden timings can be worked out by hand.
template <class C>
class ScriptedExecutor {
public:
    ScriptedExecutor(C& clock, std::function<double(const StepBatch&)> latency_ms,
                     std::function<bool(const ScheduledRequest&)> eos = {})
        : m_clock(&clock), m_latency(std::move(latency_ms)), m_eos(std::move(eos)) {}

    TimerFuture<StepOutput, C> execute(const StepBatch& batch) {
        const auto start = std::max(m_clock->now(), m_prev_end);
        const auto end = start + std::chrono::duration_cast<typename C::duration>(
                                     std::chrono::duration<double, std::milli>(m_latency(batch)));
        m_prev_end = end;
        StepOutput out;
        out.step_id = batch.step_id;
        out.start = since_epoch(start);
        out.end = since_epoch(end);
        out.shape = batch.shape();
        for (const auto& r : batch.requests) {
            RequestOutput o;
            o.id = r.id;
            if (r.samples_token) {
                o.token = static_cast<TokenId>(100 + r.num_output_tokens);
                o.is_eos = m_eos && m_eos(r);
            }
            out.outputs.push_back(o);
        }
        batches.push_back(batch);
        return resolve_at(*m_clock, end, std::move(out));
    }

    std::vector<StepBatch> batches;

private:
    C* m_clock;
    std::function<double(const StepBatch&)> m_latency;
    std::function<bool(const ScheduledRequest&)> m_eos;
    typename C::time_point m_prev_end{};
};
static_assert(StepExecutor<ScriptedExecutor<VirtualClock>>);

using VExec = ScriptedExecutor<VirtualClock>;
using VEngine = Engine<VExec, VirtualClock>;

EngineConfig small_config(bool async, std::uint32_t blocks = 1000) {
    EngineConfig c;
    c.num_gpu_blocks = blocks;
    c.async_scheduling = async;
    return c;
}

RequestSpec spec(RequestId id, std::uint32_t prompt, std::uint32_t max_tokens) {
    RequestSpec s;
    s.id = id;
    s.prompt_len = prompt;
    s.max_tokens = max_tokens;
    s.ignore_eos = true;
    return s;
}

TimedRequest timed(double at_ms, RequestSpec s) {
    return TimedRequest{std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double, std::milli>(at_ms)),
                        std::move(s)};
}

std::map<RequestId, RequestRecord> by_id(const SimulationResult& r) {
    std::map<RequestId, RequestRecord> m;
    for (const auto& rec : r.records) m[rec.id] = rec;
    return m;
}

std::vector<double> token_ms(const RequestRecord& r) {
    std::vector<double> v;
    for (auto t : r.token_times) v.push_back(ms(t));
    return v;
}

SimulationResult run_const(const EngineConfig& c, std::vector<TimedRequest> reqs, double step_ms = 10.0) {
    VirtualClock clock;
    VEngine engine(VExec(clock, [step_ms](const StepBatch&) { return step_ms; }), clock, c);
    return run_simulation(engine, std::move(reqs));
}

} // namespace

TEST_CASE("Engine.golden.one_request_ttft_and_tpot_are_one_step") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        const auto res = run_const(small_config(async), {timed(0, spec(1, 100, 4))});
        REQUIRE(res.records.size() == 1);
        const auto& r = res.records[0];
        CHECK(r.reason == FinishReason::length);
        CHECK(r.output_len == 4);
        CHECK(ms(r.first_scheduled) == 0.0);
        CHECK(ms(r.ttft()) == 10.0);
        CHECK(token_ms(r) == std::vector<double>{10, 20, 30, 40});
        CHECK(ms(r.e2e()) == 40.0);
        CHECK(res.stats.steps == 4); // async: the max_tokens look-ahead wastes no step
        CHECK(res.stats.prefill_steps == 1);
        CHECK(res.stats.decode_steps == 3);
        CHECK(ms(res.duration) == 40.0);
    }
}

TEST_CASE("Engine.golden.prompt_longer_than_budget_takes_one_step_per_chunk") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        EngineConfig c = small_config(async);
        c.max_num_batched_tokens = 64;
        const auto res = run_const(c, {timed(0, spec(1, 200, 2))});
        const auto& r = res.records.at(0);
        // Chunks 64, 64, 64, 8: the fourth step emits the first token.
        CHECK(token_ms(r) == std::vector<double>{40, 50});
        CHECK(res.stats.scheduled_tokens == 201);
    }
}

TEST_CASE("Engine.golden.two_prompts_share_the_budget") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        EngineConfig c = small_config(async);
        c.max_num_batched_tokens = 100;
        auto res = run_const(c, {timed(0, spec(1, 80, 3)), timed(0, spec(2, 80, 3))});
        auto m = by_id(res);
        // Step 1: A 80 + B 20; step 2: A decodes, B its last 60 tokens.
        CHECK(token_ms(m[1]) == std::vector<double>{10, 20, 30});
        CHECK(token_ms(m[2]) == std::vector<double>{20, 30, 40});
        CHECK(ms(m[2].first_scheduled) == 0.0);
    }
}

TEST_CASE("Engine.golden.max_num_seqs_holds_requests_in_waiting") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        EngineConfig c = small_config(async);
        c.max_num_seqs = 2;
        auto res = run_const(c, {timed(0, spec(1, 10, 3)), timed(0, spec(2, 10, 3)), timed(0, spec(3, 10, 3))});
        auto m = by_id(res);
        CHECK(ms(m[1].finish) == 30.0);
        CHECK(ms(m[3].first_scheduled) == 30.0);
        CHECK(ms(m[3].queue_time()) == 30.0);
        CHECK(token_ms(m[3]) == std::vector<double>{40, 50, 60});
        CHECK(res.stats.max_running == 2);
    }
}

TEST_CASE("Engine.golden.kv_pool_too_small_preempts_last_and_recomputes") {
    // 6 usable blocks of 16 tokens. A and B (32-token prompts, 40 tokens each) need 5
    // blocks each at the end. At step 17 (170 ms) A needs its 4th block: B, the last
    // admitted, is preempted with 17 tokens generated. B's freed blocks go to the LRU
    // tail last-block-first; A takes two of them, so when A finishes (400 ms) B finds one
    // cached block (16 tokens) and recomputes 49 - 16 = 33 tokens in one step (410 ms),
    // then decodes its remaining 22 tokens (630 ms).
    EngineConfig c = small_config(false, 7);
    c.max_model_len = 96;
    VirtualClock clock;
    VEngine engine(VExec(clock, [](const StepBatch&) { return 10.0; }), clock, c);
    auto res = run_simulation(engine, {timed(0, spec(1, 32, 40)), timed(0, spec(2, 32, 40))});
    auto m = by_id(res);
    CHECK(ms(m[1].finish) == 400.0);
    CHECK(m[1].num_preemptions == 0);
    CHECK(m[2].num_preemptions == 1);
    const auto t = token_ms(m[2]);
    REQUIRE(t.size() == 40);
    CHECK(t[16] == 170.0);
    CHECK(t[17] == 410.0);
    CHECK(ms(m[2].finish) == 630.0);
    CHECK(res.stats.preemptions == 1);
    CHECK(res.stats.preempted_prefix_cache_hits >= 16);
    bool saw_recompute = false;
    for (const auto& b : engine.executor().batches)
        for (const auto& r : b.requests)
            if (r.id == 2 && r.num_scheduled_tokens > 1 && r.num_output_tokens == 17) {
                saw_recompute = true;
                CHECK_FALSE(r.is_new);
                CHECK(r.num_computed_tokens == 16);
                CHECK(r.num_scheduled_tokens == 33);
            }
    CHECK(saw_recompute);
    CHECK(res.stats.max_kv_usage == doctest::Approx(1.0));
}

TEST_CASE("Engine.golden.kv_pool_too_small_async_still_completes") {
    EngineConfig c = small_config(true, 7);
    c.max_model_len = 96;
    auto res = run_const(c, {timed(0, spec(1, 32, 40)), timed(0, spec(2, 32, 40)), timed(5, spec(3, 20, 30))});
    CHECK(res.stats.preemptions >= 1);
    CHECK(res.stats.num_finished(FinishReason::length) == 3);
    for (const auto& r : res.records) CHECK(r.output_len == r.token_times.size());
}

TEST_CASE("Engine.golden.prefix_cache_hit_shortens_prefill") {
    // Latency 10 ms + 0.1 ms per scheduled token. B repeats A's 64-token prompt after A
    // finished: 48 tokens hit (full blocks, the last token always computed), 16 computed.
    for (const bool caching : {true, false}) {
        CAPTURE(caching);
        EngineConfig c = small_config(false);
        c.enable_prefix_caching = caching;
        VirtualClock clock;
        VEngine engine(VExec(clock, [](const StepBatch& b) { return 10.0 + 0.1 * b.total_tokens(); }), clock, c);
        RequestSpec a = spec(1, 0, 1);
        for (int i = 0; i < 64; ++i) a.prompt_tokens.push_back(1000 + i);
        RequestSpec b = a;
        b.id = 2;
        auto res = run_simulation(engine, {timed(0, a), timed(50, b)});
        auto m = by_id(res);
        CHECK(ms(m[1].ttft()) == doctest::Approx(16.4));
        if (caching) {
            CHECK(ms(m[2].ttft()) == doctest::Approx(11.6));
            CHECK(m[2].num_cached_tokens == 48);
            CHECK(res.stats.prefix_cache_hits == 48);
            CHECK(res.stats.prefix_cache_queries == 128);
        } else {
            CHECK(ms(m[2].ttft()) == doctest::Approx(16.4));
            CHECK(m[2].num_cached_tokens == 0);
            CHECK(res.stats.prefix_cache_queries == 0);
        }
    }
}

TEST_CASE("Engine.golden.abort_frees_blocks_for_the_next_step") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        EngineConfig c = small_config(async, 5); // 4 usable blocks
        c.max_model_len = 64;
        VirtualClock clock;
        VEngine engine(VExec(clock, [](const StepBatch&) { return 10.0; }), clock, c);
        std::vector<TokenEvent> events_a;
        REQUIRE(
            engine.add_request(spec(1, 48, 10), nanoseconds{0}, [&](const TokenEvent& e) { events_a.push_back(e); }));
        REQUIRE(engine.add_request(spec(2, 40, 10), nanoseconds{0}));
        while (engine.now() < milliseconds(30)) engine.step();
        CHECK(ms(engine.now()) == 30.0);
        CHECK(engine.stats().waiting == 1); // B does not fit beside A
        CHECK(engine.abort(1));
        CHECK(engine.stats().kv_usage == 0.0);
        REQUIRE(!events_a.empty());
        CHECK(events_a.back().finished);
        CHECK(events_a.back().reason == FinishReason::abort);
        engine.run_until_idle();
        auto& recs = engine.finished_records();
        REQUIRE(recs.size() == 2);
        CHECK(recs[0].reason == FinishReason::abort);
        CHECK(recs[0].output_len == 3);
        CHECK(ms(recs[1].first_scheduled) == 30.0);
        // Sync: B runs 30-40. Async: B is scheduled at 30 behind A's step in flight
        // (30-40, its output discarded) and runs 40-50.
        CHECK(ms(recs[1].first_token) == (async ? 50.0 : 40.0));
        CHECK(engine.stats().discarded_tokens == (async ? 1U : 0U));
    }
}

TEST_CASE("Engine.golden.eos_stops_and_async_wastes_one_slot") {
    for (const bool async : {false, true}) {
        CAPTURE(async);
        VirtualClock clock;
        // EOS on the 3rd output token (index 2) of every request.
        VEngine engine(VExec(
                           clock, [](const StepBatch&) { return 10.0; },
                           [](const ScheduledRequest& r) { return r.num_output_tokens == 2; }),
                       clock, small_config(async));
        RequestSpec s = spec(1, 10, 10);
        s.ignore_eos = false;
        RequestSpec keep = spec(2, 10, 5); // ignore_eos: runs to max_tokens
        RequestSpec least = spec(3, 10, 10);
        least.ignore_eos = false;
        least.min_tokens = 4; // EOS at token 3 is ignored; later tokens are not EOS
        auto res = run_simulation(engine, {timed(0, s), timed(0, keep), timed(0, least)});
        auto m = by_id(res);
        CHECK(m[1].reason == FinishReason::stop);
        CHECK(m[1].output_len == 3);
        CHECK(ms(m[1].finish) == 30.0);
        CHECK(m[2].reason == FinishReason::length);
        CHECK(m[2].output_len == 5);
        CHECK(m[3].reason == FinishReason::length);
        CHECK(m[3].output_len == 10);
        CHECK(res.stats.discarded_tokens == (async ? 1U : 0U));
        CHECK(res.stats.num_finished(FinishReason::stop) == 1);
        CHECK(res.stats.generation_tokens == 18);
    }
}

TEST_CASE("Engine.reject.too_long_requests_are_recorded_and_counted") {
    EngineConfig c = small_config(true);
    c.max_model_len = 128;
    auto res = run_const(c, {timed(0, spec(1, 100, 29)), timed(1, spec(2, 100, 28)), timed(2, spec(3, 200, 1))});
    auto m = by_id(res);
    REQUIRE(res.records.size() == 3);
    CHECK(m[1].reason == FinishReason::rejected);
    CHECK(m[1].error.find("--max-model-len") != std::string::npos);
    CHECK(ms(m[1].finish) == 0.0);
    CHECK(m[2].reason == FinishReason::length);
    CHECK(m[3].reason == FinishReason::rejected);
    CHECK(res.stats.rejected() == 2);
    CHECK(res.stats.requests_received == 3);
}

TEST_CASE("Engine.simulation.records_steps_series_and_progress") {
    VirtualClock clock;
    VEngine engine(VExec(clock, [](const StepBatch&) { return 5.0; }), clock, small_config(true));
    std::vector<TimedRequest> reqs;
    for (RequestId i = 1; i <= 50; ++i) reqs.push_back(timed(static_cast<double>(i), spec(i, 30, 8)));
    std::vector<double> progress;
    SimulationOptions opt;
    opt.record_steps = true;
    opt.progress = [&](double f) { progress.push_back(f); };
    auto res = run_simulation(engine, reqs, opt);
    CHECK(res.records.size() == 50);
    CHECK(res.steps.size() == res.stats.steps);
    CHECK(res.stats.series.size() == res.stats.steps);
    REQUIRE(!progress.empty());
    CHECK(progress.back() == 1.0);
    CHECK(std::is_sorted(progress.begin(), progress.end()));
    for (std::size_t i = 1; i < res.steps.size(); ++i) {
        CHECK(res.steps[i].start == res.steps[i - 1].end); // async keeps the executor busy
        CHECK(res.steps[i].end - res.steps[i].start == milliseconds(5));
    }
    std::uint64_t tokens = 0;
    for (const auto& s : res.steps) tokens += s.shape.total_tokens;
    CHECK(tokens == res.stats.scheduled_tokens);
    // The engine is reusable for a second run from its new origin.
    auto again = run_simulation(engine, reqs);
    CHECK(again.records.size() == 50);
    CHECK(again.steps.empty());
}

TEST_CASE("Engine.virtual.same_seed_same_records") {
    const std::string pack = std::string(LLMEMU_SOURCE_DIR) + "/data/llm-emu-A40-Qwen3-8B-subset.json";
    const AnyLatencyModel model = AnyLatencyModel::from_spec(pack);
    auto run = [&](std::uint64_t seed) {
        VirtualClock clock;
        using X = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
        EngineConfig c;
        c.num_gpu_blocks = 400; // small enough to preempt
        Engine<X, VirtualClock> engine(X(model, clock, {}, seed), clock, c);
        std::vector<TimedRequest> reqs;
        Rng g(99);
        double t = 0;
        for (RequestId i = 1; i <= 150; ++i) {
            t += exponential(g, 20.0);
            RequestSpec s = spec(i, 50 + static_cast<std::uint32_t>(uniform_index(g, 1500)),
                                 10 + static_cast<std::uint32_t>(uniform_index(g, 200)));
            s.ignore_eos = false; // the emitter's EOS ends some early
            reqs.push_back(timed(t * 1000.0, s));
        }
        return run_simulation(engine, reqs);
    };
    const auto a = run(1);
    const auto b = run(1);
    const auto c = run(2);
    REQUIRE(a.records.size() == 150);
    CHECK(a.stats.preemptions > 0);
    bool same = true;
    bool differs = false;
    for (std::size_t i = 0; i < a.records.size(); ++i) {
        same = same && a.records[i].id == b.records[i].id && a.records[i].token_times == b.records[i].token_times &&
               a.records[i].reason == b.records[i].reason;
        differs = differs || a.records[i].token_times != c.records[i].token_times;
    }
    CHECK(same);
    CHECK(differs);
    CHECK(a.duration == b.duration);
}

TEST_CASE("Engine.config.pool_derived_from_pack_or_refused") {
    const std::string pack = std::string(LLMEMU_SOURCE_DIR) + "/data/llm-emu-A40-Qwen3-8B-subset.json";
    VirtualClock clock;
    using X = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
    EngineConfig c; // num_gpu_blocks = 0: derive
    Engine<X, VirtualClock> engine(X(AnyLatencyModel::from_spec(pack), clock), clock, c);
    CHECK(engine.config().num_gpu_blocks > 10000);
    CHECK(engine.stats().num_gpu_blocks == engine.config().num_gpu_blocks);
    CHECK_THROWS_AS((Engine<X, VirtualClock>(X(AnyLatencyModel::from_spec("const:5"), clock), clock, c)), config_error);
    EngineConfig tiny;
    tiny.num_gpu_blocks = 10; // 144 tokens < max_model_len 4096
    CHECK_THROWS_AS((Engine<X, VirtualClock>(X(AnyLatencyModel::from_spec("const:5"), clock), clock, tiny)),
                    config_error);
}

TEST_CASE("Engine.wall_vs_virtual.same_workload_agrees" * doctest::timeout(30)) {
    // 20 requests about 10 ms apart, const 8 ms steps: about 0.3 s of real time. The engine
    // stays busy from the first arrival on, so steps end on a grid of 8 ms; every later
    // request arrives half a step (4 ms) off that grid. An arrival that fell on a step
    // boundary would join that step in virtual time but — arriving a few µs late on the
    // wall clock — the next one, and add a whole step to its TTFT: a coin flip, not a
    // disagreement. A loaded host can still wake the engine thread late (that is the host,
    // not the engine), so the wall-clock run gets up to three tries to agree within 2%.
    std::vector<TimedRequest> reqs;
    Rng g(5);
    for (RequestId i = 1; i <= 20; ++i) {
        const double arrival_ms = i == 1 ? 0.0 : (std::floor(1.25 * static_cast<double>(i - 1)) + 0.5) * 8.0;
        reqs.push_back(timed(arrival_ms, spec(i, 20 + static_cast<std::uint32_t>(uniform_index(g, 300)),
                                              4 + static_cast<std::uint32_t>(uniform_index(g, 9)))));
    }
    EngineConfig c;
    c.num_gpu_blocks = 2000;
    struct Means {
        double ttft = 0, tpot = 0, e2e = 0;
    };
    auto means = [](const SimulationResult& r) {
        Means m;
        double n_tpot = 0;
        for (const auto& rec : r.records) {
            m.ttft += ms(rec.ttft());
            m.e2e += ms(rec.e2e());
            if (rec.output_len > 1) {
                m.tpot += (ms(rec.e2e()) - ms(rec.ttft())) / (rec.output_len - 1);
                n_tpot += 1;
            }
        }
        m.ttft /= static_cast<double>(r.records.size());
        m.e2e /= static_cast<double>(r.records.size());
        m.tpot /= n_tpot;
        return m;
    };
    VirtualClock vclock;
    using VX = EmulatedExecutor<ConstantProfile, VirtualClock>;
    Engine<VX, VirtualClock> ve(VX(ConstantProfile{8.0}, vclock), vclock, c);
    const auto v = means(run_simulation(ve, reqs));
    CHECK(v.tpot == doctest::Approx(8.0));
    auto agrees = [&](const Means& w) {
        return std::abs(w.ttft - v.ttft) <= 0.02 * v.ttft && std::abs(w.tpot - v.tpot) <= 0.02 * v.tpot &&
               std::abs(w.e2e - v.e2e) <= 0.02 * v.e2e;
    };
    Means w;
    for (int attempt = 0; attempt < 3; ++attempt) {
        WallClock wclock;
        using WX = EmulatedExecutor<ConstantProfile, WallClock>;
        Engine<WX, WallClock> we(WX(ConstantProfile{8.0}, wclock), wclock, c);
        const auto res = run_simulation(we, reqs);
        REQUIRE(res.records.size() == reqs.size());
        CHECK(res.stats.num_finished(FinishReason::length) == reqs.size());
        w = means(res);
        if (!timing_reliable) {
            MESSAGE("sanitizer build: wall-clock timing not compared");
            return;
        }
        if (agrees(w)) break;
    }
    CAPTURE(v.ttft);
    CAPTURE(w.ttft);
    CAPTURE(v.tpot);
    CAPTURE(w.tpot);
    CAPTURE(v.e2e);
    CAPTURE(w.e2e);
    CHECK(std::abs(w.ttft - v.ttft) <= 0.02 * v.ttft);
    CHECK(std::abs(w.tpot - v.tpot) <= 0.02 * v.tpot);
    CHECK(std::abs(w.e2e - v.e2e) <= 0.02 * v.e2e);
}
