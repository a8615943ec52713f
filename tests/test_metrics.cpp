// Tests for metrics/{request_metrics,bench_result,bench_result_json,bench_result_sketch}.hpp:
// the numbers must be the ones vLLM's benchmark client computes from the same observations,
// and a StreamingSummary fed as a run goes must give the batch summary's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/metrics/bench_result_sketch.hpp"
#include "llmemu/metrics/engine_json.hpp"
#include "llmemu/metrics/request_metrics.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/random.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/workload/trace.hpp"
#include "run_support.hpp"

namespace {

using namespace std::chrono_literals;

// A stand-in with RequestRecord's fields, so these tests do not need the engine.
enum class FakeReason { none, length, stop, abort, rejected };
const char* to_string(FakeReason r) {
    switch (r) {
    case FakeReason::length:
        return "length";
    case FakeReason::stop:
        return "stop";
    case FakeReason::abort:
        return "abort";
    case FakeReason::rejected:
        return "rejected";
    default:
        return "none";
    }
}
struct FakeRecord {
    std::uint64_t id = 0;
    std::uint32_t prompt_len = 0, output_len = 0;
    std::chrono::nanoseconds arrival{}, first_scheduled{}, first_token{}, finish{};
    std::vector<std::chrono::nanoseconds> token_times;
    FakeReason reason = FakeReason::none;
    std::string error;
};

llmemu::RequestTiming ok(double start, double ttft, std::vector<double> itl, std::uint32_t prompt) {
    llmemu::RequestTiming t;
    t.success = true;
    t.start_time_s = start;
    t.ttft_s = ttft;
    double lat = ttft;
    for (double g : itl) lat += g;
    t.itl_s = std::move(itl);
    t.latency_s = lat;
    t.prompt_len = prompt;
    t.output_len = static_cast<std::uint32_t>(t.itl_s.size() + 1);
    return t;
}

} // namespace

TEST_CASE("Metrics.timing_from_record.streaming_client_view") {
    FakeRecord r;
    r.id = 7;
    r.prompt_len = 100;
    r.output_len = 3;
    r.arrival = 1s;
    r.first_token = 1500ms;
    r.token_times = {1500ms, 1600ms, 1800ms};
    r.finish = 1800ms;
    r.reason = FakeReason::length;
    const auto t = llmemu::timing_from_record(r);
    CHECK(t.success);
    CHECK(t.start_time_s == doctest::Approx(1.0));
    CHECK(t.ttft_s == doctest::Approx(0.5));
    REQUIRE(t.itl_s.size() == 2);
    CHECK(t.itl_s[0] == doctest::Approx(0.1));
    CHECK(t.itl_s[1] == doctest::Approx(0.2));
    CHECK(t.latency_s == doctest::Approx(0.8));
    CHECK(t.output_len == 3);

    r.reason = FakeReason::rejected;
    const auto f = llmemu::timing_from_record(r);
    CHECK_FALSE(f.success);
    CHECK(f.output_len == 0);
    CHECK(f.error.find("rejected") != std::string::npos);
}

