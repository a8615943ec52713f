#pragma once
/// \file sweep.hpp
/// A request-rate sweep as `llmemu sweep` runs it: a grid of engine settings (max_num_seqs x
/// max_num_batched_tokens x num_gpu_blocks x replicas x routers), each run at a list of
/// rates and seeds (run_sweep_point) or searched for its highest SLO-meeting rate
/// (search_sweep_rate); one CSV row per run (sweep_csv_header, sweep_csv_row), and per
/// setting the capacity the runs show (sweep_capacity: the sustainable rate, and with
/// several seeds each seed's own). Every run depends only on its setting, rate and seed,
/// so the points can run on any number of threads (run_sweep_points, parallel_for) or
/// processes with the same results; sweep_tasks lists them in the CSV's row order.
///
/// ```cpp
/// llmemu::SweepRun run;
/// run.model = &model;                       // an AnyLatencyModel
/// run.workload = spec;                      // the WorkloadSpec; its rate and seed are set per point
/// run.settings = llmemu::sweep_settings({.max_num_seqs = {64, 256}});
/// const std::vector<double> rates{1.0, 4.0};
/// const auto tasks = llmemu::sweep_tasks(run.settings.size(), rates, /*first_seed=*/0, /*num_seeds=*/2);
/// const std::vector<llmemu::SweepPoint> pts = llmemu::run_sweep_points(run, tasks);  // all cores
/// std::cout << llmemu::sweep_csv_header(run) << '\n';
/// for (const auto& p : pts) std::cout << llmemu::sweep_csv_row(run, p) << '\n';
/// ```
/// Needs AnyLatencyModel (the readers, simdjson): not part of the umbrella header.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/parallel.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/capacity.hpp"
#include "llmemu/metrics/sustainable_rate.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/workload.hpp"
#include "llmemu/workload/workload_spec.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One engine setting of a sweep's grid.
struct SweepSetting {
    std::uint32_t max_num_seqs = 256;
    std::uint32_t max_num_batched_tokens = 2048;
    /// 0: derived from the profile (EngineConfig::num_gpu_blocks).
    std::uint32_t num_gpu_blocks = 0;
    std::uint32_t replicas = 1;
    /// make_router's name; empty: one engine (replicas 1) or round_robin.
    std::string router;

    /// The router the runs use as the CSV's router column names it: "none" for one engine
    /// without a router, "round_robin" for several without one, else `router`.
    [[nodiscard]] std::string router_column() const {
        return router.empty() ? (replicas > 1 ? "round_robin" : "none") : router;
    }
    /// "max_num_seqs=256 max_num_batched_tokens=2048 num_gpu_blocks=derived", with
    /// " replicas=N router=R" for a fleet (the sweep's capacity lines).
    [[nodiscard]] std::string describe() const {
        return "max_num_seqs=" + std::to_string(max_num_seqs) +
               " max_num_batched_tokens=" + std::to_string(max_num_batched_tokens) +
               " num_gpu_blocks=" + (num_gpu_blocks == 0 ? std::string("derived") : std::to_string(num_gpu_blocks)) +
               (replicas > 1 || !router.empty()
                    ? " replicas=" + std::to_string(replicas) + " router=" + (router.empty() ? "round_robin" : router)
                    : std::string());
    }
};

/// The values a sweep tries of each engine setting.
struct SweepGrid {
    std::vector<std::uint32_t> max_num_seqs{256};
    std::vector<std::uint32_t> max_num_batched_tokens{2048};
    std::vector<std::uint32_t> num_gpu_blocks{0};
    std::vector<std::uint32_t> replicas{1};
    /// make_router names; empty: no router (SweepSetting::router).
    std::vector<std::string> routers;
};

