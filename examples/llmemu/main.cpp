// llmemu: emulate an LLM-serving GPU from real step-time profiles.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"
#include "llmemu/error.hpp"
#include "llmemu/version.hpp"
#include "vllm_flags.hpp"

int main(int argc, char** argv) {
    CLI::App app{"llmemu " LLMEMU_VERSION_STRING
                 " - emulate LLM serving on real GPU step-time profiles, without a GPU"};
    app.set_version_flag("--version", std::string(LLMEMU_VERSION_STRING));
    app.require_subcommand(1);
    auto& registry = llmemu::cli::command_registry();
    std::stable_sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
    for (const auto& entry : registry) entry.setup(app);
    try {
        // vLLM's multi-letter single-dash aliases (serve -tp 2, -dp 1), which CLI11 cannot
        // register, become their long names.
        if (argc > 0) app.name(argv[0]);
        std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
        if (!args.empty() && args.front() == "serve")
            llmemu::cli::expand_vllm_short_flags(args, llmemu::cli::vllm_serve_flags);
        std::reverse(args.begin(), args.end());
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::Success& e) { // a flag that printed what it was asked for
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "llmemu: %s (see --help)\n", e.what());
        return 2;
    } catch (const llmemu::cli::usage_error& e) {
        std::fprintf(stderr, "llmemu: %s\n", e.what());
        return 2;
    } catch (const llmemu::contract_error& e) { // a bug in llmemu (or an extension), not bad input
        std::fprintf(stderr, "llmemu: internal error (contract violation): %s\n", e.what());
        return 3;
    } catch (const llmemu::error& e) {
        std::fprintf(stderr, "llmemu: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llmemu: internal error: %s\n", e.what());
        return 1;
    }
    return 0;
}
