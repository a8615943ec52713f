#pragma once
// The shared state behind TimerFuture: a value (or exception) prepared when the timer is
// set, published when it fires; continuations; and the count of timer callbacks still
// holding the state, so that a timer dropped unrun (cancelled, clock shut down or
// destroyed) cancels the future instead of leaving its waiters hanging.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace detail {

enum class FutureStatus : std::uint8_t { pending, value, exception, cancelled };

// Sync = true: resolved on one thread, observed on others (wall clock).
// Sync = false: one thread does everything (virtual clock): no locking.
template <class T, bool Sync>
class FutureState {
public:
    using storage = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

    FutureState() = default;
    FutureState(const FutureState&) = delete;
    FutureState& operator=(const FutureState&) = delete;

    // --- set up before the timer is scheduled (no other thread sees the state yet) ---
    void preload(storage v) { m_value.emplace(std::move(v)); }
    void preload_producer(std::function<storage()> producer) { m_producer = std::move(producer); }

    // --- resolution: the first one wins; each returns whether it resolved the state ---
    bool fire() {
        if (m_producer) {
            std::optional<storage> produced;
            try {
                produced.emplace(m_producer());
            } catch (...) {
                return set_exception(std::current_exception());
            }
            return resolve(FutureStatus::value, [&] { m_value = std::move(produced); });
        }
        return resolve(FutureStatus::value, [] {});
    }
    bool set_value(storage v) {
        return resolve(FutureStatus::value, [&] { m_value.emplace(std::move(v)); });
    }
    bool set_exception(std::exception_ptr e) {
        return resolve(FutureStatus::exception, [&] { m_exception = std::move(e); });
    }
    bool cancel() {
        return resolve(FutureStatus::cancelled, [] {});
    }
    // The owning future was destroyed unresolved: cancelled, and its continuations are
    // dropped unrun (they may capture what the owner's destruction frees).
    bool abandon() {
        std::vector<std::function<void()>> dropped;
        {
            [[maybe_unused]] auto lock = lock_if_sync();
            if (status() != FutureStatus::pending) return false;
            m_abandoned = true;
            m_status.store(FutureStatus::cancelled, std::memory_order_release);
            dropped.swap(m_continuations);
        }
        if constexpr (Sync) m_sync.cv.notify_all();
        return true; // `dropped` is destroyed here, outside the lock
    }
    [[nodiscard]] bool abandoned() const {
        [[maybe_unused]] auto lock = lock_if_sync();
        return m_abandoned;
    }
    // An exception thrown by a continuation of this future: kept, and rethrown by take()
    // (the future it belongs to), never out of the resolving thread.
    void set_continuation_error(std::exception_ptr e) {
        [[maybe_unused]] auto lock = lock_if_sync();
        if (!m_continuation_error) m_continuation_error = std::move(e);
    }
    // The stored exception (status exception), for chained futures.
    [[nodiscard]] std::exception_ptr exception() const {
        [[maybe_unused]] auto lock = lock_if_sync();
        return m_exception;
    }
    // The value for a continuation to read (status value).
    [[nodiscard]] const storage& peek_value() const { return *m_value; }
    // The value given to preload() (or set since), or nullptr: for one-thread (virtual
    // clock) states only, where nothing resolves it meanwhile.
    [[nodiscard]] const storage* preloaded() const noexcept
    requires(!Sync)
    {
        return m_value ? &*m_value : nullptr;
    }

    // --- observation ---
    [[nodiscard]] FutureStatus status() const noexcept { return m_status.load(std::memory_order_acquire); }
    [[nodiscard]] bool ready() const noexcept { return status() != FutureStatus::pending; }

    // Blocks until resolved (Sync only; a virtual clock drives time instead).
    void wait() const {
        if constexpr (Sync) {
            if (ready()) return;
            std::unique_lock lock(m_sync.mutex);
            m_sync.cv.wait(lock, [this] { return ready(); });
        }
    }
    template <class TimePoint>
    bool wait_until(TimePoint tp) const {
        if constexpr (Sync) {
            if (ready()) return true;
            std::unique_lock lock(m_sync.mutex);
            return m_sync.cv.wait_until(lock, tp, [this] { return ready(); });
        } else {
            (void)tp;
            return ready();
        }
    }

    // Runs fn when resolved: now (on this thread) if already resolved.
    void add_continuation(std::function<void()> fn) {
        {
            [[maybe_unused]] auto lock = lock_if_sync();
            if (status() == FutureStatus::pending) {
                m_continuations.push_back(std::move(fn));
                return;
            }
        }
        // Already resolved: run it here; its exception belongs to this future, as when
        // the resolving thread runs it.
        try {
            fn();
        } catch (...) {
            set_continuation_error(std::current_exception());
        }
    }

