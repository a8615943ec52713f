// EmulatedExecutor and the StepExecutor concept.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/executor/step_executor.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/tokens/emitters.hpp"

using namespace std::chrono_literals;
using llmemu::AffineProfile;
using llmemu::ConstantProfile;
using llmemu::EmulatedExecutor;
using llmemu::Phase;
using llmemu::ScheduledRequest;
using llmemu::StepBatch;
using llmemu::StepOutput;
using llmemu::VirtualClock;
using llmemu::WallClock;

namespace {

// Deliberately wrong executors and futures.
struct NoGetFuture {
    bool ready() const { return true; }
    void wait() {}
};
struct ExecutorWithoutGet {
    NoGetFuture execute(const StepBatch&) { return {}; }
};
struct SyncExecutor { // returns the output directly: not future-like
    StepOutput execute(const StepBatch&) { return {}; }
};
struct TakesMutableBatch {
    llmemu::TimerFuture<StepOutput, VirtualClock> execute(StepBatch&);
};
// A hand-written executor that satisfies the concept without llmemu's future.
struct ImmediateFuture {
    StepOutput out;
    bool ready() const { return true; }
    void wait() {}
    StepOutput get() { return out; }
};
struct ImmediateExecutor {
    ImmediateFuture execute(const StepBatch& b) {
        return ImmediateFuture{StepOutput{b.step_id, {}, {}, {}, b.shape()}};
    }
};

struct NotAModel {
    int sample(int) { return 0; }
};

// A latency model that returns a programmable value (and records the shapes it saw).
struct ScriptedModel {
    std::vector<double> values;
    std::vector<llmemu::StepShape> seen;
    std::size_t next = 0;
    double sample(const llmemu::StepShape& s, llmemu::Rng&) {
        seen.push_back(s);
        return values[next++ % values.size()];
    }
};
struct ThrowingModel {
    double sample(const llmemu::StepShape&, llmemu::Rng&) { throw llmemu::profile_error("no bucket"); }
};
// Draws a latency from the rng so seeds matter.
struct RandomModel {
    double sample(const llmemu::StepShape&, llmemu::Rng& g) { return 1000.0 + 1000.0 * llmemu::uniform01(g); }
};

ScheduledRequest decode(llmemu::RequestId id, std::uint32_t computed, std::uint32_t outputs = 1) {
    return ScheduledRequest::decode(id, computed, outputs);
}
ScheduledRequest prefill(llmemu::RequestId id, std::uint32_t chunk, std::uint32_t computed, bool completes) {
    return ScheduledRequest::prefill_chunk(id, chunk, computed, computed + chunk + (completes ? 0U : 1U))
        .admitted(computed == 0);
}

// Wall-clock steps are checked against the window [before, after] in which execute() ran,
// so the checks hold however the OS schedules the test: the step starts at
// max(dispatch, previous end), and dispatch lies inside the window.
void check_serial_start(const StepOutput& o, std::chrono::nanoseconds prev_end, WallClock::time_point before,
                        WallClock::time_point after) {
    CHECK(o.start >= prev_end);
    CHECK(o.start >= llmemu::since_epoch(before));
    if (prev_end >= llmemu::since_epoch(after))
        CHECK(o.start == prev_end); // dispatched ahead: back to back
    else
        CHECK(o.start <= llmemu::since_epoch(after));
}

} // namespace

using VExec = EmulatedExecutor<ConstantProfile, VirtualClock>;
using WExec = EmulatedExecutor<AffineProfile>;
static_assert(llmemu::StepExecutor<VExec>);
static_assert(llmemu::StepExecutor<WExec>);
static_assert(llmemu::StepExecutor<EmulatedExecutor<AffineProfile, VirtualClock, llmemu::EosAtLengthEmitter>>);
static_assert(llmemu::StepExecutor<EmulatedExecutor<ScriptedModel, WallClock, llmemu::ReplayTokenEmitter>>);
static_assert(llmemu::StepExecutor<ImmediateExecutor>);
static_assert(llmemu::ContinuableStepFuture<VExec::future_type>);
static_assert(llmemu::ContinuableStepFuture<WExec::future_type>);
static_assert(!llmemu::ContinuableStepFuture<ImmediateFuture>);
static_assert(!llmemu::StepExecutor<ExecutorWithoutGet>);
static_assert(!llmemu::StepExecutor<SyncExecutor>);
static_assert(!llmemu::StepExecutor<TakesMutableBatch>);
static_assert(!llmemu::StepExecutor<int>);
static_assert(llmemu::LatencyModel<ConstantProfile> && llmemu::LatencyModel<AffineProfile>);
static_assert(!llmemu::LatencyModel<NotAModel>);
static_assert(std::is_same_v<VExec::future_type, llmemu::TimerFuture<StepOutput, VirtualClock>>);
static_assert(std::is_same_v<llmemu::step_future_t<VExec>, VExec::future_type>);
// The defaults: wall clock, uniform tokens.
static_assert(std::is_same_v<WExec::clock_type, WallClock>);
static_assert(std::is_same_v<WExec::emitter_type, llmemu::UniformVocabEmitter>);

