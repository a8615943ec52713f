#pragma once
/// \file virtual_clock.hpp
/// VirtualClock: simulated time that jumps from event to event and never sleeps, so the
/// same engine code that serves in real time runs a simulation as fast as the CPU allows.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "llmemu/config.hpp"
#include "llmemu/detail/time_timer_queue.hpp"
#include "llmemu/time/clock.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Simulated time, starting at 0 (or at the time given to the constructor).
///
/// Timers live in the clock's own deadline heap and run only when a driver moves time:
/// `advance_to(tp)` (or `sleep_until(tp)`, the same thing) fires every timer due by tp in
/// deadline order (equal deadlines in the order they were scheduled), with now() equal to
/// each timer's deadline while it runs, then sets now() to tp. A driver that multiplexes
/// several engines on one clock uses `next_deadline()` and `run_next()`.
///
/// Rules: time never goes backwards (advancing to a time in the past does nothing; a timer
/// scheduled in the past runs at the next advance without moving time). Callbacks may
/// schedule and cancel timers, and may advance the clock themselves. An exception thrown by
/// a callback propagates out of advance_to / run_next; that timer is gone, the others stay.
/// Destroying the clock destroys pending callbacks without calling them (a TimerFuture
/// bound to one becomes cancelled).
///
/// Thread-safety: none; one thread drives a virtual clock (that is what makes it exact).
/// Neither copyable nor movable: futures and executors refer to it.
class VirtualClock {
public:
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<VirtualClock, duration>;
    static constexpr bool is_virtual = true;
    static constexpr bool is_steady = true;

    /// A clock at time 0 with no timers.
    VirtualClock() = default;
    /// A clock that starts at `start`.
    explicit VirtualClock(time_point start) noexcept : m_now(start) {}
    VirtualClock(const VirtualClock&) = delete;
    VirtualClock& operator=(const VirtualClock&) = delete;
    /// Destroys pending callbacks without calling them (futures bound to them become
    /// cancelled; their continuations run here).
    ~VirtualClock() {
        while (!m_queue.empty()) {
            auto dropped = m_queue.take_all(); // destroyed here, while the clock is intact
        }
    }

    /// The current simulated time.
    [[nodiscard]] time_point now() const noexcept { return m_now; }

    /// Fires, in deadline order, every timer due at or before tp, then sets now() to tp
    /// (unless tp is in the past).
    void advance_to(time_point tp) {
        for (;;) {
            const auto next = m_queue.next_deadline();
            if (!next || *next > tp) break;
            fire_one();
        }
        if (tp > m_now) m_now = tp;
    }
    /// advance_to(now() + d).
    void advance_by(duration d) { advance_to(m_now + d); }
    /// The Clock operation: in simulated time, sleeping is advancing.
    void sleep_until(time_point tp) { advance_to(tp); }
    /// sleep_until(now() + d).
    void sleep_for(duration d) { advance_to(m_now + d); }

    /// Runs fn once, when time reaches tp.
    TimerHandle schedule_at(time_point tp, std::function<void()> fn) { return m_queue.push(tp, std::move(fn)); }
    /// schedule_at(now() + d, fn).
    TimerHandle schedule_after(duration d, std::function<void()> fn) { return schedule_at(m_now + d, std::move(fn)); }
    /// Cancels a pending timer: true when it was pending (its callback is destroyed
    /// without being called), false when it already ran, was cancelled, or never existed.
    bool cancel(TimerHandle h) {
        auto fn = m_queue.cancel(h);
        return fn.has_value(); // the callback is destroyed here, after the queue is consistent
    }

    /// The deadline of the earliest pending timer, if any.
    [[nodiscard]] std::optional<time_point> next_deadline() const { return m_queue.next_deadline(); }
    /// Advances to the earliest pending deadline and fires that one timer (others due at
    /// the same time stay for the next call). False when no timer is pending.
    bool run_next() {
        if (!m_queue.next_deadline()) return false;
        fire_one();
        return true;
    }
    /// Number of pending timers.
    [[nodiscard]] std::size_t pending() const noexcept { return m_queue.size(); }
    /// Number of timers fired so far.
    [[nodiscard]] std::uint64_t fired() const noexcept { return m_fired; }

private:
    void fire_one() {
        auto [deadline, fn] = m_queue.pop();
        if (deadline > m_now) m_now = deadline;
        ++m_fired;
        fn();
    }

    time_point m_now{};
    // mutable: next_deadline() drops cancelled entries from the top, which is not observable.
    mutable detail::TimerQueue<time_point> m_queue;
    std::uint64_t m_fired = 0;
};

static_assert(Clock<VirtualClock>);

LLMEMU_END_NAMESPACE
