// TimerFuture on both clocks: values at deadlines, exceptions, cancellation,
// continuations, waiting rules, and waking waiters when a clock shuts down.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/time/timer_future.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"

using namespace std::chrono_literals;
using llmemu::TimerFuture;
using llmemu::VirtualClock;
using llmemu::WallClock;

namespace {
// A deadline `d` from now on either clock.
template <class C>
typename C::time_point in(C& clock, std::chrono::nanoseconds d) {
    return clock.now() + d;
}
} // namespace

TEST_CASE_TEMPLATE("TimerFuture.value_at_deadline" * doctest::timeout(10), C, VirtualClock, WallClock) {
    C clock;
    const auto deadline = in(clock, 100ms); // far enough that ready() is surely still false below
    auto f = llmemu::resolve_at(clock, deadline, std::string("hello"));
    CHECK(f.valid());
    CHECK(f.deadline() == deadline);
    CHECK_FALSE(f.ready());
    CHECK(f.get() == "hello");
    CHECK(clock.now() >= deadline);
    CHECK(f.ready());
    CHECK_FALSE(f.cancelled());
    CHECK_THROWS_WITH_AS(f.get(), doctest::Contains("already retrieved"), llmemu::future_error);
}

TEST_CASE_TEMPLATE("TimerFuture.exception_propagates" * doctest::timeout(10), C, VirtualClock, WallClock) {
    C clock;
    auto f = llmemu::call_at(clock, in(clock, 1ms), []() -> int { throw llmemu::request_error("bad step"); });
    f.wait();
    CHECK(f.ready());
    CHECK(f.has_exception());
    CHECK_THROWS_WITH_AS(f.get(), "bad step", llmemu::request_error);
    CHECK_THROWS_AS(f.get(), llmemu::request_error); // a stored exception rethrows every time

    auto ok = llmemu::call_at(clock, in(clock, 1ms), [] { return 41 + 1; });
    CHECK(ok.get() == 42);
    auto e = llmemu::make_exceptional_future<int>(clock, std::make_exception_ptr(std::runtime_error("x")));
    CHECK(e.ready());
    CHECK_THROWS_AS(e.get(), std::runtime_error);
    auto r = llmemu::make_ready_future(clock, 7);
    CHECK(r.ready());
    CHECK(r.get() == 7);
}

TEST_CASE_TEMPLATE("TimerFuture.cancel" * doctest::timeout(10), C, VirtualClock, WallClock) {
    C clock;
    std::atomic<int> continuations{0};
    auto f = llmemu::resolve_at(clock, in(clock, 1h), 5);
    f.then([&] { continuations.fetch_add(1); });
    f.cancel();
    CHECK(f.ready());
    CHECK(f.cancelled());
    CHECK(continuations.load() == 1); // resolution by cancellation runs continuations (here, on this thread)
    CHECK_THROWS_WITH_AS(f.get(), doctest::Contains("cancelled"), llmemu::future_error);
    f.cancel(); // idempotent
    // Cancelling a resolved future does nothing.
    auto g = llmemu::resolve_at(clock, in(clock, 1ms), 9);
    g.wait();
    g.cancel();
    CHECK_FALSE(g.cancelled());
    CHECK(g.get() == 9);
}

TEST_CASE_TEMPLATE("TimerFuture.then_runs_once_whenever_attached" * doctest::timeout(10), C, VirtualClock, WallClock) {
    C clock;
    std::atomic<int> before{0};
    std::atomic<int> after{0};
    auto f = llmemu::resolve_at(clock, in(clock, 1ms), 1);
    f.then([&] { before.fetch_add(1); });
    f.then([&] { before.fetch_add(10); });
    f.wait();
    // With a wall clock the continuations run on the timer thread right after the value is
    // published; wait for them boundedly.
    for (int i = 0; i < 2000 && before.load() != 11; ++i) std::this_thread::sleep_for(100us);
    CHECK(before.load() == 11);
    f.then([&] { after.fetch_add(1); }); // already resolved: runs now, on this thread
    CHECK(after.load() == 1);
}

TEST_CASE_TEMPLATE("TimerFuture.void_and_move_only_results" * doctest::timeout(10), C, VirtualClock, WallClock) {
    C clock;
    std::atomic<bool> ran{false};
    auto v = llmemu::call_at(clock, in(clock, 1ms), [&] { ran = true; });
    static_assert(std::is_same_v<decltype(v), TimerFuture<void, C>>);
    v.get();
    CHECK(ran.load());
    auto m = llmemu::resolve_at(clock, in(clock, 1ms), std::make_unique<int>(3));
    auto p = m.get();
    REQUIRE(p);
    CHECK(*p == 3);
    auto producer = [q = std::make_unique<int>(4)] { return *q; }; // move-only producer
    CHECK(llmemu::call_at(clock, in(clock, 1ms), std::move(producer)).get() == 4);
}

