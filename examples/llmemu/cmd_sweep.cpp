// `llmemu sweep`: a grid of request rates x engine settings x seeds, each run in virtual
// time, in parallel on every core; one CSV row per run, and with --slo the highest rate
// each engine setting sustains (goodput-style capacity planning).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "data_paths.hpp"
#include "engine_options.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/sustainable_rate.hpp"
#include "progress.hpp"
#include "simulation_run.hpp"

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
    std::vector<std::uint32_t> max_num_seqs;
    std::vector<std::uint32_t> max_num_batched_tokens;
    std::vector<std::uint32_t> num_gpu_blocks;
    std::vector<std::uint32_t> replicas{1};
    std::vector<std::string> routers;
    std::uint32_t num_seeds = 1;
    unsigned jobs = 0;
    std::string output;
    std::string slo;
    double slo_attainment = 0.9;
    std::string percentiles = "90,99";
    bool quiet = false;
    CLI::Option* opt_burstiness = nullptr;
};

struct Setting {
    std::uint32_t max_num_seqs, max_num_batched_tokens, num_gpu_blocks;
    std::uint32_t replicas = 1;
    /// Empty: one engine (replicas 1) or round_robin.
    std::string router;
};

struct Job {
    std::size_t setting;
    double rate;
    std::uint64_t seed;
};

struct Row {
    EngineConfig config;
    std::size_t num_requests = 0;
    BenchResult bench;
    EngineStats stats;
};

