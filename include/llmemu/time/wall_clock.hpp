#pragma once
/// \file wall_clock.hpp
/// WallClock: real time (std::chrono::steady_clock) with precise timers, for live serving.

#include <chrono>
#include <functional>

#include "llmemu/config.hpp"
#include "llmemu/detail/time_hybrid_wait.hpp"
#include "llmemu/time/clock.hpp"
#include "llmemu/time/timer_service.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Real time on std::chrono::steady_clock. Timers run on a TimerService owned by the
/// clock (its thread starts with the first schedule_at), so they fire within about a
/// microsecond of their deadline; sleep_until waits on the calling thread with the same
/// hybrid sleep-then-spin. Thread-safe. Destroying the clock shuts its timers down by the
/// TimerService rule (pending timers are cancelled, never run). Several engines may share
/// one WallClock; it is neither copyable nor movable because futures refer to it.
class WallClock {
public:
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = TimerService::time_point;
    static constexpr bool is_virtual = false;
    static constexpr bool is_steady = true;

    WallClock() = default;
    /// A clock whose timers and sleeps use these options (e.g. a different spin window).
    explicit WallClock(TimerService::Options options) : m_timers(options) {}
    WallClock(const WallClock&) = delete;
    WallClock& operator=(const WallClock&) = delete;

    /// steady_clock::now().
    [[nodiscard]] static time_point now() noexcept {
        return std::chrono::time_point_cast<duration>(std::chrono::steady_clock::now());
    }
    /// Blocks the calling thread until tp: sleeps to spin_threshold before it, spins the rest.
    void sleep_until(time_point tp) const { detail::hybrid_sleep_until(tp, m_timers.options().spin_threshold); }
    /// sleep_until(now() + d).
    void sleep_for(duration d) const { sleep_until(now() + d); }

    /// Runs fn once at tp on the clock's timer thread.
    TimerHandle schedule_at(time_point tp, std::function<void()> fn) { return m_timers.schedule_at(tp, std::move(fn)); }
    /// schedule_at(now() + d, fn).
    TimerHandle schedule_after(duration d, std::function<void()> fn) { return schedule_at(now() + d, std::move(fn)); }
    /// Cancels a pending timer; true when it was pending and will never run.
    bool cancel(TimerHandle h) { return m_timers.cancel(h); }

    /// The timer service behind this clock (counters, shutdown).
    [[nodiscard]] TimerService& timers() noexcept { return m_timers; }
    [[nodiscard]] const TimerService& timers() const noexcept { return m_timers; }
    /// Cancels pending timers and stops the timer thread (TimerService::shutdown).
    void shutdown() { m_timers.shutdown(); }

private:
    TimerService m_timers;
};

static_assert(Clock<WallClock>);

LLMEMU_END_NAMESPACE
