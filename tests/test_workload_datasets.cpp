// Tests for workload/datasets.hpp and the vLLM datasets of build_workload: lengths and
// prefix sharing as vLLM defines them, and the prefix hits they give in the engine.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/tokens/vocabulary.hpp"
#include "llmemu/workload/datasets.hpp"
#include "llmemu/workload/workload.hpp"

using namespace llmemu;

namespace {

std::vector<TokenId> ids_of(const WorkloadRequest& r) {
    return r.prompt_ids.empty() ? prompt_tokens(r.prompt) : r.prompt_ids;
}

/// Total prefix-cache hits when `w` runs one request at a time (1 s apart) on a big pool.
std::uint64_t engine_hits(const Workload& w) {
    using Exec = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
    VirtualClock clock;
    EngineConfig c;
    c.num_gpu_blocks = 20000;
    Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel::from_spec("const:1"), clock), clock, c);
    std::vector<TimedRequest> reqs;
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        TimedRequest t;
        t.arrival = std::chrono::seconds(static_cast<std::int64_t>(i));
        t.spec.id = i;
        t.spec.prompt_len = w.requests[i].prompt_len;
        t.spec.max_tokens = 2;
        t.spec.ignore_eos = true;
        reqs.push_back(std::move(t));
    }
    SimulationOptions opts;
    opts.prepare = [&w](RequestSpec& s) { s.prompt_tokens = ids_of(w.requests[s.id]); };
    return run_simulation(engine, std::move(reqs), opts).stats.prefix_cache_hits;
}

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::string custom_error(const std::string& text) {
    std::istringstream in(text);
    try {
        (void)parse_custom_dataset(in, "c.jsonl");
    } catch (const workload_error& e) {
        return e.what();
    }
    return "";
}

