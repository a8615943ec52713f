// Tests for metrics/validation{,_json}.hpp: LLM-Emu's per-rate % errors and max-abs row.
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "llmemu/metrics/validation.hpp"
#include "llmemu/metrics/validation_json.hpp"

namespace {
llmemu::ValidationPoint pt(double rate, double ttft, double tps, const char* src) {
    return {rate, ttft, 20.0, 20.0, 1000.0, tps, src};
}
} // namespace

TEST_CASE("Metrics.validation.pairs_by_rate_and_reports_max_abs") {
    const std::vector<llmemu::ValidationPoint> real{pt(8, 100, 500, "real_r8"), pt(2, 50, 200, "real_r2")};
    const std::vector<llmemu::ValidationPoint> emu{pt(2, 55, 196, "emu_r2"), pt(8, 92, 505, "emu_r8")};
    const auto rep = llmemu::compare_results(real, emu);
    REQUIRE(rep.rows.size() == 2);
    CHECK(rep.rows[0].rate == 2);
    CHECK(rep.rows[0].ttft_pct == doctest::Approx(10.0));
    CHECK(rep.rows[0].tps_pct == doctest::Approx(-2.0));
    CHECK(rep.rows[1].ttft_pct == doctest::Approx(-8.0));
    CHECK(rep.rows[1].tpot_pct == doctest::Approx(0.0));
    CHECK(rep.max_abs.ttft_pct == doctest::Approx(10.0));
    CHECK(rep.max_abs.tps_pct == doctest::Approx(2.0));
    std::ostringstream csv;
    llmemu::write_deltas_csv(csv, rep);
    CHECK(csv.str().rfind("rate,ttft_mean_pct,tpot_mean_pct,itl_mean_pct,e2e_mean_pct,tps_pct\n2,10.0000,", 0) == 0);
    CHECK(csv.str().find("max_abs,10.0000,0.0000,0.0000,0.0000,2.0000\n") != std::string::npos);
}

TEST_CASE("Metrics.validation.unpaired_or_duplicate_rates_fail") {
    CHECK_THROWS_WITH_AS(llmemu::compare_results({pt(2, 1, 1, "a")}, {pt(4, 1, 1, "b")}),
                         doctest::Contains("no --emu result"), llmemu::config_error);
    CHECK_THROWS_WITH_AS(llmemu::compare_results({pt(2, 1, 1, "a"), pt(2, 1, 1, "c")}, {pt(2, 1, 1, "b")}),
                         doctest::Contains("both have request rate 2"), llmemu::config_error);
    CHECK_THROWS_AS(llmemu::compare_results({pt(2, 1, 1, "a")}, {pt(2, 1, 1, "b"), pt(3, 1, 1, "d")}),
                    llmemu::config_error);
}

TEST_CASE("Metrics.validation_json.reads_vllm_results") {
    nlohmann::json j = {{"request_rate", 4.0},       {"mean_ttft_ms", 12.5},      {"mean_tpot_ms", 30.0},
                        {"mean_itl_ms", 29.0},       {"output_throughput", 99.0}, {"latencies", {1.0, 3.0, 0.0}},
                        {"errors", {"", "", "boom"}}};
    auto p = llmemu::validation_point_from_json(j, "x.json");
    CHECK(p.request_rate == 4.0);
    CHECK(p.e2el_mean_ms == doctest::Approx(2000.0)); // from latencies of successful requests
    j.erase("request_rate");
    CHECK(llmemu::validation_point_from_json(j, "results/real_r16.json").request_rate == 16.0);
    CHECK(llmemu::validation_point_from_json(j, "vllm-8.0qps-Qwen3-8B.json").request_rate == 8.0);
    CHECK_THROWS_WITH_AS(llmemu::validation_point_from_json(j, "x.json"), doctest::Contains("no 'request_rate'"),
                         llmemu::config_error);
    j["request_rate"] = "inf";
    CHECK(std::isinf(llmemu::validation_point_from_json(j, "x.json").request_rate));
    j.erase("mean_ttft_ms");
    CHECK_THROWS_WITH_AS(llmemu::validation_point_from_json(j, "x.json"), doctest::Contains("no 'mean_ttft_ms'"),
                         llmemu::config_error);
}

