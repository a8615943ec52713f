#pragma once
// Small text helpers shared by the subcommands' printed reports.

#include <cstdio>
#include <ctime>
#include <ostream>
#include <string>

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

} // namespace llmemu::cli