TEST_CASE_TEMPLATE("TimerFuture.empty_future_throws" * doctest::timeout(10), C, VirtualClock, WallClock) {
    TimerFuture<int, C> f;
    CHECK_FALSE(f.valid());
    CHECK_THROWS_AS((void)f.ready(), llmemu::future_error);
    CHECK_THROWS_AS(f.wait(), llmemu::future_error);
    CHECK_THROWS_AS(f.get(), llmemu::future_error);
    C clock;
    auto g = llmemu::resolve_at(clock, in(clock, 1ms), 1);
    auto h = std::move(g);
    CHECK_FALSE(g.valid()); // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    CHECK_THROWS_AS(g.get(), llmemu::future_error);
    CHECK(h.get() == 1);
}

TEST_CASE("TimerFuture.virtual_wait_advances_the_clock_firing_earlier_timers_first") {
    VirtualClock clock;
    std::vector<int> log;
    auto late = llmemu::resolve_at(clock, VirtualClock::time_point(30ms), 3);
    clock.schedule_at(VirtualClock::time_point(10ms), [&] { log.push_back(1); });
    auto early = llmemu::resolve_at(clock, VirtualClock::time_point(20ms), 2);
    early.then([&] { log.push_back(2); });
    late.then([&] { log.push_back(3); });
    CHECK(late.get() == 3);
    CHECK(clock.now().time_since_epoch() == 30ms);
    CHECK(log == std::vector<int>{1, 2, 3});
    CHECK(early.ready());
}

TEST_CASE("TimerFuture.virtual_wait_until") {
    VirtualClock clock;
    auto f = llmemu::resolve_at(clock, VirtualClock::time_point(10ms), 1);
    CHECK_FALSE(f.wait_until(VirtualClock::time_point(4ms)));
    CHECK(clock.now().time_since_epoch() == 4ms); // waited (advanced) only to tp
    CHECK_FALSE(f.wait_for(1ms));
    CHECK(clock.now().time_since_epoch() == 5ms);
    CHECK(f.wait_until(VirtualClock::time_point(1h)));
    CHECK(clock.now().time_since_epoch() == 10ms); // not past the deadline
}

TEST_CASE("TimerFuture.wall_wait_until_times_out_then_resolves" * doctest::timeout(10)) {
    WallClock clock;
    auto f = llmemu::resolve_at(clock, clock.now() + 100ms, 1);
    const auto t0 = WallClock::now();
    CHECK_FALSE(f.wait_until(t0 + 1ms));
    CHECK(WallClock::now() >= t0 + 1ms);
    CHECK(f.wait_for(5s));
    CHECK(WallClock::now() >= f.deadline());
}

TEST_CASE("TimerFuture.virtual_clock_destroyed_with_pending_future_cancels_it") {
    std::atomic<int> continuations{0};
    auto clock = std::make_unique<VirtualClock>();
    auto f = llmemu::resolve_at(*clock, VirtualClock::time_point(1s), 1);
    f.then([&] { continuations.fetch_add(1); });
    clock.reset();
    CHECK(continuations.load() == 1);
    CHECK(f.ready());
    CHECK(f.cancelled());
}

TEST_CASE("TimerFuture.wall_shutdown_wakes_blocked_waiters_with_future_error" * doctest::timeout(10)) {
    WallClock clock;
    auto f = llmemu::resolve_at(clock, clock.now() + 1h, 1);
    std::atomic<int> woke_with_error{0};
    std::vector<std::thread> waiters;
    std::atomic<int> started{0};
    // Several threads block on the same future (through a shared reference).
    for (int i = 0; i < 3; ++i) {
        waiters.emplace_back([&] {
            started.fetch_add(1);
            f.wait();
            if (f.cancelled()) woke_with_error.fetch_add(1);
        });
    }
    while (started.load() < 3) std::this_thread::yield();
    std::this_thread::sleep_for(2ms);
    clock.shutdown();
    for (auto& t : waiters) t.join();
    CHECK(woke_with_error.load() == 3);
    CHECK_THROWS_AS(f.get(), llmemu::future_error);
    // A future made after shutdown is cancelled at once rather than hanging.
    auto g = llmemu::resolve_at(clock, clock.now() + 1ms, 2);
    CHECK(g.cancelled());
}

