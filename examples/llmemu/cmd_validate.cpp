// `llmemu validate`: accuracy of emulated runs against real ones. One real run with
// per-request records (vLLM's requests.jsonl, or a vllm bench serve --save-detailed result)
// against one emulated result: mean/median/p90/p99 of TTFT, TPOT and E2E and the KS
// distance of TTFT and E2E (optionally the engine time series against vLLM's 1 s log).
// Several results with means only: LLM-Emu's per-rate % error of the means.
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "llmemu/metrics/validation.hpp"
#include "llmemu/metrics/validation_json.hpp"
#include "llmemu/metrics/validation_requests.hpp"
#include "llmemu/metrics/validation_timeseries.hpp"

namespace {

struct ValidateArgs {
    std::vector<std::string> real;
    std::vector<std::string> emu;
    std::string csv;
    std::string real_timeseries;
    std::string timeseries_csv;
    bool json = false;
    std::size_t replicates = 0;
};

nlohmann::json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw llmemu::cli::usage_error("'" + path + "': cannot open the file; check the path");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw llmemu::cli::usage_error("result '" + path + "' is not valid JSON");
    return j;
}

/// The K replicate runs (llmemu.replicates.runs) of the --emu result, for --replicates K.
std::vector<llmemu::RequestSamples> read_replicate_runs(const std::string& path, std::size_t k) {
    std::vector<llmemu::RequestSamples> runs = llmemu::replicate_request_samples(read_json_file(path), path);
    const std::string fix = "llmemu simulate --replicates " + std::to_string(k) + " --save-detailed --result-json FILE";
    if (runs.empty())
        throw llmemu::cli::usage_error("--replicates " + std::to_string(k) + ": --emu '" + path +
                                       "' has no llmemu.replicates.runs (each replicate's per-request lists); write "
                                       "it with " +
                                       fix);
    if (runs.size() != k)
        throw llmemu::cli::usage_error("--replicates " + std::to_string(k) + ": --emu '" + path + "' holds " +
                                       std::to_string(runs.size()) + " replicate runs; give --replicates " +
                                       std::to_string(runs.size()) + ", or write a new result with " + fix);
    return runs;
}

void run_distribution(const ValidateArgs& a, const llmemu::RequestSamples& real, const llmemu::RequestSamples& emu) {
    const llmemu::DistributionReport rep =
        a.replicates > 0 ? llmemu::compare_distributions(real, read_replicate_runs(a.emu[0], a.replicates))
                         : llmemu::compare_distributions(real, emu);
    std::optional<llmemu::TimeSeriesReport> ts;
    if (!a.real_timeseries.empty()) {
        const llmemu::TimeSeriesTable rt = llmemu::read_timeseries_csv(a.real_timeseries);
        const llmemu::TimeSeriesTable et = llmemu::timeseries_from_result_json(read_json_file(a.emu[0]), a.emu[0]);
        ts = llmemu::compare_timeseries(rt, et);
        if (!a.timeseries_csv.empty()) {
            std::ofstream out(a.timeseries_csv);
            if (!out)
                throw llmemu::cli::usage_error("--timeseries-csv '" + a.timeseries_csv +
                                               "': cannot write the file; check the directory");
            llmemu::write_timeseries_csv(out, *ts);
        }
    }
    if (a.json) {
        nlohmann::json j = llmemu::to_json(rep);
        if (ts) j["timeseries"] = llmemu::to_json(*ts);
        std::cout << j.dump(2) << '\n';
        return;
    }
    std::cout << "Per-request latency, ours vs real: signed % error (ours - real) / real\n";
    llmemu::print_distribution_table(std::cout, rep);
    if (ts) {
        std::cout << "\nEngine time series vs " << a.real_timeseries << " (" << ts->grid.size() << " points)\n";
        llmemu::print_timeseries_table(std::cout, *ts);
        if (!a.timeseries_csv.empty()) std::cout << "wrote " << a.timeseries_csv << '\n';
    }
}