TEST_CASE("Metrics.summarize.matches_numpy") {
    // ttfts 1,2,3,4 s: numpy mean 2.5, median 2.5, std 1.1180340, p99 3.97.
    std::vector<llmemu::RequestTiming> ts{ok(0, 1, {0.5}, 10), ok(0, 2, {}, 20), ok(1, 3, {0.25, 0.25}, 30),
                                          ok(2, 4, {1.0}, 40)};
    llmemu::SummaryOptions o;
    o.percentiles = {50, 99, 99.9};
    const auto r = llmemu::summarize(ts, 10.0, o);
    CHECK(r.completed == 4);
    CHECK(r.failed == 0);
    CHECK(r.total_input_tokens == 100);
    CHECK(r.total_output_tokens == 2 + 1 + 3 + 2);
    CHECK(r.request_throughput == doctest::Approx(0.4));
    CHECK(r.output_throughput == doctest::Approx(0.8));
    CHECK(r.total_token_throughput == doctest::Approx(10.8));
    CHECK(r.ttft.mean_ms == doctest::Approx(2500));
    CHECK(r.ttft.median_ms == doctest::Approx(2500));
    CHECK(r.ttft.std_ms == doctest::Approx(1118.0339887));
    REQUIRE(r.ttft.percentiles_ms.size() == 3);
    CHECK(r.ttft.percentiles_ms[1].second == doctest::Approx(3970));
    // TPOT only for output_len > 1: 0.5/1, 0.5/2, 1.0/1 -> mean 0.5833 s
    CHECK(r.tpot.mean_ms == doctest::Approx(1750.0 / 3.0));
    // ITL pooled: 0.5, 0.25, 0.25, 1.0
    CHECK(r.itl.mean_ms == doctest::Approx(500));
    CHECK(r.itl.median_ms == doctest::Approx(375));
    CHECK(r.e2el.mean_ms == doctest::Approx((1.5 + 2 + 3.5 + 5) / 4 * 1000));
    CHECK_FALSE(r.request_goodput.has_value());
    // Peak concurrency: [0,1.5) [0,2) [1,4.5) [2,7): at t=2 the second leaves before the
    // fourth arrives (half-open), so the peak is 3.
    CHECK(r.max_concurrent_requests == 3);
}

TEST_CASE("Metrics.summarize.goodput_and_failures") {
    auto bad = llmemu::RequestTiming{};
    bad.prompt_len = 5;
    bad.error = "refused";
    std::vector<llmemu::RequestTiming> ts{ok(0, 0.1, {0.05, 0.05}, 10), ok(0, 0.6, {0.05}, 10), bad};
    llmemu::SummaryOptions o;
    llmemu::parse_slo("ttft:500,tpot:60", o);
    const auto r = llmemu::summarize(ts, 2.0, o);
    CHECK(r.completed == 2);
    CHECK(r.failed == 1);
    CHECK(r.total_input_tokens == 20); // failed requests do not count
    REQUIRE(r.request_goodput.has_value());
    CHECK(*r.request_goodput == doctest::Approx(0.5));
    CHECK(r.output_lens == std::vector<std::uint32_t>{3, 2, 0});
    CHECK(r.input_lens == std::vector<std::uint32_t>{10, 10, 5});
}

TEST_CASE("Metrics.summarize.empty_and_bad_duration") {
    const auto r = llmemu::summarize({}, 1.0);
    CHECK(r.completed == 0);
    CHECK(r.ttft.mean_ms == 0.0);
    CHECK(r.max_concurrent_requests == 0);
    CHECK_THROWS_AS(llmemu::summarize({}, 0.0), llmemu::config_error);
}

TEST_CASE("Metrics.parse.rejects_bad_input") {
    llmemu::SummaryOptions o;
    CHECK_THROWS_AS(llmemu::parse_slo("ttft=5", o), llmemu::config_error);
    CHECK_THROWS_AS(llmemu::parse_slo("foo:5", o), llmemu::config_error);
    CHECK_THROWS_AS(llmemu::parse_slo("ttft:-1", o), llmemu::config_error);
    CHECK_THROWS_AS(llmemu::parse_slo("", o), llmemu::config_error);
    CHECK(llmemu::parse_percentiles("50,90,99.9") == std::vector<double>{50, 90, 99.9});
    CHECK_THROWS_AS(llmemu::parse_percentiles("50,,99"), llmemu::config_error);
    CHECK_THROWS_AS(llmemu::parse_percentiles("101"), llmemu::config_error);
}

TEST_CASE("Metrics.print_summary.vllm_layout") {
    std::vector<llmemu::RequestTiming> ts{ok(0, 1, {0.5}, 10)};
    auto r = llmemu::summarize(ts, 2.0);
    r.request_rate = 4.0;
    std::ostringstream os;
    llmemu::print_summary(os, r);
    const std::string s = os.str();
    CHECK(s.rfind("============ Serving Benchmark Result ============\n", 0) == 0);
    CHECK(s.find("Successful requests:                     1         \n") != std::string::npos);
    CHECK(s.find("Request rate configured (RPS):           4.00      \n") != std::string::npos);
    CHECK(s.find("---------------Time to First Token----------------\n") != std::string::npos);
    CHECK(s.find("P99 TTFT (ms):                           1000.00   \n") != std::string::npos);
    CHECK(s.find("-----Time per Output Token (excl. 1st token)------\n") != std::string::npos);
    CHECK(s.find("Request goodput") == std::string::npos);
    CHECK(s.substr(s.size() - 51) == std::string(50, '=') + "\n");
}

