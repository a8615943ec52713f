#pragma once
/// \file timer_future.hpp
/// TimerFuture<T, C>: a value that becomes available at a deadline on clock C. What an
/// executor hands back for a step: the host waits, polls or attaches a continuation, and
/// the same code runs on the wall clock (real waiting) and on the virtual clock (waiting
/// advances simulated time).

#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "llmemu/config.hpp"
#include "llmemu/detail/time_future_state.hpp"
#include "llmemu/error.hpp"
#include "llmemu/time/clock.hpp"

LLMEMU_BEGIN_NAMESPACE

template <class T, Clock C>
class TimerFuture;

/// A future that resolves with `value` at `deadline` on `clock`.
template <class T, Clock C>
TimerFuture<T, C> resolve_at(C& clock, typename C::time_point deadline, T value);

/// A future that resolves at `deadline` with what `producer()` returns then (called on the
/// timer thread for a wall clock, inside advance_to for a virtual one), or with the
/// exception it throws.
template <Clock C, class F>
TimerFuture<std::invoke_result_t<F&>, C> call_at(C& clock, typename C::time_point deadline, F producer);

/// A future that is already resolved with `value` (its deadline is clock.now()).
template <class T, Clock C>
TimerFuture<T, C> make_ready_future(C& clock, T value);

/// A future that is already resolved with an exception (get() rethrows it).
template <class T, Clock C>
TimerFuture<T, C> make_exceptional_future(C& clock, std::exception_ptr error);

/// The result of a timer: resolves at deadline() with a value or an exception, or is
/// cancelled first.
///
/// - `ready()` never blocks. `wait()` blocks until resolved (wall clock) or advances the
///   virtual clock to the deadline, firing every earlier timer first. `wait_until(tp)`
///   waits at most until tp (virtual: advances to min(tp, deadline)) and says whether the
///   future is resolved. `get()` waits, then returns the value (once: a second get()
///   throws future_error), rethrows the stored exception, or throws future_error if the
///   future was cancelled. Blocking on a pending future from the wall clock's own timer
///   thread (inside a then() continuation, say) throws future_error instead of deadlocking.
/// - `then(fn)` runs fn once the future resolves — value, exception or cancellation — on
///   the thread that resolves it (the timer thread for a wall clock, inside advance_to or
///   run_next for a virtual clock, the cancelling thread for cancel()), or at once on the
///   calling thread if it already has. fn should be short and should not throw.
/// - `cancel()` removes the timer if it has not fired; the future becomes cancelled.
///   Cancelling a resolved future does nothing. A future whose timer is dropped unrun
///   (clock shut down or destroyed) is cancelled the same way.
///
/// Move-only, like std::future. The clock must outlive the future. With a wall clock any
/// thread may wait on, poll, or cancel the future; with a virtual clock, the driving thread.
template <class T, Clock C>
class TimerFuture {
public:
    using value_type = T;
    using clock_type = C;
    using time_point = typename C::time_point;
    /// What a chained continuation receives (T; a placeholder for void futures, which have none).
    using value_arg = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

    /// An empty future (valid() is false); every other operation on it throws future_error.
    TimerFuture() = default;
    TimerFuture(TimerFuture&& o) noexcept
        : m_state(std::move(o.m_state)), m_clock(o.m_clock), m_handle(o.m_handle), m_deadline(o.m_deadline),
          m_detached(o.m_detached) {}
    TimerFuture& operator=(TimerFuture&& o) noexcept {
        if (this != &o) {
            release();
            m_state = std::move(o.m_state);
            m_clock = o.m_clock;
            m_handle = o.m_handle;
            m_deadline = o.m_deadline;
            m_detached = o.m_detached;
        }
        return *this;
    }
    TimerFuture(const TimerFuture&) = delete;
    TimerFuture& operator=(const TimerFuture&) = delete;
    /// Destroying a future that has not resolved cancels it: its timer is removed and its
    /// continuations are dropped unrun (so a lambda capturing `this` never runs after its
    /// host is gone) — unless detach() was called, or then(F(value)) handed its lifetime to
    /// the chained future. On the wall clock a continuation that has already started when
    /// the future is destroyed finishes.
    ~TimerFuture() { release(); }

    /// Lets the timer and the continuations run after this future is destroyed (fire and
    /// forget). The future stays usable.
    void detach() noexcept { m_detached = true; }

