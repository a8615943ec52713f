// The core layer: the one CSV field reader, number parser and quantile rule (core/csv.hpp,
// core/quantile.hpp) that every text reader and sample summary of llmemu uses, and the
// step vocabulary (core/step.hpp) every scheduler, executor and latency model shares.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmemu/core/csv.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/core/step.hpp"

using namespace llmemu;

TEST_CASE("Core.parse_number.whole_field_only") {
    CHECK(parse_number<double>("1.5") == 1.5);
    CHECK(parse_number<double>("-2e3") == -2000.0);
    CHECK_FALSE(parse_number<double>(""));
    CHECK_FALSE(parse_number<double>(" 1"));
    CHECK_FALSE(parse_number<double>("1 "));
    CHECK_FALSE(parse_number<double>("1x"));
    CHECK_FALSE(parse_number<double>("inf"));
    CHECK_FALSE(parse_number<double>("nan"));
    CHECK_FALSE(parse_number<double>("1e999"));
    CHECK(parse_number<std::uint32_t>("4294967295") == 4294967295U);
    CHECK_FALSE(parse_number<std::uint32_t>("4294967296"));
    CHECK_FALSE(parse_number<std::uint32_t>("-1"));
    CHECK_FALSE(parse_number<std::uint32_t>("1.0"));
    CHECK(parse_number<std::int64_t>("-7") == -7);
}

TEST_CASE("Core.csv_split.trims_every_field") {
    std::vector<std::string_view> f{"stale"};
    detail::csv_split(" a ,b\t,, c\r", f);
    REQUIRE(f.size() == 4);
    CHECK(f[0] == "a");
    CHECK(f[1] == "b");
    CHECK(f[2].empty());
    CHECK(f[3] == "c");
    detail::csv_split("", f);
    REQUIRE(f.size() == 1);
    CHECK(f[0].empty());
    CHECK(detail::text_strip_bom("\xEF\xBB\xBFt,x") == "t,x");
    CHECK(detail::text_strip_bom("t,x") == "t,x");
}

TEST_CASE("Core.text_echo.bounds_and_escapes") {
    CHECK(detail::text_echo("ok") == "ok");
    CHECK(detail::text_echo(std::string_view("a\0\xff", 3)) == "a\\x00\\xff");
    CHECK(detail::text_echo(std::string(50, 'z')) == std::string(40, 'z') + "...");
}

TEST_CASE("Core.csv_number.one_error_style") {
    CHECK(detail::csv_number<workload_error>("2.5", {"t.csv", 3}, "rate", "fix it") == 2.5);
    CHECK_THROWS_WITH_AS(detail::csv_number<workload_error>("x\x01", {"t.csv", 3}, "rate", "fix it"),
                         "t.csv:3: column 'rate' has 'x\\x01', which is not a finite number; fix it", workload_error);
    CHECK_THROWS_WITH_AS((detail::csv_number<profile_error, std::uint32_t>("-1", {"p.csv", 9}, "n", "use a count")),
                         "p.csv:9: column 'n' has '-1', which is not an integer from 0 to 4294967295; use a count",
                         profile_error);
    CHECK_THROWS_WITH_AS(detail::text_fail<config_error>({"whole.csv", 0}, "is empty"), "whole.csv: is empty",
                         config_error);
}

TEST_CASE("Core.parse_input_number.names_the_input_and_the_fix") {
    CHECK(parse_input_number<double>("0.25", "--tol", "give a number") == 0.25);
    CHECK(parse_input_number<std::uint32_t>("7", "N", "give a count", [](std::uint32_t v) { return v > 0; }) == 7);
    CHECK_THROWS_WITH_AS((void)parse_input_number<double>("1x", "--rate", "give a number > 0"),
                         "--rate '1x': give a number > 0", config_error);
    // The condition on the value, and the error type of the caller.
    const auto positive = [](double v) { return v > 0; };
    CHECK_THROWS_WITH_AS(
        ((void)parse_input_number<double, workload_error>("-3", "ENV_VAR", "give seconds > 0", positive)),
        "ENV_VAR '-3': give seconds > 0", workload_error);
    CHECK_THROWS_WITH_AS((void)parse_input_number<double>(std::string(60, '9') + "\n", "--x", "fix"),
                         ("--x '" + std::string(40, '9') + "...': fix").c_str(), config_error);
    CHECK_THROWS_AS((void)parse_input_number<double>("inf", "--x", "fix"), config_error); // finite only
}

