// Tests for streamed workload specs (workload/stream.hpp): the stream gives the same requests
// in the same order as building every client whole and merging them, and runs give the same
// results from either.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/fleet/fleet.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/source.hpp"
#include "llmemu/workload/stream.hpp"
#include "llmemu/workload/workload.hpp"
#include "llmemu/workload/workload_spec.hpp"

using namespace llmemu;

namespace {

const std::filesystem::path data_dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data";

/// The workload built the way specs were built before they streamed: every client whole
/// (repeat_trace expanding its replays), shifted by start_s, merged with merge_workload.
Workload built_whole(const WorkloadSpecFile& f, std::uint64_t seed) {
    Workload all;
    for (std::size_t i = 0; i < f.clients.size(); ++i) {
        WorkloadSpec s = client_workload_spec(f, i, seed);
        if (!f.clients[i].sessions_fit.empty()) s.sessions = fit_sessions(f.clients[i].sessions_fit).shape;
        Workload w = build_workload(s);
        if (f.clients[i].start_s > 0.0)
            for (auto& r : w.requests) r.arrival_s += f.clients[i].start_s;
        merge_workload(all, std::move(w));
    }
    return all;
}

/// Every field of every request equal (times bit for bit, links as indices).
void check_same(const Workload& a, const Workload& b) {
    REQUIRE(a.requests.size() == b.requests.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < a.requests.size(); ++i) {
        const WorkloadRequest& x = a.requests[i];
        const WorkloadRequest& y = b.requests[i];
        const bool same = x.arrival_s == y.arrival_s && x.prompt_len == y.prompt_len && x.output_len == y.output_len &&
                          x.prompt == y.prompt && x.prompt_ids == y.prompt_ids && x.previous_turn == y.previous_turn &&
                          x.next_turn == y.next_turn && x.think_s == y.think_s;
        if (!same && bad++ < 3) FAIL_CHECK("request " << i << " differs");
    }
    CHECK(bad == 0);
}

std::filesystem::path write_mooncake(const std::string& name) {
    const auto p = std::filesystem::temp_directory_path() / name;
    std::ofstream(p) << R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2]}
{"timestamp": 500, "input_length": 600, "output_length": 6, "hash_ids": [1, 3]}
{"timestamp": 500, "input_length": 1100, "output_length": 3, "hash_ids": [1, 3, 5]}
{"timestamp": 2000, "input_length": 600, "output_length": 4, "hash_ids": [1, 4]}
)";
    return p;
}

using Exec = EmulatedExecutor<AnyLatencyModel, VirtualClock>;

EngineConfig small_config() {
    EngineConfig c;
    c.num_gpu_blocks = 4000;
    c.block_size = 16;
    c.enable_prefix_caching = true;
    c.max_model_len = 8192;
    return c;
}

} // namespace

TEST_CASE("Workload.stream.equals_the_built_workload_for_several_specs") {
    const auto moon = write_mooncake("llmemu_test_stream.jsonl");
    const std::vector<std::string> specs = {
        // Sessions with a prefix pool, a second client starting later, a replayed Mooncake trace.
        R"({"request_rate": 6, "num_prompts": 120, "clients": [
            {"name": "chat", "share": 3, "dataset": "random", "input_len": 200, "output_len": 30,
             "prefix_pool": {"prompts": 3, "tokens": 64, "zipf": 1.0},
             "sessions": {"turns": 3, "think_time_s": 2, "new_tokens": 16}},
            {"name": "batch", "share": 1, "dataset": "prefix_repetition", "prefix_len": 32, "suffix_len": 32,
             "num_prefixes": 5, "prefix_output_len": 8, "start_s": 3}]})",
        R"({"clients": [
            {"name": "moon", "trace": ")" +
            moon.string() + R"(", "repeat": 4, "copies": 3},
            {"name": "moon2", "trace": ")" +
            moon.string() + R"(", "repeat": 2, "copies": 2, "start_s": 0.5},
            {"name": "all_at_once", "dataset": "random", "num_prompts": 20, "input_len": 50, "output_len": 5}]})",
        // The fleet-day shape on the real trace (a smaller day) beside synthetic traffic.
        R"({"clients": [
            {"name": "day", "trace": ")" +
            (data_dir / "splitwise_conv.csv").string() + R"(", "repeat": 2, "copies": 3},
            {"name": "api", "dataset": "empirical", "trace": ")" +
            (data_dir / "splitwise_code.csv").string() +
            R"(", "num_prompts": 500, "request_rate": 2, "burstiness": 0.5}]})",
    };
    for (const auto& json : specs) {
        CAPTURE(json);
        const WorkloadSpecFile f = parse_workload_spec(json, "w.json");
        const Workload whole = built_whole(f, 7);
        WorkloadStream stream = stream_workload(f, 7);
        CHECK(stream.size() == whole.requests.size());
        const Workload streamed = stream.collect();
        check_same(streamed, whole);
        check_same(build_workload(f, 7), whole);
        // The stream's own walk: indices in order, the same requests.
        const WorkloadRequest* r = nullptr;
        StreamRef ref;
        std::size_t i = 0;
        std::size_t k = 0;
        std::uint64_t longest = 0;
        while (stream.next(r, ref, i)) {
            REQUIRE(i == k);
            CHECK(r->arrival_s == whole.requests[k].arrival_s);
            longest = std::max<std::uint64_t>(longest, std::uint64_t{r->prompt_len} + r->output_len);
            ++k;
        }
        CHECK(k == whole.requests.size());
        CHECK(stream.stats().longest == longest);
        CHECK(stream.stats().last_arrival_s == whole.requests.back().arrival_s);
        CHECK(stream.stats().shared_prompts == has_shared_prompts(whole));
        CHECK(stream.stats().sessions == has_sessions(whole));
        CHECK(ideal_prefix_reuse(stream, 16).hits() == ideal_prefix_reuse(whole, 16).hits());
    }
    std::filesystem::remove(moon);
}

