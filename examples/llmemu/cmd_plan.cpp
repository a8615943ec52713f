// `llmemu plan`: the cheapest fleet that serves a workload within its SLOs. Candidates are
// fleet files (pools with profile, TP, engine settings, cost per GPU-hour and a replica
// range) x routers; for each, the fewest replicas that meet the SLOs is searched
// (find_fewest_passing: each point a virtual-time fleet run; with --replicates one search
// per seed), then the candidates are printed by cost with the cheapest passing one and the
// cost/latency Pareto frontier. The search and its aggregation are the library's
// (<llmemu/fleet/plan.hpp>); this file keeps the flags, the fleet files' pools as the flags
// set them (add_fleet_pools), the MPI transport of each search, and the printing. Under
// mpirun the searches spread over the ranks.
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
#include "llmemu/fleet/plan.hpp"
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

std::string num(double v, const char* f) {
    if (std::isnan(v)) return "nan";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

/// A search as it travels between ranks (and is decoded the same way in one process): JSON
/// text. NaN and infinite values travel as null and come back as NaN.
std::string encode_search(const PlanSearch& s) {
    nlohmann::json out;
    nlohmann::json probes = nlohmann::json::array();
    for (const PlanProbe& p : s.probes) {
        nlohmann::json j = {{"scale", p.scale}, {"pass", p.pass}, {"miss", p.miss}, {"error", p.error}};
        if (p.error.empty()) {
            j["attainment"] = p.attainment;
            j["values"] = p.values;
        }
        probes.push_back(std::move(j));
    }
    if (s.fewest) out["fewest"] = *s.fewest;
    if (!s.error.empty()) out["error"] = s.error;
    out["probes"] = std::move(probes);
    return out.dump();
}

PlanSearch decode_search(const std::string& text) {
    const nlohmann::json r = nlohmann::json::parse(text);
    PlanSearch s;
    if (r.contains("fewest")) s.fewest = r["fewest"].get<std::uint32_t>();
    if (r.contains("error")) s.error = r["error"].get<std::string>();
    for (const auto& j : r["probes"]) {
        PlanProbe p;
        p.scale = j["scale"].get<std::uint32_t>();
        p.pass = j["pass"].get<bool>();
        p.miss = j["miss"].get<std::string>();
        p.error = j["error"].get<std::string>();
        if (j.contains("attainment") && j["attainment"].is_number()) p.attainment = j["attainment"].get<double>();
        if (j.contains("values"))
            for (const auto& v : j["values"]) p.values.push_back(v.is_number() ? v.get<double>() : std::nan(""));
        s.probes.push_back(std::move(p));
    }
    return s;
}

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

    std::vector<PlanCandidate> candidates;
    for (const auto& file : a.fleets)
        for (auto& c : plan_candidates(file, read_fleet_file(file), a.routers)) candidates.push_back(std::move(c));

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
    PlanRun run;
    run.model = &model;
    run.engine = make_engine_config(a.engine, model.model_config(), longest_request(workload0));
    (void)resolve_kv_pool(run.engine, model, a.engine);
    run.slo = slo;
    run.summary = summary;
    run.add_pools = [&a, &model](const PlanCandidate& c, const FleetSpec& f, const Workload& w, FleetSettings& fleet,
                                 PoolModels& models) {
        add_fleet_pools(f, c.file, a.engine, model, longest_request(w), fleet, models);
    };

    Distributed& mpi = Distributed::instance();
    const bool quiet = a.quiet || !mpi.leader();
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
                encode_search(search_plan_candidate(run, candidates[ci], workloads[k], a.engine.seed + k));
            const std::lock_guard<std::mutex> lock(bar_mutex);
            bar.update(static_cast<double>(++done) / static_cast<double>(tasks));
            return r;
        });
        bar.finish();
    }
    if (!mpi.leader()) return;
    std::vector<PlanSearch> searches;
    for (const auto& e : encoded) searches.push_back(decode_search(e));
    const PlanResult plan = plan_result(candidates, searches, a.replicates, slo);
    const std::vector<PlanAnswer>& sums = plan.candidates;
    const std::vector<PlanPoint>& points = plan.points;

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
    for (const auto& b : slo.bounds) os << ' ' << slo_bound_column(b);
    os << "  runs  result\n";
    for (const std::size_t ci : plan.order) {
        const PlanCandidate& c = candidates[ci];
        const PlanAnswer& s = sums[ci];
        const std::uint32_t m = s.fewest.value_or(c.hi);
        const FleetSpec f = c.at(m);
        std::snprintf(line, sizeof line, "%-4zu %-24s %-14s %-22s %6g %10.2f", ci + 1,
                      std::filesystem::path(c.file).filename().string().c_str(), c.router.c_str(),
                      fleet_pools_text(f).c_str(), fleet_gpus(f), fleet_cost_per_hour(f));
        os << line;
        const PlanPoint* p = plan.point(ci, m);
        for (std::size_t b = 0; b < slo.bounds.size(); ++b) {
            const std::string v = p != nullptr && !p->values.empty() ? num(p->values[b], "%.1f") : "-";
            std::snprintf(line, sizeof line, " %*s", static_cast<int>(slo_bound_column(slo.bounds[b]).size()),
                          v.c_str());
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
    if (plan.cheapest) {
        const PlanCandidate& c = candidates[*plan.cheapest];
        const FleetSpec f = c.at(*sums[*plan.cheapest].fewest);
        os << "cheapest passing: #" << *plan.cheapest + 1 << ' ' << c.file << " behind " << c.router << ": "
           << fleet_pools_text(f) << " (" << num(fleet_gpus(f), "%g") << " GPUs, "
           << num(fleet_cost_per_hour(f), "%.2f") << "/h)\n";
    } else {
        os << "cheapest passing: none of the candidates meets the SLOs within its replica range\n";
    }
    os << "Pareto frontier (cost/h against " << slo_bound_column(slo.bounds.front()) << ", passing points):";
    for (const std::size_t fi : plan.frontier) {
        const PlanPoint* p = &points[fi];
        os << "\n  " << num(p->cost, "%.2f") << "/h  " << num(p->values[0], "%.1f") << "  #" << p->candidate + 1 << ' '
           << candidates[p->candidate].router << ' ' << fleet_pools_text(candidates[p->candidate].at(p->scale));
    }
    if (plan.frontier.empty()) os << " none";
    os << "\nfleet runs: " << plan.runs << " (a full grid of the same ranges and seeds: " << plan.grid_runs << ")\n";

    if (!a.csv.empty()) {
        std::ofstream f(a.csv);
        if (!f) throw usage_error("--csv '" + a.csv + "': cannot write the file; check the directory");
        f << "candidate,fleet,router,scale,replicas,gpus,cost_per_hour,seeds,pass";
        for (const auto& b : slo.bounds) f << ',' << slo_bound_column(b);
        f << ",fewest,pareto,error\n";
        for (std::size_t pi = 0; pi < points.size(); ++pi) {
            const PlanPoint& p = points[pi];
            const PlanCandidate& c = candidates[p.candidate];
            std::string err = p.error;
            for (char& ch : err)
                if (ch == ',' || ch == '\n') ch = ';';
            f << p.candidate + 1 << ',' << std::filesystem::path(c.file).filename().string() << ',' << c.router << ','
              << p.scale << ',' << fleet_pools_text(c.at(p.scale)) << ',' << num(p.gpus, "%g") << ','
              << num(p.cost, "%.4f") << ',' << p.seeds << ',' << (p.ok() ? 1 : 0);
            for (const double v : p.values) f << ',' << num(v, "%.4f");
            f << ',' << (sums[p.candidate].fewest == p.scale ? 1 : 0) << ',' << (plan.on_frontier(pi) ? 1 : 0) << ','
              << err << '\n';
        }
        if (!a.quiet) std::cerr << "wrote " << a.csv << " (" << points.size() << " points)\n";
    }
    if (!a.json.empty()) {
        nlohmann::json j;
        j["slo"] = a.slo;
        j["slo_attainment"] = a.slo_attainment;
        j["replicates"] = a.replicates;
        j["requests"] = workload0.requests.size();
        j["runs"] = plan.runs;
        j["grid_runs"] = plan.grid_runs;
        j["candidates"] = nlohmann::json::array();
        for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
            const PlanCandidate& c = candidates[ci];
            const PlanAnswer& s = sums[ci];
            nlohmann::json cj = {{"index", ci + 1},    {"fleet", c.file},
                                 {"router", c.router}, {"scale_range", {c.lo, c.hi}},
                                 {"runs", s.runs},     {"pass", s.fewest.has_value()}};
            if (s.fewest) {
                const FleetSpec f = c.at(*s.fewest);
                cj["scale"] = *s.fewest;
                cj["gpus"] = fleet_gpus(f);
                cj["cost_per_hour"] = fleet_cost_per_hour(f);
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
                                     {"pass", p.ok()},
                                     {"seeds", p.seeds}};
                for (std::size_t b = 0; b < slo.bounds.size(); ++b) pj[slo_bound_column(slo.bounds[b])] = p.values[b];
                if (!p.miss.empty()) pj["miss"] = p.miss;
                if (!p.error.empty()) pj["error"] = p.error;
                cj["points"].push_back(pj);
            }
            j["candidates"].push_back(cj);
        }
        j["cheapest"] = plan.cheapest ? nlohmann::json(*plan.cheapest + 1) : nlohmann::json(nullptr);
        j["pareto"] = nlohmann::json::array();
        for (const std::size_t fi : plan.frontier) {
            const PlanPoint* p = &points[fi];
            j["pareto"].push_back({{"candidate", p->candidate + 1},
                                   {"scale", p->scale},
                                   {"cost_per_hour", p->cost},
                                   {slo_bound_column(slo.bounds.front()), p->values[0]}});
        }
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
