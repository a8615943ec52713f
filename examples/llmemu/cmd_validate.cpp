// `llmemu validate`: accuracy of emulated runs against real ones, as LLM-Emu reports it.
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "llmemu/metrics/validation.hpp"
#include "llmemu/metrics/validation_json.hpp"

namespace {

struct ValidateArgs {
    std::vector<std::string> real;
    std::vector<std::string> emu;
    std::string csv;
};

void run_validate(const ValidateArgs& a) {
    std::vector<llmemu::ValidationPoint> real, emu;
    for (const auto& f : a.real) real.push_back(llmemu::read_validation_point(f));
    for (const auto& f : a.emu) emu.push_back(llmemu::read_validation_point(f));
    const auto report = llmemu::compare_results(real, emu);
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

const bool registered = llmemu::cli::register_command(40, [](CLI::App& app) {
    auto args = std::make_shared<ValidateArgs>();
    auto* cmd = app.add_subcommand(
        "validate",
        "Compare emulated and real vllm-bench result JSON files: per-rate % error of mean TTFT, TPOT, ITL, E2E "
        "and output throughput, and the max-abs row (LLM-Emu's Table 1)");
    cmd->add_option("--real", args->real, "Real vllm bench serve result JSON files (comma separated)")
        ->required()
        ->delimiter(',')
        ->check(CLI::ExistingFile);
    cmd->add_option("--emu", args->emu, "Emulated result JSON files (comma separated), paired by request rate")
        ->required()
        ->delimiter(',')
        ->check(CLI::ExistingFile);
    cmd->add_option("--csv", args->csv,
                    "Also write per_rate_deltas.csv (rate,ttft_mean_pct,tpot_mean_pct,itl_mean_pct,e2e_mean_pct,"
                    "tps_pct) to FILE; '-' prints only the CSV on stdout");
    cmd->callback([args] { run_validate(*args); });
});

} // namespace