    /// True unless default-constructed or moved from.
    [[nodiscard]] bool valid() const noexcept { return m_state != nullptr; }
    /// Resolved: a value, an exception, or cancelled. Never blocks.
    [[nodiscard]] bool ready() const { return state("TimerFuture::ready").ready(); }
    /// Resolved by cancellation.
    [[nodiscard]] bool cancelled() const {
        return state("TimerFuture::cancelled").status() == detail::FutureStatus::cancelled;
    }
    /// Resolved with an exception.
    [[nodiscard]] bool has_exception() const {
        return state("TimerFuture::has_exception").status() == detail::FutureStatus::exception;
    }
    /// When the future resolves (or resolved).
    [[nodiscard]] time_point deadline() const noexcept { return m_deadline; }
    /// Virtual clocks only: the value it resolves (or resolved) with when that is already
    /// known (resolve_at stores it up front), else nullptr (a producer that runs at the
    /// deadline, an exception, a cancellation). Lets a driver look ahead of simulated time;
    /// get() still returns the value.
    [[nodiscard]] const value_arg* preloaded() const
    requires(C::is_virtual)
    {
        const auto& s = state("TimerFuture::preloaded");
        return s.status() == detail::FutureStatus::pending || s.status() == detail::FutureStatus::value
                   ? s.preloaded()
                   : nullptr;
    }

    /// Blocks until resolved; on a virtual clock, advances it to the deadline.
    void wait() {
        auto& s = state("TimerFuture::wait");
        if (s.ready()) return;
        if constexpr (C::is_virtual) {
            m_clock->advance_to(m_deadline);
            if (!s.ready()) {
                detail::throw_error<future_error>(
                    "TimerFuture::wait: the clock passed the deadline without resolving the future "
                    "(its timer was lost); this is a bug in the clock");
            }
        } else {
            refuse_to_block_timer_thread("TimerFuture::wait");
            s.wait();
        }
    }
    /// Waits at most until tp; true when resolved.
    bool wait_until(time_point tp) {
        auto& s = state("TimerFuture::wait_until");
        if (s.ready()) return true;
        if constexpr (C::is_virtual) {
            m_clock->advance_to(tp < m_deadline ? tp : m_deadline);
            return s.ready();
        } else {
            refuse_to_block_timer_thread("TimerFuture::wait_until");
            return s.wait_until(tp);
        }
    }
    /// wait_until(clock.now() + d).
    bool wait_for(typename C::duration d) { return wait_until(m_clock->now() + d); }

    /// Waits, then returns the value / rethrows the exception / throws future_error.
    T get() {
        wait();
        if constexpr (std::is_void_v<T>) {
            (void)state("TimerFuture::get").take("TimerFuture::get");
        } else {
            return state("TimerFuture::get").take("TimerFuture::get");
        }
    }

    /// Runs fn() when the future resolves — value, exception or cancellation (see the class
    /// comment for which thread). The continuation belongs to this future: destroying it
    /// unresolved drops fn unrun; an exception fn throws is rethrown by this future's get().
    template <class F>
    requires std::invocable<F&>
    void then(F fn) { state("TimerFuture::then").add_continuation(std::function<void()>(std::move(fn))); }

    /// Chains: fn(value) runs when this future resolves with a value, and the returned
    /// future resolves with fn's result (or with the exception fn throws). This future's
    /// exception or cancellation passes to the returned future without calling fn. The
    /// chain's lifetime moves to the returned future: this one may be dropped (as in
    /// `exec.execute(b).then(f)`), and destroying the returned future unresolved means fn
    /// never runs. This future's get() still returns the value.
    template <class F>
    requires(!std::is_void_v<T> && !std::invocable<F&> && std::invocable<F&, const value_arg&>) auto then(F fn) {
        using R = std::invoke_result_t<F&, const value_arg&>;
        using Child = TimerFuture<R, C>;
        auto& s = state("TimerFuture::then");
        auto child = std::make_shared<typename Child::State>();
        std::weak_ptr<State> parent_weak = m_state;
        std::weak_ptr<typename Child::State> child_weak = child;
        m_detached = true;
        s.add_continuation([parent_weak, child_weak, f = std::move(fn)]() mutable {
            auto c = child_weak.lock();
            auto p = parent_weak.lock();
            if (!c || !p || c->abandoned()) return;
            switch (p->status()) {
            case detail::FutureStatus::value:
                try {
                    if constexpr (std::is_void_v<R>) {
                        f(p->peek_value());
                        c->set_value(std::monostate{});
                    } else {
                        c->set_value(f(p->peek_value()));
                    }
                } catch (...) {
                    c->set_exception(std::current_exception());
                }
                break;
            case detail::FutureStatus::exception:
                c->set_exception(p->exception());
                break;
            default:
                c->cancel();
                break;
            }
        });
        // The continuation holds the parent only weakly: keep it alive with the child.
        Child out(child, *m_clock, TimerHandle{}, m_deadline);
        out.m_keep_alive = m_state;
        return out;
    }

    /// Cancels the timer if it has not fired; the future becomes cancelled.
    void cancel() {
        auto& s = state("TimerFuture::cancel");
        if (s.ready()) return;
        if (m_handle == TimerHandle{} || m_clock->cancel(m_handle)) s.cancel();
    }

    /// The clock the future's timer runs on.
    [[nodiscard]] C& clock() const noexcept { return *m_clock; }

private:
    using State = detail::FutureState<T, !C::is_virtual>;
    template <class U, Clock K>
    friend class TimerFuture;

