// `llmemu sweep`: a grid of request rates x engine settings x seeds, each run in virtual
// time, in parallel on every core; one CSV row per run, and with --slo the highest rate
// each engine setting sustains (goodput-style capacity planning).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "distributed.hpp"
#include "engine_options.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/fleet/emulation.hpp"
#include "llmemu/fleet/sweep.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/interval.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "progress.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct SweepArgs {
    EngineFlags engine;
    WorkloadFlags workload;
    std::string rates_text = "1,2,4,8";
    double burstiness = 1.0;
    std::string max_num_seqs_text = "256";
    std::string max_num_batched_tokens_text = "2048";
    std::string num_gpu_blocks_text = "0";
    std::vector<std::uint32_t> replicas{1};
    std::vector<std::string> routers;
    std::uint32_t num_seeds = 1;
    std::uint32_t replicates = 0;
    bool bootstrap_profile = false;
    std::string rate_search;
    unsigned jobs = 0;
    std::string output;
    std::string slo;
    double slo_attainment = 0.9;
    std::string percentiles = "90,99";
    bool quiet = false;
    CLI::Option* opt_burstiness = nullptr;
    CLI::Option* opt_num_seeds = nullptr;
    CLI::Option* opt_rates = nullptr;
};

std::string num(double v, const char* f = "%.4f") {
    return sweep_number(v, f);
}

/// A task's result as it travels between ranks (Distributed::map): the CSV rows of its
/// runs, and what the capacity summary reads of them (for a grid point, one run in
/// search.points; for a search, its probes and what it found).
struct TaskResult {
    std::vector<std::string> rows;
    SweepSearch search;
};

std::string encode(const TaskResult& t) {
    nlohmann::json j;
    j["points"] = nlohmann::json::array();
    for (std::size_t k = 0; k < t.rows.size(); ++k) {
        const SweepPoint& p = t.search.points[k];
        j["points"].push_back({{"row", t.rows[k]}, {"att", p.attainment}, {"good", p.goodput}, {"err", p.error}});
    }
    if (t.search.rate) j["rate"] = *t.search.rate;
    if (t.search.first_miss) j["miss"] = *t.search.first_miss;
    j["att_miss"] = t.search.attainment_at_first_miss;
    j["err"] = t.search.error;
    return j.dump();
}

/// The inverse of encode for `job` (whose setting, rate and seed the points take).
TaskResult decode(const std::string& text, const SweepTask& job) {
    const nlohmann::json j = nlohmann::json::parse(text);
    TaskResult t;
    t.search.setting = job.setting;
    t.search.seed = job.seed;
    for (const auto& p : j["points"]) {
        t.rows.push_back(p["row"].get<std::string>());
        SweepPoint pt;
        pt.setting = job.setting;
        pt.rate = job.rate;
        pt.seed = job.seed;
        // NaN travels as null
        pt.attainment = p["att"].is_number() ? p["att"].get<double>() : std::numeric_limits<double>::quiet_NaN();
        pt.goodput = p["good"].get<double>();
        pt.error = p["err"].get<std::string>();
        t.search.points.push_back(std::move(pt));
    }
    if (j.contains("rate")) t.search.rate = j["rate"].get<double>();
    if (j.contains("miss")) t.search.first_miss = j["miss"].get<double>();
    t.search.attainment_at_first_miss = j["att_miss"].get<double>();
    t.search.error = j["err"].get<std::string>();
    return t;
}

