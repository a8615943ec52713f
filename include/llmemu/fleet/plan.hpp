#pragma once
/// \file plan.hpp
/// Capacity planning as `llmemu plan` does it: the cheapest fleet that serves a workload
/// within its SLOs. A candidate (PlanCandidate) is a fleet file's spec behind one router,
/// its ranged pools scaled together; for each candidate and seed, search_plan_candidate
/// searches the fewest scale that meets the SLOs (find_fewest_passing, each point a
/// virtual-time fleet run); plan_result combines the searches over the seeds and orders the
/// candidates by cost, with the cheapest passing one and the cost/latency Pareto frontier.
/// Each search depends only on its candidate and seed, so they can run on any number of
/// threads (run_plan_searches) or processes with the same results.
///
/// ```cpp
/// llmemu::PlanRun run;
/// run.model = &model;                   // pools without a profile of their own
/// run.engine = config;                  // the base EngineConfig
/// run.slo = llmemu::parse_slo_targets("ttft:p99:2000", 0.9);
/// run.slo.apply(run.summary);
/// run.add_pools = my_builder;           // a candidate's pools at one scale -> FleetSettings
/// const auto cands = llmemu::plan_candidates("a.json", llmemu::read_fleet_file("a.json"), {"round_robin"});
/// const std::vector<llmemu::Workload> seeds{workload};  // one workload per seed
/// const auto searches = llmemu::run_plan_searches(run, cands, seeds, /*first_seed=*/0);
/// const llmemu::PlanResult plan = llmemu::plan_result(cands, searches, /*replicates=*/1, run.slo);
/// if (plan.cheapest) std::cout << llmemu::fleet_pools_text(cands[*plan.cheapest].at(
///                                     *plan.candidates[*plan.cheapest].fewest));
/// ```
/// Needs AnyLatencyModel and FleetSpec (simdjson, and nlohmann-json through fleet_json.hpp):
/// not part of the umbrella header nor of <llmemu/io.hpp>.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/parallel.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/fleet_json.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/capacity.hpp"
#include "llmemu/metrics/interval.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/workload.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Latency models of pools with their own profile, by profile spec (loaded once, shared by
/// the pools and runs that name the same profile).
using PoolModels = std::map<std::string, std::unique_ptr<AnyLatencyModel>>;

/// GPUs of a fleet: Σ pools replicas × tensor_parallel_size.
[[nodiscard]] inline double fleet_gpus(const FleetSpec& f) noexcept {
    double g = 0.0;
    for (const auto& p : f.pools) g += static_cast<double>(p.replicas) * p.tensor_parallel_size;
    return g;
}

/// Cost per hour of serving of a fleet: Σ pools replicas × tensor_parallel_size ×
/// cost_per_gpu_hour.
[[nodiscard]] inline double fleet_cost_per_hour(const FleetSpec& f) noexcept {
    double c = 0.0;
    for (const auto& p : f.pools) c += static_cast<double>(p.replicas) * p.tensor_parallel_size * p.cost_per_gpu_hour;
    return c;
}

/// "pre=2 dec=4": each pool's name and replicas.
[[nodiscard]] inline std::string fleet_pools_text(const FleetSpec& f) {
    std::string s;
    for (const auto& p : f.pools) s += (s.empty() ? "" : " ") + p.name + "=" + std::to_string(p.replicas);
    return s;
}

/// One candidate: a fleet file behind one router, its ranged pools scaled together.
struct PlanCandidate {
    std::string file;
    FleetSpec spec;
    std::string router;
    /// The scale range: ranged pool p runs scale x spec.pools[p].replicas replicas.
    std::uint32_t lo = 1, hi = 1;
    /// The fleet at scale m.
    [[nodiscard]] FleetSpec at(std::uint32_t m) const {
        FleetSpec f = spec;
        for (auto& p : f.pools)
            if (p.replica_range) p.replicas = m * p.replicas;
        return f;
    }
};

