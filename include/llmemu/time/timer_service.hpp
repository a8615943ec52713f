#pragma once
/// \file timer_service.hpp
/// TimerService: one thread that runs callbacks at real (steady-clock) deadlines, with a
/// hybrid wait — it sleeps until shortly before the earliest deadline and spins the rest —
/// so timers fire within a microsecond or so instead of the 50-300 µs a plain sleep is late.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"

#if defined(__linux__)
#include <sys/prctl.h>
#endif
#if LLMEMU_POSIX
#include <pthread.h>
#include <sched.h>
#endif

#include "llmemu/detail/time_hybrid_wait.hpp"
#include "llmemu/detail/time_timer_queue.hpp"
#include "llmemu/error.hpp"
#include "llmemu/time/clock.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Runs callbacks at steady-clock deadlines on one thread of its own (started by the first
/// schedule_at). Thread-safe: any thread may schedule, cancel and shut down.
///
/// - Order: earliest deadline first; equal deadlines in the order they were scheduled.
/// - Precision: the thread sleeps (condition variable) until a spin window before the
///   earliest deadline, then spins on the clock; a newly scheduled earlier timer or a
///   cancellation interrupts both. The window is at most `spin_threshold` (0 turns
///   spinning off: plain sleeping). With `adaptive_spin` (the default) it shrinks to what
///   this machine's sleeps actually overshoot (twice the median of the last 32 observed
///   oversleeps, plus 20 µs), because spinning costs CPU and — on a CPU-contended
///   machine — a thread that spins longer is more often preempted mid-spin, which makes
///   it milliseconds late. On Linux the service thread also asks for 1 ns timer slack
///   (prctl PR_SET_TIMERSLACK; the default 50 µs slack would add to every oversleep).
/// - Callbacks run on the service thread, one at a time, without any lock held: they may
///   schedule and cancel timers. They should be short: a slow callback delays the others.
///   An exception escaping a callback is caught, counted (callback_errors()) and kept
///   (take_callback_error()); the service keeps running.
/// - Shutdown rule: shutdown() (also run by the destructor) CANCELS every pending timer —
///   its callback is destroyed without being called (a TimerFuture bound to it becomes
///   cancelled, waking its waiters with future_error) — waits for a callback that is
///   running to return, and joins the thread. Nothing is leaked and nothing hangs. After
///   shutdown, schedule_at destroys the callback at once and returns an empty handle.
///   Do not destroy the service from inside one of its own callbacks.
/// - Priority: with `realtime_priority` > 0 the service thread asks for the real-time
///   policy SCHED_FIFO at that priority, so the machine's other work (a build, the host's
///   own threads) cannot hold it off the CPU when a timer is due: on a loaded machine this
///   turns milliseconds-late outliers into microseconds. It is best effort: it needs root,
///   CAP_SYS_NICE or an RLIMIT_RTPRIO allowance; without them the thread keeps its normal
///   policy and realtime() says why. The kernel's real-time throttling (by default 95% of
///   each second) keeps even a spinning real-time thread from starving the machine.
class TimerService {
public:
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;

    /// The default (largest) spin window: more than a plain sleep overshoots on a loaded machine.
    static constexpr duration default_spin_threshold = std::chrono::microseconds(300);
    /// The smallest spin window adaptive spinning uses.
    static constexpr duration min_adaptive_spin = std::chrono::microseconds(20);

    /// Tuning knobs.
    struct Options {
        /// Wake at most this long before a deadline and spin the rest (0 = never spin).
        duration spin_threshold = default_spin_threshold;
        /// Shrink the window to the observed oversleep (see the class comment).
        bool adaptive_spin = true;
        /// 0: normal scheduling. 1..99: ask for SCHED_FIFO at this priority (see the class comment).
        int realtime_priority = 0;
    };

    /// What became of Options::realtime_priority (known once the thread has started).
    struct Realtime {
        enum class State : std::uint8_t { not_requested, pending, granted, refused };
        State state = State::not_requested;
        int priority = 0;      ///< the priority asked for
        std::error_code error; ///< why it was refused (EPERM: no permission)
        /// One line for logs: "SCHED_FIFO priority 10", "normal priority (SCHED_FIFO 10 refused: ...)".
        [[nodiscard]] std::string describe() const {
            switch (state) {
            case State::not_requested:
                return "normal priority";
            case State::pending:
                return "SCHED_FIFO priority " + std::to_string(priority) + " (timer thread not started yet)";
            case State::granted:
                return "SCHED_FIFO priority " + std::to_string(priority);
            case State::refused:
                break;
            }
            return "normal priority (SCHED_FIFO priority " + std::to_string(priority) + " refused: " + error.message() +
                   (error == std::errc::operation_not_permitted
                        ? "; run as root, grant CAP_SYS_NICE, or raise RLIMIT_RTPRIO (ulimit -r)"
                        : "") +
                   ")";
        }
    };

