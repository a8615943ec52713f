#pragma once
// The `llmemu` command line: each subcommand lives in its own cmd_<name>.cpp and
// registers itself here at static-initialisation time, so main.cpp stays tiny.

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace llmemu::cli {

/// Adds a subcommand (and its handler, via CLI11 callbacks) to the top-level app.
using CommandSetup = std::function<void(CLI::App& app)>;

struct CommandEntry {
    int order; // position in --help
    CommandSetup setup;
};

inline std::vector<CommandEntry>& command_registry() {
    static std::vector<CommandEntry> registry;
    return registry;
}

inline bool register_command(int order, CommandSetup setup) {
    command_registry().push_back({order, std::move(setup)});
    return true;
}

/// Raised by a subcommand for bad user input: printed as one line, exit code 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace llmemu::cli