TEST_CASE("Executor.shape_from_batch.prefill_iff_prompt_work") {
    VirtualClock clock;
    EmulatedExecutor<ScriptedModel, VirtualClock> exec(ScriptedModel{{100.0}, {}, 0}, clock);
    // Decode only.
    exec.execute(StepBatch{1, {decode(1, 10), decode(2, 20), decode(3, 5)}}).get();
    // A continuing prefill chunk (not new) with decodes: prompt work, so a prefill-table step
    // (LLM-Emu's decode table holds pure decode steps only).
    exec.execute(StepBatch{2, {prefill(4, 64, 128, false), decode(1, 11)}}).get();
    // A newly admitted request's first chunk: a prefill step too.
    exec.execute(StepBatch{3, {decode(1, 12), prefill(5, 100, 0, true)}}).get();
    const auto& seen = exec.model().seen;
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == llmemu::StepShape{Phase::decode, 3, 3, 35});
    CHECK(seen[1] == llmemu::StepShape{Phase::prefill, 65, 2, 139});
    CHECK(seen[2] == llmemu::StepShape{Phase::prefill, 101, 2, 12});
}

TEST_CASE("Executor.virtual_clock.exact_step_times_constant_profile") {
    VirtualClock clock;
    VExec exec(ConstantProfile{10.0}, clock);
    auto f1 = exec.execute(StepBatch{1, {decode(1, 5)}});
    // Async scheduling: step 2 is dispatched at t=0, before step 1 resolves; it queues behind it.
    auto f2 = exec.execute(StepBatch{2, {decode(1, 6)}});
    CHECK(f1.deadline().time_since_epoch() == 10ms);
    CHECK(f2.deadline().time_since_epoch() == 20ms);
    CHECK_FALSE(f1.ready());
    const StepOutput o1 = f1.get();
    CHECK(clock.now().time_since_epoch() == 10ms);
    CHECK(o1.step_id == 1);
    CHECK(o1.start == 0ns);
    CHECK(o1.end == 10ms);
    CHECK_FALSE(f2.ready());
    const StepOutput o2 = f2.get();
    CHECK(o2.start == 10ms);
    CHECK(o2.end == 20ms);
    // Host idles for 5 ms: the next step starts at its dispatch, not at the previous end.
    clock.advance_by(5ms);
    auto f3 = exec.execute(StepBatch{3, {decode(1, 7)}});
    const StepOutput o3 = f3.get();
    CHECK(o3.start == 25ms);
    CHECK(o3.end == 35ms);
    CHECK(exec.busy_until().time_since_epoch() == 35ms);
    CHECK(exec.steps() == 3);
}

TEST_CASE("Executor.virtual_clock.exact_step_times_affine_profile") {
    VirtualClock clock;
    // 2 ms + 10 us/token + 50 us/seq.
    EmulatedExecutor<AffineProfile, VirtualClock> exec(AffineProfile{2.0, 10.0, 50.0}, clock);
    auto f = exec.execute(StepBatch{7, {prefill(1, 512, 0, true), decode(2, 100), decode(3, 40)}});
    const StepOutput o = f.get();
    // 2000 + 10 * 514 + 50 * 3 = 7290 us.
    CHECK(o.end - o.start == 7290us);
    CHECK(o.shape == llmemu::StepShape{Phase::prefill, 514, 3, 140});
    // Host work between dispatches does not stretch the step: dispatch late, still start+latency.
    clock.advance_by(1ms); // host CPU time
    auto g = exec.execute(StepBatch{8, {decode(1, 512), decode(2, 101), decode(3, 41)}});
    const StepOutput og = g.get();
    CHECK(og.start == 7290us + 1ms);
    CHECK(og.end == og.start + 2000us + 30us + 150us);
}

