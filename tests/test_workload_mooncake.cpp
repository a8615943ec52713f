// Tests for workload/prompt.hpp and workload/mooncake.hpp: Mooncake JSONL traces, shared
// prompt segments, and the prefix hits they give in the reference engine.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/mooncake.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/stream.hpp"
#include "llmemu/workload/workload.hpp"

using namespace llmemu;

namespace {

// Five requests, one second apart, with known shared 512-token blocks (engine blocks: 16):
//  1: ids [1,2],   1024 tokens: nothing before it                       -> 0 hits
//  2: ids [1,2,3], 1536 tokens: shares ids 1,2 (1024 tokens) with 1      -> 1024
//  3: ids [1,4],    600 tokens: shares id 1 (512 tokens); id 4 is new    -> 512
//  4: ids [5,2],   1024 tokens: first block differs, so no prefix        -> 0
//  5: ids [1,4],    700 tokens: shares id 1 and 3's 88 tokens of id 4:
//     600 common tokens -> 37 full blocks                                -> 592
const char* const five_lines = R"({"timestamp": 0, "input_length": 1024, "output_length": 4, "hash_ids": [1, 2]}
{"timestamp": 1000, "input_length": 1536, "output_length": 4, "hash_ids": [1, 2, 3]}
{"timestamp": 2000, "input_length": 600, "output_length": 4, "hash_ids": [1, 4]}
{"timestamp": 3000, "input_length": 1024, "output_length": 4, "hash_ids": [5, 2]}
{"timestamp": 4000, "input_length": 700, "output_length": 4, "hash_ids": [1, 4]}
)";
const std::vector<std::uint32_t> five_hits = {0, 1024, 512, 0, 592};
constexpr std::uint64_t five_queries = 1024 + 1536 + 600 + 1024 + 700;

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::string mooncake_error(const std::string& text) {
    std::istringstream in(text);
    try {
        (void)parse_mooncake_trace(in, "t.jsonl");
    } catch (const workload_error& e) {
        return e.what();
    }
    return "";
}

using Exec = EmulatedExecutor<AnyLatencyModel, VirtualClock>;

/// Runs `w` through the engine (1 ms steps, no EOS), prompts built from their segments.
SimulationResult run(const Workload& w, bool caching, std::uint32_t blocks) {
    VirtualClock clock;
    EngineConfig c;
    c.num_gpu_blocks = blocks;
    c.enable_prefix_caching = caching;
    c.max_model_len = 1560;
    Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel::from_spec("const:1"), clock), clock, c);
    std::vector<TimedRequest> reqs;
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        TimedRequest t;
        t.arrival = std::chrono::nanoseconds(static_cast<std::int64_t>(w.requests[i].arrival_s * 1e9));
        t.spec.id = i;
        t.spec.prompt_len = w.requests[i].prompt_len;
        t.spec.max_tokens = w.requests[i].output_len;
        t.spec.ignore_eos = true;
        reqs.push_back(std::move(t));
    }
    SimulationOptions opts;
    opts.prepare = [&w](RequestSpec& s) { s.prompt_tokens = prompt_tokens(w.requests[s.id].prompt); };
    return run_simulation(engine, std::move(reqs), opts);
}

} // namespace

TEST_CASE("Workload.prompt.segments_share_tokens_by_content") {
    const PromptSegments a{{7, 512}, {9, 100}};
    const PromptSegments b{{7, 300}};
    const auto ta = prompt_tokens(a);
    const auto tb = prompt_tokens(b);
    REQUIRE(ta.size() == 612);
    REQUIRE(tb.size() == 300);
    CHECK(std::equal(tb.begin(), tb.end(), ta.begin()));
    const auto tc = prompt_tokens({{8, 300}});
    CHECK(tc != tb);
    for (const TokenId t : ta) REQUIRE((t >= 0 && static_cast<std::uint32_t>(t) < synthetic_vocab_size));
}

