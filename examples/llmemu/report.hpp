#pragma once
// Small text helpers shared by the subcommands' printed reports.

#include <cstdio>
#include <ctime>
#include <fstream>
#include <ostream>
#include <string>

#include "command.hpp"

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

/// Local time as vLLM stamps its result files: YYYYmmdd-HHMMSS.
inline std::string local_timestamp() {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm);
    return date;
}

/// Writes a result document (`--result-json FILE`) with one-line errors naming the file.
inline void write_result_file(std::ostream& os, const std::string& path, const std::string& text, bool quiet) {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw usage_error("--result-json '" + path + "': cannot write the file; check the directory");
    out << text << '\n';
    if (!out) throw usage_error("--result-json '" + path + "': write failed (disk full?)");
    if (!quiet) os << "wrote " << path << '\n';
}

} // namespace llmemu::cli
