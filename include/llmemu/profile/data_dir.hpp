#pragma once
/// \file data_dir.hpp
/// data_dir(): where llmemu's bundled profile pack and traces are installed, for hosts that
/// embed the library and want the default pack without hard-coding a path.

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The bundled default profile pack's file name (A40, Qwen3-8B, vLLM 0.18.1).
inline constexpr const char* bundled_pack_name = "llm-emu-A40-Qwen3-8B-subset.json";
/// The bundled default trace's file name (Azure LLM inference trace 2023, conversation, one hour).
inline constexpr const char* bundled_trace_name = "splitwise_conv.csv";

/// The directory holding llmemu's bundled data, searched in this order: $LLMEMU_DATA_DIR
/// (an error if it lacks the pack); `<prefix>/LLMEMU_INSTALL_DATA_SUBDIR` (default
/// `share/llmemu`) beside the running executable (`<prefix>/bin/...`, Linux
/// /proc/self/exe); `<prefix>/share/llmemu` beside the installed headers this file was
/// compiled from; the source tree's `data/` when compiled from a checkout (by the header's
/// path, or LLMEMU_SOURCE_DATA_DIR when the build defines it, as the `llmemu` program's
/// does). Throws config_error naming every place it looked and the fix.
inline std::filesystem::path data_dir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto has_data = [&](const fs::path& d) { return fs::is_regular_file(d / bundled_pack_name, ec); };
    if (const char* env = std::getenv("LLMEMU_DATA_DIR"); env != nullptr && *env != '\0') {
        if (has_data(env)) return fs::path(env);
        detail::throw_error<config_error>(std::string("LLMEMU_DATA_DIR='") + env + "' does not contain " +
                                          bundled_pack_name + "; point it at llmemu's data directory or unset it");
    }
    std::string looked;
    auto try_dir = [&](const fs::path& d) {
        if (has_data(d)) return true;
        looked += d.string() + ", ";
        return false;
    };
#ifdef LLMEMU_INSTALL_DATA_SUBDIR
    const fs::path install_subdir(LLMEMU_INSTALL_DATA_SUBDIR);
#else
    const fs::path install_subdir = fs::path("share") / "llmemu";
#endif
    if (const fs::path exe = fs::read_symlink("/proc/self/exe", ec); !ec && !exe.empty()) {
        const fs::path installed = exe.parent_path().parent_path() / install_subdir;
        if (try_dir(installed)) return installed;
    }
    // <prefix>/include/llmemu/profile/data_dir.hpp -> <prefix>
    const fs::path header(__FILE__);
    if (header.is_absolute()) {
        const fs::path prefix = header.parent_path().parent_path().parent_path().parent_path();
        if (try_dir(prefix / "share" / "llmemu")) return prefix / "share" / "llmemu";
        if (try_dir(prefix / "data")) return prefix / "data"; // a source checkout
    }
#ifdef LLMEMU_SOURCE_DATA_DIR
    if (try_dir(LLMEMU_SOURCE_DATA_DIR)) return fs::path(LLMEMU_SOURCE_DATA_DIR);
#endif
    detail::throw_error<config_error>("cannot find llmemu's bundled data (looked in " + looked +
                                      "and $LLMEMU_DATA_DIR); set LLMEMU_DATA_DIR to the directory holding " +
                                      bundled_pack_name + ", or pass --profile and --trace explicitly");
}

/// data_dir() / bundled_pack_name: the default pack for AnyLatencyModel::from_spec.
inline std::filesystem::path bundled_pack_path() {
    return data_dir() / bundled_pack_name;
}

/// data_dir() / bundled_trace_name: the default trace (`llmemu simulate` without --trace).
inline std::filesystem::path bundled_trace_path() {
    return data_dir() / bundled_trace_name;
}

LLMEMU_END_NAMESPACE
