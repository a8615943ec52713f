#pragma once
/// \file clock.hpp
/// Concept Clock: the time source an executor and an engine share. A clock tells the
/// time, waits until a deadline and runs callbacks at deadlines (timers). WallClock runs
/// in real time; VirtualClock advances simulated time from event to event and never
/// sleeps. No clock is global: several engines can share one clock object.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Names one timer scheduled on a clock, for Clock::cancel. A default-constructed handle
/// (id 0) names no timer: cancelling it does nothing.
struct TimerHandle {
    std::uint64_t id = 0;

    /// True when the handle names a timer (it may since have fired or been cancelled).
    [[nodiscard]] constexpr explicit operator bool() const noexcept { return id != 0; }
    friend constexpr bool operator==(TimerHandle, TimerHandle) = default;
};

/// A clock as llmemu's executors and engines use it:
/// - `C::time_point` and `C::duration` (always std::chrono::nanoseconds);
/// - `c.now()`: the current time;
/// - `c.sleep_until(tp)`: wait until tp (wall: real, hybrid sleep then spin; virtual:
///   advance simulated time to tp, firing the timers due on the way);
/// - `c.schedule_at(tp, fn) -> TimerHandle`: run fn once at tp;
/// - `c.cancel(handle) -> bool`: true when the timer was still pending and will now never run;
/// - `C::is_virtual`: whether time is simulated.
template <class C>
concept Clock = requires(C& c, const C& cc, typename C::time_point tp, std::function<void()> fn, TimerHandle handle) {
    typename C::time_point;
    typename C::duration;
    requires std::same_as<typename C::duration, std::chrono::nanoseconds>;
    requires std::same_as<typename C::time_point::duration, std::chrono::nanoseconds>;
    { cc.now() } -> std::same_as<typename C::time_point>;
    c.sleep_until(tp);
    { c.schedule_at(tp, std::move(fn)) } -> std::same_as<TimerHandle>;
    { c.cancel(handle) } -> std::same_as<bool>;
    { C::is_virtual } -> std::convertible_to<bool>;
};

/// Nanoseconds since the clock's epoch: the unit of StepOutput::start and ::end.
template <class TimePoint>
[[nodiscard]] constexpr std::chrono::nanoseconds since_epoch(TimePoint tp) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch());
}

LLMEMU_END_NAMESPACE