/// Every combination of `grid`'s values, max_num_seqs outermost and routers innermost (the
/// order of the sweep's rows). Throws config_error for 0 replicas, num_gpu_blocks 1 (no
/// usable block) or an unknown router (naming the choices).
[[nodiscard]] inline std::vector<SweepSetting> sweep_settings(const SweepGrid& grid) {
    for (const auto n : grid.replicas)
        if (n == 0) detail::throw_error<config_error>("--replicas 0: give at least one replica per grid point");
    for (const auto& r : grid.routers) (void)make_router(r); // names the choices
    std::vector<std::string> routers = grid.routers;
    if (routers.empty()) routers.emplace_back();
    std::vector<SweepSetting> out;
    for (const auto s : grid.max_num_seqs)
        for (const auto t : grid.max_num_batched_tokens)
            for (const auto b : grid.num_gpu_blocks) {
                if (b == 1)
                    detail::throw_error<config_error>(
                        "--num-gpu-blocks 1 leaves no usable block; use >= 2 or 0 to derive");
                for (const auto n : grid.replicas)
                    for (const auto& r : routers) out.push_back({s, t, b, n, r});
            }
    return out;
}

/// What every run of a sweep shares.
struct SweepRun {
    /// The latency model (not owned; outlives the sweep).
    const AnyLatencyModel* model = nullptr;
    /// Bootstrap resamples (bootstrap_model): seed first_seed + k runs on seed_models[k];
    /// empty: every seed runs on `model`.
    std::vector<AnyLatencyModel> seed_models;
    std::uint64_t first_seed = 0;
    /// The engine settings the grid does not vary (block size, prefix caching, ...); its
    /// max_num_seqs, max_num_batched_tokens and num_gpu_blocks come from each setting, and
    /// max_model_len 0 is resolved per run by auto_max_model_len (the profile's, raised to
    /// fit the workload's longest request).
    EngineConfig engine;
    /// The workload; request_rate and seed are set per run.
    WorkloadSpec workload;
    /// Percentiles and SLOs of the summaries; with SLOs (has_slo) the CSV has the goodput
    /// and attainment columns.
    SummaryOptions summary;
    std::vector<SweepSetting> settings;
};