TEST_CASE("Metrics.validation.rate_from_file_name") {
    using llmemu::detail::rate_from_file_name;
    CHECK(rate_from_file_name("real_r8.json") == 8.0);
    CHECK(rate_from_file_name("emu-r2.5.json") == 2.5);
    CHECK(rate_from_file_name("r16") == 16.0);
    CHECK(rate_from_file_name("x_r2.5x.json") == 2.0); // "r2" then '.', as the pattern reads
    CHECK(rate_from_file_name("bench_16qps.json") == 16.0);
    CHECK(rate_from_file_name("a3.5qps") == 3.5);
    CHECK_FALSE(rate_from_file_name("foo.json").has_value());
    CHECK_FALSE(rate_from_file_name("rr8.json").has_value());
    CHECK_FALSE(rate_from_file_name("run_r8x.json").has_value());
}

// ---- per-request validation (requests.jsonl, result JSON lists, KS, time series) ----

#include <filesystem>
#include <fstream>

#include "llmemu/engine/timeseries.hpp"
#include "llmemu/metrics/validation_requests.hpp"
#include "llmemu/metrics/validation_timeseries.hpp"

namespace {
const char* const three_records =
    "{\"request_id\": \"a\", \"input_toks\": 10, \"output_toks\": 5, \"queued_ts\": 100.0, "
    "\"scheduled_ts\": 100.1, \"first_token_ts\": 100.5, \"last_token_ts\": 101.5}\n"
    "\n"
    "{\"input_toks\": 20, \"output_toks\": 1, \"queued_ts\": 101.0, \"first_token_ts\": 102.0, "
    "\"last_token_ts\": 102.0}\n"
    "{\"input_toks\": 30, \"output_toks\": 3, \"queued_ts\": 102.0, \"first_token_ts\": 104.0, "
    "\"last_token_ts\": 104.2}\n";
} // namespace

TEST_CASE("Metrics.validation_requests.parses_vllm_requests_jsonl") {
    CHECK(llmemu::looks_like_requests_jsonl(three_records));
    CHECK_FALSE(llmemu::looks_like_requests_jsonl("{\"mean_ttft_ms\": 1}"));
    const auto s = llmemu::parse_vllm_requests_jsonl(three_records, "r.jsonl");
    REQUIRE(s.requests.size() == 3);
    CHECK(s.requests[0].ttft_s == doctest::Approx(0.5));
    CHECK(s.requests[0].e2e_s == doctest::Approx(1.5));
    CHECK(s.requests[0].tpot_s == doctest::Approx(0.25)); // (101.5 - 100.5) / (5 - 1)
    CHECK(std::isnan(s.requests[1].tpot_s));              // one output token: no TPOT
    CHECK(s.requests[2].arrival_s == doctest::Approx(2.0));
    CHECK(s.requests[2].input_toks == 30);
}