/// The candidates of fleet `spec` (read from `file`): one per router of `routers` (empty:
/// the file's router, or round_robin). The scale runs over every value that keeps each
/// ranged pool in its replica_range (a file without ranged pools: scale 1). Throws
/// config_error, naming the file, when the ranges leave no common scale.
[[nodiscard]] inline std::vector<PlanCandidate> plan_candidates(const std::string& file, const FleetSpec& spec,
                                                                const std::vector<std::string>& routers) {
    PlanCandidate c;
    c.file = file;
    c.spec = spec;
    std::uint32_t lo = 1, hi = 0xFFFFFFFFU;
    bool ranged = false;
    for (const auto& p : c.spec.pools) {
        if (!p.replica_range) continue;
        ranged = true;
        lo = std::max(lo, (p.replica_range->first + p.replicas - 1) / p.replicas);
        hi = std::min(hi, p.replica_range->second / p.replicas);
    }
    if (!ranged) lo = hi = 1;
    if (lo > hi)
        detail::throw_error<config_error>("fleet file '" + file +
                                          "': the pools' replica_range and replicas leave no common scale (each "
                                          "ranged pool runs scale x replicas); widen the ranges or make replicas "
                                          "their ratio");
    c.lo = lo;
    c.hi = hi;
    std::vector<std::string> names = routers;
    if (names.empty()) names.push_back(c.spec.router.empty() ? "round_robin" : c.spec.router);
    std::vector<PlanCandidate> out;
    for (const auto& r : names) {
        c.router = r;
        out.push_back(c);
    }
    return out;
}

/// A bound's column name: "ttft_p99_ms" for a percentile, "ttft_attainment" for a
/// per-request bound.
[[nodiscard]] inline std::string slo_bound_column(const SloBound& b) {
    return b.percentile ? b.metric + "_p" + metrics_percentile_word(*b.percentile) + "_ms" : b.metric + "_attainment";
}

/// The value of each bound of `t` that run `b` observed: the percentile (NaN when the
/// summary lacks it), or for a per-request bound the share of requests that met the
/// per-request bounds (v.attainment).
[[nodiscard]] inline std::vector<double> slo_observed(const BenchResult& b, const SloTargets& t, const SloVerdict& v) {
    std::vector<double> out;
    for (const auto& bound : t.bounds) {
        if (!bound.percentile) {
            out.push_back(v.attainment);
            continue;
        }
        double x = std::nan("");
        for (const auto& [p, val] : metric_stats(b, bound.metric).percentiles_ms)
            if (p == *bound.percentile) x = val;
        out.push_back(x);
    }
    return out;
}

/// One point a search ran: a candidate at one scale on one seed.
struct PlanProbe {
    std::uint32_t scale = 0;
    bool pass = false;
    /// The first SLO missed (check_slo), empty when passing or when the run failed.
    std::string miss;
    double attainment = 0.0;
    /// slo_observed per bound; empty when the run failed.
    std::vector<double> values;
    /// Why the point could not run (it counts as failing); empty when it ran.
    std::string error;
};

/// One search: a candidate on one seed.
struct PlanSearch {
    /// The fewest passing scale; empty when the range's top fails (or the search failed).
    std::optional<std::uint32_t> fewest;
    /// Every point run, in the order run.
    std::vector<PlanProbe> probes;
    /// Why the search itself failed; empty when it ran.
    std::string error;
};

/// Adds candidate `c`'s pools at one scale (`at_scale`, c.at(m)) to `fleet`, whose router and
/// replica count are already set: its plans, pool names and layout, sized for `workload`.
/// Models of pools with their own profile come from (or go into) `models`, which lives as
/// long as the search. (The CLI's builder applies the command line's engine flags where a
/// pool is silent.)
using PlanFleetBuilder = std::function<void(const PlanCandidate& c, const FleetSpec& at_scale, const Workload& workload,
                                            FleetSettings& fleet, PoolModels& models)>;

/// What every search of a plan shares.
struct PlanRun {
    /// The latency model of the runs (not owned; outlives the plan).
    const AnyLatencyModel* model = nullptr;
    /// The base engine configuration (run_emulation's; the pools' own come from add_pools).
    EngineConfig engine;
    SloTargets slo;
    /// The summaries' options: slo.apply(summary) makes them compute what the check reads.
    SummaryOptions summary;
    PlanFleetBuilder add_pools;
};

/// Searches the fewest scale of `c` in [c.lo, c.hi] that meets run.slo on `workload` with
/// `seed` (find_fewest_passing; each point a virtual-time fleet run). A point that throws
/// counts as failing and keeps the reason in its probe.
[[nodiscard]] inline PlanSearch search_plan_candidate(const PlanRun& run, const PlanCandidate& c,
                                                      const Workload& workload, std::uint64_t seed) {
    PlanSearch out;
    PoolModels pool_models;
    try {
        if (run.model == nullptr) detail::throw_error<contract_error>("search_plan_candidate: PlanRun::model is null");
        if (!run.add_pools) detail::throw_error<contract_error>("search_plan_candidate: PlanRun::add_pools is empty");
        const ReplicaSearch s = find_fewest_passing(c.lo, c.hi, [&](std::uint32_t m) {
            const FleetSpec f = c.at(m);
            PlanProbe p;
            p.scale = m;
            try {
                FleetSettings fleet;
                fleet.router = c.router;
                fleet.replicas = f.num_replicas();
                run.add_pools(c, f, workload, fleet, pool_models);
                const RunOutcome r =
                    run_emulation<VirtualClock>(*run.model, run.engine, workload, seed, run.summary, false, {}, fleet);
                const SloVerdict v = check_slo(r.bench, run.slo, workload.requests.size());
                p.pass = v.pass;
                p.miss = v.miss;
                p.attainment = v.attainment;
                p.values = slo_observed(r.bench, run.slo, v);
            } catch (const std::exception& e) {
                p = PlanProbe{};
                p.scale = m;
                p.error = e.what();
            }
            const bool pass = p.pass;
            out.probes.push_back(std::move(p));
            return pass;
        });
        out.fewest = s.fewest;
    } catch (const std::exception& e) {
        out.error = e.what();
    }
    return out;
}