/// One run of a sweep: where it ran and what it measured. A run that threw keeps the
/// reason in `error` (the sweep goes on); its measured fields stay zero and its
/// attainment NaN.
struct SweepPoint {
    std::size_t setting = 0;
    double rate = 0.0;
    std::uint64_t seed = 0;
    /// The resolved engine configuration (RunOutcome::config).
    EngineConfig config;
    std::size_t num_requests = 0;
    BenchResult bench;
    std::uint64_t preemptions = 0, steps = 0;
    double max_kv_usage = 0.0;
    /// Share of the requests that met every SLO (good_completed / num_requests; 0 without
    /// requests, NaN when the run failed).
    double attainment = 0.0;
    /// Requests per second that met every SLO (0 without SLOs).
    double goodput = 0.0;
    std::string error;

    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// The EngineConfig run `run` uses for `setting` on a workload whose longest request is
/// `longest_request` tokens. Throws config_error when it is invalid.
[[nodiscard]] inline EngineConfig sweep_engine_config(const SweepRun& run, const SweepSetting& setting,
                                                      std::uint32_t longest_request) {
    EngineConfig c = run.engine;
    c.max_num_seqs = setting.max_num_seqs;
    c.max_num_batched_tokens = setting.max_num_batched_tokens;
    c.num_gpu_blocks = setting.num_gpu_blocks;
    if (c.max_model_len == 0) c.max_model_len = auto_max_model_len(run.model->model_config(), longest_request);
    c.validate();
    return c;
}

/// Runs settings[setting] at `rate` requests per second with `seed` (the workload drawn
/// with it, engine i seeded seed + i) in virtual time. Any exception of the run becomes
/// the point's error.
[[nodiscard]] inline SweepPoint run_sweep_point(const SweepRun& run, std::size_t setting, double rate,
                                                std::uint64_t seed) {
    SweepPoint p;
    p.setting = setting;
    p.rate = rate;
    p.seed = seed;
    try {
        if (run.model == nullptr) detail::throw_error<contract_error>("run_sweep_point: SweepRun::model is null");
        const SweepSetting& st = run.settings.at(setting);
        WorkloadSpec spec = run.workload;
        spec.request_rate = rate;
        spec.seed = seed;
        const Workload w = build_workload(spec);
        const EngineConfig cfg = sweep_engine_config(run, st, longest_request(w));
        FleetSettings fleet;
        fleet.replicas = st.replicas;
        fleet.router = st.router;
        if (fleet.replicas > 1 && fleet.router.empty()) fleet.router = "round_robin";
        const AnyLatencyModel& m = run.seed_models.empty() ? *run.model : run.seed_models.at(seed - run.first_seed);
        RunOutcome out = run_emulation<VirtualClock>(m, cfg, w, seed, run.summary, false, {}, fleet);
        p.config = out.config;
        p.num_requests = w.requests.size();
        p.attainment = p.num_requests == 0
                           ? 0.0
                           : static_cast<double>(out.bench.good_completed) / static_cast<double>(p.num_requests);
        p.goodput = out.bench.request_goodput.value_or(0.0);
        p.preemptions = out.sim.stats.preemptions;
        p.max_kv_usage = out.sim.stats.max_kv_usage;
        p.steps = out.sim.stats.steps;
        p.bench = std::move(out.bench);
    } catch (const std::exception& e) {
        SweepPoint failed;
        failed.setting = setting;
        failed.rate = rate;
        failed.seed = seed;
        failed.error = e.what();
        failed.attainment = std::numeric_limits<double>::quiet_NaN();
        return failed;
    }
    return p;
}

/// One run (or, for a rate search, one search) of a sweep.
struct SweepTask {
    std::size_t setting = 0;
    /// The request rate; 0 for a search task.
    double rate = 0.0;
    std::uint64_t seed = 0;
};

/// A sweep's tasks in the order of its CSV rows: settings outermost, then `rates`, then the
/// seeds first_seed .. first_seed + num_seeds - 1. Without rates, one task per setting and
/// seed (the searches of `sweep --rate-search`).
[[nodiscard]] inline std::vector<SweepTask> sweep_tasks(std::size_t num_settings, std::span<const double> rates,
                                                        std::uint64_t first_seed, std::uint32_t num_seeds) {
    std::vector<SweepTask> out;
    out.reserve(num_settings * std::max<std::size_t>(rates.size(), 1) * num_seeds);
    for (std::size_t s = 0; s < num_settings; ++s) {
        if (rates.empty())
            for (std::uint32_t k = 0; k < num_seeds; ++k) out.push_back({s, 0.0, first_seed + k});
        for (const double r : rates)
            for (std::uint32_t k = 0; k < num_seeds; ++k) out.push_back({s, r, first_seed + k});
    }
    return out;
}

/// run_sweep_point for every task, on up to `threads` threads (0: every core); the
/// points come back in task order and do not depend on the thread count.
[[nodiscard]] inline std::vector<SweepPoint> run_sweep_points(const SweepRun& run, std::span<const SweepTask> tasks,
                                                              unsigned threads = 0) {
    std::vector<SweepPoint> out(tasks.size());
    parallel_for(tasks.size(), threads,
                 [&](std::size_t i) { out[i] = run_sweep_point(run, tasks[i].setting, tasks[i].rate, tasks[i].seed); });
    return out;
}

/// A number as the sweep CSV and its summary lines write it: printf `format` (one double
/// conversion, e.g. "%.4f" or "%g"), or "inf" / "nan".
[[nodiscard]] inline std::string sweep_number(double v, const char* format = "%.4f") {
    if (std::isinf(v)) return "inf";
    if (std::isnan(v)) return "nan";
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

/// The sweep CSV's header line (no newline): the run's rate, burstiness and seed, the
/// resolved engine settings, vLLM's summary metrics (mean, median and each percentile of
/// TTFT, TPOT, ITL and E2EL in ms), with SLOs request_goodput and slo_attainment, the
/// engine's preemptions, peak KV usage and steps, the fleet shape and the error.
[[nodiscard]] inline std::string sweep_csv_header(const SweepRun& run) {
    std::string h = "request_rate,burstiness,seed,max_num_seqs,max_num_batched_tokens,num_gpu_blocks,max_model_len,"
                    "num_requests,completed,failed,duration_s,request_throughput,output_throughput,"
                    "total_token_throughput";
    if (run.summary.has_slo()) h += ",request_goodput,slo_attainment";
    for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
        h += std::string(",mean_") + m + "_ms,median_" + m + "_ms";
        for (const double p : run.summary.percentiles) h += ",p" + metrics_percentile_word(p) + '_' + m + "_ms";
    }
    return h + ",preemptions,max_kv_usage,steps,replicas,router,error";
}

/// The CSV row (no newline) of point `p` of `run`, under sweep_csv_header's columns. A
/// failed run keeps its setting's columns, leaves the measured ones empty and gives the
/// reason in the last column (commas as ';', line breaks as spaces: the CSV has no quoting).
[[nodiscard]] inline std::string sweep_csv_row(const SweepRun& run, const SweepPoint& p) {
    const SweepSetting& st = run.settings.at(p.setting);
    const bool with_slo = run.summary.has_slo();
    std::ostringstream csv;
    csv << sweep_number(p.rate, "%g") << ','
        << sweep_number(run.workload.kind == WorkloadKind::trace ? 1.0 : run.workload.burstiness, "%g") << ',' << p.seed
        << ',';
    if (p.ok()) {
        const BenchResult& b = p.bench;
        csv << p.config.max_num_seqs << ',' << p.config.max_num_batched_tokens << ',' << p.config.num_gpu_blocks << ','
            << p.config.max_model_len << ',' << p.num_requests << ',' << b.completed << ',' << b.failed << ','
            << sweep_number(b.duration_s) << ',' << sweep_number(b.request_throughput) << ','
            << sweep_number(b.output_throughput) << ',' << sweep_number(b.total_token_throughput);
        if (with_slo) csv << ',' << sweep_number(p.goodput) << ',' << sweep_number(p.attainment);
        for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
            const MetricStats& s = metric_stats(b, m);
            csv << ',' << sweep_number(s.mean_ms) << ',' << sweep_number(s.median_ms);
            for (const auto& pv : s.percentiles_ms) csv << ',' << sweep_number(pv.second);
        }
        csv << ',' << p.preemptions << ',' << sweep_number(p.max_kv_usage) << ',' << p.steps << ',';
    } else {
        csv << st.max_num_seqs << ',' << st.max_num_batched_tokens << ',' << st.num_gpu_blocks << ",,,,,,,,,";
        if (with_slo) csv << ",,";
        for (int m = 0; m < 4; ++m) csv << std::string(2 + run.summary.percentiles.size(), ',');
        csv << ",,,";
    }
    std::string err = p.error;
    for (char& c : err)
        if (c == ',' || c == '\n' || c == '\r') c = c == ',' ? ';' : ' ';
    csv << st.replicas << ',' << st.router_column() << ',' << err;
    return csv.str();
}