    void release() noexcept {
        if (!m_state || m_detached || m_state->ready()) return;
        // Abandon first: removing the timer drops its binding, which would otherwise cancel
        // the state the ordinary way (running the continuations).
        m_state->abandon();
        if (m_handle != TimerHandle{}) (void)m_clock->cancel(m_handle);
    }

    TimerFuture(std::shared_ptr<State> s, C& clock, TimerHandle handle, time_point deadline)
        : m_state(std::move(s)), m_clock(&clock), m_handle(handle), m_deadline(deadline) {}

    State& state(const char* who) const {
        if (!m_state)
            detail::throw_error<future_error>(std::string(who) +
                                              ": empty TimerFuture (default-constructed or moved from)");
        return *m_state;
    }

    // Blocking the clock's own timer thread on a pending future would deadlock it (only
    // that thread can resolve the future): refuse with an error instead of hanging.
    void refuse_to_block_timer_thread(const char* who) const {
        if constexpr (requires(C & c) { c.timers().on_service_thread(); }) {
            if (m_clock->timers().on_service_thread())
                detail::throw_error<future_error>(
                    std::string(who) +
                    ": called on the clock's timer thread (from a timer callback or then() continuation) for a future "
                    "that has not resolved; this would deadlock: poll ready() or attach then() instead");
        }
    }

    static TimerFuture schedule(C& clock, time_point deadline, std::shared_ptr<State> s) {
        const TimerHandle h = clock.schedule_at(deadline, detail::TimerBinding<State>(s));
        return TimerFuture(std::move(s), clock, h, deadline);
    }

    template <class U, Clock K>
    friend TimerFuture<U, K> resolve_at(K&, typename K::time_point, U);
    template <Clock K, class F>
    friend TimerFuture<std::invoke_result_t<F&>, K> call_at(K&, typename K::time_point, F);
    template <class U, Clock K>
    friend TimerFuture<U, K> make_ready_future(K&, U);
    template <class U, Clock K>
    friend TimerFuture<U, K> make_exceptional_future(K&, std::exception_ptr);

    std::shared_ptr<State> m_state;
    C* m_clock = nullptr;
    TimerHandle m_handle{};
    time_point m_deadline{};
    bool m_detached = false;
    std::shared_ptr<void> m_keep_alive; // the future a chained one continues
};

template <class T, Clock C>
TimerFuture<T, C> resolve_at(C& clock, typename C::time_point deadline, T value) {
    using F = TimerFuture<T, C>;
    auto s = std::make_shared<typename F::State>();
    s->preload(std::move(value));
    return F::schedule(clock, deadline, std::move(s));
}

template <Clock C, class F>
TimerFuture<std::invoke_result_t<F&>, C> call_at(C& clock, typename C::time_point deadline, F producer) {
    using T = std::invoke_result_t<F&>;
    using Fut = TimerFuture<T, C>;
    auto s = std::make_shared<typename Fut::State>();
    // Shared so that move-only producers work (std::function needs a copyable target).
    auto p = std::make_shared<F>(std::move(producer));
    if constexpr (std::is_void_v<T>) {
        s->preload_producer([p] {
            (*p)();
            return std::monostate{};
        });
    } else {
        s->preload_producer([p] { return (*p)(); });
    }
    return Fut::schedule(clock, deadline, std::move(s));
}

template <class T, Clock C>
TimerFuture<T, C> make_ready_future(C& clock, T value) {
    using F = TimerFuture<T, C>;
    auto s = std::make_shared<typename F::State>();
    s->set_value(std::move(value));
    return F(std::move(s), clock, TimerHandle{}, clock.now());
}

template <class T, Clock C>
TimerFuture<T, C> make_exceptional_future(C& clock, std::exception_ptr error) {
    using F = TimerFuture<T, C>;
    auto s = std::make_shared<typename F::State>();
    s->set_exception(std::move(error));
    return F(std::move(s), clock, TimerHandle{}, clock.now());
}

/// Drives a host loop on either clock until `done()` returns true, so the same event-
/// driven host code (continuations attached with then()) runs on both: on a virtual clock
/// it fires the next timer (run_next, advancing simulated time) between checks; on the
/// wall clock it sleeps `poll` between checks while the timer thread runs continuations
/// (host state they touch must then be thread-safe, e.g. atomics or a mutex). Throws
/// future_error when a virtual clock has no timer pending and done() is still false.
template <Clock C, class Pred>
void drive_until(C& clock, Pred done, std::chrono::nanoseconds poll = std::chrono::microseconds(50)) {
    while (!done()) {
        if constexpr (C::is_virtual) {
            if (!clock.run_next())
                detail::throw_error<future_error>(
                    "drive_until: the virtual clock has no timer pending and the condition is still false; "
                    "dispatch more work from the continuations or fix the condition");
        } else {
            clock.sleep_until(clock.now() + poll);
        }
    }
}

LLMEMU_END_NAMESPACE
