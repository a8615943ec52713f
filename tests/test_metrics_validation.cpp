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
