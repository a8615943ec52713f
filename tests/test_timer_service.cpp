// TimerService (and WallClock timers): ordering, precision floor, cancellation,
// shutdown with pending timers, exceptions, concurrency. Every case is bounded by a
// doctest timeout; all are meant to be clean under ThreadSanitizer.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include "llmemu/error.hpp"
#include "llmemu/random.hpp"
#include "llmemu/time/timer_service.hpp"
#include "llmemu/time/wall_clock.hpp"

using namespace std::chrono_literals;
using llmemu::TimerHandle;
using llmemu::TimerService;
using Clock = std::chrono::steady_clock;

namespace {
TimerService::time_point now() {
    return std::chrono::time_point_cast<std::chrono::nanoseconds>(Clock::now());
}

// Waits (boundedly) until pred holds.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
    const auto end = Clock::now() + limit;
    while (!pred()) {
        if (Clock::now() > end) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}
} // namespace

TEST_CASE("TimerService.fires_every_timer_not_early_in_deadline_order" * doctest::timeout(20)) {
    TimerService service;
    struct Fired {
        std::int64_t deadline;
        int index;
        std::int64_t at;
    };
    std::mutex m;
    std::vector<Fired> fired;
    llmemu::Rng rng(11);
    // Every timer is scheduled well before the first deadline (even under a sanitizer), so
    // the firing order must be exactly deadline order.
    const auto base = now() + 60ms;
    constexpr int n = 400;
    for (int i = 0; i < n; ++i) {
        // Many ties (40 distinct deadlines) to check FIFO among equal deadlines.
        const auto d = base + std::chrono::microseconds(250 * llmemu::uniform_index(rng, 40));
        service.schedule_at(d, [&, d, i] {
            const auto t = now();
            std::lock_guard lock(m);
            fired.push_back({d.time_since_epoch().count(), i, t.time_since_epoch().count()});
        });
    }
    REQUIRE(eventually([&] {
        std::lock_guard lock(m);
        return fired.size() == n;
    }));
    std::lock_guard lock(m);
    for (std::size_t k = 0; k < fired.size(); ++k) {
        CHECK(fired[k].at >= fired[k].deadline); // never early
        if (k > 0) {
            const bool ordered = fired[k - 1].deadline < fired[k].deadline ||
                                 (fired[k - 1].deadline == fired[k].deadline && fired[k - 1].index < fired[k].index);
            CHECK(ordered);
        }
    }
    CHECK(service.fired() == n);
    CHECK(service.pending() == 0);
}

TEST_CASE("TimerService.an_earlier_timer_interrupts_a_long_sleep" * doctest::timeout(10)) {
    TimerService service;
    std::atomic<bool> late_ran{false};
    std::atomic<bool> early_ran{false};
    service.schedule_at(now() + 5s, [&] { late_ran = true; });
    std::this_thread::sleep_for(2ms); // the service thread is now asleep for ~5 s
    const auto t0 = Clock::now();
    service.schedule_at(now() + 1ms, [&] { early_ran = true; });
    REQUIRE(eventually([&] { return early_ran.load(); }, 2s));
    CHECK(Clock::now() - t0 < 1s);
    CHECK_FALSE(late_ran.load());
    CHECK(service.pending() == 1);
}

TEST_CASE("TimerService.cancellation" * doctest::timeout(10)) {
    TimerService service;
    std::atomic<int> ran{0};
    std::vector<TimerHandle> handles;
    const auto d = now() + 100ms; // far enough that every cancel below beats its deadline
    for (int i = 0; i < 200; ++i)
        handles.push_back(service.schedule_at(d + std::chrono::microseconds(i), [&] { ran.fetch_add(1); }));
    // Cancel the even ones from another thread while the service sleeps.
    std::atomic<int> cancelled{0};
    std::thread canceller([&] {
        for (std::size_t i = 0; i < handles.size(); i += 2) cancelled += service.cancel(handles[i]) ? 1 : 0;
    });
    canceller.join();
    CHECK(cancelled.load() == 100);
    CHECK_FALSE(service.cancel(handles[0])); // twice
    CHECK_FALSE(service.cancel(TimerHandle{}));
    REQUIRE(eventually([&] { return service.pending() == 0; }));
    CHECK(ran.load() == 100);
    CHECK_FALSE(service.cancel(handles[1])); // already fired
}

TEST_CASE("TimerService.cancel_destroys_the_callback_unrun" * doctest::timeout(10)) {
    TimerService service;
    auto token = std::make_shared<int>(1);
    std::atomic<bool> ran{false};
    const TimerHandle h = service.schedule_at(now() + 10s, [token, &ran] { ran = true; });
    CHECK(token.use_count() == 2);
    CHECK(service.cancel(h));
    CHECK(token.use_count() == 1);
    CHECK_FALSE(ran.load());
}

