// The capacity-planning layer: SLO targets and their check, the monotone searches
// (find_fewest_passing, find_highest_rate) with their run counts, mean_interval and
// parallel_for.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/core/parallel.hpp"
#include "llmemu/metrics/capacity.hpp"
#include "llmemu/metrics/interval.hpp"

using namespace llmemu;

TEST_CASE("Capacity.parse_slo_targets reads percentile and per-request bounds") {
    const SloTargets t = parse_slo_targets("ttft:p99:2000,tpot:p99.9:100 e2el:8000", 0.95);
    REQUIRE(t.bounds.size() == 3);
    CHECK(t.bounds[0].metric == "ttft");
    CHECK(*t.bounds[0].percentile == 99.0);
    CHECK(t.bounds[0].limit_ms == 2000.0);
    CHECK(*t.bounds[1].percentile == doctest::Approx(99.9));
    CHECK_FALSE(t.bounds[2].percentile.has_value());
    CHECK(t.has_per_request());
    SummaryOptions o;
    o.percentiles = {50};
    t.apply(o);
    CHECK(o.percentiles == std::vector<double>{50, 99, 99.9});
    CHECK(*o.slo_e2el_ms == 8000.0);
    CHECK_FALSE(o.slo_ttft_ms.has_value());
    for (const char* bad :
         {"", "ttft", "ttft:p99", "ttft:q99:5", "ttft:p101:5", "itl:5", "foo:p99:5", "ttft:-1", "ttft:p99:x"})
        CHECK_THROWS_AS((void)parse_slo_targets(bad, 0.9), config_error);
    CHECK_THROWS_AS((void)parse_slo_targets("ttft:5", 0.0), config_error);
}

TEST_CASE("Capacity.check_slo names the first bound missed") {
    const SloTargets t = parse_slo_targets("ttft:p99:100,tpot:p99:10,ttft:50", 0.9);
    BenchResult r;
    r.completed = 10;
    r.ttft.percentiles_ms = {{99, 80.0}};
    r.tpot.percentiles_ms = {{99, 12.5}};
    r.good_completed = 9;
    SloVerdict v = check_slo(r, t, 10);
    CHECK_FALSE(v.pass);
    CHECK(v.miss == "tpot p99 12.5 ms > 10 ms");
    CHECK(v.attainment == doctest::Approx(0.9));
    r.tpot.percentiles_ms = {{99, 10.0}};
    v = check_slo(r, t, 10);
    CHECK(v.pass);
    r.good_completed = 8;
    v = check_slo(r, t, 10);
    CHECK_FALSE(v.pass);
    CHECK(v.miss.find("80.0% of requests") != std::string::npos);
    r.good_completed = 10;
    r.failed = 1;
    CHECK(check_slo(r, t, 11).miss == "1 of 11 requests failed");
    BenchResult none; // the percentile was not summarised
    CHECK_THROWS_AS((void)check_slo(none, t, 10), config_error);
}

TEST_CASE("Capacity.find_fewest_passing: exponential then bisection, every answer and its run count") {
    for (std::uint32_t answer = 1; answer <= 40; ++answer) {
        std::vector<std::uint32_t> seen;
        const ReplicaSearch s = find_fewest_passing(1, 32, [&](std::uint32_t n) {
            seen.push_back(n);
            return n >= answer;
        });
        CAPTURE(answer);
        REQUIRE(s.runs() == seen.size());
        if (answer > 32) {
            CHECK_FALSE(s.fewest.has_value());
            CHECK(seen == std::vector<std::uint32_t>{1, 2, 4, 8, 16, 32});
            continue;
        }
        CHECK(*s.fewest == answer);
        CHECK(s.runs() <= 11); // a grid runs 32
        for (const auto& p : s.tried) CHECK(p.pass == (p.at >= answer));
    }
    // By hand: answer 5 in [1, 32] runs 1, 2, 4, 8 (pass), then 6 (pass), 5 (pass).
    const ReplicaSearch s = find_fewest_passing(1, 32, [](std::uint32_t n) { return n >= 5; });
    std::vector<std::uint32_t> order;
    for (const auto& p : s.tried) order.push_back(p.at);
    CHECK(order == std::vector<std::uint32_t>{1, 2, 4, 8, 6, 5});
    // A range starting above 1 probes lo, lo+1, lo+3, ...
    const ReplicaSearch t = find_fewest_passing(3, 5, [](std::uint32_t n) { return n >= 5; });
    CHECK(*t.fewest == 5);
    CHECK(t.runs() == 3);
    CHECK_THROWS_AS((void)find_fewest_passing(0, 4, [](std::uint32_t) { return true; }), config_error);
    CHECK_THROWS_AS((void)find_fewest_passing(5, 4, [](std::uint32_t) { return true; }), config_error);
}

