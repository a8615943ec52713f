// The learned step-latency model, its fallback use behind the oracle (and behind a
// bootstrap resample), its file format and the learned holdout (behaviour, not speed).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/oracle/holdout.hpp"
#include "llmemu/oracle/learned_fit.hpp"
#include "llmemu/profile/llm_emu_json.hpp"

namespace {

using namespace llmemu;

const std::filesystem::path bundled_pack =
    std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";

// Decode buckets on the diagonal tt == conc bucket centre: latency 1000 + 20 * tt µs,
// times a uniform +-10 % spread; prefill buckets over (tt, conc) with 5000 + 40 * tt.
ProfileStore synthetic_pack(std::uint64_t seed = 1) {
    ProfileStore s;
    const Bucketing b{1, 5};
    s.set_bucketing(b);
    Rng rng(seed);
    std::vector<BucketKey> keys;
    std::vector<std::uint32_t> counts;
    std::vector<float> samples;
    for (std::uint32_t conc = 2; conc <= 202; conc += 5) {
        keys.push_back({conc, conc});
        counts.push_back(40);
        for (int i = 0; i < 40; ++i)
            samples.push_back(static_cast<float>((1000.0 + 20.0 * conc) * (0.9 + 0.2 * uniform01(rng))));
    }
    s.set_table(TableKind::decode, ProfileTable(b, keys, counts, samples));
    keys.clear();
    counts.clear();
    samples.clear();
    for (std::uint32_t tt = 64; tt <= 1024; tt += 32) {
        for (std::uint32_t conc = 2; conc <= 62; conc += 20) {
            keys.push_back({tt, conc});
            counts.push_back(6);
            for (int i = 0; i < 6; ++i)
                samples.push_back(static_cast<float>((5000.0 + 40.0 * tt) * (0.9 + 0.2 * uniform01(rng))));
        }
    }
    s.set_table(TableKind::prefill, ProfileTable(b, keys, counts, samples));
    return s;
}

LearnedFitOptions quick_fit() {
    LearnedFitOptions o;
    o.folds = 3;
    o.l1_iterations = 2;
    o.max_tt_knots = 16;
    return o;
}

std::filesystem::path temp_file(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

} // namespace

TEST_CASE("OracleLearned.fits_the_trend_and_keeps_the_spread") {
    LearnedLatencyModel m = fit_learned_model(synthetic_pack(), quick_fit());
    REQUIRE(m.tables().size() == 2);
    CHECK(m.table_for(Phase::decode) == TableKind::decode);
    CHECK(m.table_for(Phase::prefill) == TableKind::prefill);
    // Between buckets (tt 99 is no bucket centre of the diagonal), the median follows the line.
    for (std::uint32_t tt : {12U, 99U, 150U}) {
        const double truth = 1000.0 + 20.0 * tt;
        CAPTURE(tt);
        CHECK(m.median({Phase::decode, tt, tt, 0}) == doctest::Approx(truth).epsilon(0.03));
    }
    CHECK(m.median({Phase::prefill, 500, 30, 0}) == doctest::Approx(5000.0 + 40.0 * 500).epsilon(0.03));
    // Intervals are ordered and as wide as the +-10 % spread (about +-8 % for 80 %).
    const StepShape s{Phase::decode, 100, 100, 0};
    const double q10 = m.quantile(s, 0.1);
    const double q90 = m.quantile(s, 0.9);
    CHECK(q10 < m.median(s));
    CHECK(q90 > m.median(s));
    CHECK(q90 / q10 > 1.08);
    CHECK(q90 / q10 < 1.35);
    // sample() draws from that distribution: ~80 % inside [q10, q90], values vary.
    Rng rng(3);
    int inside = 0;
    double lo = 1e300;
    double hi = 0.0;
    for (int i = 0; i < 4000; ++i) {
        const double v = m.sample(s, rng);
        inside += v >= q10 && v <= q90 ? 1 : 0;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    CHECK(inside / 4000.0 == doctest::Approx(0.8).epsilon(0.05));
    CHECK(hi / lo > 1.1);
    CHECK(m.coverage().total == 4000);
    CHECK(m.coverage().learned == 4000);
    CHECK(m.coverage().interpolated == 4000);
    CHECK(m.cdf(s, q90) == doctest::Approx(0.9).epsilon(0.02));
}

TEST_CASE("OracleLearned.extrapolates_along_the_flops_trend_not_a_clamp") {
    const ProfileStore pack = synthetic_pack();
    LearnedLatencyModel m = fit_learned_model(pack, quick_fit());
    // Decode beyond tt/conc 202 and prefill beyond tt 1024: the line continues.
    for (std::uint32_t tt : {300U, 400U}) {
        CAPTURE(tt);
        CHECK(m.median({Phase::decode, tt, tt, 0}) == doctest::Approx(1000.0 + 20.0 * tt).epsilon(0.06));
    }
    const double edge = m.median({Phase::prefill, 1024, 30, 0});
    const double far = m.median({Phase::prefill, 2048, 30, 0});
    CHECK(far > 1.5 * edge);
    CHECK(far == doctest::Approx(5000.0 + 40.0 * 2048).epsilon(0.06));
    Rng rng(1);
    (void)m.sample({Phase::prefill, 2048, 30, 0}, rng);
    CHECK(m.coverage().out_of_range == 1);
    CHECK_FALSE(m.in_range({Phase::prefill, 2048, 30, 0}));
}

TEST_CASE("OracleLearned.roofline_terms_from_the_model_config") {
    ModelConfig c;
    CHECK(RooflineTerms::from(c).flops(10, 3) == doctest::Approx(10.0)); // not recorded: tokens
    c.num_hidden_layers = 36;
    c.hidden_size = 4096;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.head_dim = 128;
    c.intermediate_size = 12288;
    c.vocab_size = 151936;
    const RooflineTerms r = RooflineTerms::from(c);
    // Qwen3-8B: ~6.9 B parameters in the layers -> ~13.9 GFLOP per token; LM head 1.24 GFLOP per request.
    CHECK(r.flops_per_token ==
          doctest::Approx(2.0 * 36 * (2.0 * 4096 * 4096 + 2.0 * 4096 * 1024 + 3.0 * 4096 * 12288)));
    CHECK(r.flops_per_request == doctest::Approx(2.0 * 4096 * 151936));
}

TEST_CASE("OracleLearned.json_round_trip_and_recognition") {
    const LearnedLatencyModel m = fit_learned_model(synthetic_pack(), quick_fit(), "synthetic");
    const std::string text = m.to_json();
    CHECK(is_learned_model_json(text));
    CHECK_FALSE(is_learned_model_json(to_llm_emu_json(synthetic_pack())));
    const LearnedLatencyModel back = LearnedLatencyModel::parse(text, "m.json");
    CHECK(back.to_json() == text);
    for (const StepShape s : {StepShape{Phase::decode, 50, 50, 0}, StepShape{Phase::prefill, 3000, 80, 0}}) {
        CHECK(back.median(s) == m.median(s));
        CHECK(back.quantile(s, 0.95) == m.quantile(s, 0.95));
    }
    // Loaded by content through --profile, and it exposes the pack's model config.
    const auto path = temp_file("llmemu_test_learned_model.json", text);
    AnyLatencyModel any = AnyLatencyModel::from_spec(path.string());
    CHECK(any.describe().find("learned latency model") != std::string::npos);
    REQUIRE(any.model_config() != nullptr);
    Rng rng(2);
    CHECK(any.sample({Phase::decode, 10, 10, 0}, rng) > 0.0);
    CHECK(any.coverage().learned == 1);
    std::filesystem::remove(path);
}

TEST_CASE("OracleLearned.reader_names_the_field_and_the_fix") {
    const std::string good = fit_learned_model(synthetic_pack(), quick_fit()).to_json();
    auto fails_with = [](const std::string& text, const std::string& needle) {
        try {
            (void)LearnedLatencyModel::parse(text, "bad.json");
        } catch (const profile_error& e) {
            const std::string w = e.what();
            CAPTURE(w);
            CHECK(w.find("bad.json") != std::string::npos);
            CHECK(w.find("llmemu profile fit") != std::string::npos);
            CHECK(w.find(needle) != std::string::npos);
            return;
        }
        FAIL("accepted: " << text.substr(0, 80));
    };
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string t = good;
        const auto at = t.find(from);
        REQUIRE(at != std::string::npos);
        return t.replace(at, from.size(), to);
    };
    fails_with("{", "not valid JSON");
    fails_with("[1]", "not an object");
    fails_with(replaced("\"llmemu_latency_model\": 1", "\"llmemu_latency_model\": 7"), "format version 7");
    fails_with(replaced("\"table\": \"decode\"", "\"table\": \"other\""), "tables[1].table");
    fails_with(replaced("\"quantile_levels\": 65", "\"quantile_levels\": 64"), "ratio_quantiles[0] has 65 values");
    fails_with(replaced("\"tt_knots\": {\"first\": ", "\"tt_knots\": {\"first\": \"x\", \"z\": "), "tt_knots.first");
    fails_with(replaced("\"roofline\"", "\"roofline_\""), "no \"roofline\"");
}

TEST_CASE("OracleLearned.fallback_takes_the_steps_the_pack_cannot_answer") {
    const ProfileStore pack = synthetic_pack();
    const LearnedLatencyModel learned = fit_learned_model(pack, quick_fit());
    OracleWithFallback<LatencyOracle<>> fb(LatencyOracle<>(pack), learned, FallbackScope::out_of_range);
    Rng rng(4);
    // Exact bucket: the oracle's raw samples.
    for (int i = 0; i < 10; ++i) (void)fb.sample({Phase::decode, 102, 102, 0}, rng);
    CHECK(fb.coverage().exact == 10);
    CHECK(fb.coverage().learned == 0);
    // Beyond the range: the learned trend, not the clamped edge bucket.
    double sum = 0.0;
    for (int i = 0; i < 200; ++i) sum += fb.sample({Phase::decode, 400, 400, 0}, rng);
    CHECK(sum / 200 == doctest::Approx(1000.0 + 20.0 * 400).epsilon(0.08));
    Coverage c = fb.coverage();
    CHECK(c.out_of_range == 200);
    CHECK(c.learned == 200);
    CHECK(c.total == 210);
    CHECK(c.exact + c.interpolated + c.out_of_range == c.total);
    // In range but between buckets: the oracle's neighbours (out_of_range scope) or the model (sparse scope).
    (void)fb.sample({Phase::decode, 100, 100, 0}, rng);
    CHECK(fb.coverage().learned == 200);
    OracleWithFallback<LatencyOracle<>> sparse(LatencyOracle<>(pack), learned, FallbackScope::sparse);
    (void)sparse.sample({Phase::decode, 100, 100, 0}, rng);
    CHECK(sparse.coverage().learned == 1);
    CHECK(sparse.coverage().interpolated == 1);
    // Through the spec API used by --fallback-model.
    const auto pack_path = temp_file("llmemu_test_fb_pack.json", to_llm_emu_json(pack));
    const auto model_path = temp_file("llmemu_test_fb_model.json", learned.to_json());
    AnyLatencyModel any = AnyLatencyModel::from_spec_with_fallback(pack_path.string(), model_path);
    (void)any.sample({Phase::decode, 999, 999, 0}, rng);
    CHECK(any.coverage().learned == 1);
    CHECK(any.store() != nullptr);
    CHECK_THROWS_AS(AnyLatencyModel::from_spec_with_fallback("const:5", model_path), profile_error);
    CHECK_THROWS_AS(AnyLatencyModel::from_spec_with_fallback(pack_path.string(), pack_path), profile_error);
    std::filesystem::remove(pack_path);
    std::filesystem::remove(model_path);
}

TEST_CASE("OracleLearned.holdout_on_the_bundled_pack" * doctest::timeout(120)) {
    // Prefill and decode (step_cycle repeats their cells; leaving it out halves the time).
    ProfileStore store = load_llm_emu_pack(bundled_pack);
    store.remove_table(TableKind::step_cycle);
    HoldoutSpec spec;
    spec.learned = true;
    spec.fit = quick_fit();
    const HoldoutReport r = run_holdout(store, spec);
    REQUIRE(r.tables.size() == 2);
    for (const auto& t : r.tables) {
        CAPTURE(table_name(t.table));
        CAPTURE(t.learned.median_abs_pct_error);
        CAPTURE(t.learned.coverage_80);
        CAPTURE(t.learned.coverage_95);
        // The oracle's figures are those of the plain holdout (same hidden buckets).
        // Oracle with out-of-range fallback: never worse than the oracle by more than 0.25 points.
        CHECK(t.oracle_fallback.median_abs_pct_error <= t.oracle.median_abs_pct_error + 0.25);
        CHECK(t.learned.median_abs_pct_error < t.nearest_bucket.median_abs_pct_error + 3.0);
        if (t.table == TableKind::prefill) {
            CHECK(t.learned.coverage_80 == doctest::Approx(0.80).epsilon(0.08));
            CHECK(t.learned.coverage_95 == doctest::Approx(0.95).epsilon(0.04));
        }
    }
    const HoldoutReport plain = run_holdout(store, 0.2, 0);
    for (std::size_t i = 0; i < plain.tables.size(); ++i)
        CHECK(plain.tables[i].oracle.median_abs_pct_error == r.tables[i].oracle.median_abs_pct_error);
    // Extrapolation: hide the largest 10 % of token counts; on decode the roofline trend
    // beats the clamp.
    spec.mode = HoldoutMode::extrapolate;
    spec.fraction = 0.1;
    const HoldoutReport e = run_holdout(store, spec);
    for (const auto& t : e.tables) {
        if (t.table != TableKind::decode) continue;
        CAPTURE(t.oracle.median_abs_pct_error);
        CAPTURE(t.learned.median_abs_pct_error);
        CHECK(t.learned.median_abs_pct_error < t.oracle.median_abs_pct_error);
        CHECK(t.learned.median_abs_pct_error < 10.0);
    }
}

TEST_CASE("OracleLearned.bootstrap_keeps_the_fallback_behind_the_resampled_pack") {
    auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(bundled_pack));
    // A learned fallback is kept (not refitted) behind the resampled pack.
    const AnyLatencyModel fb = AnyLatencyModel(OracleWithFallback<AnyLatencyModel::Oracle>(
        AnyLatencyModel::Oracle(store), fit_learned_model(synthetic_pack(), quick_fit()), FallbackScope::out_of_range));
    const AnyLatencyModel fbr = bootstrap_model(fb, 5);
    const auto* t = fbr.target<OracleWithFallback<AnyLatencyModel::Oracle>>();
    REQUIRE(t != nullptr);
    CHECK(t->scope() == FallbackScope::out_of_range);
    CHECK(t->store() == bootstrap_resample(*store, 5));
}