TEST_CASE("Executor.virtual_clock.steps_resolve_in_dispatch_order") {
    VirtualClock clock;
    // Latencies shrink, but a serial resource still finishes step i before step i+1.
    EmulatedExecutor<ScriptedModel, VirtualClock> exec(ScriptedModel{{5000.0, 1000.0, 10.0}, {}, 0}, clock);
    std::vector<std::uint64_t> order;
    std::vector<VExec::future_type> futures;
    for (std::uint64_t i = 0; i < 3; ++i) {
        futures.push_back(exec.execute(StepBatch{i, {decode(1, 1)}}));
        futures.back().then([&order, i] { order.push_back(i); });
    }
    while (clock.run_next()) {
    }
    CHECK(order == std::vector<std::uint64_t>{0, 1, 2});
    CHECK(clock.now().time_since_epoch() == 6010us);
    for (auto& f : futures) CHECK(f.ready());
}

TEST_CASE("Executor.tokens_only_when_the_chunk_completes_the_prompt") {
    VirtualClock clock;
    EmulatedExecutor<ConstantProfile, VirtualClock, llmemu::ConstantTokenEmitter> exec(
        ConstantProfile{1.0}, clock, llmemu::ConstantTokenEmitter(42));
    const StepOutput o =
        exec.execute(StepBatch{1, {prefill(1, 256, 0, false), prefill(2, 30, 0, true), decode(3, 9)}}).get();
    REQUIRE(o.outputs.size() == 3);
    CHECK(o.outputs[0].id == 1);
    CHECK_FALSE(o.outputs[0].token.has_value());
    CHECK(o.outputs[1].id == 2);
    CHECK(o.outputs[1].token == 42);
    CHECK(o.outputs[2].id == 3);
    CHECK(o.outputs[2].token == 42);
    CHECK_FALSE(o.outputs[2].is_eos);
}

TEST_CASE("Executor.eos_at_length_through_the_executor") {
    VirtualClock clock;
    EmulatedExecutor<ConstantProfile, VirtualClock, llmemu::EosAtLengthEmitter> exec(ConstantProfile{1.0}, clock);
    exec.emitter().set_target(9, 3);
    std::uint32_t produced = 0;
    bool ended = false;
    for (int step = 0; step < 10 && !ended; ++step) {
        const StepOutput o =
            exec.execute(StepBatch{static_cast<std::uint64_t>(step),
                                   {step == 0 ? ScheduledRequest::prefill_chunk(9, 16, 0, 16).admitted()
                                              : ScheduledRequest::decode(9, 16 + produced, produced)}})
                .get();
        REQUIRE(o.outputs.size() == 1);
        REQUIRE(o.outputs[0].token.has_value());
        ++produced;
        ended = o.outputs[0].is_eos;
        if (ended)
            CHECK(*o.outputs[0].token == llmemu::EosAtLengthEmitter::default_eos_id);
        else
            CHECK(*o.outputs[0].token != llmemu::EosAtLengthEmitter::default_eos_id);
    }
    CHECK(ended);
    CHECK(produced == 3);
}

TEST_CASE("Executor.same_seed_same_run_different_seed_differs") {
    auto run = [](std::uint64_t seed) {
        VirtualClock clock;
        EmulatedExecutor<RandomModel, VirtualClock> exec(RandomModel{}, clock, {}, seed);
        std::vector<std::int64_t> ends;
        std::vector<int> tokens;
        for (std::uint64_t i = 0; i < 20; ++i) {
            const StepOutput o = exec.execute(StepBatch{i, {decode(1, 1), decode(2, 2)}}).get();
            ends.push_back(o.end.count());
            tokens.push_back(*o.outputs[0].token);
            tokens.push_back(*o.outputs[1].token);
        }
        return std::make_pair(ends, tokens);
    };
    CHECK(run(1) == run(1));
    CHECK(run(1).first != run(2).first);
    CHECK(run(1).second != run(2).second);
}