TEST_CASE("Metrics.validation_requests.malformed_lines_name_file_line_and_fix") {
    auto bad = [](const std::string& text, const char* what) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS((void)llmemu::parse_vllm_requests_jsonl(text, "r.jsonl"), doctest::Contains(what),
                             llmemu::config_error);
    };
    const std::string good = "{\"input_toks\":1,\"output_toks\":2,\"queued_ts\":1,\"first_token_ts\":2,"
                             "\"last_token_ts\":3}\n";
    bad(good + "{not json\n", "r.jsonl:2: not valid JSON");
    bad(good + "[1,2]\n", "r.jsonl:2: not a JSON object");
    bad(good + "\n{\"input_toks\":1,\"output_toks\":2,\"queued_ts\":1,\"last_token_ts\":3}\n",
        "r.jsonl:3: field 'first_token_ts' is missing");
    bad("{\"input_toks\":\"x\",\"output_toks\":2,\"queued_ts\":1,\"first_token_ts\":2,\"last_token_ts\":3}",
        "r.jsonl:1: field 'input_toks' is not a number");
    bad("{\"input_toks\":1.5,\"output_toks\":2,\"queued_ts\":1,\"first_token_ts\":2,\"last_token_ts\":3}",
        "whole number");
    bad("{\"input_toks\":1,\"output_toks\":2,\"queued_ts\":5,\"first_token_ts\":2,\"last_token_ts\":3}",
        "r.jsonl:1: first_token_ts is earlier than queued_ts");
    bad("{\"input_toks\":1,\"output_toks\":2,\"queued_ts\":1,\"first_token_ts\":4,\"last_token_ts\":3}",
        "last_token_ts is earlier");
    bad("{\"input_toks\":1,\"output_toks\":2,\"queued_ts\":-1,\"first_token_ts\":4,\"last_token_ts\":5}", "negative");
    bad("\n\n", "has no finished request");
    // A record without output tokens is a failed request, not an error.
    const auto s = llmemu::parse_vllm_requests_jsonl(
        good + "{\"input_toks\":1,\"output_toks\":0,\"queued_ts\":1,\"first_token_ts\":0,\"last_token_ts\":0}\n",
        "r.jsonl");
    CHECK(s.requests.size() == 1);
    CHECK(s.failed == 1);
}

TEST_CASE("Metrics.validation_requests.reads_result_json_lists") {
    nlohmann::json j = {{"ttfts", {0.5, 1.0, 2.0}},          {"output_lens", {5, 0, 3}},
                        {"latencies", {1.5, 1.0, 2.2}},      {"errors", {"", "boom", ""}},
                        {"start_times", {10.0, 11.0, 12.0}}, {"input_lens", {10, 20, 30}}};
    auto s = llmemu::request_samples_from_result_json(j, "emu.json");
    REQUIRE(s.has_value());
    REQUIRE(s->requests.size() == 2);
    CHECK(s->failed == 1);
    CHECK(s->requests[0].tpot_s == doctest::Approx(0.25));
    CHECK(s->requests[1].arrival_s == doctest::Approx(2.0));
    CHECK(s->requests[1].input_toks == 30);
    // Without latencies (vLLM 0.12's detailed result), E2E = TTFT + the ITLs.
    j.erase("latencies");
    j["itls"] = {{0.25, 0.25, 0.25, 0.25}, nlohmann::json::array(), {0.1, 0.1}};
    s = llmemu::request_samples_from_result_json(j, "emu.json");
    REQUIRE(s.has_value());
    CHECK(s->requests[0].e2e_s == doctest::Approx(1.5));
    CHECK(s->requests[1].e2e_s == doctest::Approx(2.2));
    j.erase("itls");
    CHECK_THROWS_WITH_AS((void)llmemu::request_samples_from_result_json(j, "emu.json"),
                         doctest::Contains("neither 'latencies' nor 'itls'"), llmemu::config_error);
    CHECK_FALSE(llmemu::request_samples_from_result_json(nlohmann::json{{"mean_ttft_ms", 1.0}}, "m.json"));
}

TEST_CASE("Metrics.validation.ks_distance") {
    CHECK(llmemu::ks_distance({1, 2, 3}, {1, 2, 3}) == 0.0);
    CHECK(llmemu::ks_distance({1, 2, 3}, {4, 5}) == 1.0);
    CHECK(llmemu::ks_distance({1, 2, 3}, {2, 3, 4}) == doctest::Approx(1.0 / 3.0));
    CHECK(llmemu::ks_distance({1, 1, 1, 2}, {1, 2, 2, 2}) == doctest::Approx(0.5)); // ties
    CHECK(llmemu::ks_distance({}, {1}) == 0.0);
}

