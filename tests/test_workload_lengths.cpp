// Tests for workload/length_model.hpp: the output-length model, its KS evaluation against
// the two baselines, its file format and the EOS emitter built on it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "llmemu/tokens/uniform_vocab_emitter.hpp"
#include "llmemu/workload/length_model.hpp"
#include "llmemu/workload/trace.hpp"
#include "llmemu/workload/workload.hpp"

using namespace llmemu;

namespace {
const std::filesystem::path data_dir = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data";

std::string model_error(const std::string& json) {
    try {
        (void)parse_output_length_model(json, "m.json");
    } catch (const workload_error& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST_CASE("Workload.length_model.window_and_sampling") {
    // Prompts 10, 20, ..., 100 with output = prompt / 10.
    std::vector<LengthPair> pairs;
    for (std::uint32_t i = 10; i >= 1; --i) pairs.push_back({i * 10, i});
    const OutputLengthModel m(pairs, 3);
    CHECK(m.pairs().front().prompt_len == 10);
    CHECK(m.window(50) == std::pair<std::size_t, std::size_t>{3, 6}); // prompts 40, 50, 60
    CHECK(m.window(1) == std::pair<std::size_t, std::size_t>{0, 3});
    CHECK(m.window(1000) == std::pair<std::size_t, std::size_t>{7, 10});
    Rng g(1);
    for (int i = 0; i < 200; ++i) {
        const auto v = m.sample(50, g);
        REQUIRE((v >= 4 && v <= 6));
    }
    CHECK(OutputLengthModel(pairs, 1000).k() == 10);
    CHECK_THROWS_AS(OutputLengthModel({}, 3), workload_error);
    CHECK_THROWS_AS(OutputLengthModel({{0, 1}}, 3), workload_error);
}

TEST_CASE("Workload.length_model.ks_distance_by_hand") {
    // Model: 1 or 3 equally likely; real: 1, 2, 3, 3 -> |F| differences 0.25, 0.25, 0.
    const LengthPmf m{{1, 0.5}, {3, 0.5}};
    CHECK(ks_distance(m, {3, 1, 2, 3}) == doctest::Approx(0.25));
    CHECK(ks_distance(m, {1, 3}) == doctest::Approx(0.0));
    CHECK(ks_distance({{5, 1.0}}, {1, 2, 3, 4}) == doctest::Approx(1.0));
    CHECK(ks_distance(m, {}) == 1.0);
}

TEST_CASE("Workload.length_model.splitwise_conv_holdout_beats_both_baselines") {
    // Fit on the first half of the hour, evaluate on the second half.
    const Trace t = read_trace_csv(data_dir / "splitwise_conv.csv", true);
    const auto all = t.lengths();
    const std::size_t half = all.size() / 2;
    const std::vector<LengthPair> train(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(half));
    const std::vector<LengthPair> test(all.begin() + static_cast<std::ptrdiff_t>(half), all.end());
    const OutputLengthModel m = fit_output_length_model(train, 0, "splitwise_conv first half");
    const KsTable k = evaluate_output_lengths(m, train, test, mean_output_len(train), 8);
    MESSAGE("k = " << m.k() << " of " << train.size() << "; fixed baseline " << k.fixed_output_len << " tokens");
    for (const auto& r : k.bins)
        MESSAGE("prompt " << r.prompt_lo << "-" << r.prompt_hi << " (" << r.requests << "): model " << r.ks_model
                          << ", unconditional " << r.ks_unconditional << ", fixed " << r.ks_fixed);
    MESSAGE("overall: model " << k.overall.ks_model << ", unconditional " << k.overall.ks_unconditional << ", fixed "
                              << k.overall.ks_fixed);
    MESSAGE("bin mean: model " << k.bin_mean.ks_model << ", unconditional " << k.bin_mean.ks_unconditional << ", fixed "
                               << k.bin_mean.ks_fixed);
    CHECK(k.bins.size() == 8);
    CHECK(k.overall.ks_model < k.overall.ks_unconditional);
    CHECK(k.overall.ks_model < k.overall.ks_fixed);
    CHECK(k.bin_mean.ks_model < k.bin_mean.ks_unconditional);
    CHECK(k.bin_mean.ks_model < k.bin_mean.ks_fixed);
    CHECK(k.bin_mean.ks_unconditional < k.bin_mean.ks_fixed);
    // Sampling gives the predictive distribution: a draw per held-out prompt is as close.
    Rng g(3);
    std::vector<std::uint32_t> drawn;
    std::vector<std::uint32_t> real;
    for (const auto& p : test) {
        drawn.push_back(m.sample(p.prompt_len, g));
        real.push_back(p.output_len);
    }
    std::vector<std::pair<std::uint32_t, double>> w;
    for (const auto v : drawn) w.emplace_back(v, 1.0);
    CHECK(ks_distance(detail::length_pmf_normalised(w), real) < k.overall.ks_unconditional + 0.02);
}

TEST_CASE("Workload.length_model.file_round_trip_and_errors") {
    std::vector<LengthPair> pairs{{5, 1}, {7, 2}, {9, 3}};
    const OutputLengthModel m(pairs, 2, "a \"quoted\" source");
    const std::string text = write_output_length_model(m);
    const OutputLengthModel back = parse_output_length_model(text, "m.json");
    CHECK(back.k() == 2);
    CHECK(back.source() == "a \"quoted\" source");
    CHECK(back.pairs() == m.pairs());

    const std::string head = R"({"format": "llmemu-output-length-model", "version": 1, "method": "nearest-prompts", )";
    CHECK(model_error(head + R"("k": 1, "prompt_len": [1], "output_len": [2]})").empty());
    CHECK(model_error("{").find("output-length model 'm.json': not valid JSON") == 0);
    CHECK(model_error("[]").find("the top level is not an object") != std::string::npos);
    CHECK(model_error(R"({"format": "x"})").find("'format' must be \"llmemu-output-length-model\"") !=
          std::string::npos);
    CHECK(model_error(R"({"format": "llmemu-output-length-model", "version": 2})").find("'version' must be 1") !=
          std::string::npos);
    CHECK(model_error(head + R"("k": 0, "prompt_len": [1], "output_len": [2]})").find("'k' must be") !=
          std::string::npos);
    CHECK(model_error(head + R"("k": 1, "output_len": [2]})").find("'prompt_len' is missing or not an array") !=
          std::string::npos);
    CHECK(model_error(head + R"("k": 1, "prompt_len": [1, 0], "output_len": [2, 2]})")
              .find("'prompt_len'[1] is 0; lengths must be whole numbers") != std::string::npos);
    CHECK(model_error(head + R"("k": 1, "prompt_len": [1, 2], "output_len": [2]})")
              .find("'prompt_len' has 2 entries but 'output_len' has 1") != std::string::npos);
    CHECK(model_error(head + R"("k": 1, "prompt_len": [], "output_len": []})").find("no training requests") !=
          std::string::npos);
    CHECK(model_error(head + R"("k": 5, "prompt_len": [1], "output_len": [2]})")
              .find("'k' is 5 but the model holds only 1 requests") != std::string::npos);
    CHECK(model_error(head + R"("k": 1, "source": 3, "prompt_len": [1], "output_len": [2]})")
              .find("'source' must be a string") != std::string::npos);
    CHECK_THROWS_WITH_AS((void)read_output_length_model("/nonexistent/m.json"), doctest::Contains("cannot open"),
                         workload_error);
}

TEST_CASE("Workload.length_model.emitter_ends_at_the_drawn_length") {
    std::vector<LengthPair> pairs;
    for (std::uint32_t i = 1; i <= 50; ++i) pairs.push_back({100, i}); // one prompt length, outputs 1..50
    auto model = std::make_shared<const OutputLengthModel>(pairs, 50);
    OutputLengthEmitter<UniformVocabEmitter> e(UniformVocabEmitter(), model, 7);
    OutputLengthEmitter<UniformVocabEmitter> same(UniformVocabEmitter(), model, 7);
    Rng rng(1);
    std::vector<std::uint32_t> lengths;
    for (RequestId id = 0; id < 40; ++id) {
        // Prefill of the 100-token prompt in two chunks, then decodes.
        std::uint32_t produced = 0;
        ScheduledRequest r = ScheduledRequest::prefill_chunk(id, 40, 60, 100); // the prompt's last chunk
        for (;;) {
            CHECK(OutputLengthEmitter<UniformVocabEmitter>::prompt_len_of(r) == 100);
            const EmittedToken t = e.emit(r, rng);
            ++produced;
            if (t.eos) break;
            REQUIRE(produced < 60);
            r = ScheduledRequest::decode(id, 100 + produced - 1, produced);
        }
        CHECK(produced == e.target(id, 100));
        CHECK(produced == same.target(id, 100)); // same seed, same lengths
        lengths.push_back(produced);
    }
    std::sort(lengths.begin(), lengths.end());
    CHECK(lengths.front() < lengths.back()); // drawn, not fixed
    // No model: exactly the inner emitter, never EOS.
    OutputLengthEmitter<UniformVocabEmitter> none(UniformVocabEmitter{});
    UniformVocabEmitter plain;
    Rng a(5), b(5);
    for (std::uint32_t i = 0; i < 100; ++i) {
        const ScheduledRequest r = ScheduledRequest::decode(1, 100 + i, i);
        const EmittedToken x = none.emit(r, a);
        const EmittedToken y = plain.emit(r, b);
        REQUIRE(x.id == y.id);
        REQUIRE(x.eos == y.eos);
    }
}

TEST_CASE("Workload.length_model.drives_synthetic_workloads") {
    const auto path = std::filesystem::temp_directory_path() / "llmemu_test_lengths.json";
    std::vector<LengthPair> pairs;
    for (std::uint32_t i = 1; i <= 100; ++i) pairs.push_back({i * 20, i < 50 ? 7U : 900U});
    { std::ofstream(path) << write_output_length_model(OutputLengthModel(pairs, 10)); }
    WorkloadSpec s;
    s.kind = WorkloadKind::random;
    s.num_prompts = 200;
    s.input_len = 1000;
    s.range_ratio = 0.9;
    s.output_lengths = path;
    const Workload w = build_workload(s);
    CHECK(w.description.find("output lengths from") != std::string::npos);
    for (const auto& r : w.requests) {
        // Short prompts (< ~1000) draw 7, long ones 900; the window blurs the boundary.
        if (r.prompt_len < 800) CHECK(r.output_len == 7);
        if (r.prompt_len > 1200) CHECK(r.output_len == 900);
    }
    CHECK(build_workload(s).requests[5].output_len == w.requests[5].output_len); // same seed
    s.kind = WorkloadKind::trace;
    s.trace_path = data_dir / "splitwise_conv.csv";
    CHECK_THROWS_WITH_AS((void)build_workload(s), doctest::Contains("its own output lengths"), workload_error);
    std::filesystem::remove(path);
}