TEST_CASE("Executor.token_emitter_does_not_change_timing") {
    auto ends = [](auto emitter) {
        VirtualClock clock;
        EmulatedExecutor<RandomModel, VirtualClock, decltype(emitter)> exec(RandomModel{}, clock, emitter, 5);
        std::vector<std::int64_t> out;
        for (std::uint64_t i = 0; i < 10; ++i)
            out.push_back(exec.execute(StepBatch{i, {decode(1, 1)}}).get().end.count());
        return out;
    };
    CHECK(ends(llmemu::ConstantTokenEmitter(3)) == ends(llmemu::UniformVocabEmitter(1000)));
}

TEST_CASE("Executor.bad_steps_resolve_with_an_error_and_do_not_occupy_the_gpu") {
    VirtualClock clock;
    EmulatedExecutor<ScriptedModel, VirtualClock> exec(
        ScriptedModel{
            {1000.0, std::numeric_limits<double>::quiet_NaN(), -5.0, std::numeric_limits<double>::infinity(), 1e300},
            {},
            0},
        clock);
    CHECK(exec.execute(StepBatch{1, {decode(1, 1)}}).get().end == 1ms);
    auto nan = exec.execute(StepBatch{2, {decode(1, 2)}});
    CHECK(nan.ready());
    CHECK(nan.has_exception());
    CHECK_THROWS_AS(nan.get(), llmemu::profile_error);
    CHECK_THROWS_AS(exec.execute(StepBatch{3, {decode(1, 2)}}).get(), llmemu::profile_error);
    CHECK_THROWS_AS(exec.execute(StepBatch{4, {decode(1, 2)}}).get(), llmemu::profile_error);
    CHECK_THROWS_WITH_AS(exec.execute(StepBatch{4, {decode(1, 2)}}).get(), doctest::Contains("at most one day"),
                         llmemu::profile_error);
    auto empty = exec.execute(StepBatch{5, {}});
    CHECK_THROWS_WITH_AS(empty.get(), doctest::Contains("schedules no requests"), llmemu::request_error);
    CHECK_THROWS_WITH_AS(exec.execute(StepBatch{6, {ScheduledRequest::prefill_chunk(3, 0, 0, 0).admitted()}}).get(),
                         doctest::Contains("request 3 has num_scheduled_tokens = 0"), llmemu::request_error);
    CHECK(exec.steps() == 1);
    CHECK(exec.busy_until().time_since_epoch() == 1ms);

    VirtualClock c2;
    EmulatedExecutor<ThrowingModel, VirtualClock> bad(ThrowingModel{}, c2);
    CHECK_THROWS_WITH_AS(bad.execute(StepBatch{1, {decode(1, 1)}}).get(), "no bucket", llmemu::profile_error);
}

TEST_CASE("Executor.wall_clock.resolves_at_deadline_on_timer_thread" * doctest::timeout(10)) {
    WallClock clock;
    WExec exec(AffineProfile{20.0, 0.0, 0.0}, clock, llmemu::UniformVocabEmitter(100), 3);
    const auto b1 = WallClock::now();
    auto f1 = exec.execute(StepBatch{1, {decode(1, 1)}});
    const auto a1 = WallClock::now();
    auto f2 = exec.execute(StepBatch{2, {decode(1, 2)}});
    const auto a2 = WallClock::now();
    std::atomic<int> continuations{0};
    f2.then([&] { continuations.fetch_add(1); });
    const StepOutput o1 = f1.get();
    CHECK(WallClock::now() >= f1.deadline());
    CHECK(f1.deadline().time_since_epoch() == o1.end);
    CHECK(o1.end - o1.start == 20ms);
    check_serial_start(o1, 0ns, b1, a1);
    const StepOutput o2 = f2.get();
    CHECK(WallClock::now() >= f2.deadline());
    CHECK(o2.end - o2.start == 20ms);
    check_serial_start(o2, o1.end, a1, a2);
    REQUIRE(o2.outputs[0].token.has_value());
    CHECK(*o2.outputs[0].token < 100);
    // The continuation runs on the timer thread right after the value is published; wait
    // for it boundedly.
    for (int i = 0; i < 1000 && continuations.load() == 0; ++i) std::this_thread::sleep_for(1ms);
    CHECK(continuations.load() == 1);
}