TEST_CASE("TimerService.shutdown_with_pending_timers_cancels_them_and_does_not_hang" * doctest::timeout(10)) {
    auto token = std::make_shared<int>(1);
    std::atomic<int> ran{0};
    const auto t0 = Clock::now();
    {
        TimerService service;
        for (int i = 0; i < 100; ++i)
            service.schedule_at(now() + 30s + std::chrono::milliseconds(i), [token, &ran] { ran.fetch_add(1); });
        service.schedule_at(now(), [&ran] { ran.fetch_add(1000); }); // due at once
        REQUIRE(eventually([&] { return ran.load() == 1000; }));
        CHECK(service.pending() == 100);
        CHECK(token.use_count() == 101);
        service.shutdown();
        CHECK(service.stopped());
        CHECK(service.pending() == 0);
        CHECK(token.use_count() == 1); // every pending callback destroyed, none leaked
        // After shutdown nothing is accepted: the callback is destroyed, the handle is empty.
        const TimerHandle h = service.schedule_at(now(), [token, &ran] { ran.fetch_add(1); });
        CHECK_FALSE(h);
        CHECK(token.use_count() == 1);
        service.shutdown(); // idempotent
    }                       // destructor after shutdown
    CHECK(ran.load() == 1000);
    CHECK(Clock::now() - t0 < 5s);
}

TEST_CASE("TimerService.destructor_shuts_down_pending_and_never_started" * doctest::timeout(10)) {
    auto token = std::make_shared<int>(1);
    {
        TimerService idle; // never scheduled: no thread to join
        CHECK(idle.pending() == 0);
    }
    {
        TimerService service;
        service.schedule_at(now() + 1h, [token] {});
        service.schedule_at(now() + 100us, [token] {}); // spinning when destroyed, maybe
    }
    CHECK(token.use_count() == 1);
}

TEST_CASE("TimerService.callback_exceptions_are_counted_and_the_service_keeps_running" * doctest::timeout(10)) {
    TimerService service;
    std::atomic<bool> after{false};
    service.schedule_at(now(), [] { throw std::runtime_error("callback failed"); });
    service.schedule_at(now() + 1ms, [&] { after = true; });
    REQUIRE(eventually([&] { return after.load(); }));
    CHECK(service.callback_errors() == 1);
    const auto e = service.take_callback_error();
    REQUIRE(e != nullptr);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(e), "callback failed", std::runtime_error);
    CHECK(service.take_callback_error() == nullptr);
}

TEST_CASE("TimerService.callbacks_may_schedule_cancel_and_shut_down" * doctest::timeout(10)) {
    TimerService service;
    std::atomic<int> chain{0};
    std::function<void()> step = [&] {
        if (chain.fetch_add(1) + 1 < 5) service.schedule_at(now() + 100us, step);
    };
    service.schedule_at(now(), step);
    REQUIRE(eventually([&] { return chain.load() == 5; }));
    const TimerHandle victim = service.schedule_at(now() + 1h, [] {});
    std::atomic<bool> cancelled{false};
    service.schedule_at(now(), [&] { cancelled = service.cancel(victim); });
    REQUIRE(eventually([&] { return cancelled.load(); }));
    std::atomic<bool> on_thread{false};
    service.schedule_at(now(), [&] {
        on_thread = service.on_service_thread();
        service.shutdown(); // from inside: stops without self-join
    });
    REQUIRE(eventually([&] { return service.stopped(); }));
    CHECK(on_thread.load());
    CHECK_FALSE(service.on_service_thread());
}

TEST_CASE("TimerService.concurrent_schedulers" * doctest::timeout(20)) {
    // The counters outlive the service: its thread may still be running the last
    // callback when pending() has already dropped to 0 (the queue pops before it runs).
    std::atomic<int> ran{0};
    std::atomic<int> cancelled{0};
    TimerService service;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            llmemu::Rng rng(static_cast<std::uint64_t>(t));
            for (int i = 0; i < 250; ++i) {
                const auto h = service.schedule_at(now() + std::chrono::microseconds(llmemu::uniform_index(rng, 3000)),
                                                   [&] { ran.fetch_add(1); });
                if (i % 5 == 0 && service.cancel(h)) cancelled.fetch_add(1);
            }
        });
    }
    for (auto& th : threads) th.join();
    REQUIRE(eventually([&] { return service.pending() == 0 && ran.load() + cancelled.load() == 1000; }));
    service.shutdown();
    CHECK(ran.load() + cancelled.load() == 1000);
    CHECK(service.fired() == static_cast<std::uint64_t>(ran.load()));
}

