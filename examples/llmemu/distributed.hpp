#pragma once
// Independent tasks spread over threads and, when the binary is built with MPI and started
// by mpirun, over MPI ranks (`mpirun -np K llmemu sweep|plan ...`). Each task returns its
// result as a string; rank 0 hands out task indices one at a time (dynamic scheduling:
// tasks differ in cost), gathers every result and alone writes the output, so the output
// is the single-process one for any K. Other ranks compute and stay silent.
//
// Protocol (point to point, MPI_COMM_WORLD): a worker thread sends rank 0 a request (tag
// 1: the index of the task it finished, or -1, then that task's result bytes) and waits for
// its next index (tag 2; -1 = stop). On rank 0 one dispatcher thread answers while the
// rank's own threads take indices from the same counter. MPI calls are serialised
// (MPI_THREAD_SERIALIZED), waits poll with a short sleep so an idle rank leaves the core to
// the computing ones.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "command.hpp"
#include "llmemu/core/parallel.hpp"

#ifdef LLMEMU_HAVE_MPI
#include <mpi.h>
#endif

namespace llmemu::cli {

/// This process's place among the ranks of an mpirun job (one rank when not under mpirun).
class Distributed {
public:
    /// The process's one instance; initialises MPI on first use when launched by mpirun.
    static Distributed& instance() {
        static Distributed d;
        return d;
    }
    Distributed(const Distributed&) = delete;
    Distributed& operator=(const Distributed&) = delete;
    ~Distributed() {
#ifdef LLMEMU_HAVE_MPI
        if (m_ranks > 1 || m_initialised) MPI_Finalize();
#endif
    }

    /// Rank 0 (or the only process): the one that writes output.
    [[nodiscard]] bool leader() const noexcept {
        return m_rank == 0;
    }
    [[nodiscard]] int ranks() const noexcept {
        return m_ranks;
    }

    /// Runs task(i) for i in [0, n) on `threads` threads per rank (0 = all cores) over every
    /// rank; returns the n results, in index order, on the leader (an empty list elsewhere).
    /// `task` must not throw (put a failure into its result): a rank that stops early leaves
    /// the others waiting.
    std::vector<std::string> map(std::size_t n, unsigned threads, const std::function<std::string(std::size_t)>& task) {
        std::vector<std::string> out(n);
#ifdef LLMEMU_HAVE_MPI
        if (m_ranks > 1) {
            distributed_map(n, threads, task, out);
            return leader() ? out : std::vector<std::string>{};
        }
#endif
        parallel_for(n, threads, [&](std::size_t i) { out[i] = task(i); });
        return out;
    }

private:
    Distributed() {
#ifdef LLMEMU_HAVE_MPI
        // Only under a launcher: a plain run never touches MPI (no singleton start-up).
        const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
                              std::getenv("PMIX_RANK") != nullptr;
        if (!launched) return;
        int provided = 0;
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
        m_initialised = true;
        m_serialized = provided >= MPI_THREAD_SERIALIZED;
        MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
        MPI_Comm_size(MPI_COMM_WORLD, &m_ranks);
#endif
    }

#ifdef LLMEMU_HAVE_MPI
    static constexpr int tag_request = 1, tag_reply = 2;

    static void nap() {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }

    /// Waits (polling) for a message with `tag` from `source`; returns its status.
    static MPI_Status wait_for(int source, int tag) {
        MPI_Status st{};
        for (int flag = 0;;) {
            MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &st);
            if (flag != 0) return st;
            nap();
        }
    }

    void distributed_map(std::size_t n, unsigned threads, const std::function<std::string(std::size_t)>& task,
                         std::vector<std::string>& out) {
        // Without SERIALIZED support one thread per rank talks to MPI, and rank 0 only dispatches.
        const unsigned local = m_serialized ? parallel_threads(threads, std::max<std::size_t>(n, 1)) : 1U;
        int mine = static_cast<int>(local);
        std::vector<int> per_rank(static_cast<std::size_t>(m_ranks));
        MPI_Gather(&mine, 1, MPI_INT, per_rank.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (leader()) {
            int workers = 0;
            for (int r = 1; r < m_ranks; ++r) workers += per_rank[static_cast<std::size_t>(r)];
            std::atomic<std::size_t> next{0};
            std::thread dispatcher([&] { dispatch(n, workers, next, out); });
            if (m_serialized) {
                std::vector<std::thread> pool;
                auto work = [&] {
                    for (std::size_t i = next++; i < n; i = next++) out[i] = task(i);
                };
                for (unsigned t = 1; t < local; ++t) pool.emplace_back(work);
                work();
                for (auto& t : pool) t.join();
            }
            dispatcher.join();
        } else {
            std::mutex mpi;
            auto work = [&] {
                std::int64_t done = -1;
                std::string result;
                for (;;) {
                    std::int64_t i = -1;
                    {
                        const std::lock_guard<std::mutex> lock(mpi);
                        std::string msg(sizeof done, '\0');
                        std::memcpy(msg.data(), &done, sizeof done);
                        msg += result;
                        MPI_Send(msg.data(), static_cast<int>(msg.size()), MPI_BYTE, 0, tag_request, MPI_COMM_WORLD);
                        (void)wait_for(0, tag_reply);
                        MPI_Recv(&i, 1, MPI_INT64_T, 0, tag_reply, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    }
                    if (i < 0) return;
                    result = task(static_cast<std::size_t>(i));
                    done = i;
                }
            };
            std::vector<std::thread> pool;
            for (unsigned t = 1; t < local; ++t) pool.emplace_back(work);
            work();
            for (auto& t : pool) t.join();
        }
    }

    /// Rank 0's dispatcher: answers every worker thread's requests until each got its stop.
    static void dispatch(std::size_t n, int workers, std::atomic<std::size_t>& next, std::vector<std::string>& out) {
        std::vector<char> buf;
        for (int stopped = 0; stopped < workers;) {
            const MPI_Status st = wait_for(MPI_ANY_SOURCE, tag_request);
            int len = 0;
            MPI_Get_count(&st, MPI_BYTE, &len);
            buf.resize(static_cast<std::size_t>(std::max(len, 1)));
            MPI_Recv(buf.data(), len, MPI_BYTE, st.MPI_SOURCE, tag_request, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            std::int64_t done = -1;
            std::memcpy(&done, buf.data(), sizeof done);
            if (done >= 0 && static_cast<std::size_t>(done) < n)
                out[static_cast<std::size_t>(done)].assign(buf.data() + sizeof done,
                                                           buf.data() + static_cast<std::size_t>(len));
            const std::size_t i = next++;
            const std::int64_t reply = i < n ? static_cast<std::int64_t>(i) : -1;
            if (reply < 0) ++stopped;
            MPI_Send(&reply, 1, MPI_INT64_T, st.MPI_SOURCE, tag_reply, MPI_COMM_WORLD);
        }
    }

    bool m_initialised = false;
    bool m_serialized = true;
#endif
    int m_rank = 0;
    int m_ranks = 1;
};

} // namespace llmemu::cli
