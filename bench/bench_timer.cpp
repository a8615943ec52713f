// Timer lateness (fire time minus deadline), with 1, 64 and 1024 timers pending, all in
// the same run:
// - llmemu's hybrid TimerService (adaptive spin window, the default), the same with a fixed
//   300 µs window, without spinning, and at real-time priority (SCHED_FIFO, if permitted);
// - the baseline: a bare std::this_thread::sleep_until timer loop;
// - single-shot sleeps: WallClock::sleep_until against std::this_thread::sleep_until, and
//   TimerFuture::wait (what a blocking host sees: the timer plus the OS waking the waiter);
// - the machine's floor: the service spinning all the time, and a bare loop that never
//   sleeps; the lateness left is the machine's own (interrupts, the hypervisor), which no
//   timer beats;
// plus the CPU each costs (process CPU time / wall time while the timers run).
//
// Each repetition runs once (Iterations(1)) over a fixed number of firings and reports
// p50 / p99 / max lateness in µs and cpu_per_wall as counters (the console shows their
// mean/median/stddev over repetitions). Repetitions of all modes are interleaved at random,
// so the machine's bursts of noise spread over every mode; the summary printed at the end
// pools each mode's samples and gives ratios against the bare baseline.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "llmemu/time/timer_future.hpp"
#include "llmemu/time/timer_service.hpp"
#include "llmemu/time/wall_clock.hpp"