TEST_CASE("TimerService.without_spinning" * doctest::timeout(10)) {
    TimerService service(TimerService::Options{std::chrono::nanoseconds(0)});
    std::atomic<std::int64_t> late{-1};
    const auto d = now() + 2ms;
    service.schedule_at(d, [&] { late = (now() - d).count(); });
    REQUIRE(eventually([&] { return late.load() >= 0; }));
    TimerService negative(TimerService::Options{std::chrono::nanoseconds(-5)});
    CHECK(negative.options().spin_threshold.count() == 0);
}

TEST_CASE("WallClock.timers_and_shutdown" * doctest::timeout(10)) {
    llmemu::WallClock clock;
    std::atomic<int> ran{0};
    clock.schedule_after(1ms, [&] { ran.fetch_add(1); });
    const auto pending = clock.schedule_at(clock.now() + 1h, [&] { ran.fetch_add(100); });
    REQUIRE(eventually([&] { return ran.load() == 1; }));
    CHECK(clock.timers().pending() == 1);
    clock.shutdown();
    CHECK_FALSE(clock.cancel(pending)); // cancelled by shutdown
    CHECK(ran.load() == 1);
}

TEST_CASE("TimerService.spin_window_adapts_within_bounds" * doctest::timeout(10)) {
    TimerService fixed(TimerService::Options{200us, false});
    CHECK(fixed.spin_window() == 200us);
    TimerService adaptive; // default: adaptive, at most default_spin_threshold
    CHECK(adaptive.spin_window() == TimerService::default_spin_threshold);
    std::atomic<int> late_or_early{0};
    std::atomic<int> ran{0};
    // Sequential timers 1 ms apart: every one sleeps first, so oversleeps get measured.
    std::function<void(TimerService::time_point, int)> arm = [&](TimerService::time_point d, int left) {
        adaptive.schedule_at(d, [&, d, left] {
            if (now() < d) late_or_early.fetch_add(1); // never early
            ran.fetch_add(1);
            if (left > 1) arm(d + 1ms, left - 1);
        });
    };
    arm(now() + 1ms, 40);
    REQUIRE(eventually([&] { return ran.load() == 40; }));
    CHECK(late_or_early.load() == 0);
    CHECK(adaptive.spin_window() >= TimerService::min_adaptive_spin);
    CHECK(adaptive.spin_window() <= TimerService::default_spin_threshold);
    TimerService off(TimerService::Options{0ns, true}); // no spinning at all stays off
    CHECK(off.spin_window() == 0ns);
}

TEST_CASE("TimerService.realtime_priority" * doctest::timeout(10)) {
    TimerService normal;
    CHECK(normal.realtime().state == TimerService::Realtime::State::not_requested);
    CHECK(normal.realtime().describe() == "normal priority");

    for (const int bad : {-1, 100}) {
        TimerService::Options o;
        o.realtime_priority = bad;
        const std::string expected = "realtime_priority " + std::to_string(bad);
        CHECK_THROWS_WITH_AS(TimerService{o}, doctest::Contains(expected.c_str()), llmemu::config_error);
    }

    TimerService::Options o;
    o.realtime_priority = 7;
    TimerService service(o);
    CHECK(service.realtime().state == TimerService::Realtime::State::pending);
    service.start();
    const auto rt = service.realtime();
    REQUIRE(rt.state != TimerService::Realtime::State::pending);
    CHECK(rt.priority == 7);
    // The service thread runs with what realtime() reports, granted or not.
    std::atomic<int> policy{-1};
    std::atomic<int> priority{-1};
    service.schedule_at(now(), [&] {
        sched_param p{};
        int pol = 0;
        pthread_getschedparam(pthread_self(), &pol, &p);
        priority = p.sched_priority;
        policy = pol;
    });
    REQUIRE(eventually([&] { return policy.load() >= 0; }));
    if (rt.state == TimerService::Realtime::State::granted) {
        CHECK(policy.load() == SCHED_FIFO);
        CHECK(priority.load() == 7);
        CHECK(rt.describe() == "SCHED_FIFO priority 7");
    } else {
        REQUIRE(rt.state == TimerService::Realtime::State::refused);
        CHECK(rt.error);
        CHECK(policy.load() != SCHED_FIFO);
        CHECK(rt.describe().find("refused") != std::string::npos);
    }
    service.start(); // idempotent
    CHECK(service.realtime().state == rt.state);
    service.shutdown();
    service.start(); // after shutdown: nothing starts
    CHECK(service.pending() == 0);
}