std::string sharegpt_error(const std::string& text) {
    try {
        (void)parse_sharegpt_dataset(text, "s.json");
    } catch (const workload_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("Workload.datasets.random_prefix_len_is_shared_and_added") {
    WorkloadSpec s;
    s.kind = WorkloadKind::random;
    s.num_prompts = 20;
    s.input_len = 100;
    s.range_ratio = 0.5;
    s.random_prefix_len = 64;
    s.seed = 3;
    const Workload w = build_workload(s);
    REQUIRE(w.requests.size() == 20);
    const auto first = ids_of(w.requests[0]);
    std::set<std::vector<TokenId>> suffix_starts;
    for (const auto& r : w.requests) {
        // vLLM: prompt = prefix + a length drawn from [floor(I(1-r)), ceil(I(1+r))].
        CHECK(r.prompt_len >= 64 + 50);
        CHECK(r.prompt_len <= 64 + 150);
        const auto ids = ids_of(r);
        REQUIRE(ids.size() == r.prompt_len);
        CHECK(std::equal(ids.begin(), ids.begin() + 64, first.begin()));
        suffix_starts.insert(std::vector<TokenId>(ids.begin() + 64, ids.begin() + 80));
    }
    CHECK(suffix_starts.size() == 20); // the rest is each request's own
    // 64 shared tokens = 4 full blocks: every request after the first hits them.
    CHECK(ideal_prefix_reuse(w, 16).hits() == 19 * 64);
    CHECK(engine_hits(w) == 19 * 64);
    s.random_prefix_len = 0;
    CHECK_FALSE(has_shared_prompts(build_workload(s)));
}

TEST_CASE("Workload.datasets.prefix_repetition_as_vllm") {
    WorkloadSpec s;
    s.kind = WorkloadKind::prefix_repetition;
    s.num_prompts = 25; // 25 / 3 = 8 per prefix: 24 requests, as vLLM
    s.num_prefixes = 3;
    s.prefix_len = 256;
    s.suffix_len = 40;
    s.prefix_output_len = 7;
    s.request_rate = 2.0;
    const Workload w = build_workload(s);
    REQUIRE(w.requests.size() == 24);
    std::map<std::vector<TokenId>, int> prefixes;
    for (const auto& r : w.requests) {
        CHECK(r.prompt_len == 296);
        CHECK(r.output_len == 7);
        const auto ids = ids_of(r);
        ++prefixes[std::vector<TokenId>(ids.begin(), ids.begin() + 256)];
    }
    REQUIRE(prefixes.size() == 3);
    for (const auto& [p, n] : prefixes) CHECK(n == 8);
    CHECK(w.requests.back().arrival_s == doctest::Approx(12.0)); // n / rate
    // Shuffled: the first 8 requests do not all share one prefix.
    std::set<std::vector<TokenId>> first8;
    for (std::size_t i = 0; i < 8; ++i) {
        const auto ids = ids_of(w.requests[i]);
        first8.insert(std::vector<TokenId>(ids.begin(), ids.begin() + 256));
    }
    CHECK(first8.size() > 1);
    CHECK(ideal_prefix_reuse(w, 16).hits() == 21 * 256);
    CHECK(engine_hits(w) == 21 * 256);
    s.num_prompts = 2;
    CHECK_THROWS_WITH_AS((void)build_workload(s), doctest::Contains("must be greater than or equal to num_prefixes"),
                         workload_error);
}

TEST_CASE("Workload.datasets.custom_jsonl") {
    const std::string system = "You are a helpful assistant. Answer briefly and cite the sources you used. ";
    std::string text;
    for (int i = 0; i < 3; ++i) text += "{\"prompt\": \"" + system + "Question number " + std::to_string(i) + "?\"}\n";
    const auto path = write_temp("llmemu_test_custom.jsonl", text);
    WorkloadSpec s;
    s.kind = WorkloadKind::custom;
    s.dataset_path = path;
    s.num_prompts = 10; // 3 distinct, oversampled
    s.custom_output_len = 9;
    const Workload w = build_workload(s);
    REQUIRE(w.requests.size() == 10);
    for (const auto& r : w.requests) {
        CHECK(r.output_len == 9);
        CHECK(r.prompt_len == r.prompt_ids.size());
        CHECK(r.prompt_len == SyntheticVocabulary::count(system + "Question number 1?"));
    }
    CHECK(w.description.find("3 distinct") != std::string::npos);
    // Repeats hit their whole prompt but the last block; the shared system prompt hits
    // its full blocks: the engine finds what the ideal counter finds.
    const auto ideal = ideal_prefix_reuse(w, 16);
    CHECK(ideal.hits() > 0);
    CHECK(engine_hits(w) == ideal.hits());
    std::filesystem::remove(path);

    CHECK(custom_error("{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\", \"x\": 1}\n").empty());
    CHECK(custom_error("{\"prompt\": \"a\"}\n{\"prompt\": 3}\n")
              .find("c.jsonl:2: \"prompt\" is 3; it must be a string") == 0);
    CHECK(custom_error("{\"text\": \"a\"}").find("c.jsonl:1: lacks \"prompt\"") == 0);
    CHECK(custom_error("{").find("c.jsonl:1: not valid JSON") == 0);
    CHECK(custom_error("{\"prompt\": \"\"}").find("c.jsonl:1: \"prompt\" is empty") == 0);
    CHECK(custom_error("\n").find("c.jsonl: no prompts") == 0);
}

TEST_CASE("Workload.datasets.sharegpt_first_two_turns_and_vllm_filter") {
    auto entry = [](const std::string& q, const std::string& a) {
        return "{\"id\": \"x\", \"conversations\": [{\"from\": \"human\", \"value\": \"" + q +
               "\"}, {\"from\": \"gpt\", \"value\": \"" + a + "\"}]}";
    };
    std::string words;
    for (int i = 0; i < 1100; ++i) words += " word";
    const std::string json = "[" + entry("What is the capital of France?", "Paris is the capital of France.") + "," +
                             entry("Hi", "Hello there, how can I help?") + "," + // prompt 1 token: dropped
                             entry("Tell me more please", "No") + "," +          // output 1 token: dropped
                             entry(words, "ok ok ok ok") + "," +                 // prompt > 1024: dropped
                             "{\"conversations\": [{\"from\": \"human\", \"value\": \"alone\"}]}" + "]";
    const auto path = write_temp("llmemu_test_sharegpt.json", json);
    WorkloadSpec s;
    s.kind = WorkloadKind::sharegpt;
    s.dataset_path = path;
    s.num_prompts = 4;
    const Workload w = build_workload(s);
    REQUIRE(w.requests.size() == 4);
    for (const auto& r : w.requests) {
        CHECK(r.prompt_len == SyntheticVocabulary::count("What is the capital of France?"));
        CHECK(r.output_len == SyntheticVocabulary::count("Paris is the capital of France."));
    }
    CHECK(w.description.find("1 distinct") != std::string::npos);
    s.sharegpt_output_len = 50; // fixed output: the 1-token completion now passes
    const Workload fixed = build_workload(s);
    for (const auto& r : fixed.requests) CHECK(r.output_len == 50);
    CHECK(fixed.description.find("2 distinct") != std::string::npos);
    std::filesystem::remove(path);

    CHECK(sharegpt_valid(4, 4, false));
    CHECK_FALSE(sharegpt_valid(3, 4, false));
    CHECK_FALSE(sharegpt_valid(4, 3, false));
    CHECK(sharegpt_valid(4, 3, true));
    CHECK(sharegpt_valid(1024, 1024, false));
    CHECK_FALSE(sharegpt_valid(1025, 4, false));
    CHECK_FALSE(sharegpt_valid(1000, 1049, false));
    CHECK(sharegpt_error("{}").find("s.json: the top level is not an array") == 0);
    CHECK(sharegpt_error("[1]").find("s.json: entry 0 has no \"conversations\" list") == 0);
    CHECK(sharegpt_error("[{\"conversations\": [{\"value\": \"a\"}, {\"from\": \"gpt\"}]}]")
              .find("s.json: entry 0: turn 1 has no \"value\" string") == 0);
    CHECK(sharegpt_error("[{\"conversations\": []}]").find("no entry has two turns") != std::string::npos);
    CHECK(sharegpt_error("[").find("not valid JSON") != std::string::npos);
}