TEST_CASE("TimerFuture.wall_many_futures_across_threads" * doctest::timeout(20)) {
    WallClock clock;
    constexpr int n = 200;
    std::vector<TimerFuture<int, WallClock>> futures;
    futures.reserve(n);
    // Far enough ahead that cancelling right after creation always beats the deadline.
    const auto base = clock.now() + 100ms;
    for (int i = 0; i < n; ++i) {
        futures.push_back(llmemu::resolve_at(clock, base + std::chrono::microseconds(i * 10), i));
        if (i % 4 == 0) futures.back().cancel();
    }
    std::atomic<int> sum{0};
    std::atomic<int> cancelled{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = t; i < n; i += 4) {
                auto& f = futures[static_cast<std::size_t>(i)];
                try {
                    sum.fetch_add(f.get());
                } catch (const llmemu::future_error&) {
                    cancelled.fetch_add(1);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    int expected = 0;
    for (int i = 0; i < n; ++i) expected += (i % 4 == 0) ? 0 : i;
    CHECK(sum.load() == expected);
    CHECK(cancelled.load() == n / 4);
}

TEST_CASE("TimerFuture.virtual_continuation_exception_reaches_its_own_future") {
    VirtualClock clock;
    auto f = llmemu::resolve_at(clock, VirtualClock::time_point(1ms), 1);
    auto other = llmemu::resolve_at(clock, VirtualClock::time_point(1ms), 2);
    std::atomic<int> second{0};
    f.then([] { throw std::runtime_error("continuation failed"); });
    f.then([&] { second.fetch_add(1); });
    CHECK_NOTHROW(clock.advance_to(VirtualClock::time_point(2ms))); // not into the clock
    CHECK(second.load() == 1);                                      // every continuation still ran
    CHECK(other.get() == 2);                                        // nor into another future
    CHECK_THROWS_WITH_AS(f.get(), "continuation failed", std::runtime_error);
}

template <class C>
void check_chained_value_and_errors(C& clock) {
    // then(F(value)) passes the value on and returns a future of F's result.
    auto doubled = llmemu::resolve_at(clock, clock.now() + 2ms, 21).then([](int v) { return 2 * v; });
    CHECK(doubled.get() == 42);
    // An exception in the chained continuation reaches the chained future only.
    auto a = llmemu::resolve_at(clock, clock.now() + 1ms, 1);
    auto b = llmemu::resolve_at(clock, clock.now() + 1ms, 2);
    auto bad = a.then([](int) -> int { throw llmemu::request_error("step handler failed"); });
    CHECK(b.get() == 2);
    CHECK_THROWS_WITH_AS(bad.get(), "step handler failed", llmemu::request_error);
    CHECK(a.get() == 1);
    // The source's exception passes down the chain without calling the continuation.
    bool called = false;
    auto failed = llmemu::call_at(clock, clock.now() + 1ms, []() -> int {
                      throw llmemu::profile_error("no bucket");
                  }).then([&](int) {
        called = true;
        return 0;
    });
    CHECK_THROWS_WITH_AS(failed.get(), "no bucket", llmemu::profile_error);
    CHECK_FALSE(called);
    // Legacy then(): its exception reaches its own future's get().
    auto legacy = llmemu::resolve_at(clock, clock.now() + 1ms, 5);
    legacy.then([] { throw std::runtime_error("legacy continuation failed"); });
    CHECK_THROWS_WITH_AS(legacy.get(), "legacy continuation failed", std::runtime_error);
}

TEST_CASE("TimerFuture.then_value_chains_and_errors_reach_their_own_future.virtual") {
    VirtualClock clock;
    check_chained_value_and_errors(clock);
}
TEST_CASE("TimerFuture.then_value_chains_and_errors_reach_their_own_future.wall" * doctest::timeout(10)) {
    WallClock clock;
    check_chained_value_and_errors(clock);
    CHECK(clock.timers().callback_errors() == 0);
}

TEST_CASE("TimerFuture.wall_get_waits_for_a_running_continuation_to_finish" * doctest::timeout(10)) {
    // get() used to return the value while the timer thread was still running a
    // continuation that then threw: its exception was lost under load (a CI flake).
    WallClock clock;
    auto f = llmemu::resolve_at(clock, clock.now() + 1ms, 7);
    f.then([] {
        std::this_thread::sleep_for(30ms); // still running when the value is published
        throw std::runtime_error("slow continuation failed");
    });
    while (!f.ready()) std::this_thread::yield();
    CHECK_THROWS_WITH_AS(f.get(), "slow continuation failed", std::runtime_error);
    // A continuation attached after resolution runs here; its exception is still this
    // future's, not then()'s.
    auto g = llmemu::resolve_at(clock, clock.now() + 1ms, 8);
    g.wait();
    CHECK_NOTHROW(g.then([] { throw std::runtime_error("late continuation failed"); }));
    CHECK_THROWS_WITH_AS(g.get(), "late continuation failed", std::runtime_error);
}

template <class C>
void check_destroyed_future_never_runs_its_continuation(C& clock) {
    std::atomic<int> ran{0};
    {
        auto f = llmemu::resolve_at(clock, clock.now() + 20ms, 1);
        f.then([&] { ran.fetch_add(1); });
        auto chained = llmemu::resolve_at(clock, clock.now() + 20ms, 2).then([&](int) {
            ran.fetch_add(10);
            return 0;
        });
    } // both destroyed before their deadline
    auto detached = llmemu::resolve_at(clock, clock.now() + 20ms, 3);
    detached.then([&] { ran.fetch_add(100); });
    detached.detach();
    { auto gone = std::move(detached); } // destroyed, but detached: still runs
    auto marker = llmemu::resolve_at(clock, clock.now() + 40ms, 0);
    marker.get();
    for (int i = 0; i < 200 && ran.load() != 100; ++i) std::this_thread::sleep_for(1ms);
    CHECK(ran.load() == 100);
}

TEST_CASE("TimerFuture.destroyed_before_its_deadline_never_runs_its_continuation.virtual") {
    VirtualClock clock;
    check_destroyed_future_never_runs_its_continuation(clock);
    CHECK_FALSE(clock.next_deadline().has_value()); // the destroyed futures' timers are gone
}
TEST_CASE("TimerFuture.destroyed_before_its_deadline_never_runs_its_continuation.wall" * doctest::timeout(10)) {
    WallClock clock;
    check_destroyed_future_never_runs_its_continuation(clock);
}

TEST_CASE("TimerFuture.wall_blocking_on_the_timer_thread_throws_instead_of_deadlocking" * doctest::timeout(10)) {
    WallClock clock;
    auto later = llmemu::resolve_at(clock, clock.now() + 1h, 1);
    auto first = llmemu::resolve_at(clock, clock.now() + 1ms, 0);
    std::atomic<int> outcome{0};
    first.then([&] {
        try {
            later.wait();
            outcome = 1;
        } catch (const llmemu::future_error& e) {
            outcome = std::string(e.what()).find("deadlock") != std::string::npos ? 2 : 3;
        }
    });
    for (int i = 0; i < 5000 && outcome.load() == 0; ++i) std::this_thread::sleep_for(1ms);
    CHECK(outcome.load() == 2);
    CHECK_FALSE(later.ready());
}

// A continuation that throws on a future that is then cancelled — by cancel(), by the
// clock dropping its timer (shutdown, destruction) or through a chain — keeps its
// exception on that future; nothing is thrown out of a destructor (no std::terminate).
template <class C>
void check_throwing_continuation_then_cancelled(C& clock) {
    auto f = llmemu::resolve_at(clock, clock.now() + 1h, 1);
    f.then([] { throw std::runtime_error("continuation on a cancelled future"); });
    f.cancel();
    CHECK(f.cancelled());
    CHECK_THROWS_WITH_AS(f.get(), "continuation on a cancelled future", std::runtime_error);

    auto parent = llmemu::resolve_at(clock, clock.now() + 1h, 2);
    auto child = parent.then([](int v) { return v + 1; });
    child.then([] { throw std::runtime_error("continuation on a cancelled chain"); });
    parent.cancel(); // the cancellation passes down; the child's continuation throws
    CHECK(child.cancelled());
    CHECK_THROWS_WITH_AS(child.get(), "continuation on a cancelled chain", std::runtime_error);

    // Detached, then dropped: the timer binding's destructor cancels it when the clock
    // is destroyed with the timer pending; the continuation's exception stays inside.
    std::atomic<int> ran{0};
    {
        C inner;
        auto d = llmemu::resolve_at(inner, inner.now() + 1h, 3);
        d.then([&] {
            ran.fetch_add(1);
            throw std::runtime_error("continuation run from a timer's destructor");
        });
        d.detach();
    }
    CHECK(ran.load() == 1);
}

TEST_CASE("TimerFuture.throwing_continuation_on_a_cancelled_future.virtual") {
    VirtualClock clock;
    check_throwing_continuation_then_cancelled(clock);
}
TEST_CASE("TimerFuture.throwing_continuation_on_a_cancelled_future.wall" * doctest::timeout(10)) {
    WallClock clock;
    check_throwing_continuation_then_cancelled(clock);
}
