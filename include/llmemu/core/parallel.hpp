#pragma once
/// \file parallel.hpp
/// One small work-sharing loop for independent runs (sweep points, replicates, plan
/// candidates): indices handed out one at a time from a shared counter, so runs of unequal
/// cost balance over the threads; what each index computes depends only on the index, so
/// results do not depend on the thread count.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace llmemu {

/// The thread count `requested` means: 0 = every hardware thread; never more than `tasks`
/// and at least 1.
[[nodiscard]] inline unsigned parallel_threads(unsigned requested, std::size_t tasks) noexcept {
    const unsigned hw = std::max(1U, std::thread::hardware_concurrency());
    const unsigned want = requested == 0 ? hw : requested;
    return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(want, tasks)));
}

/// Calls `fn(i)` for every i in [0, n) on up to `threads` threads (0 = all cores; the
/// calling thread is one of them). After the first exception no new index starts; the
/// others finish and the first exception is rethrown. `fn` must be safe to call
/// concurrently for different indices.
template <class F>
void parallel_for(std::size_t n, unsigned threads, F&& fn) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
        for (std::size_t i = next++; i < n && !failed.load(); i = next++) {
            try {
                fn(i);
            } catch (...) {
                const std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                failed.store(true);
            }
        }
    };
    const unsigned t = parallel_threads(threads, n);
    std::vector<std::thread> pool;
    pool.reserve(t - 1);
    for (unsigned k = 1; k < t; ++k) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
}

} // namespace llmemu