TEST_CASE("Core.quantile.numpy_linear_rule") {
    const std::vector<double> v{1.0, 2.0, 4.0, 8.0};
    // numpy.percentile([1, 2, 4, 8], [0, 25, 50, 90, 100]) = 1, 1.75, 3, 6.8, 8
    CHECK(quantile_sorted<double>(v, 0.0) == 1.0);
    CHECK(quantile_sorted<double>(v, 0.25) == doctest::Approx(1.75));
    CHECK(quantile_sorted<double>(v, 0.5) == doctest::Approx(3.0));
    CHECK(quantile_sorted<double>(v, 0.9) == doctest::Approx(6.8));
    CHECK(quantile_sorted<double>(v, 1.0) == 8.0);
    CHECK(quantile_sorted<double>(v, 1.5) == 8.0); // clamped
    CHECK(quantile_sorted<double>(std::vector<double>{}, 0.5) == 0.0);
    const std::vector<float> one{3.5F};
    CHECK(quantile_sorted<float>(one, 0.99) == 3.5);
    // The rank accessor form gives the same answers (the streaming digest uses it).
    CHECK(quantile_at_rank(v.size(), 0.9, [&](std::size_t i) { return v[i]; }) == quantile_sorted<double>(v, 0.9));
}

TEST_CASE("Core.quantile.weighted_step_cdf") {
    const std::vector<std::pair<double, double>> m{{1.0, 1.0}, {2.0, 2.0}, {5.0, 1.0}};
    CHECK(weighted_quantile_sorted(m, 0.0) == 1.0);
    CHECK(weighted_quantile_sorted(m, 0.25) == 1.0);
    CHECK(weighted_quantile_sorted(m, 0.5) == 2.0);
    CHECK(weighted_quantile_sorted(m, 0.76) == 5.0);
    CHECK(weighted_quantile_sorted(m, 1.0) == 5.0);
    CHECK(weighted_quantile_sorted({}, 0.5) == 0.0);
}

TEST_CASE("Core.quantile.median_by_selection_is_the_sorted_median") {
    std::vector<double> odd{9.0, 1.0, 5.0, 3.0, 7.0};
    CHECK(median_unsorted<double>(odd) == 5.0);
    std::vector<float> even{4.0F, 1.0F, 3.0F, 2.0F};
    CHECK(median_unsorted<float>(even) == 2.5);
    CHECK(median_unsorted<double>(std::span<double>{}) == 0.0);
    // Whatever the order, the same value as quantile_sorted(sorted, 0.5), bit for bit.
    std::vector<double> v{0.1, 0.7, 0.3, 1e-9, 3.3, 2.2, 0.9, 5.5};
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    CHECK(median_unsorted<double>(v) == quantile_sorted<double>(sorted, 0.5));
    // A weight sum a rounding short of the level: the slack keeps the value it should reach.
    const std::vector<std::pair<double, double>> m{{1.0, 0.7}, {2.0, 0.1}, {3.0, 0.2}};
    CHECK(weighted_quantile_sorted(m, 0.8) == 3.0);        // 0.7 + 0.1 < 0.8 in doubles
    CHECK(weighted_quantile_sorted(m, 0.8, 1e-12) == 2.0); // within the slack
}

// A ScheduledRequest is built by its named constructors only.
static_assert(!std::is_default_constructible_v<ScheduledRequest>);
static_assert(!std::is_aggregate_v<ScheduledRequest>);
static_assert(!std::is_constructible_v<ScheduledRequest, llmemu::RequestId, std::uint32_t, std::uint32_t, std::uint32_t,
                                       bool, bool>);