TEST_CASE("Capacity.find_highest_rate: doubling then geometric bisection to the tolerance") {
    for (const double answer : {0.3, 1.0, 3.7, 17.0, 63.9, 100.0}) {
        const RateSearch s = find_highest_rate(1.0, 64.0, 0.01, [&](double r) { return r <= answer; });
        CAPTURE(answer);
        if (answer < 1.0) {
            CHECK_FALSE(s.rate.has_value());
            CHECK(*s.first_miss == 1.0);
            CHECK(s.runs() == 1);
        } else if (answer >= 64.0) {
            CHECK(*s.rate == 64.0);
            CHECK_FALSE(s.first_miss.has_value());
            CHECK(s.runs() == 7); // 1, 2, ..., 64
        } else {
            CHECK(*s.rate <= answer);
            CHECK(*s.first_miss > answer);
            CHECK(*s.first_miss / *s.rate <= 1.01);
            CHECK(s.runs() < 20);
        }
    }
    CHECK_THROWS_AS((void)find_highest_rate(0.0, 4.0, 0.1, [](double) { return true; }), config_error);
    CHECK_THROWS_AS((void)find_highest_rate(1.0, 4.0, 0.0, [](double) { return true; }), config_error);
}

TEST_CASE("Capacity.mean_interval is the Student-t 95% interval") {
    const std::vector<double> v{4.0, 6.0};
    const MeanInterval ci = mean_interval(v);
    CHECK(ci.mean == 5.0);
    // sd = sqrt(2), t(1) = 12.706: 12.706 * sqrt(2) / sqrt(2).
    CHECK(ci.half_width == doctest::Approx(12.706));
    CHECK(ci.min == 4.0);
    CHECK(ci.max == 6.0);
    const std::vector<double> one{3.0};
    CHECK(mean_interval(one).half_width == 0.0);
    CHECK(mean_interval(std::vector<double>{}).n == 0);
    CHECK(student_t975(40) == doctest::Approx(2.021).epsilon(0.002));
}

TEST_CASE("Capacity.parallel_for runs every index once and rethrows the first failure") {
    for (const unsigned threads : {0U, 1U, 3U}) {
        std::vector<std::atomic<int>> hits(100);
        parallel_for(hits.size(), threads, [&](std::size_t i) { ++hits[i]; });
        for (const auto& h : hits) CHECK(h.load() == 1);
    }
    CHECK_THROWS_AS(parallel_for(50, 2,
                                 [](std::size_t i) {
                                     if (i == 7) throw std::runtime_error("seven");
                                 }),
                    std::runtime_error);
    CHECK(parallel_threads(8, 3) == 3);
    CHECK(parallel_threads(2, 0) == 1);
}

TEST_CASE("Capacity.work_team runs many short rounds, each index once, and survives a failure") {
    WorkTeam team(3);
    CHECK(team.size() == 3);
    std::vector<std::atomic<int>> hits(16);
    std::size_t expected = 0;
    for (std::size_t round = 0; round < 3000; ++round) { // a fleet's windows: many tiny rounds
        const std::size_t n = round % 11;
        team.run(n, [&](std::size_t i) { ++hits[i]; });
        expected += n;
    }
    std::size_t total = 0;
    for (std::size_t i = 0; i < hits.size(); ++i) total += static_cast<std::size_t>(hits[i].load());
    CHECK(total == expected);
    CHECK(hits[9].load() == 272); // index 9 runs only in the rounds with n = 10
    CHECK(hits[10].load() == 0);
    // The exception of the lowest failing index comes back; the team keeps working.
    for (int attempt = 0; attempt < 20; ++attempt)
        CHECK_THROWS_WITH(team.run(8,
                                   [](std::size_t i) {
                                       if (i == 3 || i == 6) throw std::runtime_error(std::to_string(i));
                                   }),
                          "3");
    std::atomic<int> after{0};
    team.run(5, [&](std::size_t) { ++after; });
    CHECK(after.load() == 5);
    // Teams made and dropped at once (workers that never saw a round) end cleanly.
    for (int k = 0; k < 50; ++k) {
        WorkTeam t(2);
        if (k % 2 == 0) t.run(2, [](std::size_t) {});
    }
}

TEST_CASE("Capacity.combine: the answer on every seed and the per-seed interval") {
    const std::vector<std::optional<std::uint32_t>> fewest{4, 6, 5};
    const ReplicatedAnswer f = combine_fewest(fewest);
    CHECK(*f.every_seed == 6.0); // the most any seed needed
    CHECK(f.per_seed.mean == 5.0);
    CHECK(f.per_seed.half_width == doctest::Approx(4.303 * 1.0 / std::sqrt(3.0))); // sd 1, t(2)
    CHECK(f.without_answer == 0);
    const std::vector<std::optional<std::uint32_t>> some{4, std::nullopt};
    const ReplicatedAnswer g = combine_fewest(some);
    CHECK_FALSE(g.every_seed.has_value());
    CHECK(g.without_answer == 1);
    CHECK(g.per_seed.n == 1); // the seed without an answer is left out
    const std::vector<std::optional<double>> rates{8.0, 6.0, std::nullopt};
    const ReplicatedAnswer r = combine_rates(rates);
    CHECK_FALSE(r.every_seed.has_value());
    CHECK(r.without_answer == 1);
    CHECK(r.per_seed.mean == doctest::Approx(14.0 / 3.0)); // none counts as 0 req/s
    const std::vector<std::optional<double>> ok{8.0, 6.0};
    CHECK(*combine_rates(ok).every_seed == 6.0); // the lowest
}
