// Tests for the command line's shared pieces (examples/llmemu): engine/workload flags.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "../examples/llmemu/engine_options.hpp"

namespace {
const std::filesystem::path data_dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data";

// Parses `args` (after the program name) into the shared flags.
struct Parsed {
    CLI::App app{"test"};
    llmemu::cli::EngineFlags engine;
    llmemu::cli::WorkloadFlags workload;
    explicit Parsed(std::vector<std::string> args) {
        llmemu::cli::add_engine_options(app, engine);
        llmemu::cli::add_workload_options(app, workload);
        std::vector<std::string> rev(args.rbegin(), args.rend());
        app.parse(rev);
    }
};

} // namespace

TEST_CASE("Cli.engine_options.defaults_and_auto_max_model_len") {
    Parsed p({});
    llmemu::ModelConfig m;
    m.max_model_len = 4096;
    const auto c = llmemu::cli::make_engine_config(p.engine, &m, 14089);
    CHECK(c.max_model_len == 16384);
    CHECK(c.max_num_seqs == 256);
    CHECK(c.max_num_batched_tokens == 2048);
    CHECK(c.enable_prefix_caching);
    CHECK(c.async_scheduling);
    CHECK(llmemu::cli::make_engine_config(p.engine, &m, 100).max_model_len == 4096);
    CHECK(llmemu::cli::make_engine_config(p.engine, nullptr, 5000).max_model_len == 8192);

    Parsed q({"--max-model-len", "2048", "--no-enable-prefix-caching", "--no-async-scheduling", "--num-gpu-blocks",
              "500", "--max-num-seqs", "8"});
    const auto d = llmemu::cli::make_engine_config(q.engine, &m, 14089);
    CHECK(d.max_model_len == 2048);
    CHECK_FALSE(d.enable_prefix_caching);
    CHECK_FALSE(d.async_scheduling);
    CHECK(d.num_gpu_blocks == 500);
    CHECK(d.max_num_seqs == 8);
}

TEST_CASE("Cli.engine_options.contradictions_are_usage_errors") {
    Parsed a({"--enable-prefix-caching", "--no-enable-prefix-caching"});
    CHECK_THROWS_AS(llmemu::cli::make_engine_config(a.engine, nullptr), llmemu::cli::usage_error);
    Parsed b({"--num-gpu-blocks", "100", "--gpu-memory-utilization", "0.5"});
    CHECK_THROWS_AS(llmemu::cli::make_engine_config(b.engine, nullptr), llmemu::cli::usage_error);
    CHECK_THROWS_AS(Parsed({"--max-num-seqs", "0"}), CLI::ValidationError);
}

TEST_CASE("Cli.workload_options.kinds_and_contradictions") {
    const auto conv = data_dir / "splitwise_conv.csv";
    const auto arxiv = data_dir / "arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv";
    {
        Parsed p({});
        const auto s = llmemu::cli::make_workload_spec(p.workload, conv, 1);
        CHECK(s.kind == llmemu::WorkloadKind::trace);
        CHECK(s.trace_path == conv);
        CHECK_FALSE(s.request_rate.has_value());
    }
    {
        Parsed p({"--dataset", "random", "--input-len", "10", "--request-rate", "inf"});
        const auto s = llmemu::cli::make_workload_spec(p.workload, conv, 1);
        CHECK(s.kind == llmemu::WorkloadKind::random);
        CHECK(s.num_prompts == 1000);
        CHECK(s.input_len == 10);
    }
    {
        Parsed p({"--trace", arxiv.string(), "--request-rate", "4", "--burstiness", "0.5"});
        const auto s = llmemu::cli::make_workload_spec(p.workload, conv, 1);
        CHECK(s.kind == llmemu::WorkloadKind::empirical); // no arrived_at column
        CHECK(*s.request_rate == 4.0);
        CHECK(s.burstiness == 0.5);
    }
    Parsed r({"--dataset", "random", "--trace", conv.string()});
    CHECK_THROWS_AS(llmemu::cli::make_workload_spec(r.workload, conv, 0), llmemu::cli::usage_error);
    Parsed i({"--output-len", "5"});
    CHECK_THROWS_AS(llmemu::cli::make_workload_spec(i.workload, conv, 0), llmemu::cli::usage_error);
    Parsed b({"--burstiness", "2"});
    CHECK_THROWS_AS(llmemu::cli::make_workload_spec(b.workload, conv, 0), llmemu::cli::usage_error);
    Parsed z({"--request-rate", "-3"});
    CHECK_THROWS_AS(llmemu::cli::make_workload_spec(z.workload, conv, 0), llmemu::cli::usage_error);
    CHECK(std::isinf(llmemu::cli::parse_rate("inf")));
    CHECK(llmemu::cli::parse_rate("2.5") == 2.5);
    CHECK_THROWS_AS(llmemu::cli::parse_rate("2.5x"), llmemu::cli::usage_error);
}
