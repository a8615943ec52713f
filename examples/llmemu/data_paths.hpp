#pragma once
// Where the `llmemu` program finds its bundled profile pack and traces: the directory named
// by $LLMEMU_DATA_DIR; else <prefix>/share/llmemu next to an installed executable
// (<prefix>/bin/llmemu, found through /proc/self/exe); else the source tree's data/ (a
// build-tree executable).

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "llmemu/error.hpp"

#ifndef LLMEMU_INSTALL_DATA_SUBDIR
#define LLMEMU_INSTALL_DATA_SUBDIR "share/llmemu"
#endif

namespace llmemu::cli {

/// The bundled default profile pack's file name.
inline constexpr const char* default_profile_name = "llm-emu-A40-Qwen3-8B-subset.json";
/// The bundled default trace's file name (one hour of Azure conversation traffic).
inline constexpr const char* default_trace_name = "splitwise_conv.csv";

/// The running executable (empty when /proc/self/exe cannot be read).
inline std::filesystem::path executable_path() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path{} : p;
}

/// The directory holding llmemu's bundled data. Throws config_error naming every place
/// it looked and how to point llmemu at the data.
inline std::filesystem::path bundled_data_dir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto has_data = [&](const fs::path& d) { return fs::is_regular_file(d / default_profile_name, ec); };
    if (const char* env = std::getenv("LLMEMU_DATA_DIR"); env != nullptr && *env != '\0') {
        if (has_data(env)) return fs::path(env);
        llmemu::detail::throw_error<config_error>(std::string("LLMEMU_DATA_DIR='") + env + "' does not contain " +
                                                  default_profile_name +
                                                  "; point it at llmemu's data directory or unset it");
    }
    std::string looked;
    if (const fs::path exe = executable_path(); !exe.empty()) {
        const fs::path installed = exe.parent_path().parent_path() / LLMEMU_INSTALL_DATA_SUBDIR;
        if (has_data(installed)) return installed;
        looked += installed.string() + ", ";
    }
#ifdef LLMEMU_SOURCE_DATA_DIR
    if (has_data(LLMEMU_SOURCE_DATA_DIR)) return fs::path(LLMEMU_SOURCE_DATA_DIR);
    looked += std::string(LLMEMU_SOURCE_DATA_DIR) + ", ";
#endif
    llmemu::detail::throw_error<config_error>("cannot find llmemu's bundled data (looked in " + looked +
                                              "and $LLMEMU_DATA_DIR); set LLMEMU_DATA_DIR to the directory holding " +
                                              default_profile_name + ", or pass --profile and --trace explicitly");
}

/// The bundled default profile pack (A40, Qwen3-8B, vLLM 0.18.1; a subset of LLM-Emu's).
inline std::filesystem::path default_profile_path() {
    return bundled_data_dir() / default_profile_name;
}

/// The bundled default trace (Azure LLM inference trace 2023, conversation, one hour).
inline std::filesystem::path default_trace_path() {
    return bundled_data_dir() / default_trace_name;
}

} // namespace llmemu::cli
