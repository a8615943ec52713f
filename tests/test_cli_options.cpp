// Tests for the command line's shared pieces (examples/llmemu): engine/workload flags,
// the chrome trace writer and the bundled-data lookup.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "../examples/llmemu/chrome_trace.hpp"
#include "../examples/llmemu/data_paths.hpp"
#include "../examples/llmemu/engine_options.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"

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

struct FakeStep {
    std::chrono::nanoseconds start, end;
    llmemu::StepShape shape;
    std::uint32_t num_new;
};
struct FakeResult {
    std::vector<FakeStep> steps;
    std::vector<llmemu::RequestRecord> records;
    llmemu::EngineStats stats;
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

TEST_CASE("Cli.chrome_trace.valid_trace_event_json") {
    using namespace std::chrono_literals;
    FakeResult res;
    res.steps.push_back({0ms, 30ms, {llmemu::Phase::prefill, 100, 2, 0}, 2});
    res.steps.push_back({30ms, 60ms, {llmemu::Phase::decode, 2, 2, 0}, 0});
    llmemu::RequestRecord a;
    a.id = 0;
    a.arrival = 0ms;
    a.first_scheduled = 0ms;
    a.first_token = 30ms;
    a.finish = 60ms;
    a.reason = llmemu::FinishReason::length;
    llmemu::RequestRecord b = a;
    b.id = 1;
    llmemu::RequestRecord c; // refused on arrival, after a and b finished: reuses lane 1
    c.id = 2;
    c.arrival = 70ms;
    c.finish = 70ms;
    c.reason = llmemu::FinishReason::rejected;
    c.error = "prompt \"too\" long";
    res.records = {a, b, c};
    std::ostringstream os;
    llmemu::cli::write_chrome_trace(os, res, "test");
    const auto j = nlohmann::json::parse(os.str());
    const auto& ev = j["traceEvents"];
    int steps = 0, spans = 0, instants = 0, lanes = 0;
    for (const auto& e : ev) {
        if (e["ph"] == "X" && e["pid"] == 1) ++steps;
        if (e["ph"] == "X" && e["pid"] == 2) ++spans;
        if (e["ph"] == "i") ++instants;
        if (e["ph"] == "M" && e["pid"] == 2 && e["name"] == "thread_name") ++lanes;
    }
    CHECK(steps == 2);
    CHECK(spans == 6); // queued (zero length) + prefill + decode for two requests
    CHECK(instants == 1);
    CHECK(lanes == 2);
    CHECK(ev[3]["ts"].get<double>() == doctest::Approx(0.0));
    CHECK(ev[3]["dur"].get<double>() == doctest::Approx(30000.0));
}

TEST_CASE("Cli.data_paths.env_override") {
    // The test binary has no LLMEMU_SOURCE_DATA_DIR and no share/llmemu beside it, so only
    // $LLMEMU_DATA_DIR can point it at the data.
    ::setenv("LLMEMU_DATA_DIR", data_dir.c_str(), 1);
    CHECK(llmemu::cli::bundled_data_dir() == data_dir);
    CHECK(std::filesystem::is_regular_file(llmemu::cli::default_trace_path()));
    CHECK(llmemu::cli::default_profile_path() == data_dir / "llm-emu-A40-Qwen3-8B-subset.json");
    ::setenv("LLMEMU_DATA_DIR", "/nonexistent", 1);
    CHECK_THROWS_WITH_AS(llmemu::cli::bundled_data_dir(), doctest::Contains("LLMEMU_DATA_DIR='/nonexistent'"),
                         llmemu::config_error);
    ::unsetenv("LLMEMU_DATA_DIR");
    CHECK_THROWS_WITH_AS(llmemu::cli::bundled_data_dir(), doctest::Contains("cannot find llmemu's bundled data"),
                         llmemu::config_error);
}
