#pragma once
// Small text helpers shared by the subcommands' printed reports.

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>

#include "command.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/workload/workload.hpp"

namespace llmemu::cli {

/// printf-formats one number ("%.2f" and the like).
inline std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

/// One "label   value" row in the layout of vllm bench serve's summary.
inline void print_line(std::ostream& os, const std::string& label, const std::string& value) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-40s %s\n", label.c_str(), value.c_str());
    os << buf;
}

/// The ramp-up of a workload built with --ramp-up-strategy (vLLM's result keys, see
/// add_ramp_up_json), or nothing without one.
inline std::optional<RampUpRecord> ramp_up_record(const WorkloadSpec& spec, const Workload& w) {
    if (!spec.ramp_up) return std::nullopt;
    RampUpRecord r;
    r.strategy = spec.ramp_up->strategy == RampUpStrategy::linear ? "linear" : "exponential";
    r.start_rps = spec.ramp_up->start_rps;
    r.end_rps = spec.ramp_up->end_rps;
    const std::size_t n = w.requests.size();
    for (std::size_t i = 0; i < n; ++i) {
        r.send_times_s.push_back(w.requests[i].arrival_s);
        r.rates.push_back(spec.ramp_up->rate_at(i, n));
    }
    return r;
}

/// Local time as vLLM stamps its result files: YYYYmmdd-HHMMSS.
inline std::string local_timestamp() {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
    return date;
}

/// Writes a result document (`--result-json FILE`) with one-line errors naming the file;
/// a missing folder is created first (a finished run is never lost to a typo'd path).
/// `append`: add a newline and the document to an existing file (vLLM's --append-result).
inline void write_result_file(std::ostream& os, const std::string& path, const std::string& text, bool quiet,
                              bool append = false, const std::string& flag = "--result-json") {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec)
        throw usage_error(flag + " '" + path + "': cannot create the folder " + parent.string() + ": " + ec.message());
    const bool existed = append && std::filesystem::exists(path, ec);
    std::ofstream out(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
    if (!out) throw usage_error(flag + " '" + path + "': cannot write the file; check the directory");
    if (existed) out << '\n';
    out << text << '\n';
    if (!out) throw usage_error(flag + " '" + path + "': write failed (disk full?)");
    if (!quiet) os << "wrote " << path << '\n';
}

} // namespace llmemu::cli
