// `llmemu workload`: tools for workloads. `workload fit TRACE -o model.json` learns an
// output-length model (P(output | prompt) from any trace with both lengths: CSV or
// Mooncake JSONL); `--holdout` fits on the first part of the trace and prints the
// Kolmogorov-Smirnov table of the rest against two baselines. `workload sessions TRACE`
// shows the multi-turn session shape fitted from a Mooncake trace (--sessions-from).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "llmemu/workload/length_model.hpp"
#include "llmemu/workload/sessions.hpp"
#include "llmemu/workload/workload.hpp"
#include "report.hpp"

namespace {

using namespace llmemu;
using namespace llmemu::cli;

struct FitArgs {
    std::string trace;
    std::string output;
    bool holdout = false;
    double holdout_fraction = 0.5;
    std::size_t k = 0;
    std::size_t bins = 8;
    std::uint32_t fixed_output_len = 0;
    CLI::Option* opt_fraction = nullptr;
    CLI::Option* opt_fixed = nullptr;
};

std::string window_text(const OutputLengthModel& m) {
    return "k=" + std::to_string(m.k()) + " nearest prompts of " + std::to_string(m.pairs().size()) + " requests (" +
           fmt("%.2f", 100.0 * static_cast<double>(m.k()) / static_cast<double>(m.pairs().size())) + "% window)";
}

void print_row(std::ostream& os, const std::string& label, const KsRow& r) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-22s %9zu %9.4f %14.4f %10.4f\n", label.c_str(), r.requests, r.ks_model,
                  r.ks_unconditional, r.ks_fixed);
    os << buf;
}

void run_fit(const FitArgs& a) {
    if (a.output.empty() && !a.holdout)
        throw usage_error("workload fit: nothing to do; give -o FILE to write the model, --holdout to evaluate it, "
                          "or both");
    if (a.opt_fraction->count() > 0 && !a.holdout)
        throw usage_error("--holdout-fraction sets the share --holdout evaluates on; add --holdout");
    if (a.opt_fixed->count() > 0 && !a.holdout)
        throw usage_error("--fixed-output-len sets the fixed baseline of --holdout; add --holdout");
    if (!(a.holdout_fraction > 0.0 && a.holdout_fraction < 1.0))
        throw usage_error("--holdout-fraction " + fmt("%g", a.holdout_fraction) +
                          ": must be in (0, 1), the share of the trace (its last requests) held out");
    if (a.bins == 0) throw usage_error("--bins must be >= 1");
    const Trace trace = read_any_trace(a.trace);
    const std::vector<LengthPair> all = trace.lengths();
    const std::string name = std::filesystem::path(a.trace).filename().string();
    std::ostream& os = std::cout;

    if (a.holdout) {
        const auto n_test = static_cast<std::size_t>(static_cast<double>(all.size()) * a.holdout_fraction);
        if (n_test == 0 || n_test >= all.size())
            throw usage_error("--holdout: trace '" + a.trace + "' has " + std::to_string(all.size()) +
                              " requests, too few to hold " + fmt("%g", a.holdout_fraction) +
                              " of them out; give a larger trace or another --holdout-fraction");
        const std::vector<LengthPair> train(all.begin(), all.end() - static_cast<std::ptrdiff_t>(n_test));
        const std::vector<LengthPair> test(all.end() - static_cast<std::ptrdiff_t>(n_test), all.end());
        const OutputLengthModel m = fit_output_length_model(train, a.k, name);
        const std::uint32_t fixed = a.fixed_output_len != 0 ? a.fixed_output_len : mean_output_len(train);
        const KsTable t = evaluate_output_lengths(m, train, test, fixed, a.bins);
        os << "Output-length model P(output | prompt) fitted on the first " << train.size() << " requests of " << name
           << ": " << window_text(m) << '\n';
        os << "Held out: the last " << test.size()
           << " requests. Kolmogorov-Smirnov distance between predicted and real output lengths\n"
           << "(lower is better), per prompt-length bin of the held-out requests; baselines: the first part's\n"
           << "unconditional output lengths, and every request at " << fixed << " tokens"
           << (a.fixed_output_len != 0 ? "" : " (the first part's mean, as --random-output-len would be set)")
           << ".\n\n";
        char head[160];
        std::snprintf(head, sizeof head, "%-22s %9s %9s %14s %10s\n", "prompt tokens", "requests", "model",
                      "unconditional", ("fixed " + std::to_string(fixed)).c_str());
        os << head << std::string(68, '-') << '\n';
        for (const auto& r : t.bins) print_row(os, std::to_string(r.prompt_lo) + "-" + std::to_string(r.prompt_hi), r);
        os << std::string(68, '-') << '\n';
        print_row(os, "all requests", t.overall);
        print_row(os, "mean over bins", t.bin_mean);
    }
    if (!a.output.empty()) {
        const OutputLengthModel m = fit_output_length_model(all, a.k, name);
        std::ofstream out(a.output, std::ios::binary);
        if (!out) throw usage_error("-o '" + a.output + "': cannot write the file; check the directory");
        out << write_output_length_model(m);
        if (!out) throw usage_error("-o '" + a.output + "': write failed (disk full?)");
        if (a.holdout) os << '\n';
        os << "wrote " << a.output << ": " << window_text(m) << " of " << name << '\n';
    }
}

