#pragma once
/// \file parallel.hpp
/// One small work-sharing loop for independent runs (sweep points, replicates, plan
/// candidates): indices handed out one at a time from a shared counter, so runs of unequal
/// cost balance over the threads; what each index computes depends only on the index, so
/// results do not depend on the thread count.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The thread count `requested` means: 0 = every hardware thread; never more than `tasks`
/// and at least 1.
[[nodiscard]] inline unsigned parallel_threads(unsigned requested, std::size_t tasks) noexcept {
    const unsigned hw = std::max(1U, std::thread::hardware_concurrency());
    const unsigned want = requested == 0 ? hw : requested;
    return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(want, tasks)));
}

/// A fixed team of threads that runs many short rounds of independent tasks: `run(n, fn)`
/// calls fn(i) for every i in [0, n), the calling thread taking part, indices handed out one
/// at a time from a shared counter (so tasks of unequal cost balance). The workers stay
/// between rounds (spinning briefly, then sleeping on an atomic wait), so a round costs a
/// few hundred nanoseconds of hand-off instead of a thread start: fit for a loop of
/// millions of rounds, e.g. the time windows of a fleet (fleet.hpp). A worker that is not
/// running when a round starts costs nothing: the caller takes its share of the indices,
/// and only waits for tasks a worker has begun. One thread calls run() at a time.
///
/// After the first exception no new index of the round starts; the tasks begun finish, and
/// the exception of the lowest failing index is rethrown by run().
class WorkTeam {
public:
    /// `threads` in all, the caller included (0 = every hardware thread; at least 1).
    explicit WorkTeam(unsigned threads) {
        const unsigned t = parallel_threads(threads, ~std::size_t{0});
        m_workers.reserve(t - 1);
        for (unsigned k = 1; k < t; ++k) m_workers.emplace_back([this] { work(); });
    }
    ~WorkTeam() {
        m_stop.store(true);
        m_round.fetch_add(1);
        m_round.notify_all();
        for (auto& th : m_workers) th.join();
    }
    WorkTeam(const WorkTeam&) = delete;
    WorkTeam& operator=(const WorkTeam&) = delete;

    /// Threads of the team, the caller's included.
    [[nodiscard]] unsigned size() const noexcept { return static_cast<unsigned>(m_workers.size()) + 1; }

