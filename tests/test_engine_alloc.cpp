// Allocation counting behind docs/engine.md's "allocates nothing per step": operator new
// is replaced for the test binary, and counts only on a thread that switched counting on
// (inside these tests). The scheduler's steady-state steps allocate nothing; a whole
// engine step over EmulatedExecutor on a virtual clock allocates a bounded few (its
// future's state and the output vector), the same with or without an observer attached.
// Sanitizer builds keep their own allocator: the counting cases are skipped there.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/scheduler.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/analytic.hpp"
#include "llmemu/time/virtual_clock.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LLMEMU_TEST_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define LLMEMU_TEST_COUNT_ALLOCS 0
#endif
#endif
#ifndef LLMEMU_TEST_COUNT_ALLOCS
#define LLMEMU_TEST_COUNT_ALLOCS 1
#endif

namespace {
thread_local bool t_counting = false;
thread_local std::uint64_t t_allocations = 0;

/// Counts operator new calls on this thread while alive.
class AllocationCounter {
public:
    AllocationCounter() noexcept {
        t_allocations = 0;
        t_counting = true;
    }
    ~AllocationCounter() { t_counting = false; }
    AllocationCounter(const AllocationCounter&) = delete;
    AllocationCounter& operator=(const AllocationCounter&) = delete;
    [[nodiscard]] std::uint64_t count() const noexcept { return t_allocations; }
};
} // namespace

#if LLMEMU_TEST_COUNT_ALLOCS
// The replaceable global allocation functions (the array and nothrow forms forward here).
void* operator new(std::size_t n) {
    if (t_counting) ++t_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
#endif

using namespace llmemu;
using std::chrono::nanoseconds;

namespace {
EngineConfig decode_config(bool prefix_caching) {
    EngineConfig c;
    c.num_gpu_blocks = 4096;
    c.max_model_len = 4096;
    c.max_num_seqs = 256;
    c.enable_prefix_caching = prefix_caching;
    return c;
}
RequestSpec long_decode(RequestId id) {
    RequestSpec s;
    s.id = id;
    s.prompt_len = 64;
    s.max_tokens = 2000; // never finishes inside the test: a steady state
    s.ignore_eos = true;
    return s;
}
} // namespace

TEST_CASE("EngineAlloc.scheduler_steady_state_steps_allocate_nothing") {
    if (!LLMEMU_TEST_COUNT_ALLOCS) return; // sanitizer build: see the file comment
    for (const bool caching : {false, true}) {
        CAPTURE(caching);
        Scheduler sch(decode_config(caching));
        for (RequestId id = 1; id <= 64; ++id) sch.add_request(long_decode(id), nanoseconds{0});
        ScheduledStep step;
        StepOutput out;
        auto one_step = [&](std::int64_t t) {
            sch.schedule(step, nanoseconds{t});
            out.step_id = step.batch.step_id;
            out.outputs.resize(step.batch.requests.size());
            for (std::size_t k = 0; k < step.batch.requests.size(); ++k) {
                out.outputs[k].id = step.batch.requests[k].id;
                out.outputs[k].token = step.batch.requests[k].samples_token ? std::optional<TokenId>(7) : std::nullopt;
                out.outputs[k].is_eos = false;
            }
            sch.update_from_output(step, out, nanoseconds{t + 1});
        };
        for (int i = 0; i < 40; ++i) one_step(2 * i); // prefill, then buffers reach their size
        REQUIRE(sch.num_running() == 64);
        AllocationCounter counter;
        for (int i = 40; i < 240; ++i) one_step(2 * i);
        CHECK(counter.count() == 0);
        CHECK(sch.num_running() == 64);
    }
}

TEST_CASE("EngineAlloc.engine_step_allocates_a_bounded_few_observer_or_not") {
    if (!LLMEMU_TEST_COUNT_ALLOCS) return;
    using Exec = EmulatedExecutor<ConstantProfile, VirtualClock>;
    struct Quiet final : EngineObserver {
        std::uint64_t steps = 0;
        void on_step_end(const StepRecord&, nanoseconds, const EngineStats&) override { ++steps; }
    };
    std::uint64_t per_run[2] = {0, 0};
    for (const bool observed : {false, true}) {
        CAPTURE(observed);
        VirtualClock clock;
        Engine<Exec, VirtualClock> engine(Exec(ConstantProfile{1.0}, clock), clock, decode_config(true));
        Quiet quiet;
        if (observed) engine.add_observer(&quiet);
        for (RequestId id = 1; id <= 64; ++id) engine.add_request(long_decode(id), nanoseconds{0});
        for (int i = 0; i < 40; ++i) engine.step();
        const std::uint64_t steps_before = engine.stats().steps;
        AllocationCounter counter;
        for (int i = 0; i < 200; ++i) engine.step();
        const std::uint64_t steps = engine.stats().steps - steps_before;
        REQUIRE(steps >= 199);
        per_run[observed ? 1 : 0] = counter.count();
        // The executor's future (its shared state and timer callback) and the step's output
        // vector: 3 per step with libstdc++ 12 (a little slack for other libraries).
        CHECK(counter.count() <= 3 * steps + 4);
        CHECK(counter.count() >= steps); // the counter counts
        MESSAGE("allocations per engine step: " << static_cast<double>(counter.count()) / static_cast<double>(steps));
    }
    CHECK(per_run[0] == per_run[1]); // an observer adds no allocation
}