/// The range of a rate search: the highest SLO-meeting rate in [lo, hi] requests per
/// second, to a relative tolerance (find_highest_rate).
struct SweepRateRange {
    double lo = 0.0, hi = 0.0, tol = 0.05;
};

/// What one search (one setting, one seed) found.
struct SweepSearch {
    std::size_t setting = 0;
    std::uint64_t seed = 0;
    /// Every run the search made, in the order run.
    std::vector<SweepPoint> points;
    /// The highest rate meeting the SLOs; empty when `lo` already misses them.
    std::optional<double> rate;
    /// The lowest rate probed that misses them; empty when `hi` meets them.
    std::optional<double> first_miss;
    /// The attainment at `first_miss` (1 when there is none).
    double attainment_at_first_miss = 1.0;
    /// The first failed run's reason (the search stops there), or a bad range's.
    std::string error;
};

/// Searches settings[setting]'s highest rate in `range` at which at least `min_attainment`
/// of the requests meet the SLOs of `run.summary` with `seed`: doubling from lo, then
/// geometric bisection (find_highest_rate). A run that fails ends the search with its
/// error; so does a bad range.
[[nodiscard]] inline SweepSearch search_sweep_rate(const SweepRun& run, std::size_t setting, std::uint64_t seed,
                                                   const SweepRateRange& range, double min_attainment) {
    SweepSearch t;
    t.setting = setting;
    t.seed = seed;
    struct stop_search {};
    try {
        const RateSearch rs = find_highest_rate(range.lo, range.hi, range.tol, [&](double rate) {
            SweepPoint p = run_sweep_point(run, setting, rate, seed);
            const bool ok = p.ok() && p.attainment >= min_attainment;
            if (!p.ok()) t.error = p.error;
            if (!ok && t.attainment_at_first_miss > p.attainment) t.attainment_at_first_miss = p.attainment;
            t.points.push_back(std::move(p));
            if (!t.error.empty()) throw stop_search{};
            return ok;
        });
        t.rate = rs.rate;
        t.first_miss = rs.first_miss;
        for (std::size_t k = 0; k < rs.tried.size(); ++k) // the attainment at the lowest failing rate probed
            if (rs.first_miss && rs.tried[k].at == *rs.first_miss) t.attainment_at_first_miss = t.points[k].attainment;
    } catch (const stop_search&) {
    } catch (const std::exception& e) {
        if (t.error.empty()) t.error = e.what();
    }
    return t;
}

