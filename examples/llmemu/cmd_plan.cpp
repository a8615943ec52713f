// `llmemu plan`: the cheapest fleet that serves a workload within its SLOs. Candidates are
// fleet files (pools with profile, TP, engine settings, cost per GPU-hour and a replica
// range) x routers; for each, the fewest replicas that meet the SLOs is searched
// (find_fewest_passing: each point a virtual-time fleet run; with --replicates one search
// per seed), then the candidates are printed by cost with the cheapest passing one and the
// cost/latency Pareto frontier. Under mpirun the searches spread over the ranks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "distributed.hpp"
#include "engine_options.hpp"
#include "fleet_setup.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/fleet_json.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/capacity.hpp"
#include "llmemu/metrics/interval.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "progress.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct PlanArgs {
    EngineFlags engine;
    WorkloadFlags workload;
    std::vector<std::string> fleets;
    std::vector<std::string> routers;
    std::string slo;
    double slo_attainment = 0.9;
    std::uint32_t replicates = 1;
    unsigned jobs = 0;
    std::string json;
    std::string csv;
    bool quiet = false;
};

/// One candidate: a fleet file behind one router, its ranged pools scaled together.
struct Candidate {
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

double gpus_of(const FleetSpec& f) {
    double g = 0.0;
    for (const auto& p : f.pools) g += static_cast<double>(p.replicas) * p.tensor_parallel_size;
    return g;
}

double cost_of(const FleetSpec& f) {
    double c = 0.0;
    for (const auto& p : f.pools) c += static_cast<double>(p.replicas) * p.tensor_parallel_size * p.cost_per_gpu_hour;
    return c;
}

std::string pools_text(const FleetSpec& f) {
    std::string s;
    for (const auto& p : f.pools) s += (s.empty() ? "" : " ") + p.name + "=" + std::to_string(p.replicas);
    return s;
}

std::string num(double v, const char* f) {
    if (std::isnan(v)) return "nan";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

/// The value of each SLO bound a run observed: the percentile, or for a per-request bound
/// the share of requests that met the per-request bounds.
std::vector<double> observed(const BenchResult& b, const SloTargets& t, const SloVerdict& v) {
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

std::string bound_name(const SloBound& b) {
    return b.percentile ? b.metric + "_p" + metrics_percentile_word(*b.percentile) + "_ms" : b.metric + "_attainment";
}

/// The search of one candidate on one seed (a task; its result travels as JSON).
nlohmann::json search_candidate(const PlanArgs& a, const Candidate& c, const AnyLatencyModel& model,
                                const EngineConfig& base_config, const Workload& workload, std::uint64_t seed,
                                const SloTargets& slo, const SummaryOptions& summary) {
    nlohmann::json probes = nlohmann::json::array();
    nlohmann::json out;
    PoolModels pool_models;
    const std::uint32_t longest = longest_request(workload);
    try {
        const ReplicaSearch s = find_fewest_passing(c.lo, c.hi, [&](std::uint32_t m) {
            const FleetSpec f = c.at(m);
            nlohmann::json p = {{"scale", m}};
            try {
                FleetSettings fleet;
                fleet.router = c.router;
                fleet.replicas = f.num_replicas();
                add_fleet_pools(f, c.file, a.engine, model, longest, fleet, pool_models);
                const RunOutcome run =
                    run_emulation<VirtualClock>(model, base_config, workload, seed, summary, false, {}, fleet);
                const SloVerdict v = check_slo(run.bench, slo, workload.requests.size());
                p["pass"] = v.pass;
                p["miss"] = v.miss;
                p["attainment"] = v.attainment;
                p["values"] = observed(run.bench, slo, v);
                p["mean_ttft_ms"] = run.bench.ttft.mean_ms;
                p["mean_tpot_ms"] = run.bench.tpot.mean_ms;
                p["completed"] = run.bench.completed;
                p["error"] = "";
            } catch (const std::exception& e) {
                // A point that cannot run counts as failing; its row says why.
                p["pass"] = false;
                p["miss"] = "";
                p["error"] = e.what();
            }
            const bool pass = p["pass"].get<bool>();
            probes.push_back(std::move(p));
            return pass;
        });
        if (s.fewest) out["fewest"] = *s.fewest;
    } catch (const std::exception& e) {
        out["error"] = e.what();
    }
    out["probes"] = std::move(probes);
    return out;
}

/// A point of the plan, over the seeds that probed it.
struct PlanPoint {
    std::size_t candidate = 0;
    std::uint32_t scale = 0;
    double cost = 0.0, gpus = 0.0;
    bool pass = true;
    std::size_t seeds = 0;
    std::vector<double> values; // mean over seeds, per bound
    std::string miss, error;
};

void run_plan(PlanArgs& a) {
    if (a.fleets.empty())
        throw usage_error("plan needs candidates: give --fleet FILE.json (pools with cost_per_gpu_hour and "
                          "replica_range) once per candidate fleet");
    if (a.slo.empty()) throw usage_error("plan needs --slo, e.g. --slo ttft:p99:2000,tpot:p99:100");
    if (a.replicates == 0) throw usage_error("--replicates 0: run at least one seed");
    SloTargets slo;
    try {
        slo = parse_slo_targets(a.slo, a.slo_attainment);
    } catch (const config_error& e) {
        throw usage_error(std::string("--slo: ") + e.what());
    }
    SummaryOptions summary;
    summary.percentiles.clear();
    slo.apply(summary);
    if (summary.percentiles.empty()) summary.percentiles.push_back(99);
    for (const auto& r : a.routers) (void)make_router(r); // names the choices

    std::vector<Candidate> candidates;
    for (const auto& file : a.fleets) {
        Candidate c;
        c.file = file;
        c.spec = read_fleet_file(file);
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
            throw usage_error("fleet file '" + file +
                              "': the pools' replica_range and replicas leave no common scale (each ranged pool runs "
                              "scale x replicas); widen the ranges or make replicas their ratio");
        c.lo = lo;
        c.hi = hi;
        std::vector<std::string> routers = a.routers;
        if (routers.empty()) routers.push_back(c.spec.router.empty() ? "round_robin" : c.spec.router);
        for (const auto& r : routers) {
            c.router = r;
            candidates.push_back(c);
        }
    }

    const std::string profile_spec = a.engine.profile.empty() ? bundled_pack_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    const std::filesystem::path fallback_trace =
        default_trace && a.workload.dataset != "random" ? bundled_trace_path() : std::filesystem::path{};
    WorkloadSpec wspec;
    const Workload workload0 = load_cli_workload(a.workload, fallback_trace, a.engine.seed, wspec);
    const bool spec_file = !a.workload.workload_file.empty();
    // The workload of seed k: the flags' redrawn per seed (a replayed trace is the same), or the spec's.
    std::vector<Workload> workloads;
    workloads.push_back(workload0);
    for (std::uint32_t k = 1; k < a.replicates; ++k) {
        if (spec_file) {
            workloads.push_back(build_workload(read_workload_spec(a.workload.workload_file), a.engine.seed + k));
        } else {
            WorkloadSpec s = wspec;
            s.seed = a.engine.seed + k;
            workloads.push_back(build_workload(s));
        }
    }
    EngineConfig base_config = make_engine_config(a.engine, model.model_config(), longest_request(workload0));
    (void)resolve_kv_pool(base_config, model, a.engine);

    Distributed& mpi = Distributed::instance();
    const bool quiet = a.quiet || !mpi.leader();
    std::size_t grid = 0;
    for (const auto& c : candidates) grid += (c.hi - c.lo + 1) * std::size_t{a.replicates};
    const std::size_t tasks = candidates.size() * a.replicates;
    if (!quiet)
        std::cerr << "llmemu plan: " << candidates.size() << " candidates x " << a.replicates << " seeds, "
                  << workload0.requests.size() << " requests (" << workload0.description << "), on "
                  << parallel_threads(a.jobs, tasks) << " threads"
                  << (mpi.ranks() > 1 ? " x " + std::to_string(mpi.ranks()) + " ranks" : "") << '\n';

    std::mutex bar_mutex;
    std::size_t done = 0;
    std::vector<std::string> encoded;
    {
        ProgressBar bar(!quiet && mpi.ranks() == 1, "planning");
        encoded = mpi.map(tasks, a.jobs, [&](std::size_t i) {
            const std::size_t ci = i / a.replicates, k = i % a.replicates;
            const std::string r =
                search_candidate(a, candidates[ci], model, base_config, workloads[k], a.engine.seed + k, slo, summary)
                    .dump();
            const std::lock_guard<std::mutex> lock(bar_mutex);
            bar.update(static_cast<double>(++done) / static_cast<double>(tasks));
            return r;
        });
        bar.finish();
    }
    if (!mpi.leader()) return;
    std::vector<nlohmann::json> results;
    for (const auto& e : encoded) results.push_back(nlohmann::json::parse(e));

    // Aggregate: per candidate the fewest scale on every seed (and its interval), and every
    // probed point over the seeds that probed it.
    struct Summary {
        std::optional<std::uint32_t> fewest; // max over seeds; empty when a seed found none
        /// The answer per seed and combined (combine_fewest).
        std::vector<std::optional<std::uint32_t>> per_seed;
        ReplicatedAnswer combined;
        std::size_t runs = 0;
        std::string error;
    };
    std::vector<Summary> sums(candidates.size());
    std::vector<PlanPoint> points;
    std::size_t runs = 0;
    for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
        Summary& s = sums[ci];
        std::vector<PlanPoint> mine;
        for (std::uint32_t k = 0; k < a.replicates; ++k) {
            const nlohmann::json& r = results[ci * a.replicates + k];
            if (r.contains("error") && s.error.empty()) s.error = r["error"].get<std::string>();
            s.per_seed.push_back(r.contains("fewest") ? std::optional<std::uint32_t>(r["fewest"].get<std::uint32_t>())
                                                      : std::nullopt);
            for (const auto& p : r["probes"]) {
                ++s.runs;
                const auto m = p["scale"].get<std::uint32_t>();
                auto it = std::find_if(mine.begin(), mine.end(), [m](const PlanPoint& q) { return q.scale == m; });
                if (it == mine.end()) {
                    PlanPoint q;
                    q.candidate = ci;
                    q.scale = m;
                    const FleetSpec f = candidates[ci].at(m);
                    q.cost = cost_of(f);
                    q.gpus = gpus_of(f);
                    q.values.assign(slo.bounds.size(), 0.0);
                    mine.push_back(q);
                    it = mine.end() - 1;
                }
                it->pass = it->pass && p["pass"].get<bool>();
                if (it->error.empty() && !p["error"].get<std::string>().empty()) it->error = p["error"];
                if (it->miss.empty() && !p["miss"].get<std::string>().empty()) it->miss = p["miss"];
                for (std::size_t b = 0; b < slo.bounds.size(); ++b) { // NaN (printed nan) where a run failed
                    const bool have = p.contains("values") && p["values"][b].is_number();
                    it->values[b] += have ? p["values"][b].get<double>() : std::nan("");
                }
                ++it->seeds;
            }
        }
        for (auto& q : mine)
            for (auto& v : q.values) v /= static_cast<double>(q.seeds);
        std::sort(mine.begin(), mine.end(), [](const PlanPoint& x, const PlanPoint& y) { return x.scale < y.scale; });
        points.insert(points.end(), mine.begin(), mine.end());
        s.combined = combine_fewest(s.per_seed);
        if (s.combined.every_seed) s.fewest = static_cast<std::uint32_t>(*s.combined.every_seed);
        runs += s.runs;
    }
    auto point_of = [&](std::size_t ci, std::uint32_t m) -> const PlanPoint* {
        for (const auto& p : points)
            if (p.candidate == ci && p.scale == m) return &p;
        return nullptr;
    };
    // The first SLO ranks equal costs: lower is better for a percentile, higher for a share.
    const bool lower_better = slo.bounds.front().percentile.has_value();
    // Candidates by cost at their answer (failing ones last, by cost at the range's top).
    std::vector<std::size_t> order(candidates.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto key_cost = [&](std::size_t ci) {
        return cost_of(candidates[ci].at(sums[ci].fewest.value_or(candidates[ci].hi)));
    };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
        if (sums[x].fewest.has_value() != sums[y].fewest.has_value()) return sums[x].fewest.has_value();
        if (key_cost(x) != key_cost(y)) return key_cost(x) < key_cost(y);
        // Equal cost: the better first SLO value first (as the frontier ranks them).
        const PlanPoint* px = point_of(x, sums[x].fewest.value_or(candidates[x].hi));
        const PlanPoint* py = point_of(y, sums[y].fewest.value_or(candidates[y].hi));
        if (px == nullptr || py == nullptr || px->values.empty() || py->values.empty()) return false;
        return lower_better ? px->values[0] < py->values[0] : px->values[0] > py->values[0];
    });
    std::optional<std::size_t> cheapest;
    if (!order.empty() && sums[order.front()].fewest) cheapest = order.front();
    // Pareto frontier over the passing points: cost against the first bound's value (lower
    // is better for a percentile, higher for an attainment share).
    std::vector<const PlanPoint*> frontier;
    {
        std::vector<const PlanPoint*> pass;
        for (const auto& p : points)
            if (p.pass && p.error.empty()) pass.push_back(&p);
        std::stable_sort(pass.begin(), pass.end(), [&](const PlanPoint* x, const PlanPoint* y) {
            if (x->cost != y->cost) return x->cost < y->cost;
            return lower_better ? x->values[0] < y->values[0] : x->values[0] > y->values[0];
        });
        for (const PlanPoint* p : pass) {
            const bool better = frontier.empty() || (lower_better ? p->values[0] < frontier.back()->values[0]
                                                                  : p->values[0] > frontier.back()->values[0]);
            if (better && (frontier.empty() || p->cost > frontier.back()->cost)) frontier.push_back(p);
        }
    }

    // The table.
    std::ostream& os = std::cout;
    os << "llmemu plan: SLO " << a.slo;
    if (slo.has_per_request()) os << " (per-request bounds met by >= " << num(a.slo_attainment * 100.0, "%g") << "%)";
    os << ", " << workload0.requests.size() << " requests, " << a.replicates
       << (a.replicates == 1 ? " seed" : " seeds (fewest replicas on every seed; mean +- 95% CI)") << '\n';
    char line[512];
    std::snprintf(line, sizeof line, "%-4s %-24s %-14s %-22s %6s %10s", "#", "fleet", "router", "replicas", "GPUs",
                  "cost/h");
    os << line;
    for (const auto& b : slo.bounds) os << ' ' << bound_name(b);
    os << "  runs  result\n";
    for (const std::size_t ci : order) {
        const Candidate& c = candidates[ci];
        const Summary& s = sums[ci];
        const std::uint32_t m = s.fewest.value_or(c.hi);
        const FleetSpec f = c.at(m);
        std::snprintf(line, sizeof line, "%-4zu %-24s %-14s %-22s %6g %10.2f", ci + 1,
                      std::filesystem::path(c.file).filename().string().c_str(), c.router.c_str(),
                      pools_text(f).c_str(), gpus_of(f), cost_of(f));
        os << line;
        const PlanPoint* p = point_of(ci, m);
        for (std::size_t b = 0; b < slo.bounds.size(); ++b) {
            const std::string v = p != nullptr && !p->values.empty() ? num(p->values[b], "%.1f") : "-";
            std::snprintf(line, sizeof line, " %*s", static_cast<int>(bound_name(slo.bounds[b]).size()), v.c_str());
            os << line;
        }
        std::snprintf(line, sizeof line, "  %4zu  ", s.runs);
        os << line;
        if (!s.error.empty())
            os << "error: " << s.error;
        else if (s.fewest) {
            os << "pass";
            if (a.replicates > 1) {
                const MeanInterval& ci95 = s.combined.per_seed;
                os << " (scale per seed " << num(ci95.mean, "%.2f") << " +- " << num(ci95.half_width, "%.2f") << ", ["
                   << num(ci95.min, "%g") << ", " << num(ci95.max, "%g") << "])";
            }
        } else {
            os << "FAIL at the range's top";
            if (p != nullptr && !p->error.empty())
                os << " (error: " << p->error << ")";
            else if (p != nullptr && !p->miss.empty())
                os << " (" << p->miss << ")";
        }
        os << '\n';
    }
    if (cheapest) {
        const Candidate& c = candidates[*cheapest];
        const FleetSpec f = c.at(*sums[*cheapest].fewest);
        os << "cheapest passing: #" << *cheapest + 1 << ' ' << c.file << " behind " << c.router << ": " << pools_text(f)
           << " (" << num(gpus_of(f), "%g") << " GPUs, " << num(cost_of(f), "%.2f") << "/h)\n";
    } else {
        os << "cheapest passing: none of the candidates meets the SLOs within its replica range\n";
    }
    os << "Pareto frontier (cost/h against " << bound_name(slo.bounds.front()) << ", passing points):";
    for (const PlanPoint* p : frontier)
        os << "\n  " << num(p->cost, "%.2f") << "/h  " << num(p->values[0], "%.1f") << "  #" << p->candidate + 1 << ' '
           << candidates[p->candidate].router << ' ' << pools_text(candidates[p->candidate].at(p->scale));
    if (frontier.empty()) os << " none";
    os << "\nfleet runs: " << runs << " (a full grid of the same ranges and seeds: " << grid << ")\n";

    if (!a.csv.empty()) {
        std::ofstream f(a.csv);
        if (!f) throw usage_error("--csv '" + a.csv + "': cannot write the file; check the directory");
        f << "candidate,fleet,router,scale,replicas,gpus,cost_per_hour,seeds,pass";
        for (const auto& b : slo.bounds) f << ',' << bound_name(b);
        f << ",fewest,pareto,error\n";
        for (const auto& p : points) {
            const Candidate& c = candidates[p.candidate];
            std::string err = p.error;
            for (char& ch : err)
                if (ch == ',' || ch == '\n') ch = ';';
            f << p.candidate + 1 << ',' << std::filesystem::path(c.file).filename().string() << ',' << c.router << ','
              << p.scale << ',' << pools_text(c.at(p.scale)) << ',' << num(p.gpus, "%g") << ',' << num(p.cost, "%.4f")
              << ',' << p.seeds << ',' << (p.pass && p.error.empty() ? 1 : 0);
            for (const double v : p.values) f << ',' << num(v, "%.4f");
            f << ',' << (sums[p.candidate].fewest == p.scale ? 1 : 0) << ','
              << (std::find(frontier.begin(), frontier.end(), &p) != frontier.end() ? 1 : 0) << ',' << err << '\n';
        }
        if (!a.quiet) std::cerr << "wrote " << a.csv << " (" << points.size() << " points)\n";
    }
    if (!a.json.empty()) {
        nlohmann::json j;
        j["slo"] = a.slo;
        j["slo_attainment"] = a.slo_attainment;
        j["replicates"] = a.replicates;
        j["requests"] = workload0.requests.size();
        j["runs"] = runs;
        j["grid_runs"] = grid;
        j["candidates"] = nlohmann::json::array();
        for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
            const Candidate& c = candidates[ci];
            const Summary& s = sums[ci];
            nlohmann::json cj = {{"index", ci + 1},    {"fleet", c.file},
                                 {"router", c.router}, {"scale_range", {c.lo, c.hi}},
                                 {"runs", s.runs},     {"pass", s.fewest.has_value()}};
            if (s.fewest) {
                const FleetSpec f = c.at(*s.fewest);
                cj["scale"] = *s.fewest;
                cj["gpus"] = gpus_of(f);
                cj["cost_per_hour"] = cost_of(f);
                nlohmann::json pools = nlohmann::json::object();
                for (const auto& p : f.pools) pools[p.name] = p.replicas;
                cj["replicas"] = pools;
                const MeanInterval& iv = s.combined.per_seed;
                cj["scale_per_seed"] = {
                    {"mean", iv.mean}, {"ci95_half_width", iv.half_width}, {"min", iv.min}, {"max", iv.max}};
            }
            if (!s.error.empty()) cj["error"] = s.error;
            cj["points"] = nlohmann::json::array();
            for (const auto& p : points) {
                if (p.candidate != ci) continue;
                nlohmann::json pj = {{"scale", p.scale},
                                     {"gpus", p.gpus},
                                     {"cost_per_hour", p.cost},
                                     {"pass", p.pass && p.error.empty()},
                                     {"seeds", p.seeds}};
                for (std::size_t b = 0; b < slo.bounds.size(); ++b) pj[bound_name(slo.bounds[b])] = p.values[b];
                if (!p.miss.empty()) pj["miss"] = p.miss;
                if (!p.error.empty()) pj["error"] = p.error;
                cj["points"].push_back(pj);
            }
            j["candidates"].push_back(cj);
        }
        j["cheapest"] = cheapest ? nlohmann::json(*cheapest + 1) : nlohmann::json(nullptr);
        j["pareto"] = nlohmann::json::array();
        for (const PlanPoint* p : frontier)
            j["pareto"].push_back({{"candidate", p->candidate + 1},
                                   {"scale", p->scale},
                                   {"cost_per_hour", p->cost},
                                   {bound_name(slo.bounds.front()), p->values[0]}});
        std::ofstream f(a.json);
        if (!f) throw usage_error("--json '" + a.json + "': cannot write the file; check the directory");
        f << j.dump(2) << '\n';
        if (!a.quiet) std::cerr << "wrote " << a.json << '\n';
    }
}