TEST_CASE("Workload.mooncake.reader_parses_lines") {
    std::istringstream in(five_lines);
    MooncakeReader reader(in, "five.jsonl");
    MooncakeRequest r;
    REQUIRE(reader.next(r));
    CHECK(r.arrival_s == 0.0);
    CHECK(r.input_length == 1024);
    CHECK(r.hash_ids == std::vector<std::uint64_t>{1, 2});
    REQUIRE(reader.next(r));
    REQUIRE(reader.next(r));
    CHECK(r.arrival_s == doctest::Approx(2.0));
    const PromptSegments p = mooncake_prompt(r);
    REQUIRE(p.size() == 2);
    CHECK(p[0].length == 512);
    CHECK(p[1].length == 88);
    CHECK(p[0].content == mooncake_content(1));
    REQUIRE(reader.next(r));
    REQUIRE(reader.next(r));
    CHECK_FALSE(reader.next(r));
    CHECK(reader.count() == 5);
}

TEST_CASE("Workload.mooncake.ideal_hits_by_hand") {
    std::istringstream in(five_lines);
    const MooncakeTrace t = parse_mooncake_trace(in, "five.jsonl");
    PrefixReuseCounter ideal(16);
    for (std::size_t i = 0; i < t.prompts.size(); ++i) {
        CAPTURE(i);
        CHECK(ideal.observe(t.prompts[i]) == five_hits[i]);
    }
    CHECK(ideal.queries() == five_queries);
    CHECK(ideal.hits() == 2128);
    // A prompt repeated exactly hits all but its last block's worth (one token computed).
    PrefixReuseCounter again(16);
    again.observe(t.prompts[0]);
    CHECK(again.observe(t.prompts[0]) == 1008);
    // Unique prompts are queried, never hit.
    CHECK(again.observe({}, 100) == 0);
    CHECK(again.queries() == 2148);
}

TEST_CASE("Workload.mooncake.five_line_trace_gives_exact_prefix_hits") {
    const auto path = write_temp("llmemu_test_five.jsonl", five_lines);
    WorkloadSpec spec;
    spec.kind = WorkloadKind::trace;
    spec.trace_path = path;
    const Workload w = build_workload(spec);
    REQUIRE(w.requests.size() == 5);
    CHECK(has_shared_prompts(w));
    CHECK(w.description.find("Mooncake") != std::string::npos);
    CHECK(w.requests[4].arrival_s == doctest::Approx(4.0));
    const PrefixReuseCounter ideal = ideal_prefix_reuse(w, 16);
    CHECK(ideal.hits() == 2128);

    // Enough blocks: every request finishes before the next arrives, nothing is evicted,
    // so the engine hits exactly the ideal blocks.
    const SimulationResult on = run(w, true, 2000);
    std::map<RequestId, std::uint32_t> cached;
    for (const auto& r : on.records) cached[r.id] = r.num_cached_tokens;
    for (std::size_t i = 0; i < 5; ++i) {
        CAPTURE(i);
        CHECK(cached[i] == five_hits[i]);
    }
    CHECK(on.stats.prefix_cache_hits == 2128);
    CHECK(on.stats.prefix_cache_queries == five_queries);
    CHECK(on.stats.prefix_cache_hit_rate() == doctest::Approx(ideal.hit_rate()));

    // Caching off: nothing hits; a pool that holds one request at a time: the LRU evicts
    // the shared blocks, so the engine achieves less than the ideal.
    CHECK(run(w, false, 2000).stats.prefix_cache_hits == 0);
    const SimulationResult small = run(w, true, 100);
    CHECK(small.stats.prefix_cache_hits < ideal.hits());
    std::filesystem::remove(path);
}