namespace {

using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;
using TimePoint = llmemu::TimerService::time_point;

// Deadlines of consecutive firings are this far apart (a decode step is ~10-50 ms; 1 ms
// keeps the run short while leaving most of each gap to sleep, not spin).
constexpr auto period = 1ms;
constexpr int firings = 400;
// Repetitions of each mode, interleaved at random with the other modes' (see main).
constexpr int repetitions = 5;

TimePoint now() {
    return std::chrono::time_point_cast<ns>(std::chrono::steady_clock::now());
}

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Stats {
    double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0, cpu_per_wall = 0, within_10us = 0;
};

Stats summarise(std::vector<std::int64_t> late_ns, double cpu_s, double wall_s) {
    std::sort(late_ns.begin(), late_ns.end());
    auto pct = [&](double p) {
        const auto i = static_cast<std::size_t>(p * static_cast<double>(late_ns.size() - 1));
        return static_cast<double>(late_ns[i]) / 1000.0;
    };
    const auto within = std::count_if(late_ns.begin(), late_ns.end(), [](std::int64_t v) { return v <= 10'000; });
    return Stats{pct(0.5),       pct(0.9),
                 pct(0.99),      static_cast<double>(late_ns.back()) / 1000.0,
                 cpu_s / wall_s, static_cast<double>(within) / static_cast<double>(late_ns.size())};
}

// Every repetition's samples, pooled per name for the summary.
struct Pool {
    std::vector<std::int64_t> late_ns;
    double cpu_s = 0, wall_s = 0;
    int runs = 0;
};
std::map<std::string, Pool> g_results;

// Reports one repetition's stats as counters and adds its samples to the pool.
void record(benchmark::State& state, const std::string& name, const std::vector<std::int64_t>& late_ns, double cpu_s,
            double wall_s) {
    const Stats s = summarise(late_ns, cpu_s, wall_s);
    state.counters["p50_us"] = s.p50_us;
    state.counters["p90_us"] = s.p90_us;
    state.counters["p99_us"] = s.p99_us;
    state.counters["within_10us"] = s.within_10us;
    state.counters["max_us"] = s.max_us;
    state.counters["cpu_per_wall"] = s.cpu_per_wall;
    Pool& pool = g_results[name];
    pool.late_ns.insert(pool.late_ns.end(), late_ns.begin(), late_ns.end());
    pool.cpu_s += cpu_s;
    pool.wall_s += wall_s;
    ++pool.runs;
}

// N timers always pending: N self-rescheduling timers whose deadlines interleave, one
// firing every `period`; each reschedules itself N periods later.
void run_service(benchmark::State& state, llmemu::TimerService::Options options, const char* mode) {
    const auto pending = static_cast<int>(state.range(0));
    for (auto _ : state) {
        llmemu::TimerService service(options);
        service.start();
        std::string name = std::string(mode) + "/" + std::to_string(pending);
        if (options.realtime_priority > 0 && service.realtime().state != llmemu::TimerService::Realtime::State::granted)
            name = std::string(mode) + "_REFUSED/" + std::to_string(pending); // ran at normal priority
        std::mutex m;
        std::vector<std::int64_t> late;
        late.reserve(firings + static_cast<std::size_t>(pending));
        std::atomic<int> remaining{firings};
        std::function<void(TimePoint)> arm;
        arm = [&](TimePoint deadline) {
            service.schedule_at(deadline, [&, deadline] {
                const auto t = now();
                {
                    std::lock_guard lock(m);
                    late.push_back((t - deadline).count());
                }
                if (remaining.fetch_sub(1) > 1) arm(deadline + period * pending);
            });
        };
        const auto start = now() + 5ms;
        for (int i = 0; i < pending; ++i) arm(start + period * i);
        const double cpu0 = process_cpu_seconds();
        const auto wall0 = std::chrono::steady_clock::now();
        while (remaining.load() > 0) std::this_thread::sleep_for(2ms); // the main thread mostly sleeps
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
        const double cpu = process_cpu_seconds() - cpu0;
        state.counters["spin_window_us"] = static_cast<double>(service.spin_window().count()) / 1000.0;
        service.shutdown();
        std::lock_guard lock(m);
        record(state, name, late, cpu, wall);
        state.SetIterationTime(wall);
    }
}

// The baseline: the same N-pending pattern on one thread with a deadline heap and a bare
// std::this_thread::sleep_until.
void run_bare(benchmark::State& state) {
    const auto pending = static_cast<int>(state.range(0));
    for (auto _ : state) {
        std::priority_queue<TimePoint, std::vector<TimePoint>, std::greater<>> heap;
        const auto start = now() + 5ms;
        for (int i = 0; i < pending; ++i) heap.push(start + period * i);
        std::vector<std::int64_t> late;
        late.reserve(firings);
        const double cpu0 = process_cpu_seconds();
        const auto wall0 = std::chrono::steady_clock::now();
        for (int k = 0; k < firings; ++k) {
            const TimePoint deadline = heap.top();
            heap.pop();
            std::this_thread::sleep_until(deadline);
            late.push_back((now() - deadline).count());
            heap.push(deadline + period * pending);
        }
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
        const double cpu = process_cpu_seconds() - cpu0;
        record(state, "bare_sleep_until/" + std::to_string(pending), late, cpu, wall);
        state.SetIterationTime(wall);
    }
}

// The default: adaptive window up to 300 µs.
void BM_TimerService_hybrid(benchmark::State& state) {
    run_service(state, {}, "service_hybrid");
}
// A fixed 300 µs window (adaptive off).
void BM_TimerService_fixed300(benchmark::State& state) {
    run_service(state, {llmemu::TimerService::default_spin_threshold, false}, "service_fixed300");
}
// No spinning: condition-variable sleep only (with the service thread's 1 ns timer slack).
void BM_TimerService_no_spin(benchmark::State& state) {
    run_service(state, {0ns, false}, "service_no_spin");
}
void BM_bare_sleep_until(benchmark::State& state) {
    run_bare(state);
}
// Never sleeps: the window is longer than the gap between deadlines, so the service
// thread spins all the time (a whole core). What is left is the service's own overhead
// plus the stalls of the machine.
void BM_TimerService_spin_always(benchmark::State& state) {
    run_service(state, {std::chrono::seconds(1), false}, "service_spin_always");
}
// The default, with the service thread at real-time priority (SCHED_FIFO 10; needs root or
// CAP_SYS_NICE, else the row is named *_REFUSED and ran at normal priority).
void BM_TimerService_hybrid_fifo(benchmark::State& state) {
    llmemu::TimerService::Options options;
    options.realtime_priority = 10;
    run_service(state, options, "service_hybrid_fifo10");
}

// One thread waiting for `firings` successive deadlines `period` apart: wait(deadline)
// returns the first clock reading it took at or past the deadline.
template <class Wait>
void run_single(benchmark::State& state, const char* name, Wait wait) {
    for (auto _ : state) {
        std::vector<std::int64_t> late;
        late.reserve(firings);
        const double cpu0 = process_cpu_seconds();
        const auto wall0 = std::chrono::steady_clock::now();
        auto deadline = now() + period;
        for (int k = 0; k < firings; ++k) {
            late.push_back((wait(deadline) - deadline).count());
            deadline += period;
        }
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
        record(state, name, late, process_cpu_seconds() - cpu0, wall);
        state.SetIterationTime(wall);
    }
}

// What a blocking host sees: TimerFuture::wait() returning, against the deadline. The timer
// fires on time; the waiting thread then has to be woken by the OS.
void BM_TimerFuture_wait(benchmark::State& state) {
    llmemu::WallClock clock;
    int k = 0;
    run_single(state, "TimerFuture::wait", [&](TimePoint deadline) {
        auto future = llmemu::resolve_at(clock, deadline, ++k);
        future.wait();
        const TimePoint t = now();
        benchmark::DoNotOptimize(future.get());
        return t;
    });
}

// The machine's floor: one thread that never sleeps and reads the clock in a tight loop,
// taking the first reading at or past each deadline. No timer on this machine can beat
// it; where it is late, the thread was not running (an interrupt, the hypervisor, another
// task) — lateness that no user-space timer can avoid.
void BM_busy_spin_floor(benchmark::State& state) {
    run_single(state, "busy_spin_floor", [](TimePoint deadline) {
        TimePoint t = now();
        while (t < deadline) {
            llmemu::detail::cpu_relax();
            t = now();
        }
        return t;
    });
}

// One thread sleeping to successive deadlines: WallClock::sleep_until (hybrid, on the
// caller) against std::this_thread::sleep_until.
template <bool Hybrid>
void BM_single_sleep(benchmark::State& state) {
    llmemu::WallClock clock;
    run_single(state, Hybrid ? "WallClock::sleep_until" : "this_thread::sleep_until", [&](TimePoint deadline) {
        if constexpr (Hybrid)
            clock.sleep_until(deadline);
        else
            std::this_thread::sleep_until(deadline);
        return now();
    });
}

// Every mode: one pass a repetition, `repetitions` repetitions, timed by the passes' wall time.
void once(benchmark::internal::Benchmark* b) {
    b->Iterations(1)
        ->Repetitions(repetitions)
        ->ReportAggregatesOnly(true)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}
// The same with 1, 64 and 1,024 timers pending.
void pending_1_64_1024(benchmark::internal::Benchmark* b) {
    once(b);
    b->Arg(1)->Arg(64)->Arg(1024);
}

} // namespace

BENCHMARK(BM_bare_sleep_until)->Apply(pending_1_64_1024);
BENCHMARK(BM_TimerService_no_spin)->Apply(pending_1_64_1024);
BENCHMARK(BM_TimerService_fixed300)->Apply(pending_1_64_1024);
BENCHMARK(BM_TimerService_hybrid)->Apply(pending_1_64_1024);
BENCHMARK(BM_TimerService_spin_always)->Apply(pending_1_64_1024);
BENCHMARK(BM_TimerService_hybrid_fifo)->Arg(64)->Apply(once);
BENCHMARK(BM_TimerFuture_wait)->Apply(once);
BENCHMARK(BM_busy_spin_floor)->Apply(once);
BENCHMARK_TEMPLATE(BM_single_sleep, false)->Name("BM_this_thread_sleep_until")->Apply(once);
BENCHMARK_TEMPLATE(BM_single_sleep, true)->Name("BM_WallClock_sleep_until")->Apply(once);

int main(int argc, char** argv) {
    // The machine's noise comes in bursts of a second or more: repetitions of the modes are
    // interleaved at random (unless the command line says otherwise) so a burst does not
    // land on one mode only, and the summary pools every repetition's samples.
    std::vector<char*> args(argv, argv + argc);
    static char interleave[] = "--benchmark_enable_random_interleaving=true";
    if (std::none_of(args.begin(), args.end(), [](const char* a) {
            return std::string_view(a).starts_with("--benchmark_enable_random_interleaving");
        }))
        args.insert(args.begin() + 1, interleave);
    int args_count = static_cast<int>(args.size());
    benchmark::Initialize(&args_count, args.data());
    if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (g_results.empty()) return 0; // --benchmark_list_tests, or a filter that matched nothing
    // Pooled over repetitions; ratios against the bare baseline measured in this run.
    std::printf("\nTimer lateness, period %lld us between deadlines, %d firings a repetition, repetitions pooled "
                "(us; ratio = bare / this)\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(period).count()), firings);
    std::printf("%-26s %5s %9s %9s %9s %9s %8s %9s %11s %11s\n", "mode/pending", "runs", "p50", "p90", "p99", "max",
                "<=10us", "cpu/wall", "p50 ratio", "p99 ratio");
    std::map<std::string, Stats> pooled;
    for (const auto& [name, pool] : g_results) pooled[name] = summarise(pool.late_ns, pool.cpu_s, pool.wall_s);
    for (const auto& [name, s] : pooled) {
        std::string base;
        const auto slash = name.find('/');
        if (slash != std::string::npos)
            base = "bare_sleep_until" + name.substr(slash);
        else
            base = "this_thread::sleep_until";
        const auto it = pooled.find(base);
        const double r50 = it != pooled.end() && s.p50_us > 0 ? it->second.p50_us / s.p50_us : 0.0;
        const double r99 = it != pooled.end() && s.p99_us > 0 ? it->second.p99_us / s.p99_us : 0.0;
        std::printf("%-26s %5d %9.2f %9.2f %9.2f %9.1f %7.1f%% %9.3f %10.1fx %10.1fx\n", name.c_str(),
                    g_results[name].runs, s.p50_us, s.p90_us, s.p99_us, s.max_us, 100.0 * s.within_10us, s.cpu_per_wall,
                    r50, r99);
    }
    if (const auto floor = pooled.find("busy_spin_floor"); floor != pooled.end()) {
        std::printf("\nMachine floor in this run: a thread that never sleeps is late by p99 %.2f us, max %.1f us "
                    "(%.1f%% of deadlines within 10 us).\nA p99 under 10 us needs a floor under 10 us: where the "
                    "floor is higher, the machine (interrupts, hypervisor, other tasks) sets the limit.\n",
                    floor->second.p99_us, floor->second.max_us, 100.0 * floor->second.within_10us);
    }
    return 0;
}
