// The fleet-day benchmark (issue 12): data/splitwise_conv.csv replayed 24 times back to
// back (one day), with N interleaved copies for N replicas (N x its rate), on the A40
// Qwen3-8B pack, least_loaded routing, in virtual time. The requests stream from a
// generator and the vLLM summary (fleet-wide and per replica) is built as requests finish,
// as `llmemu simulate --replicas N` does; counters: simulated requests per second of
// wall (and CPU) time and the process's peak RSS.
//
// Baseline in the same program: the way the engine ran before summaries streamed: every
// request's record with every token's time kept, then summarised at the end
// (timing_from_record + summarize), which is what its per-request memory was.
//
// Peak RSS is the process's: run one benchmark per process, e.g.
//   bench_fleet --benchmark_filter='BM_fleet_day/replicas:8/hours:24/threads:0$'
//   bench_fleet --benchmark_filter='BM_fleet_day/replicas:64/hours:24/threads:2$'
//   bench_fleet --benchmark_filter='BM_fleet_day_baseline/replicas:1/hours:1$'
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/trace.hpp"

using namespace llmemu;
using std::chrono::nanoseconds;

namespace {

const std::string source_dir = LLMEMU_SOURCE_DIR;

struct Fixture {
    Trace trace = read_trace_csv(source_dir + "/data/splitwise_conv.csv", true);
    AnyLatencyModel model = AnyLatencyModel::from_spec(source_dir + "/data/llm-emu-A40-Qwen3-8B-subset.json");
};
Fixture& fixture() {
    static Fixture f;
    return f;
}

EngineConfig trace_config() {
    EngineConfig c;
    c.max_model_len = 16384; // the trace's longest request is 14,089 tokens
    c.num_gpu_blocks = 0;    // derived from the pack: A40 48 GB at 0.9, Qwen3-8B
    return c;
}

/// `hours` back-to-back replays of the trace, each with `copies` interleaved copies (copy
/// k shifted by k / copies of the trace's mean gap), generated in arrival order on the fly.
class DaySource {
public:
    /// `cap`: at most this many requests (0 = all), the first in arrival order.
    DaySource(const Trace& t, std::uint32_t copies, std::uint32_t hours, std::size_t cap = 0)
        : m_t(t), m_copies(copies), m_hours(hours), m_cap(cap) {
        const double last = t.requests.back().arrived_at;
        const double gap = last / static_cast<double>(t.requests.size() - 1);
        m_hour_s = last + gap;
        m_shift_s = gap / copies;
        for (std::uint32_t k = 0; k < copies; ++k) push(Cursor{0, 0, k});
    }
    bool next(TimedRequest& r) {
        if (m_heap.empty() || (m_cap != 0 && m_next_id >= m_cap)) return false;
        const Cursor c = m_heap.top().second;
        m_heap.pop();
        const auto& row = m_t.requests[c.row];
        r = TimedRequest{};
        r.arrival = nanoseconds(std::llround(time_of(c) * 1e9));
        r.spec.id = m_next_id++;
        r.spec.prompt_len = row.prompt_len;
        r.spec.max_tokens = row.output_len == 0 ? 1 : row.output_len;
        r.spec.ignore_eos = true;
        Cursor n = c;
        if (++n.row == m_t.requests.size()) {
            n.row = 0;
            ++n.hour;
        }
        if (n.hour < m_hours) push(n);
        return true;
    }
    [[nodiscard]] std::size_t size() const noexcept {
        const std::size_t all = m_t.requests.size() * std::size_t{m_copies} * m_hours;
        return m_cap != 0 && m_cap < all ? m_cap : all;
    }

private:
    struct Cursor {
        std::size_t row;
        std::uint32_t hour;
        std::uint32_t copy;
    };
    [[nodiscard]] double time_of(const Cursor& c) const noexcept {
        return static_cast<double>(c.hour) * m_hour_s + m_t.requests[c.row].arrived_at + c.copy * m_shift_s;
    }
    void push(const Cursor& c) { m_heap.emplace(-time_of(c), c); }
    struct Later {
        bool operator()(const std::pair<double, Cursor>& a, const std::pair<double, Cursor>& b) const noexcept {
            return a.first != b.first ? a.first < b.first : a.second.copy > b.second.copy;
        }
    };
    const Trace& m_t;
    std::uint32_t m_copies, m_hours;
    std::size_t m_cap;
    double m_hour_s = 0.0, m_shift_s = 0.0;
    RequestId m_next_id = 0;
    std::priority_queue<std::pair<double, Cursor>, std::vector<std::pair<double, Cursor>>, Later> m_heap;
};

double peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

using X = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
using VEngine = Engine<X, VirtualClock>;

void report(benchmark::State& state, std::size_t requests, double sim_s, double cpu_s, const BenchResult& r) {
    state.counters["requests"] = static_cast<double>(requests);
    state.counters["completed"] = static_cast<double>(r.completed);
    state.counters["simulated_s"] = sim_s;
    state.counters["requests_per_s"] =
        benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["requests_per_cpu_s"] = static_cast<double>(requests) / cpu_s;
    state.counters["peak_rss_mb"] = peak_rss_mb();
    state.counters["rss_kb_per_request"] = peak_rss_mb() * 1024.0 / static_cast<double>(requests);
    state.counters["mean_ttft_ms"] = r.ttft.mean_ms;
    state.counters["p99_itl_ms"] = r.itl.percentiles_ms.empty() ? 0.0 : r.itl.percentiles_ms.back().second;
}

/// N replicas of the trace's engine on `clock` (or each on a clock of its own, as
/// `llmemu simulate` runs a fleet: advanced window by window, on several threads), each with
/// its own executor seed.
struct Replicas {
    std::vector<std::unique_ptr<VirtualClock>> clocks;
    std::vector<std::unique_ptr<VEngine>> engines;
    std::vector<VEngine*> ptrs;
    Replicas(Fixture& f, VirtualClock& clock, std::uint32_t n, bool own_clocks = false) {
        for (std::uint32_t i = 0; i < n; ++i) {
            if (own_clocks) clocks.push_back(std::make_unique<VirtualClock>());
            VirtualClock& c = own_clocks ? *clocks.back() : clock;
            engines.push_back(std::make_unique<VEngine>(X(f.model, c, {}, 1 + i), c, trace_config()));
            ptrs.push_back(engines.back().get());
        }
    }
};

/// The streaming way (what `llmemu simulate --replicas N --router least_loaded` runs): N
/// replicas, `hours` of the day, at most `cap` requests (0 = all); `threads` 0: every
/// replica on one clock (the one-clock loop), else each on its own clock, advanced on that
/// many threads (what `llmemu simulate -j T` runs; same results).
void run_fleet_day(benchmark::State& state, std::uint32_t n, std::uint32_t hours, std::size_t cap,
                   unsigned threads = 0) {
    Fixture& f = fixture();
    for (auto _ : state) {
        const std::clock_t c0 = std::clock();
        VirtualClock clock;
        Replicas replicas(f, clock, n, threads > 0);
        const std::vector<VEngine*>& ptrs = replicas.ptrs;
        std::vector<StreamingSummary> sums;
        sums.reserve(n + 1);
        sums.emplace_back(); // the fleet's; then each replica's, as `llmemu simulate` keeps them
        for (std::uint32_t i = 0; i < n; ++i) sums.emplace_back(SummaryOptions{}.for_part());
        SimulationOptions o;
        o.keep_records = false;
        o.record_token_times = false;
        o.threads = threads;
        o.on_added = [&](std::uint32_t i, RequestId, nanoseconds t, bool ok) {
            if (!ok) return;
            sums[0].started(t);
            sums[1 + i].started(t);
        };
        o.on_tokens = [&](std::uint32_t i, const StepTokenTimes& t) {
            for (StreamingSummary* s : {&sums[0], &sums[1 + i]}) {
                s->tokens(t.time, t.tokens);
                if (t.run_tokens > 0) s->itl(t.run_gap, t.run_tokens);
                for (const auto g : t.other_gaps) s->itl(g);
            }
            sums[1 + i].advance(t.time); // a replica's summary moves on with its own steps
        };
        o.on_record = [&](std::uint32_t i, const RequestRecord& r) {
            const RequestTiming t = timing_from_record(r);
            const bool started = r.reason != FinishReason::rejected;
            sums[0].add(t, started);
            sums[1 + i].add(t, started);
        };
        o.on_advance = [&](nanoseconds now) { sums[0].advance(now); };
        DaySource src(f.trace, n, hours, cap);
        LeastLoadedRouter router;
        const FleetResult res = run_fleet_simulation(ptrs, clock, src, router, o, src.size());
        const double sim_s = std::chrono::duration<double>(res.duration).count();
        const BenchResult r = sums[0].result(sim_s);
        for (std::uint32_t i = 0; i < n; ++i) benchmark::DoNotOptimize(sums[1 + i].result(sim_s));
        const double cpu_s = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        report(state, res.num_requests, sim_s, cpu_s, r);
        if (res.windows > 0) {
            state.counters["advances_per_window"] =
                static_cast<double>(res.window_advances) / static_cast<double>(res.windows);
            state.counters["routed_ahead_share"] =
                static_cast<double>(res.routed_ahead) / static_cast<double>(res.num_requests);
        }
    }
}
void BM_fleet_day(benchmark::State& state) {
    run_fleet_day(state, static_cast<std::uint32_t>(state.range(0)), static_cast<std::uint32_t>(state.range(1)), 0,
                  static_cast<unsigned>(state.range(2)));
}
/// The first `requests` of the day at N replicas (N copies for N replicas): the Args give
/// every replica the same 400 or 1,560 requests (the trace's first ~1.3 or ~5 minutes) at
/// any N, so work per request that grows with N shows; short enough for callgrind.
void BM_fleet_slice(benchmark::State& state) {
    run_fleet_day(state, static_cast<std::uint32_t>(state.range(0)), 1, static_cast<std::size_t>(state.range(1)),
                  static_cast<unsigned>(state.range(2)));
}
BENCHMARK(BM_fleet_slice)
    ->ArgNames({"replicas", "requests", "threads"})
    ->Args({8, 3200, 0})
    ->Args({64, 25600, 0})
    ->Args({8, 12480, 0})
    ->Args({64, 99840, 0})
    ->Args({64, 99840, 1})
    ->Args({64, 99840, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK(BM_fleet_day)
    ->ArgNames({"replicas", "hours", "threads"})
    ->Args({1, 1, 0})
    ->Args({8, 1, 0})
    ->Args({8, 3, 0})
    ->Args({8, 3, 1})
    ->Args({8, 24, 0})
    ->Args({8, 24, 1})
    ->Args({8, 24, 2})
    ->Args({64, 1, 0})
    ->Args({64, 1, 1})
    ->Args({64, 1, 2})
    ->Args({64, 2, 0})
    ->Args({64, 24, 0})
    ->Args({64, 24, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();

/// The baseline: every record with every token's time kept, summarised at the end.
void BM_fleet_day_baseline(benchmark::State& state) {
    Fixture& f = fixture();
    const auto n = static_cast<std::uint32_t>(state.range(0));
    const auto hours = static_cast<std::uint32_t>(state.range(1));
    for (auto _ : state) {
        const std::clock_t c0 = std::clock();
        VirtualClock clock;
        Replicas replicas(f, clock, n);
        const std::vector<VEngine*>& ptrs = replicas.ptrs;
        DaySource src(f.trace, n, hours);
        LeastLoadedRouter router;
        FleetResult res = run_fleet_simulation(ptrs, clock, src, router, SimulationOptions{}, src.size());
        const double sim_s = std::chrono::duration<double>(res.duration).count();
        std::sort(res.records.begin(), res.records.end(),
                  [](const RequestRecord& a, const RequestRecord& b) { return a.id < b.id; });
        std::vector<RequestTiming> timings;
        timings.reserve(res.records.size());
        for (const auto& r : res.records) timings.push_back(timing_from_record(r));
        const BenchResult r = summarize(timings, sim_s);
        const double cpu_s = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        report(state, res.num_requests, sim_s, cpu_s, r);
    }
}
BENCHMARK(BM_fleet_day_baseline)
    ->ArgNames({"replicas", "hours"})
    ->Args({1, 1})
    ->Args({8, 1})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();

} // namespace
BENCHMARK_MAIN();