TEST_CASE("Workload.mooncake.format_detection_and_workload_options") {
    const auto jsonl = write_temp("llmemu_test_detect.jsonl", std::string("\xEF\xBB\xBF\n  ") + five_lines);
    const auto csv = write_temp("llmemu_test_detect.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,6\n");
    CHECK(looks_like_mooncake_trace(jsonl));
    CHECK_FALSE(looks_like_mooncake_trace(csv));
    CHECK_THROWS_WITH_AS((void)looks_like_mooncake_trace("/nonexistent/x.jsonl"), doctest::Contains("cannot open"),
                         workload_error);
    const Trace t = read_any_trace(jsonl);
    REQUIRE(t.requests.size() == 5);
    CHECK(t.has_arrivals);
    CHECK(t.requests[1].prompt_len == 1536);
    CHECK(t.requests[1].output_len == 4);
    CHECK(read_any_trace(csv).requests.size() == 1);

    WorkloadSpec spec;
    spec.kind = WorkloadKind::trace;
    spec.trace_path = jsonl;
    spec.num_prompts = 3; // reading stops after three
    spec.request_rate = 3.0;
    const Workload w = build_workload(spec);
    REQUIRE(w.requests.size() == 3);
    CHECK(w.requests[2].arrival_s == doctest::Approx(1.0)); // n / rate
    CHECK(w.requests[1].prompt.size() == 3);
    spec.kind = WorkloadKind::empirical; // lengths only: unique prompts
    spec.num_prompts = 20;
    const Workload e = build_workload(spec);
    CHECK(e.requests.size() == 20);
    CHECK_FALSE(has_shared_prompts(e));
    std::filesystem::remove(jsonl);
    std::filesystem::remove(csv);
}

TEST_CASE("Workload.mooncake.errors_name_file_line_and_fix") {
    const std::string ok = R"({"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [0]})"
                           "\n";
    CHECK(mooncake_error(ok).empty());
    CHECK(mooncake_error(ok + "\n\n" + ok).empty()); // blank lines skipped
    CHECK(mooncake_error("") == std::string("t.jsonl: no requests; a Mooncake trace has one JSON object per line (") +
                                    detail::mooncake_line_shape + ")");
    const auto at2 = [&](const std::string& bad) { return mooncake_error(ok + bad); };
    CHECK(at2("{\"timestamp\": 0,").find("t.jsonl:2: not valid JSON") == 0);
    CHECK(at2("[1,2]").find("t.jsonl:2: is [1,2], not an object") == 0);
    CHECK(at2(R"({"timestamp": 0, "input_length": 10, "output_length": 2})").find("t.jsonl:2: lacks 'hash_ids'") == 0);
    CHECK(at2(R"({"input_length": 10, "output_length": 2, "hash_ids": [0]})").find("lacks 'timestamp'") !=
          std::string::npos);
    CHECK(at2(R"({"timestamp": -5, "input_length": 10, "output_length": 2, "hash_ids": [0]})")
              .find("t.jsonl:2: 'timestamp' is -5; it must be milliseconds") == 0);
    CHECK(at2(R"({"timestamp": "x", "input_length": 10, "output_length": 2, "hash_ids": [0]})")
              .find("'timestamp' is \"x\"") != std::string::npos);
    CHECK(mooncake_error(R"({"timestamp": 9, "input_length": 10, "output_length": 2, "hash_ids": [0]})"
                         "\n" +
                         ok)
              .find("t.jsonl:2: 'timestamp' 0 is earlier than the previous line's; sort the trace by timestamp") == 0);
    CHECK(at2(R"({"timestamp": 1, "input_length": 0, "output_length": 2, "hash_ids": []})")
              .find("t.jsonl:2: 'input_length' is 0; it must be a whole number of tokens from 1") == 0);
    CHECK(at2(R"({"timestamp": 1, "input_length": 10.5, "output_length": 2, "hash_ids": [0]})")
              .find("'input_length' is 10.5") != std::string::npos);
    CHECK(at2(R"({"timestamp": 1, "input_length": 10, "output_length": 0, "hash_ids": [0]})")
              .find("'output_length' is 0") != std::string::npos);
    CHECK(at2(R"({"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": 3})")
              .find("'hash_ids' is 3; it must be a list") != std::string::npos);
    CHECK(at2(R"({"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": [-1]})")
              .find("'hash_ids' holds -1; block ids must be non-negative integers") != std::string::npos);
    CHECK(at2(R"({"timestamp": 1, "input_length": 513, "output_length": 2, "hash_ids": [0]})")
              .find("t.jsonl:2: 'hash_ids' has 1 ids but input_length 513 needs 2 (one per 512-token block") == 0);
    // Unknown keys are ignored (other Mooncake traces may carry more).
    CHECK(at2(R"({"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": [0], "x": 1})").empty());
    CHECK_THROWS_WITH_AS((void)read_mooncake_trace("/nonexistent/x.jsonl"), doctest::Contains("cannot open"),
                         workload_error);
}