    // The result of a resolved state: the value once, a stored exception, or future_error.
    // On the wall clock, the continuations the resolving thread is running may still throw:
    // wait for them (unless this is that thread, inside one of them), so that their
    // exception reaches this get() whatever the timing.
    storage take(const char* who) {
        auto lock = lock_if_sync();
        if constexpr (Sync)
            m_sync.cv.wait(lock, [this] { return !m_settling || m_settler == std::this_thread::get_id(); });
        if (m_continuation_error) {
            auto e = m_continuation_error;
            if constexpr (Sync) lock.unlock();
            std::rethrow_exception(e);
        }
        switch (status()) {
        case FutureStatus::value:
            if (m_taken)
                throw_error<future_error>(
                    std::string(who) +
                    ": the value was already retrieved by an earlier get(); call get() once per future");
            m_taken = true;
            return std::move(*m_value);
        case FutureStatus::exception: {
            auto e = m_exception;
            if constexpr (Sync) lock.unlock();
            std::rethrow_exception(e);
        }
        case FutureStatus::cancelled:
            throw_error<future_error>(
                std::string(who) +
                ": the future was cancelled before its deadline (cancel(), or its clock shut down or was destroyed)");
        case FutureStatus::pending:
            break;
        }
        throw_error<future_error>(std::string(who) + ": the future is not ready");
    }

    // --- timer bindings (see TimerBinding) ---
    void retain_binding() noexcept { m_bindings.fetch_add(1, std::memory_order_relaxed); }
    void release_binding() {
        if (m_bindings.fetch_sub(1, std::memory_order_acq_rel) == 1 && !ready()) cancel();
    }

private:
    struct Sync_ {
        mutable std::mutex mutex;
        mutable std::condition_variable cv;
    };
    struct NoSync {};

    auto lock_if_sync() const {
        if constexpr (Sync) {
            return std::unique_lock<std::mutex>(m_sync.mutex);
        } else {
            return 0;
        }
    }

    template <class Setter>
    bool resolve(FutureStatus to, Setter&& setter) {
        std::vector<std::function<void()>> continuations;
        {
            [[maybe_unused]] auto lock = lock_if_sync();
            if (status() != FutureStatus::pending) return false;
            setter();
            m_status.store(to, std::memory_order_release);
            continuations.swap(m_continuations);
            if constexpr (Sync) {
                if (!continuations.empty()) {
                    m_settling = true;
                    m_settler = std::this_thread::get_id();
                }
            }
        }
        if constexpr (Sync) m_sync.cv.notify_all();
        // Run every continuation; an exception is kept on this future (take() rethrows it),
        // never thrown into the clock that resolved it.
        for (auto& fn : continuations) {
            try {
                fn();
            } catch (...) {
                set_continuation_error(std::current_exception());
            }
        }
        if constexpr (Sync) {
            if (!continuations.empty()) {
                {
                    std::lock_guard lock(m_sync.mutex);
                    m_settling = false;
                }
                m_sync.cv.notify_all();
            }
        }
        return true;
    }

    std::atomic<FutureStatus> m_status{FutureStatus::pending};
    std::atomic<std::uint32_t> m_bindings{0};
    bool m_taken = false;
    bool m_abandoned = false;
    bool m_settling = false;   // Sync: the resolving thread is running the continuations
    std::thread::id m_settler; // ... and this is it
    std::exception_ptr m_continuation_error;
    std::optional<storage> m_value;
    std::exception_ptr m_exception;
    std::function<storage()> m_producer;
    std::vector<std::function<void()>> m_continuations;
    [[no_unique_address]] std::conditional_t<Sync, Sync_, NoSync> m_sync;
};

// The callback a TimerFuture puts on its clock. Copies count as holders of the state; when
// the last one is destroyed without the timer having fired, the future is cancelled.
template <class State>
class TimerBinding {
public:
    explicit TimerBinding(std::shared_ptr<State> state) : m_state(std::move(state)) { m_state->retain_binding(); }
    TimerBinding(const TimerBinding& other) : m_state(other.m_state) {
        if (m_state) m_state->retain_binding();
    }
    TimerBinding(TimerBinding&& other) noexcept : m_state(std::move(other.m_state)) {}
    TimerBinding& operator=(const TimerBinding&) = delete;
    TimerBinding& operator=(TimerBinding&&) = delete;
    ~TimerBinding() {
        if (m_state) m_state->release_binding();
    }
    void operator()() const { m_state->fire(); }

private:
    std::shared_ptr<State> m_state;
};

} // namespace detail
LLMEMU_END_NAMESPACE
