// Tests for workload/{arrivals,lengths,trace,workload}.hpp.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/workload/arrivals.hpp"
#include "llmemu/workload/lengths.hpp"
#include "llmemu/workload/trace.hpp"
#include "llmemu/workload/workload.hpp"

namespace {
const std::filesystem::path data_dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data";

std::string trace_error(const std::string& csv) {
    std::istringstream in(csv);
    try {
        (void)llmemu::parse_trace_csv(in, "t.csv", true);
    } catch (const llmemu::workload_error& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST_CASE("Workload.arrivals.inf_sends_all_at_zero") {
    llmemu::Rng rng(1);
    const auto t = llmemu::arrival_times(5, {}, rng);
    CHECK(t == std::vector<double>(5, 0.0));
}

TEST_CASE("Workload.arrivals.vllm_normalisation_and_seed") {
    for (double b : {1.0, 0.25, 4.0}) {
        CAPTURE(b);
        llmemu::Rng a(42), c(42), d(43);
        const llmemu::ArrivalProcess p{8.0, b};
        const auto t1 = llmemu::arrival_times(1000, p, a);
        const auto t2 = llmemu::arrival_times(1000, p, c);
        const auto t3 = llmemu::arrival_times(1000, p, d);
        CHECK(t1 == t2);
        CHECK(t1 != t3);
        // vLLM rescales so the last request is sent at exactly n / rate.
        CHECK(t1.back() == doctest::Approx(1000.0 / 8.0));
        for (std::size_t i = 1; i < t1.size(); ++i) REQUIRE(t1[i] >= t1[i - 1]);
        CHECK(t1.front() > 0.0);
    }
}

TEST_CASE("Workload.arrivals.burstiness_controls_dispersion") {
    // Coefficient of variation of Gamma(k) gaps is 1/sqrt(k): 2 for k=0.25, 1 for Poisson.
    auto cv = [](double b) {
        llmemu::Rng rng(7);
        const auto t = llmemu::arrival_times(20000, {10.0, b}, rng);
        double sum = 0, sq = 0;
        double prev = 0;
        for (double x : t) {
            const double g = x - prev;
            prev = x;
            sum += g;
            sq += g * g;
        }
        const double n = static_cast<double>(t.size());
        const double mean = sum / n;
        return std::sqrt(sq / n - mean * mean) / mean;
    };
    CHECK(cv(1.0) == doctest::Approx(1.0).epsilon(0.05));
    CHECK(cv(0.25) == doctest::Approx(2.0).epsilon(0.08));
    CHECK(cv(4.0) == doctest::Approx(0.5).epsilon(0.05));
    llmemu::Rng rng(1);
    const auto constant = llmemu::arrival_times(4, {2.0, std::numeric_limits<double>::infinity()}, rng);
    CHECK(constant == std::vector<double>{0.5, 1.0, 1.5, 2.0});
}

TEST_CASE("Workload.arrivals.rejects_bad_parameters") {
    llmemu::Rng rng;
    CHECK_THROWS_AS(llmemu::arrival_times(3, {0.0, 1.0}, rng), llmemu::workload_error);
    CHECK_THROWS_AS(llmemu::arrival_times(3, {-1.0, 1.0}, rng), llmemu::workload_error);
    CHECK_THROWS_AS(llmemu::arrival_times(3, {1.0, 0.0}, rng), llmemu::workload_error);
    CHECK_THROWS_AS(llmemu::arrival_times(3, {std::nan(""), 1.0}, rng), llmemu::workload_error);
}

TEST_CASE("Workload.lengths.uniform_matches_vllm_bounds") {
    const llmemu::UniformLengths u(100, 10, 0.5);
    CHECK(u.input_range() == std::pair<std::uint32_t, std::uint32_t>{50, 150});
    CHECK(u.output_range() == std::pair<std::uint32_t, std::uint32_t>{5, 15});
    llmemu::Rng rng(3);
    bool lo = false, hi = false;
    for (int i = 0; i < 5000; ++i) {
        const auto p = u.sample(rng);
        REQUIRE(p.prompt_len >= 50);
        REQUIRE(p.prompt_len <= 150);
        REQUIRE(p.output_len >= 5);
        REQUIRE(p.output_len <= 15);
        lo = lo || p.prompt_len == 50;
        hi = hi || p.prompt_len == 150;
    }
    CHECK(lo);
    CHECK(hi);
    const llmemu::UniformLengths fixed(64, 8, 0.0);
    CHECK(fixed.sample(rng) == llmemu::LengthPair{64, 8});
    CHECK(llmemu::UniformLengths(1, 1, 0.9).output_range().first == 1);
    CHECK_THROWS_AS(llmemu::UniformLengths(10, 10, 1.0), llmemu::workload_error);
    CHECK_THROWS_AS(llmemu::UniformLengths(10, 10, -0.1), llmemu::workload_error);
    CHECK_THROWS_AS(llmemu::UniformLengths(0, 10, 0.1), llmemu::workload_error);
    CHECK_THROWS_AS(llmemu::FixedLengths(5, 0), llmemu::workload_error);
}

TEST_CASE("Workload.lengths.empirical_draws_observed_pairs") {
    const llmemu::EmpiricalLengths e({{10, 1}, {20, 2}, {30, 3}});
    llmemu::Rng rng(5);
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 3000; ++i) {
        const auto p = e.sample(rng);
        REQUIRE(p.prompt_len == p.output_len * 10);
        ++seen[p.output_len - 1];
    }
    for (int s : seen) CHECK(s > 800);
    CHECK_THROWS_AS(llmemu::EmpiricalLengths({}), llmemu::workload_error);
}

TEST_CASE("Workload.trace.reads_bundled_traces") {
    const auto conv = llmemu::read_trace_csv(data_dir / "splitwise_conv.csv", true);
    CHECK(conv.has_arrivals);
    CHECK(conv.requests.size() == 19366);
    CHECK(conv.requests[0].prompt_len == 374);
    CHECK(conv.requests[0].output_len == 44);
    CHECK(conv.requests[1].arrived_at == doctest::Approx(4.314579));
    CHECK(conv.mean_rate() == doctest::Approx(5.4).epsilon(0.05));
    const auto code = llmemu::read_trace_csv(data_dir / "splitwise_code.csv", true);
    CHECK(code.requests.size() == 8819);
    // The arXiv file has lengths only: fine as a length source, refused for replay.
    const auto arxiv = llmemu::read_trace_csv(data_dir / "arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv");
    CHECK_FALSE(arxiv.has_arrivals);
    CHECK(arxiv.requests.size() == 28257);
    CHECK(arxiv.requests[0].prompt_len == 3772);
    CHECK_THROWS_WITH_AS(
        llmemu::read_trace_csv(data_dir / "arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv", true),
        doctest::Contains("lacks 'arrived_at'"), llmemu::workload_error);
}

TEST_CASE("Workload.trace.errors_name_file_line_and_fix") {
    const std::string h = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
    CHECK(trace_error(h + "0,10,5\n0.5,10,5\n") == "");
    CHECK(trace_error(h + "0,10,5\r\n\n0.5,10,5\r\n") == "");
    CHECK(trace_error("a,b,c\n1,2,3\n").find("t.csv:1: header 'a,b,c' lacks") == 0);
    CHECK(trace_error(h + "0,10,5\n-1,10,5\n").find("t.csv:3: arrived_at is negative") == 0);
    CHECK(trace_error(h + "1,10,5\n0.5,10,5\n").find("t.csv:3: arrived_at 0.5 is earlier") == 0);
    CHECK(trace_error(h + "0,0,5\n").find("t.csv:2: column 'num_prefill_tokens' is 0") == 0);
    CHECK(trace_error(h + "0,x,5\n").find("t.csv:2: column 'num_prefill_tokens' has 'x'") == 0);
    CHECK(trace_error(h + "0,10.5,5\n").find("not a whole number") != std::string::npos);
    CHECK(trace_error(h + "0,10\n").find("t.csv:2: has 2 fields") == 0);
    CHECK(trace_error(h).find("no requests") != std::string::npos);
    CHECK(trace_error("").find("empty file") != std::string::npos);
    CHECK_THROWS_WITH_AS(llmemu::read_trace_csv("/nonexistent/x.csv"), doctest::Contains("cannot open"),
                         llmemu::workload_error);
}

TEST_CASE("Workload.trace.take_first_and_rescale") {
    std::istringstream in(
        "arrived_at,num_prefill_tokens,num_decode_tokens,extra\n0,1,1,z\n1,2,2,z\n2,3,3,z\n4,4,4,z\n");
    auto t = llmemu::parse_trace_csv(in, "mem", true);
    CHECK(t.mean_rate() == doctest::Approx(1.0));
    llmemu::take_first(t, 3);
    CHECK(t.requests.size() == 3);
    CHECK(t.mean_rate() == doctest::Approx(1.5));
    llmemu::rescale_to_rate(t, 3.0);
    CHECK(t.mean_rate() == doctest::Approx(3.0));
    CHECK(t.requests[1].arrived_at == doctest::Approx(0.5));
    CHECK_THROWS_AS(llmemu::rescale_to_rate(t, 0.0), llmemu::workload_error);
}

TEST_CASE("Workload.build.kinds_and_determinism") {
    llmemu::WorkloadSpec s;
    s.kind = llmemu::WorkloadKind::random;
    s.num_prompts = 50;
    s.input_len = 100;
    s.output_len = 20;
    s.range_ratio = 0.2;
    s.request_rate = 4.0;
    s.seed = 9;
    const auto a = llmemu::build_workload(s);
    const auto b = llmemu::build_workload(s);
    REQUIRE(a.requests.size() == 50);
    for (std::size_t i = 0; i < 50; ++i) {
        CHECK(a.requests[i].arrival_s == b.requests[i].arrival_s);
        CHECK(a.requests[i].prompt_len == b.requests[i].prompt_len);
        CHECK(a.requests[i].prompt_len >= 80);
        CHECK(a.requests[i].prompt_len <= 120);
    }
    CHECK(a.requests.back().arrival_s == doctest::Approx(12.5));

    s.kind = llmemu::WorkloadKind::trace;
    s.trace_path = data_dir / "splitwise_code.csv";
    s.num_prompts = 100;
    s.request_rate.reset();
    const auto replay = llmemu::build_workload(s);
    REQUIRE(replay.requests.size() == 100);
    CHECK(replay.requests[0].prompt_len == 4808);
    CHECK(replay.requests[0].output_len == 10);
    CHECK(replay.requests[1].arrival_s == doctest::Approx(0.052));
    s.request_rate = 10.0;
    const auto fast = llmemu::build_workload(s);
    CHECK(fast.requests.back().arrival_s == doctest::Approx(10.0));

    s.kind = llmemu::WorkloadKind::empirical;
    s.trace_path = data_dir / "arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv";
    s.num_prompts = 20;
    const auto emp = llmemu::build_workload(s);
    CHECK(emp.requests.size() == 20);
    CHECK(emp.requests.back().arrival_s == doctest::Approx(2.0));
}
