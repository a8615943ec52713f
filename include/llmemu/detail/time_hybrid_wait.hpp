#pragma once
// Hybrid waiting: let the OS sleep until shortly before the deadline (a plain sleep on a
// busy or virtualised machine wakes 50-300 µs late), then spin on the clock for the rest.

#include <chrono>
#include <thread>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace detail {

/// One pause/yield instruction for spin loops (eases the sibling hyper-thread and power).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    asm volatile("yield" ::: "memory");
#else
    std::this_thread::yield();
#endif
}

/// Sleeps until `deadline - spin`, then spins until the deadline. spin = 0 is a plain sleep.
template <class Clock, class Duration>
void hybrid_sleep_until(std::chrono::time_point<Clock, Duration> deadline, std::chrono::nanoseconds spin) {
    auto now = Clock::now();
    if (deadline - now > spin) std::this_thread::sleep_until(deadline - spin);
    if (spin.count() == 0) return;
    while (Clock::now() < deadline) cpu_relax();
}

} // namespace detail
LLMEMU_END_NAMESPACE