/// Mean and quantiles of a sample, one line.
template <class T>
std::string sample_line(std::vector<T> v) {
    std::sort(v.begin(), v.end());
    double sum = 0.0;
    for (const T x : v) sum += static_cast<double>(x);
    auto q = [&v](double p) {
        return static_cast<double>(v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))]);
    };
    return fmt("mean %.4g", sum / static_cast<double>(v.size())) + fmt(", median %.4g", q(0.5)) +
           fmt(", P90 %.4g", q(0.9)) + fmt(", max %.4g", q(1.0)) + " (" + std::to_string(v.size()) + " samples)";
}

void run_sessions(const std::string& trace) {
    const SessionFit f = fit_sessions(trace);
    std::ostream& os = std::cout;
    os << "Sessions in " << std::filesystem::path(trace).filename().string() << ": " << f.requests << " requests, "
       << f.sessions << " sessions, " << f.follow_ups
       << " later turns (a request continues the latest earlier one whose full 512-token blocks begin its "
          "hash_ids)\n";
    os << "  turns per session:       " << sample_line(f.shape.turn_samples) << '\n';
    os << "  gap between turns (s):   " << sample_line(f.shape.think_samples)
       << "\n                           (the trace's arrival gaps: think time plus the previous turn's serving "
          "time, an upper bound on the think time)\n";
    os << "  new tokens per turn:     " << sample_line(f.shape.new_token_samples)
       << "\n                           (tokens beyond the previous prompt and output, at least 1)\n";
    os << "Use: llmemu simulate --sessions-from " << trace
       << " --dataset random|empirical ... (each synthetic request starts a session; turns, gaps and new tokens are "
          "drawn from these samples)\n";
}

const bool registered = register_command(35, [](CLI::App& app) {
    auto* cmd =
        app.add_subcommand("workload", "Workload tools: fit an output-length model or a session shape from a trace");
    cmd->require_subcommand(1);
    auto args = std::make_shared<FitArgs>();
    auto* fit = cmd->add_subcommand(
        "fit", "Learn P(output length | prompt length) from a trace (CSV or Mooncake JSONL) for --output-lengths; "
               "--holdout prints its Kolmogorov-Smirnov table against the unconditional and fixed-length baselines");
    fit->add_option("TRACE", args->trace, "Trace with prompt and output lengths (CSV or Mooncake JSONL)")
        ->required()
        ->check(CLI::ExistingFile);
    fit->add_option("-o,--output", args->output, "Write the model (fitted on the whole trace) to FILE");
    fit->add_flag("--holdout", args->holdout,
                  "Fit on the first part of the trace, evaluate on the rest, print the KS table");
    args->opt_fraction =
        fit->add_option("--holdout-fraction", args->holdout_fraction, "Share of the trace (its last requests) held out")
            ->capture_default_str();
    fit->add_option("--k", args->k, "Window: the k nearest prompts (0 = choose by validation on the fitting requests)")
        ->capture_default_str();
    fit->add_option("--bins", args->bins, "Prompt-length bins (equal counts) of the --holdout table")
        ->capture_default_str();
    args->opt_fixed = fit->add_option("--fixed-output-len", args->fixed_output_len,
                                      "Output length of the fixed baseline (default: the fitting requests' mean)")
                          ->check(CLI::PositiveNumber);
    fit->callback([args] { run_fit(*args); });
    auto trace = std::make_shared<std::string>();
    auto* sessions = cmd->add_subcommand(
        "sessions", "Fit the multi-turn session shape (turns, gaps, new tokens) of a Mooncake trace that keeps turn "
                    "order, as --sessions-from uses it");
    sessions->add_option("TRACE", *trace, "Mooncake JSONL trace")->required()->check(CLI::ExistingFile);
    sessions->callback([trace] { run_sessions(*trace); });
});

} // namespace