TEST_CASE("Core.step.named_constructors_say_what_the_chunk_is") {
    constexpr auto first = ScheduledRequest::prefill_chunk(7, 2048, 0, 5000).admitted();
    static_assert(first.is_prefill() && first.is_new && !first.samples_token);
    CHECK(first.num_scheduled_tokens == 2048);
    CHECK(first.num_computed_tokens == 0);
    const auto second = ScheduledRequest::prefill_chunk(7, 2048, 2048, 5000);
    CHECK(second.is_prefill());
    CHECK_FALSE(second.is_new);
    CHECK_FALSE(second.samples_token);
    const auto last = ScheduledRequest::prefill_chunk(7, 904, 4096, 5000);
    CHECK(last.samples_token);
    const auto d = ScheduledRequest::decode(3, 900, 41);
    CHECK(d.is_decode());
    CHECK(d.samples_token);
    CHECK(d.num_scheduled_tokens == 1);
    CHECK(d.num_computed_tokens == 900);
    CHECK(d.num_output_tokens == 41);
    // A recompute after preemption: prompt plus generated tokens, outputs kept.
    const auto re = ScheduledRequest::prefill_chunk(5, 130, 0, 130, 30).admitted();
    CHECK(re.samples_token);
    CHECK(re.num_output_tokens == 30);
    CHECK(re.is_prefill());
}

TEST_CASE("Core.step.validate_refuses_impossible_steps_naming_the_request") {
    StepBatch ok{3, {ScheduledRequest::decode(1, 10, 1), ScheduledRequest::prefill_chunk(2, 64, 0, 100).admitted()}};
    CHECK_NOTHROW(ok.validate());
    const auto validate = [](std::uint64_t step, std::vector<ScheduledRequest> rs) {
        StepBatch{step, std::move(rs)}.validate();
    };
    CHECK_THROWS_WITH_AS(validate(4, {}), doctest::Contains("step 4: schedules no requests"), llmemu::request_error);
    StepBatch dup{5, {ScheduledRequest::decode(9, 10, 1), ScheduledRequest::decode(9, 11, 2)}};
    CHECK_THROWS_WITH_AS(dup.validate(), doctest::Contains("step 5: request 9 appears twice"), llmemu::request_error);
    // Large steps use the hash table path: a duplicate far apart is found, distinct ids pass.
    StepBatch big{6, {}};
    for (llmemu::RequestId i = 0; i < 2000; ++i) big.requests.push_back(ScheduledRequest::decode(i * 7919, 5, 1));
    CHECK_NOTHROW(big.validate());
    big.requests.push_back(ScheduledRequest::decode(1234 * 7919, 5, 1));
    CHECK_THROWS_WITH_AS(big.validate(), doctest::Contains("request 9772046 appears twice"), llmemu::request_error);
    StepBatch mid{7, {}};
    for (llmemu::RequestId i = 0; i < 300; ++i) mid.requests.push_back(ScheduledRequest::decode(i, 5, 1));
    CHECK_NOTHROW(mid.validate());
    mid.requests.push_back(ScheduledRequest::decode(0, 5, 1));
    CHECK_THROWS_WITH_AS(mid.validate(), doctest::Contains("request 0 appears twice"), llmemu::request_error);
    // Ascending ids (a scheduler's usual batch) pass at once; an id repeated next to itself does not.
    StepBatch asc{7, {}};
    for (llmemu::RequestId i = 0; i < 40; ++i) asc.requests.push_back(ScheduledRequest::decode(i, 5, 1));
    CHECK_NOTHROW(asc.validate());
    asc.requests.push_back(ScheduledRequest::decode(39, 5, 1));
    CHECK_THROWS_WITH_AS(asc.validate(), doctest::Contains("request 39 appears twice"), llmemu::request_error);

    auto no_token = ScheduledRequest::decode(4, 10, 1);
    no_token.samples_token = false;
    CHECK_THROWS_WITH_AS(validate(8, {no_token}), doctest::Contains("request 4 is a decode that samples no token"),
                         llmemu::request_error);
    auto wide = ScheduledRequest::decode(4, 10, 1);
    wide.num_scheduled_tokens = 3;
    CHECK_THROWS_WITH_AS(validate(8, {wide}), doctest::Contains("is a decode of 3 tokens"), llmemu::request_error);
    CHECK_THROWS_WITH_AS(validate(8, {ScheduledRequest::prefill_chunk(2, 0, 0, 10)}),
                         doctest::Contains("request 2 has num_scheduled_tokens = 0"), llmemu::request_error);
    CHECK_THROWS_WITH_AS(validate(8, {ScheduledRequest::prefill_chunk(2, 10, 0xFFFFFFFFU, 10)}),
                         doctest::Contains("past 2^32-1"), llmemu::request_error);
}