    TimerService() : TimerService(Options{}) {}
    /// Throws config_error for a realtime_priority outside 0..99.
    explicit TimerService(Options options) : m_options(options) {
        if (m_options.spin_threshold.count() < 0) m_options.spin_threshold = duration::zero();
        if (m_options.realtime_priority < 0 || m_options.realtime_priority > 99)
            detail::throw_error<config_error>("TimerService: realtime_priority " +
                                              std::to_string(m_options.realtime_priority) +
                                              ": use 0 (normal scheduling) or 1..99 (SCHED_FIFO priority)");
        if (m_options.realtime_priority > 0) {
            m_realtime.state = Realtime::State::pending;
            m_realtime.priority = m_options.realtime_priority;
        }
        m_window_ns.store(m_options.spin_threshold.count(), std::memory_order_relaxed);
    }
    TimerService(const TimerService&) = delete;
    TimerService& operator=(const TimerService&) = delete;
    /// shutdown().
    ~TimerService() { shutdown(); }

    /// Runs fn once, on the service thread, at tp (at once if tp has passed).
    TimerHandle schedule_at(time_point tp, std::function<void()> fn) {
        std::unique_lock lock(m_mutex);
        if (m_stopped) {
            lock.unlock();
            fn = nullptr; // the shutdown rule: never run, destroyed outside the lock
            return TimerHandle{};
        }
        start_locked();
        const auto previous = m_queue.next_deadline();
        const TimerHandle h = m_queue.push(tp, std::move(fn));
        const bool earliest = !previous || tp < *previous;
        if (earliest) m_generation.fetch_add(1, std::memory_order_release);
        lock.unlock();
        if (earliest) m_cv.notify_one();
        return h;
    }

    /// Starts the service thread now (the first schedule_at does otherwise), so that its
    /// scheduling policy is settled and realtime() reports it. Does nothing once started
    /// or after shutdown.
    void start() {
        std::lock_guard lock(m_mutex);
        if (!m_stopped) start_locked();
    }

    /// What became of Options::realtime_priority.
    [[nodiscard]] Realtime realtime() const {
        std::lock_guard lock(m_mutex);
        return m_realtime;
    }

    /// Cancels a pending timer: true when it was pending (its callback is destroyed,
    /// on this thread, without being called); false when it has run or is running, was
    /// cancelled, or never existed.
    bool cancel(TimerHandle h) {
        std::optional<std::function<void()>> fn;
        {
            std::lock_guard lock(m_mutex);
            fn = m_queue.cancel(h);
            if (fn) m_generation.fetch_add(1, std::memory_order_release);
        }
        return fn.has_value(); // fn is destroyed here, outside the lock
    }

    /// Cancels every pending timer (see the shutdown rule above) and joins the thread.
    /// Idempotent. Called from one of the service's own callbacks it only stops the
    /// service (the thread ends after that callback returns; the destructor joins it).
    void shutdown() {
        std::thread thread;
        std::vector<std::function<void()>> dropped;
        {
            std::lock_guard lock(m_mutex);
            m_stopped = true;
            m_generation.fetch_add(1, std::memory_order_release);
            if (m_thread.joinable() && m_thread_id != std::this_thread::get_id()) thread = std::move(m_thread);
            if (!m_thread.joinable()) dropped = m_queue.take_all();
        }
        m_cv.notify_all();
        if (thread.joinable()) thread.join();
        dropped.clear();
        // Callbacks destroyed above may have tried to schedule (refused) — nothing is left.
        std::lock_guard lock(m_mutex);
        if (!m_thread.joinable()) dropped = m_queue.take_all();
    }

    /// Number of pending timers.
    [[nodiscard]] std::size_t pending() const {
        std::lock_guard lock(m_mutex);
        return m_queue.size();
    }
    /// Number of callbacks run so far.
    [[nodiscard]] std::uint64_t fired() const {
        std::lock_guard lock(m_mutex);
        return m_fired;
    }
    /// Number of callbacks that threw.
    [[nodiscard]] std::uint64_t callback_errors() const {
        std::lock_guard lock(m_mutex);
        return m_errors;
    }
    /// The most recent exception that escaped a callback (then forgets it); null if none.
    std::exception_ptr take_callback_error() {
        std::lock_guard lock(m_mutex);
        return std::exchange(m_last_error, nullptr);
    }
    /// True once shutdown() has been called.
    [[nodiscard]] bool stopped() const {
        std::lock_guard lock(m_mutex);
        return m_stopped;
    }
    /// True when called from one of this service's callbacks.
    [[nodiscard]] bool on_service_thread() const {
        std::lock_guard lock(m_mutex);
        return m_thread_id == std::this_thread::get_id();
    }
    [[nodiscard]] const Options& options() const noexcept { return m_options; }
    /// The spin window in use now (spin_threshold until adaptive spinning has learnt).
    [[nodiscard]] duration spin_window() const noexcept {
        return duration(m_window_ns.load(std::memory_order_relaxed));
    }

private:
    // Starts the thread (m_mutex held) and applies the real-time priority to it.
    void start_locked() {
        if (m_thread.joinable()) return;
        m_thread = std::thread([this] { run(); });
        m_thread_id = m_thread.get_id();
        if (m_realtime.state != Realtime::State::pending) return;
#if LLMEMU_POSIX
        sched_param param{};
        param.sched_priority = m_realtime.priority;
        const int rc = ::pthread_setschedparam(m_thread.native_handle(), SCHED_FIFO, &param);
        m_realtime.state = rc == 0 ? Realtime::State::granted : Realtime::State::refused;
        if (rc != 0) m_realtime.error = std::error_code(rc, std::generic_category());
#else
        m_realtime.state = Realtime::State::refused;
        m_realtime.error = std::make_error_code(std::errc::not_supported);
#endif
    }

