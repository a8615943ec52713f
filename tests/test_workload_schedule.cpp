// Tests for workload/schedule.hpp: vLLM's ramp-up, rate schedules (CSV, diurnal), and
// their use in build_workload for synthetic arrivals and traces.
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/workload/schedule.hpp"
#include "llmemu/workload/workload.hpp"

using namespace llmemu;

namespace {
const std::filesystem::path data_dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data";
constexpr double inf = std::numeric_limits<double>::infinity();

std::string schedule_error(const std::string& csv) {
    std::istringstream in(csv);
    try {
        (void)parse_rate_schedule_csv(in, "r.csv");
    } catch (const workload_error& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST_CASE("Workload.schedule.ramp_up_as_vllm") {
    const RampUp lin{RampUpStrategy::linear, 2.0, 10.0};
    CHECK(lin.rate_at(0, 5) == 2.0);
    CHECK(lin.rate_at(2, 5) == doctest::Approx(6.0));
    CHECK(lin.rate_at(4, 5) == 10.0);
    const RampUp ex{RampUpStrategy::exponential, 1.0, 16.0};
    CHECK(ex.rate_at(2, 5) == doctest::Approx(4.0)); // 1 * 16^(1/2)
    // burstiness inf: constant gaps 1 / r_i, summed, no rescaling.
    Rng rng(1);
    const auto t = ramp_up_arrival_times(5, lin, inf, rng);
    CHECK(t[0] == doctest::Approx(0.5));
    CHECK(t[4] == doctest::Approx(0.5 + 0.25 + 1.0 / 6 + 0.125 + 0.1));
    Rng a(7), b(7);
    CHECK(ramp_up_arrival_times(100, lin, 1.0, a) == ramp_up_arrival_times(100, lin, 1.0, b));
    Rng c(1);
    CHECK_THROWS_WITH_AS((void)ramp_up_arrival_times(5, {RampUpStrategy::linear, 0.0, 4.0}, 1.0, c),
                         doctest::Contains("vLLM refuses a rate of 0"), workload_error);
    CHECK_THROWS_AS((void)ramp_up_arrival_times(5, {RampUpStrategy::linear, 5.0, 4.0}, 1.0, c), workload_error);
}

TEST_CASE("Workload.schedule.piecewise_linear_inverse") {
    const RateSchedule constant({{0.0, 2.0}});
    CHECK(constant.inverse(10.0) == doctest::Approx(5.0));
    // A ramp 0 -> 2 req/s over 10 s (Λ = t^2 / 10), then 2 req/s.
    const RateSchedule ramp({{0.0, 0.0}, {10.0, 2.0}});
    CHECK(ramp.rate(5.0) == doctest::Approx(1.0));
    CHECK(ramp.inverse(2.5) == doctest::Approx(5.0));
    CHECK(ramp.inverse(12.0) == doctest::Approx(11.0));
    const RateSchedule stops({{0.0, 1.0}, {5.0, 0.0}});
    CHECK(stops.inverse(2.0) == doctest::Approx(5.0 - std::sqrt(5.0))); // x - x^2/10 = 2
    CHECK_THROWS_WITH_AS((void)stops.inverse(3.0), doctest::Contains("the rate is 0 after t = 5"), workload_error);
    // Evenly spaced in expected count with constant gaps.
    Rng rng(1);
    const auto t = schedule_arrival_times(4, RateSchedule({{0.0, 4.0}}), inf, rng);
    CHECK(t == std::vector<double>{0.25, 0.5, 0.75, 1.0});
    CHECK_THROWS_AS(RateSchedule({{0.0, 0.0}}), workload_error);
    CHECK_THROWS_AS(RateSchedule({{1.0, 1.0}, {1.0, 2.0}}), workload_error);
}

TEST_CASE("Workload.schedule.poisson_follows_the_rate") {
    // 2 req/s for an hour, then 8 req/s: counts per hour within 5 sigma.
    const RateSchedule s({{0.0, 2.0}, {3600.0, 2.0}, {3600.001, 8.0}});
    Rng rng(3);
    const auto t = schedule_arrival_times(2 * 3600 + 8 * 3600, s, 1.0, rng);
    std::size_t first = 0;
    for (const double x : t) first += x < 3600.0 ? 1U : 0U;
    CHECK(std::fabs(static_cast<double>(first) - 7200.0) < 5 * std::sqrt(7200.0));
    CHECK(t.back() == doctest::Approx(7200.0).epsilon(0.01));
    for (std::size_t i = 1; i < t.size(); ++i) REQUIRE(t[i] >= t[i - 1]);
}

TEST_CASE("Workload.schedule.diurnal_shape") {
    const RateSchedule d = RateSchedule::diurnal(4.0, 0.5);
    CHECK(d.rate(14 * 3600.0) == doctest::Approx(6.0));
    CHECK(d.rate(2 * 3600.0) == doctest::Approx(2.0));
    CHECK(d.rate(14 * 3600.0 + 86400.0) == doctest::Approx(6.0)); // repeats daily
    Rng rng(5);
    const auto t = schedule_arrival_times(4 * 86400, d, 1.0, rng);
    CHECK(t.back() == doctest::Approx(86400.0).epsilon(0.01));
    std::size_t night = 0, afternoon = 0; // an hour around the trough and one around the peak
    for (const double x : t) {
        night += (x >= 1.5 * 3600 && x < 2.5 * 3600) ? 1U : 0U;
        afternoon += (x >= 13.5 * 3600 && x < 14.5 * 3600) ? 1U : 0U;
    }
    CHECK(static_cast<double>(afternoon) / static_cast<double>(night) == doctest::Approx(3.0).epsilon(0.08));
    CHECK_THROWS_AS((void)RateSchedule::diurnal(4.0, 1.5), workload_error);
    CHECK(parse_rate_schedule("diurnal:2,0.25,3600").period() == 3600.0);
    CHECK_THROWS_WITH_AS((void)parse_rate_schedule("diurnal:x"), doctest::Contains("diurnal:MEAN"), workload_error);
    CHECK_THROWS_WITH_AS((void)parse_rate_schedule("/nonexistent.csv"), doctest::Contains("cannot open"),
                         workload_error);
}

TEST_CASE("Workload.schedule.csv_reader_errors") {
    CHECK(schedule_error("time,rate\n0,1\n# comment\n\n60,2\n").empty());
    CHECK(schedule_error("0,1\n60,x\n") ==
          "r.csv:2: column 'rate' has 'x', which is not a finite number; each line is time,rate (seconds, requests "
          "per second)");
    CHECK(schedule_error("0,1\n60\n").find("r.csv:2: '60' is not time,rate") == 0);
    CHECK(schedule_error("10,1\n5,2\n").find("r.csv:2: time 5 must be >= 0 and later than the previous line's") == 0);
    CHECK(schedule_error("0,-1\n").find("r.csv:1: rate -1 is negative") == 0);
    CHECK(schedule_error("time,rate\n").find("r.csv: no time,rate lines") == 0);
    CHECK(schedule_error("0,0\n").find("every rate is 0") != std::string::npos);
}

TEST_CASE("Workload.schedule.in_build_workload") {
    WorkloadSpec s;
    s.kind = WorkloadKind::random;
    s.num_prompts = 50;
    s.ramp_up = RampUp{RampUpStrategy::linear, 1.0, 5.0};
    s.burstiness = inf;
    const Workload w = build_workload(s);
    CHECK(w.requests[0].arrival_s == doctest::Approx(1.0));
    CHECK(w.description.find("ramp-up linear from 1 to 5 req/s") != std::string::npos);
    s.request_rate = 3.0;
    CHECK_THROWS_WITH_AS((void)build_workload(s), doctest::Contains("contradicts"), workload_error);

    // A trace keeps its order and bursts; its rate follows the schedule (constant 2x).
    WorkloadSpec t;
    t.kind = WorkloadKind::trace;
    t.trace_path = data_dir / "splitwise_code.csv";
    t.num_prompts = 1000;
    const Workload own = build_workload(t);
    t.rate_schedule = "diurnal:1,0,100000"; // 1 req/s, flat
    const Workload mapped = build_workload(t);
    const double own_rate = 1000.0 / own.requests.back().arrival_s;
    for (std::size_t i = 0; i < 1000; i += 97)
        CHECK(mapped.requests[i].arrival_s == doctest::Approx(own.requests[i].arrival_s * own_rate).epsilon(1e-6));
    CHECK(mapped.description.find("times mapped onto the rate schedule") != std::string::npos);
    t.ramp_up = RampUp{};
    t.rate_schedule.clear();
    CHECK_THROWS_WITH_AS((void)build_workload(t), doctest::Contains("use a rate schedule"), workload_error);
}