TEST_CASE("Metrics.validation.compare_distributions_rows_and_errors") {
    llmemu::RequestSamples real, emu;
    real.source = "real";
    emu.source = "emu";
    for (int i = 1; i <= 100; ++i) {
        real.requests.push_back({1, 3, 0.0, i * 0.01, i * 0.03, i * 0.01});
        emu.requests.push_back({1, 3, 0.0, i * 0.011, i * 0.03, i * 0.01});
    }
    const auto rep = llmemu::compare_distributions(real, emu);
    REQUIRE(rep.rows.size() == 12);
    CHECK(rep.at("ttft", "mean").real_ms == doctest::Approx(505.0));
    CHECK(rep.at("ttft", "mean").pct == doctest::Approx(10.0));
    CHECK(rep.at("ttft", "p99").pct == doctest::Approx(10.0));
    CHECK(rep.at("e2e", "median").pct == doctest::Approx(0.0));
    CHECK(rep.at("tpot", "p90").real_ms == doctest::Approx(901.0)); // numpy linear: 0.01 * (1 + 0.9 * 99)
    CHECK(rep.ks_e2e == 0.0);
    CHECK(rep.ks_ttft > 0.0);
    CHECK_THROWS_AS((void)rep.at("itl", "mean"), llmemu::config_error);
    std::ostringstream os;
    llmemu::print_distribution_table(os, rep);
    CHECK(os.str().find("TTFT   mean") != std::string::npos);
    CHECK(os.str().find("+10.00") != std::string::npos);
    const nlohmann::json j = llmemu::to_json(rep);
    CHECK(j["metrics"]["ttft"]["mean"]["pct"].get<double>() == doctest::Approx(10.0));
    CHECK(j["real"]["requests"] == 100);
    llmemu::RequestSamples none;
    none.source = "none.json";
    CHECK_THROWS_WITH_AS((void)llmemu::compare_distributions(none, emu), doctest::Contains("none.json"),
                         llmemu::config_error);
}

TEST_CASE("Metrics.validation.compare_distributions_over_replicates") {
    // Real TTFT i * 10 ms; replicates k = 0..3 scale ours by 0.98, 0.99, 1.01, 1.02: the mean
    // TTFT interval (505 +- 14.67 ms) covers real; E2E, 20 % slower on every replicate, does not.
    llmemu::RequestSamples real;
    real.source = "real";
    std::vector<llmemu::RequestSamples> reps(4);
    const double scale[] = {0.98, 0.99, 1.01, 1.02};
    for (int i = 1; i <= 100; ++i) real.requests.push_back({1, 3, 0.0, i * 0.01, i * 0.03, i * 0.01});
    for (std::size_t k = 0; k < reps.size(); ++k) {
        reps[k].source = "emu " + std::to_string(k);
        for (int i = 1; i <= 100; ++i)
            reps[k].requests.push_back({1, 3, 0.0, i * 0.01 * scale[k], i * 0.036, i * 0.01});
    }
    const auto rep = llmemu::compare_distributions(real, std::span<const llmemu::RequestSamples>(reps));
    CHECK(rep.replicates == 4);
    const auto& ttft = rep.at("ttft", "mean");
    CHECK(ttft.emu_ms == doctest::Approx(505.0));
    // sd of 505 * {-.02, -.01, .01, .02} = 505 * 0.018257; t(3) = 3.182; / sqrt(4)
    CHECK(ttft.emu_ci95 == doctest::Approx(3.182 * 505.0 * 0.0182574 / 2.0).epsilon(1e-3));
    CHECK(ttft.real_inside);
    const auto& e2e = rep.at("e2e", "mean");
    CHECK(e2e.pct == doctest::Approx(20.0));
    CHECK(e2e.emu_ci95 == doctest::Approx(0.0).epsilon(1e-9));
    CHECK_FALSE(e2e.real_inside);
    CHECK(rep.ks_e2e == doctest::Approx(llmemu::compare_distributions(real, reps[0]).ks_e2e));
    std::ostringstream os;
    llmemu::print_distribution_table(os, rep);
    CHECK(os.str().find("ours 95% CI (ms)") != std::string::npos);
    CHECK(os.str().find("+- 14.67") != std::string::npos);
    CHECK(os.str().find("inside ours' 95% CI: ") != std::string::npos);
    const nlohmann::json j = llmemu::to_json(rep);
    CHECK(j["replicates"] == 4);
    CHECK(j["metrics"]["ttft"]["mean"]["real_inside"] == true);
    CHECK(j["metrics"]["e2e"]["mean"]["real_inside"] == false);
    CHECK(j["metrics"]["ttft"]["mean"]["emu_ci95_half_width"].get<double>() == doctest::Approx(ttft.emu_ci95));
    // One emulated run: no interval columns.
    const auto one = llmemu::compare_distributions(real, reps[0]);
    CHECK(one.replicates == 0);
    CHECK_FALSE(llmemu::to_json(one).contains("replicates"));
    CHECK_THROWS_WITH_AS(
        (void)llmemu::compare_distributions(real, std::span<const llmemu::RequestSamples>(reps.data(), 1)),
        doctest::Contains("at least 2 replicates"), llmemu::config_error);
}