TEST_CASE("Metrics.to_vllm_json.keys_and_determinism") {
    std::vector<llmemu::RequestTiming> ts{ok(0, 1, {0.5}, 10), ok(0.5, 2, {}, 20)};
    llmemu::SummaryOptions o;
    o.percentiles = {90, 99.9};
    const auto r = llmemu::summarize(ts, 4.0, o);
    const auto j = llmemu::to_vllm_json(r);
    for (const char* k : {"duration",
                          "completed",
                          "failed",
                          "total_input_tokens",
                          "total_output_tokens",
                          "request_throughput",
                          "request_goodput",
                          "output_throughput",
                          "total_token_throughput",
                          "input_lens",
                          "output_lens",
                          "ttfts",
                          "itls",
                          "latencies",
                          "start_times",
                          "max_output_tokens_per_s",
                          "max_concurrent_requests",
                          "mean_ttft_ms",
                          "median_tpot_ms",
                          "std_itl_ms",
                          "p90_e2el_ms",
                          "p99.9_ttft_ms",
                          "request_rate",
                          "burstiness"})
        CHECK_MESSAGE(j.contains(k), k);
    CHECK(j["request_rate"] == "inf");
    CHECK(j["request_goodput"].is_null());
    CHECK(j["itls"][0].size() == 1);
    CHECK_FALSE(j.contains("date"));
    CHECK(j.dump() == llmemu::to_vllm_json(llmemu::summarize(ts, 4.0, o)).dump());
}

TEST_CASE("Metrics.to_vllm_json.ramp_up_keys_as_vllm_bench") {
    // vLLM's rule: the start rate (rounded down) at the start, then one event per integer rate
    // passed, at the send time of the first request whose rate passes it.
    llmemu::RampUpRecord ramp;
    ramp.strategy = "linear";
    ramp.start_rps = 1;
    ramp.end_rps = 4;
    ramp.rates = {1.0, 1.5, 2.0, 2.5, 4.0};
    ramp.send_times_s = {0.5, 1.25, 2.0, 2.5, 3.000001};
    nlohmann::json j;
    llmemu::add_ramp_up_json(j, ramp);
    CHECK(j["ramp_up_strategy"] == "linear");
    CHECK(j["ramp_up_start_rps"].is_number_integer());
    CHECK(j["ramp_up_start_rps"] == 1);
    CHECK(j["ramp_up_end_rps"] == 4);
    const nlohmann::json want = nlohmann::json::parse(
        R"([{"rps":1,"timestamp":"1970-01-01T00:00:00"},{"rps":2,"timestamp":"1970-01-01T00:00:02"},)"
        R"({"rps":3,"timestamp":"1970-01-01T00:00:03.000001"},{"rps":4,"timestamp":"1970-01-01T00:00:03.000001"}])");
    CHECK(j["rps_change_events"] == want);
    // A fractional start is written as given and its first event is rounded down; live runs
    // stamp local wall-clock time (Python's datetime.isoformat()).
    ramp.start_rps = 2.5;
    ramp.rates = {2.5, 2.9};
    ramp.send_times_s = {0.1, 0.2};
    const auto t0 = std::chrono::system_clock::from_time_t(86400 * (365 + 180));
    llmemu::add_ramp_up_json(j, ramp, t0);
    CHECK(j["ramp_up_start_rps"] == 2.5);
    REQUIRE(j["rps_change_events"].size() == 1);
    CHECK(j["rps_change_events"][0]["rps"] == 2);
    const std::string ts = j["rps_change_events"][0]["timestamp"];
    CHECK(ts.size() == 19); // YYYY-MM-DDTHH:MM:SS, no fraction at a whole second
    CHECK(ts.substr(0, 4) == "1971");
}