const bool registered = register_command(32, [](CLI::App& app) {
    auto args = std::make_shared<PlanArgs>();
    auto* cmd =
        app.add_subcommand("plan", "Find the cheapest fleet that meets the SLOs: for each candidate fleet file x "
                                   "router, the fewest replicas (searched in each pool's replica_range), by cost, "
                                   "with the cost/latency Pareto frontier");
    add_engine_options(*cmd, args->engine);
    add_workload_options(*cmd, args->workload, /*with_rate=*/true);
    cmd->add_option("--fleet", args->fleets,
                    "A candidate fleet file (repeat the flag, or comma separate); pools with replica_range [LO, HI] "
                    "are searched")
        ->delimiter(',')
        ->required();
    cmd->add_option("--router", args->routers,
                    "Routers to try with every fleet (comma separated; default: each file's router, or round_robin)")
        ->delimiter(',');
    cmd->add_option("--slo", args->slo,
                    "SLOs: METRIC:pNN:MS percentile bounds (e.g. ttft:p99:2000,tpot:p99:100) and/or METRIC:MS "
                    "per-request bounds counted in the goodput share")
        ->required();
    cmd->add_option("--slo-attainment,--goodput-share", args->slo_attainment,
                    "Share of requests that must meet the per-request bounds")
        ->capture_default_str();
    cmd->add_option("--replicates", args->replicates,
                    "Seeds per search (--seed, --seed+1, ...): the fewest replicas that pass on every seed, and per "
                    "seed as mean +- 95% CI")
        ->capture_default_str()
        ->check(whole_number(1, 1000));
    cmd->add_option("-j,--jobs", args->jobs, "Parallel searches per process (default: all cores)")
        ->check(whole_number(1, 4096));
    cmd->add_option("--json", args->json, "Write the plan as JSON to FILE");
    cmd->add_option("--csv", args->csv, "Write every point run (one row per candidate and replica count) to FILE");
    cmd->add_flag("-q,--quiet", args->quiet, "No progress bar");
    cmd->callback([args] { run_plan(*args); });
});

} // namespace