void run_per_rate(const ValidateArgs& a) {
    std::vector<llmemu::ValidationPoint> real, emu;
    for (const auto& f : a.real) {
        std::ifstream in(f, std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (llmemu::looks_like_requests_jsonl(text))
            throw llmemu::cli::usage_error("--real '" + f +
                                           "' is vLLM's per-request record of one run: compare it with exactly "
                                           "one --emu result that has per-request lists");
        real.push_back(llmemu::read_validation_point(f));
    }
    for (const auto& f : a.emu) emu.push_back(llmemu::read_validation_point(f));
    const auto report = llmemu::compare_results(real, emu);
    if (a.json) {
        auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
        auto row = [&](const llmemu::ValidationDelta& d) {
            return nlohmann::json{{"ttft_mean_pct", num(d.ttft_pct)},
                                  {"tpot_mean_pct", num(d.tpot_pct)},
                                  {"itl_mean_pct", num(d.itl_pct)},
                                  {"e2e_mean_pct", num(d.e2e_pct)},
                                  {"tps_pct", num(d.tps_pct)}};
        };
        nlohmann::json j;
        j["rates"] = nlohmann::json::array();
        for (const auto& d : report.rows) {
            nlohmann::json r = row(d);
            r["rate"] = std::isinf(d.rate) ? nlohmann::json("inf") : nlohmann::json(d.rate);
            j["rates"].push_back(std::move(r));
        }
        j["max_abs"] = row(report.max_abs);
        std::cout << j.dump(2) << '\n';
        return;
    }
    if (a.csv == "-") {
        llmemu::write_deltas_csv(std::cout, report);
        return;
    }
    std::cout << "Emulated vs real, signed % error of the mean ((emu - real) / real), paired by request rate\n";
    llmemu::print_validation_table(std::cout, report);
    if (!a.csv.empty()) {
        std::ofstream out(a.csv);
        if (!out) throw llmemu::cli::usage_error("--csv '" + a.csv + "': cannot write the file; check the directory");
        llmemu::write_deltas_csv(out, report);
        std::cout << "wrote " << a.csv << '\n';
    }
}

void run_validate(const ValidateArgs& a) {
    if (!a.timeseries_csv.empty() && a.real_timeseries.empty())
        throw llmemu::cli::usage_error("--timeseries-csv writes the series compared by --real-timeseries; add "
                                       "--real-timeseries timeseries.csv");
    // --csv asks for LLM-Emu's per-rate deltas (the means of result files), so it selects
    // that mode even when the files also carry per-request lists.
    if (a.real.size() == 1 && a.emu.size() == 1 && a.csv.empty()) {
        const auto real = llmemu::read_request_samples(a.real[0]);
        if (real) {
            const auto emu = llmemu::read_request_samples(a.emu[0]);
            if (!emu)
                throw llmemu::cli::usage_error(
                    "--emu '" + a.emu[0] +
                    "' has no per-request lists (ttfts, latencies, output_lens) to compare with --real '" + a.real[0] +
                    "'; write it with llmemu simulate --save-detailed --result-json");
            run_distribution(a, *real, *emu);
            return;
        }
    }
    if (!a.real_timeseries.empty())
        throw llmemu::cli::usage_error("--real-timeseries compares one run: give one --real file with per-request "
                                       "records and one --emu llmemu result");
    if (a.replicates > 0)
        throw llmemu::cli::usage_error(
            "--replicates compares one run's per-request latencies over the emulator's replicates: give one --real "
            "file with per-request records (requests.jsonl or a detailed result) and one --emu llmemu result, "
            "without --csv");
    run_per_rate(a);
}

const bool registered = llmemu::cli::register_command(40, [](CLI::App& app) {
    auto args = std::make_shared<ValidateArgs>();
    auto* cmd = app.add_subcommand(
        "validate",
        "Compare an emulated run with a real one: per-request TTFT, TPOT and E2E (mean, median, p90, p99, % error, "
        "KS distance) against vLLM's requests.jsonl or a detailed vllm bench serve result; or, for mean-only "
        "results, the per-rate % error of the means (LLM-Emu's Table 1)");
    cmd->add_option("--real", args->real,
                    "Real run: vLLM's per-request records (requests.jsonl) or vllm bench serve result JSON files "
                    "(comma separated)")
        ->required()
        ->delimiter(',')
        ->check(CLI::ExistingFile);
    cmd->add_option("--emu", args->emu, "Emulated result JSON files (comma separated), paired by request rate")
        ->required()
        ->delimiter(',')
        ->check(CLI::ExistingFile);
    cmd->add_option("--csv", args->csv,
                    "Mean-only results: also write per_rate_deltas.csv (rate,ttft_mean_pct,tpot_mean_pct,"
                    "itl_mean_pct,e2e_mean_pct,tps_pct) to FILE; '-' prints only the CSV on stdout");
    cmd->add_option("--real-timeseries", args->real_timeseries,
                    "vLLM's 1 s engine log (timeseries.csv: t,prompt_throughput,gen_throughput,running,waiting,"
                    "kv_cache_pct) to compare with the --emu result's llmemu.timeseries")
        ->check(CLI::ExistingFile);
    cmd->add_option("--timeseries-csv", args->timeseries_csv,
                    "With --real-timeseries: write both series on one time grid to FILE (t,real_X,emu_X,...)");
    cmd->add_flag("--json", args->json, "Print the comparison as JSON (for scripts) instead of tables");
    cmd->add_option("--replicates", args->replicates,
                    "Compare with the K replicate runs in the --emu result (llmemu simulate --replicates K "
                    "--save-detailed): each statistic as the replicates' mean with its 95% CI and whether the real "
                    "value lies inside")
        ->check(CLI::Range(std::size_t{2}, std::size_t{10000}));
    cmd->callback([args] { run_validate(*args); });
});

} // namespace