TEST_CASE("Metrics.digest.exact_then_within_its_relative_error") {
    using namespace llmemu;
    // Exact: numpy's values for 1, 2, 3, 4 (weights allowed).
    MetricDigest d;
    d.add(1.0);
    d.add(2.0, 2);
    d.add(4.0);
    CHECK(d.exact());
    CHECK(d.mean() == doctest::Approx(2.25));
    CHECK(d.percentile(50) == doctest::Approx(2.0));
    CHECK(d.percentile(99) == doctest::Approx(3.94));
    CHECK(d.stddev() == doctest::Approx(std::sqrt((1.5625 + 0.0625 * 2 + 3.0625) / 4.0)));
    // A sketch past the limit: every percentile within 0.5% of the exact one.
    Rng g(11);
    std::vector<double> xs;
    MetricDigest small(100), big(1 << 20);
    for (int i = 0; i < 20000; ++i) {
        const double x = std::exp(6.0 * uniform01(g) - 3.0); // 0.05 .. 20, log-uniform
        xs.push_back(x);
        small.add(x);
        big.add(x);
    }
    CHECK_FALSE(small.exact());
    CHECK(big.exact());
    CHECK(small.size() < 2000);
    CHECK(small.mean() == doctest::Approx(big.mean()).epsilon(1e-12));
    CHECK(small.stddev() == doctest::Approx(big.stddev()).epsilon(1e-9));
    for (const double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0})
        CHECK(std::abs(small.percentile(p) - big.percentile(p)) <= 0.005 * big.percentile(p));
    // Mergeable: two halves merged give the sketch of the whole.
    MetricDigest h1(100), h2(100);
    for (std::size_t i = 0; i < xs.size(); ++i) (i % 2 == 0 ? h1 : h2).add(xs[i]);
    h1.merge(h2);
    CHECK(h1.count() == small.count());
    for (const double p : {1.0, 50.0, 99.0}) CHECK(h1.percentile(p) == doctest::Approx(small.percentile(p)));
    CHECK_THROWS_AS(MetricDigest(10, 0.0), config_error);
    CHECK_THROWS_AS(d.add(std::nan("")), error);
}

TEST_CASE("Metrics.engine_json.stats_config_coverage_kv_transfer") {
    llmemu::EngineStats s;
    s.steps = 10;
    s.prefill_steps = 4;
    s.decode_steps = 6;
    s.scheduled_tokens = 250;
    s.scheduled_requests = 30;
    s.requests_received = 7;
    s.finished[static_cast<std::size_t>(llmemu::FinishReason::length)] = 3;
    s.finished[static_cast<std::size_t>(llmemu::FinishReason::stop)] = 2;
    s.finished[static_cast<std::size_t>(llmemu::FinishReason::rejected)] = 1;
    s.prefix_cache_queries = 64;
    s.prefix_cache_hits = 16;
    s.max_kv_usage = 0.25;
    s.num_gpu_blocks = 1000;
    s.block_size = 16;
    const nlohmann::json j = llmemu::to_json(s);
    CHECK(j.at("steps") == 10);
    CHECK(j.at("prefill_steps") == 4);
    CHECK(j.at("decode_steps") == 6);
    CHECK(j.at("mean_step_tokens").get<double>() == doctest::Approx(25.0));
    CHECK(j.at("mean_step_requests").get<double>() == doctest::Approx(3.0));
    CHECK(j.at("finished") == nlohmann::json{{"length", 3}, {"stop", 2}, {"abort", 0}, {"rejected", 1}});
    CHECK(j.at("prefix_cache_hits") == 16);
    CHECK(j.at("max_kv_usage").get<double>() == doctest::Approx(0.25));
    CHECK(j.at("num_gpu_blocks") == 1000);
    CHECK(j.at("block_size") == 16);
    CHECK(j.size() == 23); // every key the result JSON documents, no more

    llmemu::EngineConfig c;
    c.max_num_seqs = 64;
    c.num_gpu_blocks = 512;
    c.enable_prefix_caching = false;
    c.policy = llmemu::SchedulingPolicy::priority;
    const nlohmann::json cj = llmemu::to_json(c);
    CHECK(cj.at("max_num_seqs") == 64);
    CHECK(cj.at("num_gpu_blocks") == 512);
    CHECK(cj.at("enable_prefix_caching") == false);
    CHECK(cj.at("scheduling_policy") == "priority");
    CHECK(cj.at("max_num_batched_tokens") == c.max_num_batched_tokens);

    llmemu::Coverage cov;
    cov.exact = 5;
    cov.interpolated = 3;
    cov.out_of_range = 2;
    cov.learned = 1;
    cov.total = 10;
    CHECK(llmemu::to_json(cov) ==
          nlohmann::json{{"exact", 5}, {"interpolated", 3}, {"out_of_range", 2}, {"learned", 1}, {"total", 10}});

    llmemu::KvTransferStats kv;
    CHECK(llmemu::to_json(kv).at("mean_time_ms").get<double>() == 0.0); // nothing sent: no division by zero
    kv.add(1000, 2ms);
    kv.add(3000, 4ms);
    const nlohmann::json kj = llmemu::to_json(kv);
    CHECK(kj.at("transfers") == 2);
    CHECK(kj.at("bytes") == 4000);
    CHECK(kj.at("total_time_ms").get<double>() == doctest::Approx(6.0));
    CHECK(kj.at("mean_time_ms").get<double>() == doctest::Approx(3.0));
    CHECK(kj.at("max_time_ms").get<double>() == doctest::Approx(4.0));
}