TEST_CASE("Executor.shape_matches_StepBatch_shape_for_random_batches") {
    VirtualClock clock;
    EmulatedExecutor<ScriptedModel, VirtualClock> exec(ScriptedModel{{10.0}, {}, 0}, clock);
    llmemu::Rng rng(99);
    std::vector<StepBatch> batches;
    for (std::uint64_t step = 0; step < 200; ++step) {
        StepBatch b{step, {}};
        const auto n = 1 + llmemu::uniform_index(rng, 40);
        for (std::uint64_t i = 0; i < n; ++i) {
            const bool is_new = llmemu::uniform_index(rng, 5) == 0;
            const auto chunk = static_cast<std::uint32_t>(1 + llmemu::uniform_index(rng, is_new ? 600 : 2));
            const auto computed = static_cast<std::uint32_t>(llmemu::uniform_index(rng, 4000));
            const bool samples = llmemu::uniform_index(rng, 3) != 0;
            if (!is_new && chunk == 1 && samples)
                b.requests.push_back(ScheduledRequest::decode(i, computed, 0));
            else
                b.requests.push_back(
                    ScheduledRequest::prefill_chunk(i, chunk, computed, computed + chunk + (samples ? 0U : 1U))
                        .admitted(is_new));
        }
        const StepOutput o = exec.execute(b).get();
        CHECK(o.shape == b.shape());
        REQUIRE(o.outputs.size() == b.requests.size());
        for (std::size_t i = 0; i < o.outputs.size(); ++i) {
            CHECK(o.outputs[i].id == b.requests[i].id);
            CHECK(o.outputs[i].token.has_value() == b.requests[i].samples_token);
        }
        batches.push_back(std::move(b));
    }
    REQUIRE(exec.model().seen.size() == batches.size());
    for (std::size_t i = 0; i < batches.size(); ++i) CHECK(exec.model().seen[i] == batches[i].shape());
}

TEST_CASE_TEMPLATE("Executor.every_emitter_through_the_executor", E, llmemu::ConstantTokenEmitter,
                   llmemu::UniformVocabEmitter, llmemu::EosAtLengthEmitter) {
    VirtualClock clock;
    EmulatedExecutor<ConstantProfile, VirtualClock, E> exec(ConstantProfile{1.0}, clock, E{}, 17);
    const StepOutput o =
        exec.execute(StepBatch{1, {prefill(1, 100, 0, false), decode(2, 30, 4), prefill(3, 8, 0, true)}}).get();
    REQUIRE(o.outputs.size() == 3);
    CHECK_FALSE(o.outputs[0].token.has_value());
    CHECK_FALSE(o.outputs[0].is_eos);
    REQUIRE(o.outputs[1].token.has_value());
    REQUIRE(o.outputs[2].token.has_value());
    CHECK(*o.outputs[1].token >= 0);
    CHECK(*o.outputs[1].token < static_cast<llmemu::TokenId>(llmemu::UniformVocabEmitter::default_vocab_size));
}

TEST_CASE("Executor.replay_emitter_through_the_executor") {
    VirtualClock clock;
    EmulatedExecutor<ConstantProfile, VirtualClock, llmemu::ReplayTokenEmitter> exec(
        ConstantProfile{1.0}, clock,
        llmemu::ReplayTokenEmitter({100, 101, 102}, llmemu::ReplayTokenEmitter::Start::beginning));
    std::vector<llmemu::TokenId> got;
    for (std::uint32_t k = 0; k < 4; ++k)
        got.push_back(*exec.execute(StepBatch{k, {decode(5, 10 + k, k)}}).get().outputs[0].token);
    CHECK(got == std::vector<llmemu::TokenId>{100, 101, 102, 100});
}

TEST_CASE("Executor.replicas_share_one_virtual_clock") {
    // Two executors (two emulated GPUs) on one clock: each is serial on its own, they
    // run in parallel with each other, and a driver interleaves them by time.
    VirtualClock clock;
    VExec a(ConstantProfile{3.0}, clock);
    VExec b(ConstantProfile{5.0}, clock);
    std::vector<std::pair<char, std::int64_t>> log; // (replica, end in us)
    std::vector<VExec::future_type> pending;
    for (int i = 0; i < 3; ++i) {
        pending.push_back(a.execute(StepBatch{static_cast<std::uint64_t>(i), {decode(1, 1)}}));
        pending.back().then([&log, &clock] {
            log.emplace_back(
                'a', std::chrono::duration_cast<std::chrono::microseconds>(clock.now().time_since_epoch()).count());
        });
        pending.push_back(b.execute(StepBatch{static_cast<std::uint64_t>(i), {decode(2, 1)}}));
        pending.back().then([&log, &clock] {
            log.emplace_back(
                'b', std::chrono::duration_cast<std::chrono::microseconds>(clock.now().time_since_epoch()).count());
        });
    }
    REQUIRE(clock.next_deadline().has_value());
    CHECK(clock.next_deadline()->time_since_epoch() == 3ms);
    while (clock.run_next()) {
    }
    const std::vector<std::pair<char, std::int64_t>> expected{{'a', 3000}, {'b', 5000},  {'a', 6000},
                                                              {'a', 9000}, {'b', 10000}, {'b', 15000}};
    CHECK(log == expected);
    for (auto& f : pending) CHECK(f.ready());
}