TEST_CASE("Metrics.validation_requests.reproduces_the_real_runs_summary") {
    // The bundled RTX 4090 run: our definitions must give exactly the published summary.
    const std::filesystem::path dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data/vllm-runs/RTX4090-Llama-3.1-8B";
    const auto real = llmemu::read_request_samples(dir / "requests.jsonl");
    REQUIRE(real.has_value());
    CHECK(real->requests.size() == 300);
    std::ifstream in(dir / "real_summary.json");
    const nlohmann::json summary = nlohmann::json::parse(in);
    const auto rep = llmemu::compare_distributions(*real, *real);
    const std::pair<const char*, const char*> keys[] = {{"ttft", "ttft_ms"}, {"tpot", "tpot_ms"}, {"e2e", "e2el_ms"}};
    // Named copies, not a structured binding: CAPTURE's lambda cannot capture one in
    // Clang 14 (C++20 allows it; Clang implements that from 16).
    for (const auto& k : keys)
        for (const char* stat : {"mean", "median", "p90", "p99"}) {
            const char* metric = k.first;
            const char* key = k.second;
            CAPTURE(metric);
            CAPTURE(stat);
            CHECK(rep.at(metric, stat).real_ms == doctest::Approx(summary[key][stat].get<double>()).epsilon(1e-9));
            CHECK(rep.at(metric, stat).pct == 0.0);
        }
}

TEST_CASE("Metrics.timeseries.engine_series_buckets_and_stays_bounded") {
    using namespace std::chrono_literals;
    llmemu::EngineTimeSeries ts(1s, 4);
    llmemu::EngineStats s;
    s.running = 3;
    s.prompt_tokens = 100;
    s.generation_tokens = 5;
    ts.observe(200ms, s);
    s.generation_tokens = 9;
    s.running = 2;
    ts.observe(900ms, s);
    s.generation_tokens = 12;
    s.preemptions = 1;
    s.kv_usage = 0.5;
    ts.observe(2500ms, s); // second 1 had no step: it carries the gauges over
    REQUIRE(ts.points().size() == 3);
    CHECK(ts.points()[0].prompt_tokens == 100);
    CHECK(ts.points()[0].generation_tokens == 9);
    CHECK(ts.points()[0].running == 2);
    CHECK(ts.points()[1].generation_tokens == 0);
    CHECK(ts.points()[1].running == 2);
    CHECK(ts.points()[2].generation_tokens == 3);
    CHECK(ts.points()[2].preemptions == 1);
    // Past max_points the points merge pairwise and the interval doubles; totals are kept.
    s.generation_tokens = 20;
    s.running = 7;
    ts.observe(9500ms, s);
    CHECK(ts.interval() == 4s);
    REQUIRE(ts.points().size() == 3);
    std::uint64_t total = 0;
    for (const auto& p : ts.points()) total += p.generation_tokens;
    CHECK(total == 20);
    CHECK(ts.points()[0].running == 2);
    CHECK(ts.points()[2].running == 7);
    for (int i = 0; i < 1000; ++i) ts.observe(std::chrono::seconds(10 + i * 1000), s);
    CHECK(ts.points().size() <= 4);
    const nlohmann::json j = llmemu::to_json(ts);
    CHECK(j["t_s"].size() == ts.points().size());
    CHECK(j["running"].size() == ts.points().size());
}

