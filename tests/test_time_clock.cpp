// VirtualClock, WallClock and the Clock concept.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "llmemu/random.hpp"
#include "llmemu/time/clock.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"

using namespace std::chrono_literals;
using llmemu::TimerHandle;
using llmemu::VirtualClock;
using llmemu::WallClock;

namespace wrong_clocks { // named (not anonymous) so unused members draw no warnings
// Deliberately wrong clocks: each misses one requirement.
struct NoSchedule {
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<NoSchedule, duration>;
    static constexpr bool is_virtual = true;
    time_point now() const { return {}; }
    void sleep_until(time_point) {}
    bool cancel(TimerHandle) { return false; }
};
struct MicrosecondClock {
    using duration = std::chrono::microseconds;
    using time_point = std::chrono::time_point<MicrosecondClock, duration>;
    static constexpr bool is_virtual = true;
    time_point now() const { return {}; }
    void sleep_until(time_point) {}
    TimerHandle schedule_at(time_point, std::function<void()>) { return {}; }
    bool cancel(TimerHandle) { return false; }
};
struct NonConstNow {
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<NonConstNow, duration>;
    static constexpr bool is_virtual = false;
    time_point now() { return {}; }
    void sleep_until(time_point) {}
    TimerHandle schedule_at(time_point, std::function<void()>) { return {}; }
    bool cancel(TimerHandle) { return false; }
};
} // namespace wrong_clocks
using namespace wrong_clocks;

static_assert(llmemu::Clock<VirtualClock>);
static_assert(llmemu::Clock<WallClock>);
static_assert(!llmemu::Clock<NoSchedule>);
static_assert(!llmemu::Clock<MicrosecondClock>);
static_assert(!llmemu::Clock<NonConstNow>);
static_assert(!llmemu::Clock<std::chrono::steady_clock>);
static_assert(!llmemu::Clock<int>);
static_assert(VirtualClock::is_virtual && !WallClock::is_virtual);

TEST_CASE("VirtualClock.starts_at_zero_and_never_sleeps") {
    VirtualClock clock;
    CHECK(clock.now().time_since_epoch() == 0ns);
    const auto wall_before = std::chrono::steady_clock::now();
    clock.sleep_until(VirtualClock::time_point(3600s));
    CHECK(clock.now().time_since_epoch() == 3600s);
    CHECK(std::chrono::steady_clock::now() - wall_before < 1s);
    clock.advance_by(5ns);
    CHECK(clock.now().time_since_epoch() == 3600s + 5ns);
    VirtualClock later(VirtualClock::time_point(7ms));
    CHECK(later.now().time_since_epoch() == 7ms);
}

TEST_CASE("VirtualClock.fires_in_deadline_order_ties_fifo") {
    VirtualClock clock;
    std::vector<std::string> log;
    auto at = [&](std::chrono::nanoseconds t, std::string name) {
        clock.schedule_at(VirtualClock::time_point(t), [&clock, &log, name, t] {
            CHECK(clock.now().time_since_epoch() == t); // now() is the deadline while it runs
            log.push_back(name);
        });
    };
    at(30ns, "c");
    at(10ns, "a1");
    at(20ns, "b");
    at(10ns, "a2");
    at(10ns, "a3");
    at(40ns, "d");
    CHECK(clock.pending() == 6);
    REQUIRE(clock.next_deadline().has_value());
    CHECK(clock.next_deadline()->time_since_epoch() == 10ns);
    clock.advance_to(VirtualClock::time_point(30ns));
    CHECK(log == std::vector<std::string>{"a1", "a2", "a3", "b", "c"});
    CHECK(clock.now().time_since_epoch() == 30ns);
    CHECK(clock.pending() == 1);
    CHECK(clock.fired() == 5);
}

TEST_CASE("VirtualClock.time_never_goes_backwards") {
    VirtualClock clock;
    clock.advance_to(VirtualClock::time_point(100ns));
    clock.advance_to(VirtualClock::time_point(50ns));
    CHECK(clock.now().time_since_epoch() == 100ns);
    bool ran = false;
    clock.schedule_at(VirtualClock::time_point(10ns), [&] {
        ran = true;
        CHECK(clock.now().time_since_epoch() == 100ns);
    });
    CHECK_FALSE(ran);
    clock.advance_to(clock.now()); // a timer in the past runs at the next advance
    CHECK(ran);
    CHECK(clock.now().time_since_epoch() == 100ns);
}