    /// Calls fn(i) for every i in [0, n) and returns when all have finished (see the class
    /// comment for exceptions). `fn` must be safe to call concurrently for different i.
    template <class F>
    void run(std::size_t n, F&& fn) {
        if (n == 0) return;
        using Fn = std::remove_reference_t<F>;
        if (m_workers.empty() || n == 1) { // nobody to share with: no hand-off at all
            for (std::size_t i = 0; i < n; ++i) fn(i);
            return;
        }
        m_failed_index = ~std::size_t{0};
        m_failure = nullptr;
        m_failed.store(false, std::memory_order_relaxed);
        m_done.store(0, std::memory_order_relaxed);
        const std::uint64_t round = ++m_round_seq;
        // The round's description, written as a seqlock: a worker still looking at an older
        // round sees m_job_round change and leaves it.
        m_job_round.store(0);
        m_call.store(+[](void* ctx, std::size_t i) { (*static_cast<Fn*>(ctx))(i); });
        m_ctx.store(static_cast<void*>(std::addressof(fn)));
        m_n.store(n);
        m_job_round.store(round);
        m_claim.store(round << 32); // index 0 of this round
        m_round.fetch_add(1, std::memory_order_release);
        m_round.notify_all();
        take(round);
        std::uint32_t spins = 0;
        while (m_done.load(std::memory_order_acquire) != n) {
            pause();
            if (++spins > spin_limit) std::this_thread::yield();
        }
        if (m_failure) std::rethrow_exception(m_failure);
    }

private:
    // Spins (with a CPU pause each) before a worker sleeps, or the caller yields: about a
    // millisecond, longer than the gap between two rounds of a busy loop, so a round rarely
    // pays for a sleeping thread's wake-up (tens of microseconds).
    static constexpr std::uint32_t spin_limit = 1U << 16;
    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    // Claims and runs indices of `round` until none is left (or one failed).
    void take(std::uint64_t round) {
        if (m_job_round.load() != round) return;
        const std::size_t n = m_n.load();
        auto* call = m_call.load();
        void* ctx = m_ctx.load();
        if (m_job_round.load() != round) return; // a newer round's description: not ours
        std::uint64_t c = m_claim.load(std::memory_order_acquire);
        for (;;) {
            if ((c >> 32) != round || (c & 0xFFFFFFFFU) >= n || m_failed.load(std::memory_order_relaxed)) {
                // A round that ended (or failed): indices not begun still count as done.
                if ((c >> 32) == round && (c & 0xFFFFFFFFU) < n &&
                    m_claim.compare_exchange_weak(c, (round << 32) | n, std::memory_order_acq_rel))
                    m_done.fetch_add(n - (c & 0xFFFFFFFFU), std::memory_order_acq_rel);
                else if ((c >> 32) == round && (c & 0xFFFFFFFFU) < n)
                    continue; // lost the race for the rest: look again
                return;
            }
            if (!m_claim.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
            const std::size_t i = c & 0xFFFFFFFFU;
            try {
                call(ctx, i);
            } catch (...) {
                const std::lock_guard<std::mutex> lock(m_failure_mutex);
                if (i < m_failed_index) {
                    m_failed_index = i;
                    m_failure = std::current_exception();
                }
                m_failed.store(true, std::memory_order_relaxed);
            }
            m_done.fetch_add(1, std::memory_order_acq_rel);
            c = m_claim.load(std::memory_order_acquire);
        }
    }

    void work() {
        std::uint32_t seen = 0; // m_round's value when the team was made
        for (;;) {
            std::uint32_t spins = 0;
            std::uint32_t now = m_round.load(std::memory_order_acquire);
            while (now == seen) {
                if (m_stop.load(std::memory_order_acquire)) return;
                pause();
                if (++spins > spin_limit) {
                    m_round.wait(seen, std::memory_order_acquire);
                    spins = 0;
                }
                now = m_round.load(std::memory_order_acquire);
            }
            seen = now;
            if (m_stop.load()) return;
            // The round's own number comes with its claim word: a worker that woke late
            // sees a finished round there and takes nothing.
            const std::uint64_t c = m_claim.load(std::memory_order_acquire);
            take(c >> 32);
        }
    }

    std::vector<std::thread> m_workers;
    std::atomic<std::uint32_t> m_round{0};             // bumped to wake the workers
    std::uint64_t m_round_seq = 0;                     // the caller's count of rounds
    alignas(64) std::atomic<std::uint64_t> m_claim{0}; // (round << 32) | next index
    std::atomic<std::uint64_t> m_job_round{0};         // the round m_call, m_ctx, m_n describe (0: being written)
    alignas(64) std::atomic<std::size_t> m_done{0};
    alignas(64) std::atomic<std::size_t> m_n{0};
    std::atomic<void (*)(void*, std::size_t)> m_call{nullptr};
    std::atomic<void*> m_ctx{nullptr};
    std::atomic<bool> m_failed{false};
    std::atomic<bool> m_stop{false};
    std::mutex m_failure_mutex;
    std::size_t m_failed_index = ~std::size_t{0};
    std::exception_ptr m_failure;
};

/// Calls `fn(i)` for every i in [0, n) on up to `threads` threads (0 = all cores; the
/// calling thread is one of them), as one round of a WorkTeam. After the first exception
/// no new index starts; the others finish and the exception of the lowest failing index
/// is rethrown. `fn` must be safe to call concurrently for different indices.
template <class F>
void parallel_for(std::size_t n, unsigned threads, F&& fn) {
    if (n == 0) return;
    WorkTeam team(parallel_threads(threads, n));
    team.run(n, fn);
}

LLMEMU_END_NAMESPACE
