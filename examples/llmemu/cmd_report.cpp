// `llmemu report`: one self-contained HTML page (inline SVG, no network) from result JSON
// files, sweep CSVs, validation CSVs and per-second time series CSVs, recognised by content.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/report/html_report.hpp"
#include "llmemu/report/inputs.hpp"

namespace {

using namespace llmemu;

struct ReportArgs {
    std::vector<std::string> inputs;
    std::vector<std::string> timeseries;
    std::vector<std::string> labels;
    std::string output;
    std::string title = "llmemu report";
    std::string slo;
    double slo_attainment = 0.9;
    std::size_t max_points = 512;
    bool quiet = false;
};

void run_report(const ReportArgs& a) {
    if (a.output.empty()) throw cli::usage_error("-o/--output: give the HTML file to write, e.g. -o report.html");
    if (!(a.slo_attainment > 0.0 && a.slo_attainment <= 1.0))
        throw cli::usage_error("--slo-attainment " + std::to_string(a.slo_attainment) +
                               ": give the share of requests that must meet the SLOs, in (0, 1]");
    if (a.max_points < 8) throw cli::usage_error("--max-points " + std::to_string(a.max_points) + ": use at least 8");
    if (!a.labels.empty() && a.labels.size() != a.inputs.size())
        throw cli::usage_error("--label: " + std::to_string(a.labels.size()) + " label(s) for " +
                               std::to_string(a.inputs.size()) + " input(s); give one label per input, in order");
    report::ReportOptions opt;
    opt.title = a.title;
    opt.slo_attainment = a.slo_attainment;
    opt.max_points = a.max_points;
    if (!a.slo.empty()) {
        SummaryOptions s;
        parse_slo(a.slo, s);
        opt.slo_ttft_ms = s.slo_ttft_ms;
        opt.slo_tpot_ms = s.slo_tpot_ms;
        opt.slo_e2el_ms = s.slo_e2el_ms;
    }
    std::vector<report::ReportInput> inputs;
    for (std::size_t i = 0; i < a.inputs.size(); ++i) {
        inputs.push_back(report::read_report_input(a.inputs[i]));
        if (!a.labels.empty()) inputs.back().name = a.labels[i];
    }
    for (const auto& f : a.timeseries) {
        inputs.push_back(report::read_report_input(f));
        if (inputs.back().kind != report::InputKind::timeseries_csv)
            throw cli::usage_error("--timeseries '" + f + "': a " + report::to_string(inputs.back().kind) +
                                   ", not a time series CSV (columns t,running,waiting,kv_cache_pct,...); give it "
                                   "as a plain input instead");
    }
    report::write_html_report(a.output, inputs, opt);
    if (!a.quiet) std::cout << "wrote " << a.output << " (" << inputs.size() << " inputs)\n";
}

const bool registered = cli::register_command(45, [](CLI::App& app) {
    auto args = std::make_shared<ReportArgs>();
    auto* cmd = app.add_subcommand(
        "report",
        "Write one self-contained HTML page (inline SVG charts, no network) from result JSON files, sweep CSVs "
        "(llmemu sweep -o), validation CSVs (llmemu validate --csv) and time series CSVs: latency CDFs, the "
        "vllm-bench summary, time series, step histogram, oracle coverage, per-replica bars, sweep capacity");
    cmd->add_option("inputs", args->inputs, "Result JSON / CSV files, recognised by content (one curve each)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-o,--output", args->output, "The HTML file to write")->required();
    cmd->add_option("--timeseries", args->timeseries,
                    "Per-second time series CSVs to overlay (e.g. a real vLLM run's timeseries.csv)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--label", args->labels,
                    "Names of the inputs in legends, one per input in order (default: the result's label or the "
                    "file name)")
        ->delimiter(',');
    cmd->add_option("--title", args->title, "The page's title")->capture_default_str();
    cmd->add_option("--slo", args->slo, "SLOs to draw as KEY:MS pairs (ttft, tpot, e2el), e.g. ttft:2000,tpot:100");
    cmd->add_option("--slo-attainment", args->slo_attainment,
                    "Share of requests that must meet the SLOs for a sweep rate to count as sustained")
        ->capture_default_str();
    cmd->add_option("--max-points", args->max_points, "Most points per curve")->capture_default_str();
    cmd->add_flag("-q,--quiet", args->quiet, "No 'wrote' line");
    cmd->callback([args] { run_report(*args); });
});

} // namespace