std::string num(double v, const char* f = "%.4f") {
    if (std::isinf(v)) return "inf";
    if (std::isnan(v)) return "nan";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string setting_text(const Setting& s) {
    return "max_num_seqs=" + std::to_string(s.max_num_seqs) +
           " max_num_batched_tokens=" + std::to_string(s.max_num_batched_tokens) +
           " num_gpu_blocks=" + (s.num_gpu_blocks == 0 ? std::string("derived") : std::to_string(s.num_gpu_blocks)) +
           (s.replicas > 1 || !s.router.empty()
                ? " replicas=" + std::to_string(s.replicas) + " router=" + (s.router.empty() ? "round_robin" : s.router)
                : std::string());
}

void run_sweep(SweepArgs& a) {
    if (a.num_seeds == 0) throw usage_error("--num-seeds 0: run at least one seed per grid point");
    if (!(a.slo_attainment > 0.0 && a.slo_attainment <= 1.0))
        throw usage_error("--slo-attainment " + std::to_string(a.slo_attainment) +
                          ": give the share of requests that must meet the SLOs, in (0, 1]");
    if (!(a.burstiness > 0.0) || !std::isfinite(a.burstiness))
        throw usage_error("--burstiness " + flag_number(a.burstiness) + ": must be a finite number > 0 (1 = Poisson)");
    SummaryOptions summary;
    summary.percentiles = parse_percentiles(a.percentiles);
    const bool with_slo = !a.slo.empty();
    if (with_slo) parse_slo(a.slo, summary);

    std::vector<double> rates;
    for (const auto& r : split_list(a.rates_text, "--request-rates")) rates.push_back(parse_rate(r, "--request-rates"));
    a.max_num_seqs = parse_uint_list(a.max_num_seqs_text, "--max-num-seqs", 1, EngineConfig::max_num_seqs_limit);
    a.max_num_batched_tokens = parse_uint_list(a.max_num_batched_tokens_text, "--max-num-batched-tokens", 1,
                                               EngineConfig::max_num_batched_tokens_limit);
    a.num_gpu_blocks =
        parse_uint_list(a.num_gpu_blocks_text, "--num-gpu-blocks", 0, std::numeric_limits<std::uint32_t>::max());
    std::sort(rates.begin(), rates.end());
    if (std::adjacent_find(rates.begin(), rates.end()) != rates.end())
        throw usage_error("--request-rates lists a rate twice; give each rate once");

    const std::string profile_spec = a.engine.profile.empty() ? default_profile_path().string() : a.engine.profile;
    const AnyLatencyModel model = make_latency_model(a.engine, profile_spec);
    const bool default_trace = a.workload.opt_trace == nullptr || a.workload.opt_trace->count() == 0;
    WorkloadSpec base = make_workload_spec(
        a.workload, default_trace && a.workload.dataset != "random" ? default_trace_path() : std::filesystem::path{},
        a.engine.seed);
    if (base.kind == WorkloadKind::trace && a.opt_burstiness->count() > 0)
        throw usage_error("--burstiness shapes synthetic arrivals, but the trace is replayed (rescaled to each rate); "
                          "drop --burstiness or add --dataset empirical");
    if (base.num_prompts == 0) base.num_prompts = 1000;
    base.burstiness = a.burstiness;

    for (const auto n : a.replicas)
        if (n == 0) throw usage_error("--replicas 0: give at least one replica per grid point");
    for (const auto& r : a.routers) (void)make_router(r); // names the choices
    std::vector<std::string> routers = a.routers;
    if (routers.empty()) routers.emplace_back();
    std::vector<Setting> settings;
    for (auto s : a.max_num_seqs)
        for (auto t : a.max_num_batched_tokens)
            for (auto b : a.num_gpu_blocks) {
                if (b == 1) throw usage_error("--num-gpu-blocks 1 leaves no usable block; use >= 2 or 0 to derive");
                for (auto n : a.replicas)
                    for (const auto& r : routers) settings.push_back({s, t, b, n, r});
            }
    std::vector<Job> jobs;
    for (std::size_t s = 0; s < settings.size(); ++s)
        for (double r : rates)
            for (std::uint32_t k = 0; k < a.num_seeds; ++k) jobs.push_back({s, r, a.engine.seed + k});

    const unsigned hw = std::max(1U, std::thread::hardware_concurrency());
    const unsigned nthreads = std::min<unsigned>(a.jobs == 0 ? hw : a.jobs, static_cast<unsigned>(jobs.size()));
    std::ostream& info = a.output.empty() ? std::cerr : std::cout;
    if (!a.quiet)
        info << "llmemu sweep: " << jobs.size() << " runs (" << settings.size() << " engine settings x " << rates.size()
             << " rates x " << a.num_seeds << " seeds) on " << nthreads << " threads, " << base.num_prompts
             << " requests each\n  profile: " << profile_spec << '\n';

    std::vector<std::optional<Row>> rows(jobs.size());
    std::vector<std::exception_ptr> errors(jobs.size());
    std::atomic<std::size_t> next{0}, done{0};
    std::atomic<bool> failed{false};
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= jobs.size() || failed.load()) return;
            try {
                const Job& j = jobs[i];
                WorkloadSpec spec = base;
                spec.request_rate = j.rate;
                spec.seed = j.seed;
                if (spec.kind == WorkloadKind::trace && std::isinf(j.rate)) spec.request_rate = j.rate;
                const Workload w = build_workload(spec);
                EngineFlags f = a.engine;
                f.max_num_seqs = settings[j.setting].max_num_seqs;
                f.max_num_batched_tokens = settings[j.setting].max_num_batched_tokens;
                f.num_gpu_blocks = settings[j.setting].num_gpu_blocks;
                const EngineConfig cfg = make_engine_config(f, model.model_config(), longest_request(w));
                FleetSettings fleet;
                fleet.replicas = settings[j.setting].replicas;
                fleet.router = settings[j.setting].router;
                if (fleet.replicas > 1 && fleet.router.empty()) fleet.router = "round_robin";
                RunOutcome out = run_emulation<VirtualClock>(model, cfg, w, j.seed, summary, false, {}, fleet);
                Row row;
                row.config = out.config;
                row.num_requests = w.requests.size();
                row.stats = std::move(out.sim.stats);
                row.bench = std::move(out.bench);
                rows[i] = std::move(row);
            } catch (...) {
                errors[i] = std::current_exception();
                failed.store(true);
            }
            done.fetch_add(1);
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(nthreads);
    {
        ProgressBar bar(!a.quiet, "sweeping");
        for (unsigned t = 0; t < nthreads; ++t) threads.emplace_back(worker);
        while (done.load() < jobs.size() && !failed.load()) {
            bar.update(static_cast<double>(done.load()) / static_cast<double>(jobs.size()));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        for (auto& t : threads) t.join();
        bar.finish();
    }
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);

    // One CSV row per run, in grid order (deterministic whatever the thread count).
    std::ofstream file;
    if (!a.output.empty()) {
        file.open(a.output);
        if (!file) throw usage_error("--output '" + a.output + "': cannot write the file; check the directory");
    }
    std::ostream& csv = a.output.empty() ? std::cout : file;
    csv << "request_rate,burstiness,seed,max_num_seqs,max_num_batched_tokens,num_gpu_blocks,max_model_len,"
           "num_requests,completed,failed,duration_s,request_throughput,output_throughput,total_token_throughput";
    if (with_slo) csv << ",request_goodput,slo_attainment";
    for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
        csv << ",mean_" << m << "_ms,median_" << m << "_ms";
        for (double p : summary.percentiles)
            csv << ",p" << llmemu::detail::metrics_percentile_word(p) << '_' << m << "_ms";
    }
    csv << ",preemptions,max_kv_usage,steps,replicas,router\n";
    auto attainment = [](const Row& r) {
        return r.num_requests == 0 ? 0.0
                                   : static_cast<double>(r.bench.good_completed) / static_cast<double>(r.num_requests);
    };
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const Row& r = *rows[i];
        const BenchResult& b = r.bench;
        csv << num(jobs[i].rate, "%g") << ',' << num(base.kind == WorkloadKind::trace ? 1.0 : base.burstiness, "%g")
            << ',' << jobs[i].seed << ',' << r.config.max_num_seqs << ',' << r.config.max_num_batched_tokens << ','
            << r.config.num_gpu_blocks << ',' << r.config.max_model_len << ',' << r.num_requests << ',' << b.completed
            << ',' << b.failed << ',' << num(b.duration_s) << ',' << num(b.request_throughput) << ','
            << num(b.output_throughput) << ',' << num(b.total_token_throughput);
        if (with_slo) csv << ',' << num(b.request_goodput.value_or(0.0)) << ',' << num(attainment(r));
        for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
            const MetricStats& s = metric_stats(b, m);
            csv << ',' << num(s.mean_ms) << ',' << num(s.median_ms);
            for (const auto& pv : s.percentiles_ms) csv << ',' << num(pv.second);
        }
        const Setting& st = settings[jobs[i].setting];
        csv << ',' << r.stats.preemptions << ',' << num(r.stats.max_kv_usage) << ',' << r.stats.steps << ','
            << st.replicas << ',' << (st.router.empty() ? (st.replicas > 1 ? "round_robin" : "none") : st.router)
            << '\n';
    }
    csv.flush();
    if (!a.output.empty() && !a.quiet) info << "wrote " << a.output << " (" << jobs.size() << " rows)\n";

    if (!with_slo) return;
    // Capacity: the highest rate such that it and every lower rate meet the SLOs on every seed.
    info << "SLO " << a.slo << " met by >= " << num(a.slo_attainment * 100.0, "%g")
         << "% of requests on every seed; highest sustained request rate per engine setting:\n";
    for (std::size_t s = 0; s < settings.size(); ++s) {
        std::vector<RateAttainment> runs;
        for (std::size_t i = 0; i < jobs.size(); ++i)
            if (jobs[i].setting == s) runs.push_back({jobs[i].rate, attainment(*rows[i])});
        const SustainableRate cap = sustainable_rate(std::move(runs), a.slo_attainment);
        const std::optional<double> best = cap.rate, first_miss = cap.first_miss;
        const double worst_at_first_miss = cap.attainment_at_first_miss;
        double best_goodput = 1e300;
        for (std::size_t i = 0; i < jobs.size() && best; ++i)
            if (jobs[i].setting == s && jobs[i].rate == *best)
                best_goodput = std::min(best_goodput, rows[i]->bench.request_goodput.value_or(0.0));
        info << "  " << setting_text(settings[s]) << ": ";
        if (best)
            info << num(*best, "%g") << " req/s (goodput " << num(best_goodput, "%.2f") << " req/s)";
        else
            info << "none of the rates (at " << num(rates.front(), "%g") << " req/s only "
                 << num(worst_at_first_miss * 100.0, "%.1f") << "% of requests meet the SLOs)";
        if (best && first_miss)
            info << "; at " << num(*first_miss, "%g") << " req/s " << num(worst_at_first_miss * 100.0, "%.1f")
                 << "% meet them";
        else if (best)
            info << "; every rate tried meets them, try higher --request-rates";
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
    cmd->add_option("--num-seeds", args->num_seeds, "Seeds per grid point (--seed, --seed+1, ...)")
        ->capture_default_str()
        ->check(whole_number(1, 100000));
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