TEST_CASE("Executor.wall_clock.shutdown_cancels_in_flight_steps" * doctest::timeout(10)) {
    WallClock clock;
    WExec exec(AffineProfile{10'000.0, 0.0, 0.0}, clock); // a 10 s step
    auto f = exec.execute(StepBatch{1, {decode(1, 1)}});
    std::thread waiter([&] { CHECK_THROWS_AS(f.get(), llmemu::future_error); });
    std::this_thread::sleep_for(2ms);
    clock.shutdown();
    waiter.join();
    CHECK(f.cancelled());
}

TEST_CASE("Executor.wall_clock.async_dispatch_from_a_continuation" * doctest::timeout(10)) {
    // A non-blocking host: each step's continuation (on the timer thread) records the
    // result; the host thread dispatches the next step before the previous one resolves.
    WallClock clock;
    WExec exec(AffineProfile{10.0, 0.0, 0.0}, clock);
    std::mutex m;
    std::vector<std::uint64_t> resolved;
    std::vector<WExec::future_type> futures;
    std::vector<WallClock::time_point> windows{WallClock::now()};
    for (std::uint64_t i = 0; i < 5; ++i) {
        futures.push_back(exec.execute(StepBatch{i, {decode(1, static_cast<std::uint32_t>(i))}}));
        windows.push_back(WallClock::now());
        futures.back().then([&m, &resolved, i] {
            std::lock_guard lock(m);
            resolved.push_back(i);
        });
    }
    std::chrono::nanoseconds prev_end{0};
    for (std::size_t i = 0; i < futures.size(); ++i) {
        const StepOutput o = futures[i].get();
        check_serial_start(o, prev_end, windows[i], windows[i + 1]);
        CHECK(o.end - o.start == 10ms);
        prev_end = o.end;
    }
    for (int i = 0; i < 1000; ++i) {
        {
            std::lock_guard lock(m);
            if (resolved.size() == 5) break;
        }
        std::this_thread::sleep_for(1ms);
    }
    std::lock_guard lock(m);
    CHECK(resolved == std::vector<std::uint64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("Executor.docs_embedding_snippet") {
    // The example from docs/embedding.md, verbatim apart from the checks.
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor exec(llmemu::AffineProfile{2.0, 25.0, 40.0}, clock); // CTAD: uniform token ids, seed 0
    static_assert(
        std::is_same_v<decltype(exec), EmulatedExecutor<AffineProfile, VirtualClock, llmemu::UniformVocabEmitter>>);
    using llmemu::ScheduledRequest;
    llmemu::StepBatch step{
        /*step_id=*/0,
        {
            // request 7: the first 512-token chunk of a 1,500-token prompt, admitted this step: no token yet
            ScheduledRequest::prefill_chunk(7, /*chunk_tokens=*/512, /*computed_tokens=*/0, /*prompt_tokens=*/1500)
                .admitted(),
            // request 3 decoding: 900 tokens in the KV cache, 41 generated; samples one token
            ScheduledRequest::decode(3, /*context_tokens=*/900, /*output_tokens=*/41),
        }};
    auto future = exec.execute(step);
    llmemu::StepOutput out = future.get();
    CHECK(out.start == 0ns);
    CHECK(out.end == 2000us + 25us * 513 + 40us * 2);
    CHECK(clock.now().time_since_epoch() == out.end);
    CHECK(out.shape.phase == Phase::prefill);
    REQUIRE(out.outputs.size() == 2);
    CHECK_FALSE(out.outputs[0].token.has_value());
    CHECK(out.outputs[1].token.has_value());
}