TEST_CASE("Metrics.timeseries.reads_vllm_log_and_compares") {
    const auto real = llmemu::parse_timeseries_csv(
        "t,prompt_throughput,gen_throughput,running,waiting,kv_cache_pct\n1.0,100,2,5,2,10\n2.0,0,10,4,0,20\n",
        "ts.csv");
    CHECK(real.interval_s == 1.0);
    REQUIRE(real.find("running") != nullptr);
    llmemu::EngineTimeSeries ets(std::chrono::seconds(1));
    llmemu::EngineStats s;
    s.running = 5;
    s.waiting = 1;
    s.kv_usage = 0.1;
    s.prompt_tokens = 100;
    ets.observe(std::chrono::milliseconds(500), s);
    s.running = 2;
    s.generation_tokens = 10;
    ets.observe(std::chrono::milliseconds(1500), s);
    s.running = 1;
    s.generation_tokens = 11;
    ets.observe(std::chrono::milliseconds(2500), s); // after the real run ended
    const nlohmann::json result = {{"llmemu", {{"timeseries", llmemu::to_json(ets)}}}};
    const auto emu = llmemu::timeseries_from_result_json(result, "emu.json");
    const auto rep = llmemu::compare_timeseries(real, emu);
    CHECK(rep.grid.size() == 3);
    const auto row = [&rep](const char* name) {
        for (const auto& r : rep.rows)
            if (r.name == name) return r;
        FAIL("no row " << name);
        return llmemu::TimeSeriesRow{};
    };
    CHECK(row("running").real_mean == doctest::Approx(3.0));      // 5, 4, then idle 0
    CHECK(row("running").emu_mean == doctest::Approx(8.0 / 3.0)); // 5, 2, 1
    CHECK(row("running").mean_abs_diff == doctest::Approx(1.0));  // |0| + |2| + |-1| over 3
    CHECK(row("waiting").mean_abs_diff == doctest::Approx(1.0));  // real 2, 0, 0 vs 1, 1, 1
    std::ostringstream csv;
    llmemu::write_timeseries_csv(csv, rep);
    CHECK(csv.str().rfind("t,real_prompt_throughput,emu_prompt_throughput,", 0) == 0);
    auto bad = [](const char* text, const char* what) {
        CHECK_THROWS_WITH_AS((void)llmemu::parse_timeseries_csv(text, "ts.csv"), doctest::Contains(what),
                             llmemu::config_error);
    };
    bad("time,running\n1,2\n", "ts.csv:1: header has no 't' column");
    bad("t,running\n1,2\n1,3\n", "ts.csv:3: t must increase");
    bad("t,running\n1,x\n", "ts.csv:2: column 'running' has 'x', which is not a finite number");
    bad("t,running\n1\n", "ts.csv:2: has 1 cells");
    bad("t,running\n", "has no rows");
    // Fuzz find: a second time column once left a row with more value cells than columns.
    bad("t,p922,x,19,t\n2.0,33922,19,6\n", "ts.csv:1: header has two time columns");
    bad("t,running,running\n1,2,3\n", "ts.csv:1: header names column 'running' twice");
    CHECK_THROWS_WITH_AS((void)llmemu::timeseries_from_result_json(nlohmann::json::object(), "e.json"),
                         doctest::Contains("no llmemu.timeseries"), llmemu::config_error);
}