    // Adaptive spin window: twice the median of the last 32 observed oversleeps plus 20 µs.
    // A median, not a mean: on a contended machine some wake-ups are milliseconds late
    // (the thread was not scheduled); no spin window can save those, and letting them
    // widen the window would only make the thread spin — and be preempted — more.
    void record_oversleep(duration late) {
        m_oversleeps[m_samples % m_oversleeps.size()] = std::max<std::int64_t>(late.count(), 0);
        ++m_samples;
        if (m_samples < 8) return; // keep the full window until the estimate means something
        const std::size_t n = std::min<std::size_t>(m_samples, m_oversleeps.size());
        std::array<std::int64_t, 32> copy{};
        std::copy_n(m_oversleeps.begin(), n, copy.begin());
        // The upper median of the window by selection on a stack array (the timer thread's
        // hot path allocates nothing; core/quantile.hpp interpolates doubles).
        std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(n / 2),
                         copy.begin() + static_cast<std::ptrdiff_t>(n));
        const std::int64_t w = 2 * copy[n / 2] + 20'000;
        m_window_ns.store(std::clamp<std::int64_t>(w, min_adaptive_spin.count(), m_options.spin_threshold.count()),
                          std::memory_order_relaxed);
    }

    void run() {
#if defined(__linux__)
        ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); // best effort: precise wake-ups for this thread
#endif
        std::unique_lock lock(m_mutex);
        while (!m_stopped) {
            const auto next = m_queue.next_deadline();
            if (!next) {
                m_cv.wait(lock);
                continue;
            }
            const auto now = std::chrono::steady_clock::now();
            if (*next > now) {
                const duration window = spin_window();
                if (*next - now > window) {
                    const time_point wake = *next - window;
                    const bool timed_out = m_cv.wait_until(lock, wake) == std::cv_status::timeout;
                    if (timed_out && m_options.adaptive_spin && window.count() > 0)
                        record_oversleep(std::chrono::steady_clock::now() - wake);
                    continue; // re-evaluate: an earlier timer, a cancellation or shutdown
                }
                // Spin without the lock; any schedule of an earlier timer, cancellation or
                // shutdown bumps the generation and sends us back to re-evaluate.
                const auto target = *next;
                const auto generation = m_generation.load(std::memory_order_acquire);
                lock.unlock();
                while (std::chrono::steady_clock::now() < target &&
                       m_generation.load(std::memory_order_acquire) == generation) {
                    detail::cpu_relax();
                }
                lock.lock();
                continue;
            }
            auto fired = m_queue.pop();
            ++m_fired;
            lock.unlock();
            try {
                fired.second();
            } catch (...) {
                fired.second = nullptr;
                lock.lock();
                ++m_errors;
                m_last_error = std::current_exception();
                continue;
            }
            fired.second = nullptr; // destroy the callback outside the lock
            lock.lock();
        }
        // Shutdown: cancel what is left (destroyed outside the lock, on this thread).
        while (!m_queue.empty()) {
            auto dropped = m_queue.take_all();
            lock.unlock();
            dropped.clear();
            lock.lock();
        }
    }

    Options m_options;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    detail::TimerQueue<time_point> m_queue;
    std::atomic<std::uint64_t> m_generation{0};
    std::thread m_thread;
    std::thread::id m_thread_id{};
    bool m_stopped = false;
    std::uint64_t m_fired = 0;
    std::uint64_t m_errors = 0;
    std::exception_ptr m_last_error;
    Realtime m_realtime;
    std::atomic<std::int64_t> m_window_ns{0};
    // Recent oversleeps (service thread only).
    std::array<std::int64_t, 32> m_oversleeps{};
    std::uint64_t m_samples = 0;
};

LLMEMU_END_NAMESPACE