/// search_plan_candidate for every candidate and seed first_seed + k on workloads[k], on up
/// to `threads` threads (0: every core). Search i is candidate i / workloads.size() on seed
/// k = i % workloads.size() (plan_result's order); the results do not depend on `threads`.
[[nodiscard]] inline std::vector<PlanSearch> run_plan_searches(const PlanRun& run,
                                                               std::span<const PlanCandidate> candidates,
                                                               std::span<const Workload> workloads,
                                                               std::uint64_t first_seed, unsigned threads = 0) {
    const std::size_t k = workloads.size();
    std::vector<PlanSearch> out(candidates.size() * k);
    parallel_for(out.size(), threads, [&](std::size_t i) {
        out[i] = search_plan_candidate(run, candidates[i / k], workloads[i % k], first_seed + i % k);
    });
    return out;
}

/// A point of the plan, over the seeds that probed it.
struct PlanPoint {
    std::size_t candidate = 0;
    std::uint32_t scale = 0;
    double cost = 0.0, gpus = 0.0;
    /// Every seed that probed it passed (PlanPoint::ok: and none failed to run).
    bool pass = true;
    std::size_t seeds = 0;
    /// The mean over the seeds, per bound (NaN where a run failed).
    std::vector<double> values;
    /// The first seed's miss and error that have one.
    std::string miss, error;

    [[nodiscard]] bool ok() const noexcept { return pass && error.empty(); }
};

/// One candidate's answer over the seeds.
struct PlanAnswer {
    /// The fewest scale passing on every seed (the highest per-seed answer); empty when a
    /// seed found none.
    std::optional<std::uint32_t> fewest;
    /// The answer per seed, and combined (combine_fewest).
    std::vector<std::optional<std::uint32_t>> per_seed;
    ReplicatedAnswer combined;
    /// Fleet runs its searches made.
    std::size_t runs = 0;
    /// The first seed's search error.
    std::string error;
};

/// A plan: per candidate its answer, every point probed, the candidates by cost, the
/// cheapest passing one and the Pareto frontier.
struct PlanResult {
    std::vector<PlanAnswer> candidates;
    /// Every point probed, by candidate, then scale.
    std::vector<PlanPoint> points;
    /// Fleet runs made, and the runs a full grid of the same ranges and seeds would make.
    std::size_t runs = 0, grid_runs = 0;
    /// Candidate indices by cost per hour at their answer (failing ones last, by cost at the
    /// range's top); equal costs by the first bound's value at that point.
    std::vector<std::size_t> order;
    /// The cheapest passing candidate (order's first, when it passes).
    std::optional<std::size_t> cheapest;
    /// Indices into `points` of the cost/latency Pareto frontier over the passing points:
    /// cost per hour against the first bound's value (lower is better for a percentile,
    /// higher for an attainment share), cheapest first.
    std::vector<std::size_t> frontier;

    /// Candidate ci's point at scale m, or null when no search probed it.
    [[nodiscard]] const PlanPoint* point(std::size_t ci, std::uint32_t m) const noexcept {
        for (const auto& p : points)
            if (p.candidate == ci && p.scale == m) return &p;
        return nullptr;
    }
    [[nodiscard]] bool on_frontier(std::size_t point_index) const noexcept {
        return std::find(frontier.begin(), frontier.end(), point_index) != frontier.end();
    }
};

