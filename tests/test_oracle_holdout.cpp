// Holdout on the bundled real A40 subset: the oracle's accuracy bounds (behaviour, not speed).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "llmemu/oracle/holdout.hpp"
#include "llmemu/profile/llm_emu_json.hpp"

namespace {
const std::filesystem::path bundled_pack =
    std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";
}

TEST_CASE("OracleHoldout.bundled_a40_subset_meets_accuracy_bounds") {
    const llmemu::ProfileStore store = llmemu::load_llm_emu_pack(bundled_pack);
    // `llmemu profile holdout --fraction 0.2 --seed 0` (the defaults).
    const llmemu::HoldoutReport r = llmemu::run_holdout(store, 0.2, 0);
    REQUIRE(r.tables.size() == 3);
    for (const auto& t : r.tables) {
        CAPTURE(llmemu::table_name(t.table));
        CAPTURE(t.oracle.median_abs_pct_error);
        CAPTURE(t.nearest_bucket.median_abs_pct_error);
        CHECK(t.hidden_buckets == static_cast<std::size_t>(std::llround(0.2 * static_cast<double>(t.buckets))));
        // Never worse than the nearest-bucket baseline by more than 0.25 percentage points.
        CHECK(t.oracle.median_abs_pct_error <= t.nearest_bucket.median_abs_pct_error + 0.25);
        CHECK(t.oracle.mean_ks > 0.0);
        CHECK(t.oracle.mean_ks < 1.0);
        if (t.table == llmemu::TableKind::decode) CHECK(t.oracle.median_abs_pct_error <= 2.0);
        if (t.table == llmemu::TableKind::prefill) CHECK(t.oracle.median_abs_pct_error <= 6.0);
    }
}

TEST_CASE("OracleHoldout.baseline_is_nearest_bucket_and_scores_are_exact") {
    // Three buckets on a line: hiding the middle one predicts it from its neighbours.
    llmemu::ProfileStore s;
    s.set_bucketing({1, 5});
    s.set_table(llmemu::TableKind::decode,
                llmemu::ProfileTable({1, 5}, {{1, 2}, {2, 2}, {3, 2}}, {2, 2, 2}, {100, 100, 200, 200, 400, 400}));
    const auto r =
        llmemu::run_holdout(s, 0.34, 1, llmemu::OracleOptions{}, llmemu::NearestBucket{}, llmemu::UniformWeights{});
    REQUIRE(r.tables.size() == 1);
    const auto& t = r.tables[0];
    CHECK(t.hidden_buckets == 1);
    // With the baseline's own policies, oracle and baseline agree exactly.
    CHECK(t.oracle.median_abs_pct_error == doctest::Approx(t.nearest_bucket.median_abs_pct_error));
    CHECK(t.oracle.mean_ks == doctest::Approx(t.nearest_bucket.mean_ks));
    // A nearest bucket holding different values from the hidden one: KS distance 1.
    CHECK(t.nearest_bucket.mean_ks == doctest::Approx(1.0));
    CHECK_THROWS_AS(llmemu::run_holdout(s, 0.0, 1), llmemu::config_error);
    CHECK_THROWS_AS(llmemu::run_holdout(s, 1.0, 1), llmemu::config_error);
}

TEST_CASE("OracleHoldout.seeds_0_to_9_and_the_noise_floor" * doctest::timeout(60)) {
    // docs/profiles.md "Held-out accuracy": the oracle over seeds 0-9 (`llmemu profile holdout
    // --seeds 10`) and, on the two seeds above 5 %, the leave-one-out floor (`--leave-one-out`).
    const llmemu::ProfileStore store = llmemu::load_llm_emu_pack(bundled_pack);
    int prefill_under_5 = 0;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        const llmemu::HoldoutReport r = llmemu::run_holdout(store, 0.2, seed);
        for (const auto& t : r.tables) {
            CAPTURE(seed);
            CAPTURE(llmemu::table_name(t.table));
            CAPTURE(t.oracle.median_abs_pct_error);
            if (t.table == llmemu::TableKind::decode) CHECK(t.oracle.median_abs_pct_error < 1.0);
            if (t.table == llmemu::TableKind::step_cycle) CHECK(t.oracle.median_abs_pct_error < 6.0);
            if (t.table == llmemu::TableKind::prefill) {
                CHECK(t.oracle.median_abs_pct_error < 7.0);
                prefill_under_5 += t.oracle.median_abs_pct_error < 5.0 ? 1 : 0;
            }
        }
    }
    CHECK(prefill_under_5 >= 7); // 8 of 10 measured: seeds 6 and 7 read 6.25 % and 6.56 %
    // With every other bucket visible (25 % more neighbours than any honest predictor has),
    // the oracle stays within a point of its holdout error and above 5 % on seed 7: what
    // is left is the hidden buckets' own sampling noise.
    llmemu::ProfileStore prefill_only;
    prefill_only.set_bucketing(store.bucketing());
    prefill_only.set_table(llmemu::TableKind::prefill, *store.table(llmemu::TableKind::prefill));
    for (std::uint64_t seed : {6U, 7U}) {
        llmemu::HoldoutSpec spec;
        spec.seed = seed;
        spec.leave_one_out = true;
        const llmemu::HoldoutReport r = llmemu::run_holdout(prefill_only, spec);
        REQUIRE(r.tables.size() == 1);
        const auto& t = r.tables[0];
        CAPTURE(seed);
        CAPTURE(t.oracle.median_abs_pct_error);
        CAPTURE(t.leave_one_out.median_abs_pct_error);
        CHECK(std::abs(t.leave_one_out.median_abs_pct_error - t.oracle.median_abs_pct_error) <= 1.0);
        CHECK(t.leave_one_out.median_abs_pct_error > (seed == 7 ? 5.0 : 4.0));
    }
}