TEST_CASE("VirtualClock.cancel") {
    VirtualClock clock;
    int fired = 0;
    const TimerHandle h1 = clock.schedule_at(VirtualClock::time_point(10ns), [&] { ++fired; });
    const TimerHandle h2 = clock.schedule_at(VirtualClock::time_point(20ns), [&] { fired += 10; });
    CHECK(h1 != h2);
    CHECK(clock.cancel(h1));
    CHECK_FALSE(clock.cancel(h1)); // twice
    CHECK_FALSE(clock.cancel(TimerHandle{}));
    CHECK_FALSE(clock.cancel(TimerHandle{0xFFFF'0000'0000'1234ULL}));
    CHECK(clock.pending() == 1);
    CHECK(clock.next_deadline()->time_since_epoch() == 20ns);
    clock.advance_to(VirtualClock::time_point(100ns));
    CHECK(fired == 10);
    CHECK_FALSE(clock.cancel(h2)); // already fired
    // A reused slot does not answer to an old handle.
    const TimerHandle h3 = clock.schedule_at(VirtualClock::time_point(200ns), [&] { fired += 100; });
    CHECK_FALSE(clock.cancel(h1));
    CHECK_FALSE(clock.cancel(h2));
    CHECK(clock.pending() == 1);
    CHECK(clock.cancel(h3));
    CHECK_FALSE(clock.next_deadline().has_value());
}

TEST_CASE("VirtualClock.callbacks_schedule_and_cancel_reentrantly") {
    VirtualClock clock;
    std::vector<int> log;
    TimerHandle victim;
    clock.schedule_at(VirtualClock::time_point(10ns), [&] {
        log.push_back(1);
        // Due within the same advance: must still run, in order.
        clock.schedule_at(VirtualClock::time_point(15ns), [&] { log.push_back(2); });
        CHECK(clock.cancel(victim));
        // Scheduled "now": runs before later timers.
        clock.schedule_after(0ns, [&] { log.push_back(3); });
    });
    victim = clock.schedule_at(VirtualClock::time_point(12ns), [&] { log.push_back(99); });
    clock.schedule_at(VirtualClock::time_point(20ns), [&] { log.push_back(4); });
    clock.advance_to(VirtualClock::time_point(50ns));
    CHECK(log == std::vector<int>{1, 3, 2, 4});
}

TEST_CASE("VirtualClock.run_next_drives_one_timer_at_a_time") {
    VirtualClock clock;
    std::vector<int> log;
    clock.schedule_at(VirtualClock::time_point(5ns), [&] { log.push_back(1); });
    clock.schedule_at(VirtualClock::time_point(5ns), [&] { log.push_back(2); });
    clock.schedule_at(VirtualClock::time_point(9ns), [&] { log.push_back(3); });
    CHECK(clock.run_next());
    CHECK(log == std::vector<int>{1});
    CHECK(clock.now().time_since_epoch() == 5ns);
    CHECK(clock.run_next());
    CHECK(clock.run_next());
    CHECK(clock.now().time_since_epoch() == 9ns);
    CHECK_FALSE(clock.run_next());
    CHECK(log == std::vector<int>{1, 2, 3});
}

TEST_CASE("VirtualClock.multiplexes_two_engines_on_one_clock") {
    // Two independent "engines" that each reschedule themselves every period, driven by
    // one run_next loop: events interleave by time exactly.
    VirtualClock clock;
    std::vector<std::pair<char, std::int64_t>> log;
    std::function<void(char, std::chrono::nanoseconds, int)> tick = [&](char who, std::chrono::nanoseconds period,
                                                                        int left) {
        log.emplace_back(who, clock.now().time_since_epoch().count());
        if (left > 1) clock.schedule_after(period, [&tick, who, period, left] { tick(who, period, left - 1); });
    };
    clock.schedule_at(VirtualClock::time_point(0ns), [&] { tick('a', 3ns, 4); });
    clock.schedule_at(VirtualClock::time_point(1ns), [&] { tick('b', 5ns, 3); });
    while (clock.run_next()) {
    }
    const std::vector<std::pair<char, std::int64_t>> expected{{'a', 0}, {'b', 1}, {'a', 3}, {'b', 6},
                                                              {'a', 6}, {'a', 9}, {'b', 11}};
    CHECK(log == expected);
}

TEST_CASE("VirtualClock.callback_exception_propagates_and_others_stay") {
    VirtualClock clock;
    int ran = 0;
    clock.schedule_at(VirtualClock::time_point(1ns), [] { throw std::runtime_error("boom"); });
    clock.schedule_at(VirtualClock::time_point(2ns), [&] { ++ran; });
    CHECK_THROWS_WITH_AS(clock.advance_to(VirtualClock::time_point(10ns)), "boom", std::runtime_error);
    CHECK(clock.now().time_since_epoch() == 1ns);
    CHECK(clock.pending() == 1);
    clock.advance_to(VirtualClock::time_point(10ns));
    CHECK(ran == 1);
}

TEST_CASE("VirtualClock.destruction_drops_pending_callbacks_unrun") {
    auto token = std::make_shared<int>(0);
    bool ran = false;
    {
        VirtualClock clock;
        clock.schedule_at(VirtualClock::time_point(1ns), [token, &ran] { ran = true; });
        CHECK(token.use_count() == 2);
    }
    CHECK_FALSE(ran);
    CHECK(token.use_count() == 1); // the callback was destroyed, not leaked
}

TEST_CASE("VirtualClock.many_timers_with_cancellations_stay_ordered") {
    VirtualClock clock;
    llmemu::Rng rng(7);
    std::vector<std::int64_t> fired;
    std::vector<TimerHandle> handles;
    for (int i = 0; i < 2000; ++i) {
        const auto t = static_cast<std::int64_t>(llmemu::uniform_index(rng, 1000));
        handles.push_back(clock.schedule_at(VirtualClock::time_point(std::chrono::nanoseconds(t)), [&fired, &clock] {
            fired.push_back(clock.now().time_since_epoch().count());
        }));
    }
    std::size_t cancelled = 0;
    for (std::size_t i = 0; i < handles.size(); i += 3) cancelled += clock.cancel(handles[i]) ? 1U : 0U;
    CHECK(cancelled == (handles.size() + 2) / 3);
    clock.advance_to(VirtualClock::time_point(1us));
    CHECK(fired.size() == handles.size() - cancelled);
    CHECK(std::is_sorted(fired.begin(), fired.end()));
}

TEST_CASE("WallClock.now_is_steady_and_sleep_until_is_not_early" * doctest::timeout(10)) {
    WallClock clock;
    const auto a = clock.now();
    const auto deadline = a + 2ms;
    clock.sleep_until(deadline);
    const auto b = WallClock::now();
    CHECK(b >= deadline);
    clock.sleep_until(a); // in the past: returns at once
    CHECK(WallClock::now() >= b);
    CHECK(llmemu::since_epoch(b) == b.time_since_epoch());
}