/// Combines `searches` (candidate ci on seed k at ci * replicates + k, as run_plan_searches
/// returns them) of `candidates` under `slo` (at least one bound) into the plan.
[[nodiscard]] inline PlanResult plan_result(std::span<const PlanCandidate> candidates,
                                            std::span<const PlanSearch> searches, std::uint32_t replicates,
                                            const SloTargets& slo) {
    if (slo.bounds.empty()) detail::throw_error<contract_error>("plan_result: no SLO bounds");
    if (searches.size() != candidates.size() * replicates)
        detail::throw_error<contract_error>("plan_result: need one search per candidate and seed");
    PlanResult out;
    out.candidates.resize(candidates.size());
    for (const auto& c : candidates) out.grid_runs += (c.hi - c.lo + 1) * std::size_t{replicates};
    for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
        PlanAnswer& s = out.candidates[ci];
        std::vector<PlanPoint> mine;
        for (std::uint32_t k = 0; k < replicates; ++k) {
            const PlanSearch& r = searches[ci * replicates + k];
            if (!r.error.empty() && s.error.empty()) s.error = r.error;
            s.per_seed.push_back(r.fewest);
            for (const PlanProbe& p : r.probes) {
                ++s.runs;
                const std::uint32_t m = p.scale;
                auto it = std::find_if(mine.begin(), mine.end(), [m](const PlanPoint& q) { return q.scale == m; });
                if (it == mine.end()) {
                    PlanPoint q;
                    q.candidate = ci;
                    q.scale = m;
                    const FleetSpec f = candidates[ci].at(m);
                    q.cost = fleet_cost_per_hour(f);
                    q.gpus = fleet_gpus(f);
                    q.values.assign(slo.bounds.size(), 0.0);
                    mine.push_back(q);
                    it = mine.end() - 1;
                }
                it->pass = it->pass && p.pass;
                if (it->error.empty() && !p.error.empty()) it->error = p.error;
                if (it->miss.empty() && !p.miss.empty()) it->miss = p.miss;
                for (std::size_t b = 0; b < slo.bounds.size(); ++b) // NaN where a run failed
                    it->values[b] += b < p.values.size() ? p.values[b] : std::nan("");
                ++it->seeds;
            }
        }
        for (auto& q : mine)
            for (auto& v : q.values) v /= static_cast<double>(q.seeds);
        std::sort(mine.begin(), mine.end(), [](const PlanPoint& x, const PlanPoint& y) { return x.scale < y.scale; });
        out.points.insert(out.points.end(), mine.begin(), mine.end());
        s.combined = combine_fewest(s.per_seed);
        if (s.combined.every_seed) s.fewest = static_cast<std::uint32_t>(*s.combined.every_seed);
        out.runs += s.runs;
    }
    const auto& sums = out.candidates;
    // The first SLO ranks equal costs: lower is better for a percentile, higher for a share.
    const bool lower_better = slo.bounds.front().percentile.has_value();
    out.order.resize(candidates.size());
    for (std::size_t i = 0; i < out.order.size(); ++i) out.order[i] = i;
    auto key_cost = [&](std::size_t ci) {
        return fleet_cost_per_hour(candidates[ci].at(sums[ci].fewest.value_or(candidates[ci].hi)));
    };
    std::stable_sort(out.order.begin(), out.order.end(), [&](std::size_t x, std::size_t y) {
        if (sums[x].fewest.has_value() != sums[y].fewest.has_value()) return sums[x].fewest.has_value();
        if (key_cost(x) != key_cost(y)) return key_cost(x) < key_cost(y);
        // Equal cost: the better first SLO value first (as the frontier ranks them).
        const PlanPoint* px = out.point(x, sums[x].fewest.value_or(candidates[x].hi));
        const PlanPoint* py = out.point(y, sums[y].fewest.value_or(candidates[y].hi));
        if (px == nullptr || py == nullptr || px->values.empty() || py->values.empty()) return false;
        return lower_better ? px->values[0] < py->values[0] : px->values[0] > py->values[0];
    });
    if (!out.order.empty() && sums[out.order.front()].fewest) out.cheapest = out.order.front();
    std::vector<std::size_t> pass;
    for (std::size_t i = 0; i < out.points.size(); ++i)
        if (out.points[i].ok()) pass.push_back(i);
    const auto& pts = out.points;
    std::stable_sort(pass.begin(), pass.end(), [&](std::size_t x, std::size_t y) {
        if (pts[x].cost != pts[y].cost) return pts[x].cost < pts[y].cost;
        return lower_better ? pts[x].values[0] < pts[y].values[0] : pts[x].values[0] > pts[y].values[0];
    });
    for (const std::size_t i : pass) {
        const PlanPoint& p = pts[i];
        const PlanPoint* last = out.frontier.empty() ? nullptr : &pts[out.frontier.back()];
        const bool better =
            last == nullptr || (lower_better ? p.values[0] < last->values[0] : p.values[0] > last->values[0]);
        if (better && (last == nullptr || p.cost > last->cost)) out.frontier.push_back(i);
    }
    return out;
}

LLMEMU_END_NAMESPACE