/// What a sweep's runs show of one setting's capacity under its SLOs.
struct SweepCapacity {
    /// The sustainable rate: from a grid, the highest rate such that it and every lower
    /// rate meet the SLOs on every seed (sustainable_rate); from searches, the lowest of
    /// the seeds' rates (combine_rates). Empty when none is.
    std::optional<double> rate;
    /// A grid's lowest rate missing the SLOs on some seed, and the lowest attainment there.
    std::optional<double> first_miss;
    double attainment_at_first_miss = 1.0;
    /// A grid's lowest goodput over the seeds at `rate` (0 without one).
    double goodput = 0.0;
    /// Each seed's own rate (by seed for a grid; by search, in the given order, otherwise).
    std::vector<std::optional<double>> per_seed;
    /// per_seed combined (combine_rates): the rate on every seed and the 95 % interval of
    /// the per-seed rates (a seed sustaining none counted as 0).
    ReplicatedAnswer seeds;
    /// Runs the searches made.
    std::size_t runs = 0;
    /// The first failed run's reason.
    std::string failure;
};

/// The capacity of each of `num_settings` settings from a grid's points (any order; seeds
/// first_seed .. first_seed + num_seeds - 1): a point meets the SLOs when its attainment is
/// >= min_attainment (a failed one misses them).
[[nodiscard]] inline std::vector<SweepCapacity> sweep_capacity(std::span<const SweepPoint> points,
                                                               std::size_t num_settings, std::uint64_t first_seed,
                                                               std::uint32_t num_seeds, double min_attainment) {
    std::vector<SweepCapacity> out(num_settings);
    for (std::size_t s = 0; s < num_settings; ++s) {
        SweepCapacity& c = out[s];
        std::vector<RateAttainment> runs;
        std::vector<std::vector<RateAttainment>> by_seed(num_seeds);
        for (const SweepPoint& p : points) {
            if (p.setting != s) continue;
            if (!p.ok() && c.failure.empty()) c.failure = p.error;
            runs.push_back({p.rate, p.attainment});
            if (p.seed >= first_seed && p.seed - first_seed < num_seeds)
                by_seed[p.seed - first_seed].push_back({p.rate, p.attainment});
        }
        const SustainableRate cap = sustainable_rate(std::move(runs), min_attainment);
        for (auto& seed_runs : by_seed)
            c.per_seed.push_back(sustainable_rate(std::move(seed_runs), min_attainment).rate);
        c.seeds = combine_rates(c.per_seed);
        c.rate = cap.rate;
        c.first_miss = cap.first_miss;
        c.attainment_at_first_miss = cap.attainment_at_first_miss;
        if (cap.rate) {
            double best = std::numeric_limits<double>::infinity();
            for (const SweepPoint& p : points)
                if (p.setting == s && p.rate == *cap.rate) best = std::min(best, p.goodput);
            c.goodput = best;
        }
    }
    return out;
}

/// The capacity of each of `num_settings` settings from searches (search_sweep_rate, one
/// per setting and seed, any order).
[[nodiscard]] inline std::vector<SweepCapacity> sweep_capacity(std::span<const SweepSearch> searches,
                                                               std::size_t num_settings) {
    std::vector<SweepCapacity> out(num_settings);
    for (std::size_t s = 0; s < num_settings; ++s) {
        SweepCapacity& c = out[s];
        for (const SweepSearch& t : searches) {
            if (t.setting != s) continue;
            c.runs += t.points.size();
            if (!t.error.empty() && c.failure.empty()) c.failure = t.error;
            c.per_seed.push_back(t.rate);
        }
        c.seeds = combine_rates(c.per_seed);
        c.rate = c.seeds.every_seed;
    }
    return out;
}

LLMEMU_END_NAMESPACE