TEST_CASE("Workload.stream.runs_give_the_same_results_as_the_built_workload") {
    const auto moon = write_mooncake("llmemu_test_stream_run.jsonl");
    const WorkloadSpecFile f = parse_workload_spec(R"({"request_rate": 20, "num_prompts": 60, "clients": [
        {"name": "chat", "share": 1, "dataset": "random", "input_len": 120, "output_len": 12,
         "prefix_pool": {"prompts": 2, "tokens": 64},
         "sessions": {"turns": 3, "think_time_s": 0.5, "new_tokens": 16}},
        {"name": "moon", "trace": ")" + moon.string() + R"(", "repeat": 3, "copies": 2}]})",
                                                   "w.json");
    const AnyLatencyModel model = AnyLatencyModel::from_spec("const:1");
    auto run = [&](auto& source) {
        VirtualClock clock;
        std::vector<std::unique_ptr<Engine<Exec, VirtualClock>>> engines;
        std::vector<Engine<Exec, VirtualClock>*> ptrs;
        for (std::uint32_t i = 0; i < 2; ++i) {
            engines.push_back(
                std::make_unique<Engine<Exec, VirtualClock>>(Exec(model, clock, {}, 1 + i), clock, small_config()));
            ptrs.push_back(engines.back().get());
        }
        RouterOptions ro;
        ro.block_size = 16;
        AnyRouter router = make_router("prefix_aware", ro);
        return run_fleet_simulation(ptrs, clock, source, router, SimulationOptions{}, 0);
    };
    WorkloadStream stream = stream_workload(f, 3);
    const Workload whole = built_whole(f, 3);
    WorkloadSource from_stream(stream);
    WorkloadSource from_whole(whole);
    FleetResult a = run(from_stream);
    FleetResult b = run(from_whole);
    REQUIRE(a.records.size() == b.records.size());
    CHECK(a.records.size() == whole.requests.size());
    CHECK(a.duration == b.duration);
    for (std::size_t i = 0; i < a.records.size(); ++i) {
        CHECK(a.records[i].id == b.records[i].id);
        CHECK(a.records[i].finish == b.records[i].finish);
        CHECK(a.records[i].num_cached_tokens == b.records[i].num_cached_tokens);
        CHECK(a.replica[i] == b.replica[i]);
    }
    std::uint64_t hits = 0;
    for (const auto& s : a.stats) hits += s.prefix_cache_hits;
    CHECK(hits > 0); // sessions and the trace's shared blocks really hit
    std::filesystem::remove(moon);
}

TEST_CASE("Workload.stream.replays_are_made_on_the_fly") {
    const auto moon = write_mooncake("llmemu_test_stream_big.jsonl");
    // 4 requests x 10^6 replays x 1000 copies: 4e9 requests, which no memory could build.
    const WorkloadSpecFile f = parse_workload_spec(R"({"clients": [{"name": "year", "trace": ")" + moon.string() +
                                                       R"(", "repeat": 1000000, "copies": 1000}]})",
                                                   "w.json");
    WorkloadStream s = stream_workload(f, 0);
    CHECK(s.size() == 4'000'000'000ULL);
    CHECK(s.description().find("4000000000 requests") != std::string::npos);
    CHECK(s.description().find("replayed 1000000 times back to back, 1000 interleaved copies") != std::string::npos);
    // The first requests: copy k of request 0 at k / 1000 of a mean gap (2 s / 3).
    const WorkloadRequest* r = nullptr;
    StreamRef ref;
    std::size_t i = 0;
    REQUIRE(s.next(r, ref, i));
    CHECK(r->arrival_s == 0.0);
    REQUIRE(s.next(r, ref, i));
    CHECK(r->arrival_s == doctest::Approx(2.0 / 3.0 / 1000.0));
    CHECK(r->prompt != PromptSegments{}); // its own contents (another user)
    // The last arrival without walking: last replay, last request, last copy.
    CHECK(s.stats().last_arrival_s == doctest::Approx((1e6 - 1) * (2.0 + 2.0 / 3.0) + 2.0 + 2.0 / 3.0 * 0.999));
    std::filesystem::remove(moon);
}