TEST_CASE("Metrics.summary_layout.section_rules_and_percentile_words") {
    // vLLM's "{s:{c}^{n}}": the extra fill goes right.
    CHECK(llmemu::metrics_center(" llmemu engine ", 50, '-') ==
          std::string(17, '-') + " llmemu engine " + std::string(18, '-'));
    CHECK(llmemu::metrics_center("ab", 4, '=') == "=ab=");
    CHECK(llmemu::metrics_center("too long", 4, '=') == "too long");
    CHECK(llmemu::metrics_percentile_word(99.0) == "99");
    CHECK(llmemu::metrics_percentile_word(99.9) == "99.9");
    CHECK(llmemu::metrics_percentile_word(0.5) == "0.5");
}

// StreamingSummary fed by a run's hooks against the batch summary of the same run.
namespace streaming_summary_test {
using namespace llmemu;
using run_test::attach;
using run_test::workload;
using std::chrono::nanoseconds;
using Exec = EmulatedExecutor<AffineProfile, VirtualClock>;
using VEngine = Engine<Exec, VirtualClock>;

namespace {

BenchResult batch_summary(std::vector<RequestRecord> records, double duration_s, const SummaryOptions& o = {}) {
    std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    std::vector<RequestTiming> ts;
    for (const auto& r : records) ts.push_back(timing_from_record(r));
    return summarize(ts, duration_s, o);
}

/// rel 0: exactly equal percentiles; else within rel (relative).
void check_same_stats(const MetricStats& a, const MetricStats& b, double rel) {
    auto close = [rel](double x, double y) { return rel == 0.0 ? x == y : std::abs(x - y) <= rel * std::abs(y); };
    CHECK(a.mean_ms == doctest::Approx(b.mean_ms).epsilon(1e-12));
    CHECK(a.std_ms == doctest::Approx(b.std_ms).epsilon(1e-9));
    CHECK(close(a.median_ms, b.median_ms));
    REQUIRE(a.percentiles_ms.size() == b.percentiles_ms.size());
    for (std::size_t i = 0; i < a.percentiles_ms.size(); ++i)
        CHECK(close(a.percentiles_ms[i].second, b.percentiles_ms[i].second));
}

} // namespace

TEST_CASE("Metrics.streaming_summary.equals_the_batch_summary_of_the_same_run") {
    for (const int every_ms : {7, 1}) { // light load, and an overload with preemptions
        CAPTURE(every_ms);
        SummaryOptions so;
        so.percentiles = {50, 90, 99};
        so.slo_ttft_ms = 200;
        StreamingSummary s(so);
        SimulationOptions o;
        attach(o, s);
        VirtualClock clock;
        EngineConfig c;
        c.num_gpu_blocks = 400;
        VEngine e(Exec(AffineProfile{10.0, 20.0, 100.0}, clock), clock, c);
        const auto res = run_simulation(e, workload(300, false, every_ms), o);
        const double d = std::chrono::duration<double>(res.duration).count();
        BenchResult got = s.result(d);
        const BenchResult want = batch_summary(res.records, d, so);
        if (every_ms == 1) CHECK(res.stats.preemptions > 0);
        CHECK(got.completed == want.completed);
        CHECK(got.total_output_tokens == want.total_output_tokens);
        CHECK(got.good_completed == want.good_completed);
        CHECK(got.max_output_tokens_per_s == want.max_output_tokens_per_s);
        CHECK(got.max_concurrent_requests == want.max_concurrent_requests);
        CHECK(got.exact_percentiles);
        CHECK_FALSE(got.detailed);
        CHECK(got.ttfts.empty());
        check_same_stats(got.ttft, want.ttft, 0.0);
        check_same_stats(got.tpot, want.tpot, 0.0);
        check_same_stats(got.itl, want.itl, 0.0);
        check_same_stats(got.e2el, want.e2el, 0.0);
    }
}

TEST_CASE("Metrics.streaming_summary.sketch_on_a_real_trace_within_its_error") {
    // The first 1,500 requests of the bundled conversation trace, 4x faster, through an
    // affine GPU: a sketch of 256 exact values per metric against the exact summary.
    Trace trace = read_trace_csv(std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "splitwise_conv.csv", true);
    take_first(trace, 1500);
    std::vector<TimedRequest> w;
    for (std::size_t i = 0; i < trace.requests.size(); ++i) {
        TimedRequest t;
        t.arrival = nanoseconds(std::llround(trace.requests[i].arrived_at / 4.0 * 1e9));
        t.spec.id = i;
        t.spec.prompt_len = trace.requests[i].prompt_len;
        t.spec.max_tokens = trace.requests[i].output_len;
        t.spec.ignore_eos = true;
        w.push_back(std::move(t));
    }
    SummaryOptions so;
    so.percentiles = {50, 90, 99, 99.9};
    SummaryOptions sketchy = so;
    sketchy.exact_limit = 256;
    StreamingSummary exact(so), sketch(sketchy);
    SimulationOptions o;
    attach(o, exact);
    SimulationOptions o2;
    attach(o2, sketch);
    SimulationOptions both;
    both.on_added = [&](std::uint32_t r, RequestId id, nanoseconds t, bool ok) {
        o.on_added(r, id, t, ok);
        o2.on_added(r, id, t, ok);
    };
    both.on_tokens = [&](std::uint32_t r, const StepTokenTimes& t) {
        o.on_tokens(r, t);
        o2.on_tokens(r, t);
    };
    both.on_record = [&](std::uint32_t r, const RequestRecord& rec) {
        o.on_record(r, rec);
        o2.on_record(r, rec);
    };
    both.on_advance = [&](nanoseconds t) {
        o.on_advance(t);
        o2.on_advance(t);
    };
    both.keep_records = false;
    both.record_token_times = false;
    VirtualClock clock;
    EngineConfig c;
    c.num_gpu_blocks = 20000;
    c.max_model_len = 16384;
    VEngine e(Exec(AffineProfile{8.0, 10.0, 60.0}, clock), clock, c);
    const auto res = run_simulation(e, std::move(w), both);
    CHECK(res.records.empty());
    const double d = std::chrono::duration<double>(res.duration).count();
    const BenchResult a = exact.result(d), b = sketch.result(d);
    CHECK(a.exact_percentiles);
    CHECK_FALSE(b.exact_percentiles);
    CHECK(b.percentile_relative_error == 0.005);
    CHECK(a.completed == 1500);
    CHECK(b.completed == a.completed);
    check_same_stats(b.ttft, a.ttft, 0.005);
    check_same_stats(b.tpot, a.tpot, 0.005);
    check_same_stats(b.itl, a.itl, 0.005);
    check_same_stats(b.e2el, a.e2el, 0.005);
}

} // namespace streaming_summary_test