/// "LO:HI" or "LO:HI:TOL" (--rate-search).
SweepRateRange parse_rate_range(const std::string& text) {
    SweepRateRange r;
    std::vector<std::string> parts;
    for (std::size_t pos = 0;;) {
        const std::size_t c = text.find(':', pos);
        parts.push_back(text.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    auto bad = [&text](const std::string& why) {
        throw usage_error("--rate-search '" + text + "': " + why +
                          "; give LO:HI[:TOL] in requests per second, e.g. 0.5:64 or 0.5:64:0.02");
    };
    if (parts.size() < 2 || parts.size() > 3) bad("expected two or three numbers");
    r.lo = parse_rate(parts[0], "--rate-search");
    r.hi = parse_rate(parts[1], "--rate-search");
    if (parts.size() == 3) {
        const std::optional<double> tol = parse_number<double>(parts[2]);
        if (!tol || !(*tol > 0.0 && *tol < 10.0)) bad("TOL must be in (0, 10)");
        r.tol = *tol;
    }
    if (!(r.lo > 0.0) || !std::isfinite(r.hi) || r.hi < r.lo) bad("need 0 < LO <= HI < inf");
    return r;
}

void run_sweep(SweepArgs& a) {
    if (a.num_seeds == 0) throw usage_error("--num-seeds 0: run at least one seed per grid point");
    if (a.replicates > 0) {
        if (a.opt_num_seeds->count() > 0)
            throw usage_error("--replicates with --num-seeds: both give the seeds per point; give one of them");
        a.num_seeds = a.replicates;
    }
    if (!(a.slo_attainment > 0.0 && a.slo_attainment <= 1.0))
        throw usage_error("--slo-attainment " + std::to_string(a.slo_attainment) +
                          ": give the share of requests that must meet the SLOs, in (0, 1]");
    if (!(a.burstiness > 0.0) || !std::isfinite(a.burstiness))
        throw usage_error("--burstiness " + flag_number(a.burstiness) + ": must be a finite number > 0 (1 = Poisson)");
    SweepRun plan;
    plan.summary.percentiles = parse_percentiles(a.percentiles);
    const bool with_slo = !a.slo.empty();
    if (with_slo) parse_slo(a.slo, plan.summary);
    const bool search = !a.rate_search.empty();
    if (search && !with_slo)
        throw usage_error("--rate-search looks for the highest rate that meets the SLOs; add --slo");
    if (search && a.opt_rates->count() > 0)
        throw usage_error("--rate-search with --request-rates: the search picks the rates; give one of them");
    const SweepRateRange range = search ? parse_rate_range(a.rate_search) : SweepRateRange{};

    std::vector<double> rates;
    for (const auto& r : split_list(a.rates_text, "--request-rates")) rates.push_back(parse_rate(r, "--request-rates"));
    SweepGrid grid;
    grid.max_num_seqs = parse_uint_list(a.max_num_seqs_text, "--max-num-seqs", 1, EngineConfig::max_num_seqs_limit);
    grid.max_num_batched_tokens = parse_uint_list(a.max_num_batched_tokens_text, "--max-num-batched-tokens", 1,
                                                  EngineConfig::max_num_batched_tokens_limit);
    grid.num_gpu_blocks =
        parse_uint_list(a.num_gpu_blocks_text, "--num-gpu-blocks", 0, std::numeric_limits<std::uint32_t>::max());
    std::sort(rates.begin(), rates.end());
    if (std::adjacent_find(rates.begin(), rates.end()) != rates.end())
        throw usage_error("--request-rates lists a rate twice; give each rate once");

    const std::string profile_spec = a.engine.profile.empty() ? bundled_pack_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    plan.model = &model;
    plan.engine = engine_config_from_flags(a.engine);
    if (a.bootstrap_profile) {
        if (a.num_seeds < 2)
            throw usage_error("--bootstrap-profile resamples the pack once per seed; add --replicates K (K >= 2)");
        if (!bootstrappable(model))
            throw usage_error("--bootstrap-profile resamples a profile pack's buckets, but --profile '" + profile_spec +
                              "' is " + model.describe() + "; give a pack JSON or drop --bootstrap-profile");
        plan.first_seed = a.engine.seed;
        for (std::uint32_t k = 0; k < a.num_seeds; ++k)
            plan.seed_models.push_back(bootstrap_model(model, a.engine.seed + k));
    }
    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    plan.workload = make_workload_spec(
        a.workload, default_trace && a.workload.dataset != "random" ? bundled_trace_path() : std::filesystem::path{},
        a.engine.seed);
    WorkloadSpec& base = plan.workload;
    if (base.kind == WorkloadKind::trace && a.opt_burstiness->count() > 0)
        throw usage_error("--burstiness shapes synthetic arrivals, but the trace is replayed (rescaled to each rate); "
                          "drop --burstiness or add --dataset empirical");
    if (base.num_prompts == 0) base.num_prompts = 1000;
    base.burstiness = a.burstiness;

    grid.replicas = a.replicas;
    grid.routers = a.routers;
    plan.settings = sweep_settings(grid);
    const std::vector<SweepSetting>& settings = plan.settings;
    // Tasks: a grid point each, or (--rate-search) one search per setting and seed.
    const std::vector<SweepTask> jobs =
        sweep_tasks(settings.size(), search ? std::span<const double>{} : std::span<const double>(rates), a.engine.seed,
                    a.num_seeds);

    Distributed& mpi = Distributed::instance();
    const bool quiet = a.quiet || !mpi.leader();
    const unsigned nthreads = parallel_threads(a.jobs, jobs.size());
    std::ostream& info = a.output.empty() ? std::cerr : std::cout;
    if (!quiet) {
        info << "llmemu sweep: ";
        if (search)
            info << jobs.size() << " searches (" << settings.size() << " engine settings x " << a.num_seeds
                 << " seeds) of the highest rate in [" << num(range.lo, "%g") << ", " << num(range.hi, "%g")
                 << "] req/s to " << num(range.tol * 100.0, "%g") << "%";
        else
            info << jobs.size() << " runs (" << settings.size() << " engine settings x " << rates.size() << " rates x "
                 << a.num_seeds << " seeds)";
        info << " on " << nthreads << " threads"
             << (mpi.ranks() > 1 ? " x " + std::to_string(mpi.ranks()) + " ranks" : "") << ", " << base.num_prompts
             << " requests each\n  profile: " << profile_spec << '\n';
    }

    std::atomic<std::size_t> done{0};
    std::vector<TaskResult> results;
    {
        ProgressBar bar(!quiet && mpi.ranks() == 1, "sweeping");
        std::mutex bar_mutex;
        const std::vector<std::string> encoded = mpi.map(jobs.size(), a.jobs, [&](std::size_t i) {
            const SweepTask& j = jobs[i];
            TaskResult t;
            if (search) {
                t.search = search_sweep_rate(plan, j.setting, j.seed, range, a.slo_attainment);
            } else {
                t.search.points.push_back(run_sweep_point(plan, j.setting, j.rate, j.seed));
            }
            for (const SweepPoint& p : t.search.points) t.rows.push_back(sweep_csv_row(plan, p));
            const std::lock_guard<std::mutex> lock(bar_mutex);
            bar.update(static_cast<double>(++done) / static_cast<double>(jobs.size()));
            return encode(t);
        });
        bar.finish();
        if (!mpi.leader()) return;
        for (std::size_t i = 0; i < encoded.size(); ++i) results.push_back(decode(encoded[i], jobs[i]));
    }

    // One CSV row per run, in task order (deterministic whatever the thread and rank count).
    std::ofstream file;
    if (!a.output.empty()) {
        file.open(a.output);
        if (!file) throw usage_error("--output '" + a.output + "': cannot write the file; check the directory");
    }
    std::ostream& csv = a.output.empty() ? std::cout : file;
    csv << sweep_csv_header(plan) << '\n';
    std::size_t nrows = 0, nfailed = 0;
    for (const auto& t : results)
        for (std::size_t k = 0; k < t.rows.size(); ++k) {
            csv << t.rows[k] << '\n';
            ++nrows;
            nfailed += t.search.points[k].ok() ? 0 : 1;
        }
    csv.flush();
    if (!a.output.empty() && !a.quiet) info << "wrote " << a.output << " (" << nrows << " rows)\n";
    if (nfailed > 0 && !a.quiet)
        info << "llmemu sweep: " << nfailed << " of " << nrows << " runs failed; their rows give the reason (column "
             << "error)\n";

    if (!with_slo) return;
    // Capacity: the highest rate such that it and every lower rate meet the SLOs on every seed,
    // and with several seeds each seed's own rate as mean +- 95% CI.
    std::vector<SweepCapacity> capacity;
    if (search) {
        std::vector<SweepSearch> searches;
        for (const auto& t : results) searches.push_back(t.search);
        capacity = sweep_capacity(searches, settings.size());
    } else {
        std::vector<SweepPoint> points;
        for (const auto& t : results) points.push_back(t.search.points.front());
        capacity = sweep_capacity(points, settings.size(), a.engine.seed, a.num_seeds, a.slo_attainment);
    }
    info << "SLO " << a.slo << " met by >= " << num(a.slo_attainment * 100.0, "%g")
         << "% of requests on every seed; highest sustained request rate per engine setting:\n";
    for (std::size_t s = 0; s < settings.size(); ++s) {
        const SweepCapacity& cap = capacity[s];
        info << "  " << settings[s].describe() << ": ";
        if (!search) {
            if (cap.rate)
                info << num(*cap.rate, "%g") << " req/s (goodput " << num(cap.goodput, "%.2f") << " req/s)";
            else
                info << "none of the rates (at " << num(rates.front(), "%g") << " req/s only "
                     << num(cap.attainment_at_first_miss * 100.0, "%.1f") << "% of requests meet the SLOs)";
            if (cap.rate && cap.first_miss)
                info << "; at " << num(*cap.first_miss, "%g") << " req/s "
                     << num(cap.attainment_at_first_miss * 100.0, "%.1f") << "% meet them";
            else if (cap.rate)
                info << "; every rate tried meets them, try higher --request-rates";
        } else {
            if (cap.rate)
                info << num(*cap.rate, "%.4g") << " req/s on every seed";
            else
                info << "none on every seed (at " << num(range.lo, "%g") << " req/s some seed misses the SLOs)";
            info << " (" << cap.runs << " runs)";
        }
        if (cap.per_seed.size() > 1) {
            const MeanInterval& ci = cap.seeds.per_seed;
            info << "; per seed " << num(ci.mean, "%.4g") << " +- " << num(ci.half_width, "%.4g") << " req/s (95% CI, "
                 << cap.per_seed.size() << " seeds, [" << num(ci.min, "%.4g") << ", " << num(ci.max, "%.4g") << "]";
            if (cap.seeds.without_answer > 0)
                info << "; " << cap.seeds.without_answer << " seeds sustain no rate, counted as 0";
            info << ")";
        }
        if (!cap.failure.empty()) info << "; a run failed: " << cap.failure;
        info << '\n';
    }
}

const bool registered = register_command(30, [](CLI::App& app) {
    auto args = std::make_shared<SweepArgs>();
    auto* cmd = app.add_subcommand(
        "sweep",
        "Run a grid of request rates x engine settings x seeds in virtual time on all cores: one CSV row per run; "
        "--slo finds the highest rate each setting sustains");
    add_engine_options(*cmd, args->engine, /*grid=*/true);
    add_workload_options(*cmd, args->workload, /*with_rate=*/false);
    args->opt_rates =
        cmd->add_option("--request-rates", args->rates_text, "Request rates to try (comma separated; inf allowed)")
            ->capture_default_str();
    args->opt_burstiness = cmd->add_option("--burstiness", args->burstiness,
                                           "Gamma shape of arrival gaps (1 = Poisson) for synthetic arrivals")
                               ->capture_default_str();
    cmd->add_option("--max-num-seqs", args->max_num_seqs_text, "Values of max_num_seqs to try (comma separated)")
        ->capture_default_str();
    cmd->add_option("--max-num-batched-tokens", args->max_num_batched_tokens_text,
                    "Values of max_num_batched_tokens to try (comma separated)")
        ->capture_default_str();
    cmd->add_option("--num-gpu-blocks,--num-gpu-blocks-override", args->num_gpu_blocks_text,
                    "KV pool sizes to try (comma separated; 0 = derive from the profile; vLLM's name "
                    "--num-gpu-blocks-override is accepted too)")
        ->capture_default_str();
    cmd->add_option("--replicas", args->replicas,
                    "Fleet sizes to try (comma separated): engine replicas behind --router, in virtual time")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--router", args->routers,
                    "Routers to try (comma separated): round_robin, least_loaded, prefix_aware, scored, data_parallel "
                    "(default: one engine, or round_robin with --replicas > 1)")
        ->delimiter(',');
    args->opt_num_seeds =
        cmd->add_option("--num-seeds", args->num_seeds, "Seeds per grid point (--seed, --seed+1, ...)")
            ->capture_default_str()
            ->check(whole_number(1, 100000));
    cmd->add_option("--replicates", args->replicates,
                    "Seeds per grid point, as --num-seeds; with --slo each setting's sustainable rate is also given "
                    "per seed as mean +- 95% CI")
        ->check(whole_number(1, 100000));
    cmd->add_flag("--bootstrap-profile", args->bootstrap_profile,
                  "With --replicates/--num-seeds: seed --seed+k runs on a bootstrap resample of the pack (every "
                  "bucket's samples drawn with replacement, seeded by that seed) at every point, so the per-seed "
                  "interval covers profile uncertainty too");
    cmd->add_option("--rate-search", args->rate_search,
                    "With --slo: instead of --request-rates, search each setting's highest sustained rate in LO:HI "
                    "(req/s) to a relative TOL (LO:HI[:TOL], default 0.05): doubling from LO, then bisection");
    cmd->add_option("-j,--jobs", args->jobs, "Parallel runs (default: all cores)")->check(whole_number(1, 4096));
    cmd->add_option("-o,--output", args->output, "Write the CSV to FILE (default: stdout)");
    cmd->add_option("--slo", args->slo, "SLOs as KEY:MS pairs (ttft, tpot, e2el), e.g. ttft:500,tpot:50");
    cmd->add_option("--slo-attainment", args->slo_attainment,
                    "Share of requests that must meet the SLOs for a rate to count as sustained")
        ->capture_default_str();
    cmd->add_option("--percentiles", args->percentiles, "Percentile columns, e.g. 50,90,99")->capture_default_str();
    cmd->add_flag("-q,--quiet", args->quiet, "No progress bar or summary lines");
    cmd->callback([args] { run_sweep(*args); });
});

} // namespace
