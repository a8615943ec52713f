// Timer lateness (fire time minus deadline): llmemu's hybrid TimerService (adaptive spin
// window, the default; and a fixed 300 µs window) against the same service without
// spinning and against a bare std::this_thread::sleep_until timer loop, with 1, 64 and 1024 timers pending, all in the
// same run; plus the CPU the spinning costs (process CPU time / wall time while the timers run), and single-shot
// sleep_until lateness for WallClock::sleep_until vs std::this_thread::sleep_until.
//
// Each benchmark runs once (Iterations(1)) over a fixed number of firings and reports
// p50 / p99 / max lateness in µs and cpu_per_wall as counters; a summary with ratios
// against the bare baseline is printed at the end.
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
#include <thread>
#include <vector>

#include "llmemu/time/timer_service.hpp"
#include "llmemu/time/wall_clock.hpp"

namespace {

using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;
using TimePoint = llmemu::TimerService::time_point;

// Deadlines of consecutive firings are this far apart (a decode step is ~10-50 ms; 1 ms
// keeps the run short while leaving most of each gap to sleep, not spin).
constexpr auto period = 1ms;
constexpr int firings = 1000;

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
std::map<std::string, Stats> g_results; // name -> stats, for the ratio summary

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

void report(benchmark::State& state, const std::string& name, const Stats& s) {
    state.counters["p50_us"] = s.p50_us;
    state.counters["p90_us"] = s.p90_us;
    state.counters["p99_us"] = s.p99_us;
    state.counters["within_10us"] = s.within_10us;
    state.counters["max_us"] = s.max_us;
    state.counters["cpu_per_wall"] = s.cpu_per_wall;
    g_results[name] = s;
}

// N timers always pending: N self-rescheduling timers whose deadlines interleave, one
// firing every `period`; each reschedules itself N periods later.
void run_service(benchmark::State& state, llmemu::TimerService::Options options, const char* mode) {
    const auto pending = static_cast<int>(state.range(0));
    for (auto _ : state) {
        llmemu::TimerService service(options);
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
        const Stats s = summarise(late, cpu, wall);
        report(state, std::string(mode) + "/" + std::to_string(pending), s);
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
        report(state, "bare_sleep_until/" + std::to_string(pending), summarise(late, cpu, wall));
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

// One thread sleeping to successive deadlines: WallClock::sleep_until (hybrid, on the
// caller) against std::this_thread::sleep_until.
template <bool Hybrid>
void BM_single_sleep(benchmark::State& state) {
    llmemu::WallClock clock;
    for (auto _ : state) {
        std::vector<std::int64_t> late;
        late.reserve(firings);
        const double cpu0 = process_cpu_seconds();
        const auto wall0 = std::chrono::steady_clock::now();
        auto deadline = now() + period;
        for (int k = 0; k < firings; ++k) {
            if constexpr (Hybrid)
                clock.sleep_until(deadline);
            else
                std::this_thread::sleep_until(deadline);
            late.push_back((now() - deadline).count());
            deadline += period;
        }
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
        report(state, Hybrid ? "WallClock::sleep_until" : "this_thread::sleep_until",
               summarise(late, process_cpu_seconds() - cpu0, wall));
        state.SetIterationTime(wall);
    }
}

} // namespace

BENCHMARK(BM_bare_sleep_until)
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TimerService_no_spin)
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TimerService_fixed300)
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TimerService_hybrid)
    ->Arg(1)
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_single_sleep, false)
    ->Name("BM_this_thread_sleep_until")
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_single_sleep, true)
    ->Name("BM_WallClock_sleep_until")
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    // Ratios against the bare baseline measured in this run.
    std::printf("\nTimer lateness, period %lld us between deadlines, %d firings each (us; ratio = bare / this)\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(period).count()), firings);
    std::printf("%-26s %9s %9s %9s %9s %8s %9s %11s %11s\n", "mode/pending", "p50", "p90", "p99", "max", "<=10us",
                "cpu/wall", "p50 ratio", "p99 ratio");
    for (const auto& [name, s] : g_results) {
        std::string base;
        const auto slash = name.find('/');
        if (slash != std::string::npos)
            base = "bare_sleep_until" + name.substr(slash);
        else
            base = "this_thread::sleep_until";
        const auto it = g_results.find(base);
        const double r50 = it != g_results.end() && s.p50_us > 0 ? it->second.p50_us / s.p50_us : 0.0;
        const double r99 = it != g_results.end() && s.p99_us > 0 ? it->second.p99_us / s.p99_us : 0.0;
        std::printf("%-26s %9.2f %9.2f %9.2f %9.1f %7.1f%% %9.3f %10.1fx %10.1fx\n", name.c_str(), s.p50_us, s.p90_us,
                    s.p99_us, s.max_us, 100.0 * s.within_10us, s.cpu_per_wall, r50, r99);
    }
    return 0;
}
