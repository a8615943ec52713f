// LatencyOracle, analytic profiles, AnyLatencyModel and the drift check between packs.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/oracle/drift.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/random.hpp"

namespace {

const std::filesystem::path bundled_pack =
    std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";

std::shared_ptr<const llmemu::ProfileStore> bundled_store() {
    static const auto store = std::make_shared<const llmemu::ProfileStore>(llmemu::load_llm_emu_pack(bundled_pack));
    return store;
}

llmemu::StepShape decode_shape(std::uint32_t n) {
    return {llmemu::Phase::decode, n, n, 0};
}
llmemu::StepShape prefill_shape(std::uint32_t tt, std::uint32_t n) {
    return {llmemu::Phase::prefill, tt, n, 0};
}

// A hand-made table: decode buckets at (tt, conc=2) for tt = 1..4 with known samples.
llmemu::ProfileStore toy_store(bool with_prefill = true, bool with_cycle = false) {
    llmemu::ProfileStore s;
    s.set_bucketing({1, 5});
    s.set_table(llmemu::TableKind::decode,
                llmemu::ProfileTable({1, 5}, {{1, 2}, {2, 2}, {3, 2}, {10, 12}}, {3, 3, 1, 4},
                                     {100, 101, 102, 200, 201, 202, 300, 1000, 1001, 1002, 1003}));
    if (with_prefill)
        s.set_table(llmemu::TableKind::prefill, llmemu::ProfileTable({1, 5}, {{100, 2}}, {3}, {5000, 5001, 5002}));
    if (with_cycle)
        s.set_table(llmemu::TableKind::step_cycle, llmemu::ProfileTable({1, 5}, {{50, 7}}, {3}, {7000, 7001, 7002}));
    return s;
}

} // namespace

TEST_CASE("Analytic.constant_and_affine_return_microseconds") {
    llmemu::Rng rng(1);
    CHECK(llmemu::ConstantProfile{30.0}.sample(decode_shape(5), rng) == doctest::Approx(30000.0));
    const llmemu::AffineProfile a{10.0, 2.0, 50.0};
    CHECK(a.sample(prefill_shape(100, 3), rng) == doctest::Approx(10000.0 + 200.0 + 150.0));
}

TEST_CASE("Oracle.exact_bucket_draws_raw_samples_uniformly") {
    llmemu::LatencyOracle<> o(toy_store());
    llmemu::Rng rng(7);
    std::map<double, int> seen;
    for (int i = 0; i < 3000; ++i) ++seen[o.sample(decode_shape(1), rng)];
    // conc 1 -> bucket centre 2; tt 1: samples 100, 101, 102 each about a third.
    REQUIRE(seen.size() == 3);
    for (auto [v, n] : seen) {
        CHECK((v == 100.0 || v == 101.0 || v == 102.0));
        CHECK(n > 850);
        CHECK(n < 1150);
    }
    CHECK(o.coverage() == llmemu::Coverage{3000, 0, 0, 3000});
}

TEST_CASE("Oracle.conc_is_bucketed_like_the_pack") {
    llmemu::LatencyOracle<> o(toy_store());
    llmemu::Rng rng(7);
    // conc 10..14 -> centre 12; tt 10 -> bucket (10, 12).
    for (std::uint32_t conc = 10; conc <= 14; ++conc) {
        const double v = o.sample({llmemu::Phase::decode, 10, conc, 0}, rng);
        CHECK(v >= 1000.0);
        CHECK(v <= 1003.0);
    }
    CHECK(o.coverage().exact == 5);
}

TEST_CASE("Oracle.deterministic_per_seed") {
    llmemu::LatencyOracle<> o(bundled_store());
    auto run = [&](std::uint64_t seed) {
        llmemu::Rng rng(seed);
        std::vector<double> out;
        for (std::uint32_t i = 1; i < 300; ++i) {
            out.push_back(o.sample(decode_shape(i % 260 + 1), rng));
            out.push_back(o.sample(prefill_shape(i * 7, i % 40 + 1), rng));
        }
        return out;
    };
    CHECK(run(11) == run(11));
    CHECK(run(11) != run(12));
}

TEST_CASE("AnyLatencyModel.from_spec.analytic_and_pack") {
    llmemu::Rng rng(3);
    auto c = llmemu::AnyLatencyModel::from_spec("const:12.5");
    CHECK(c.sample(decode_shape(3), rng) == doctest::Approx(12500.0));
    CHECK(c.model_config() == nullptr);
    CHECK(c.describe().find("12.5") != std::string::npos);
    CHECK(c.coverage().total == 1);
    auto a = llmemu::AnyLatencyModel::from_spec("affine:1ms,2us,3us");
    CHECK(a.sample(prefill_shape(10, 2), rng) == doctest::Approx(1000.0 + 20.0 + 6.0));
    CHECK(a.describe().starts_with("affine:1ms,2us,3us"));
    auto p = llmemu::AnyLatencyModel::from_spec(bundled_pack.string());
    REQUIRE(p.model_config() != nullptr);
    CHECK(p.model_config()->num_hidden_layers == 36);
    const double v = p.sample(decode_shape(1), rng);
    CHECK(v > 1000.0);
    CHECK(v < 400000.0);
    // Copies share the store but keep their own counters.
    auto q = p;
    (void)q.sample(decode_shape(1), rng);
    (void)q.sample(decode_shape(1), rng);
    CHECK(p.coverage().total == 1);
    CHECK(q.coverage().total == 3);
    CHECK(q.store() == p.store());
}

TEST_CASE("AnyLatencyModel.from_spec.bad_specs_throw_profile_error") {
    for (const char* bad :
         {"const:", "const:abc", "const:-1", "const:1,2", "const:ms", "const:5 ms", "const:1e308s", "const:infms",
          "affine:1ms,2us", "affine:1ms,xus,3us", "affine:1ms,2us,3us,4us", "", "no/such/pack.json", "pack:"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(llmemu::AnyLatencyModel::from_spec(bad), llmemu::profile_error);
    }
}

TEST_CASE("AnyLatencyModel.from_spec.units") {
    llmemu::Rng rng(1);
    const auto us = [&](const char* spec, llmemu::StepShape shape) {
        return llmemu::AnyLatencyModel::from_spec(spec).sample(shape, rng).us;
    };
    // One unit rule: us / µs / ms / s, a bare number is milliseconds.
    CHECK(us("const:30", decode_shape(1)) == doctest::Approx(30000.0));
    CHECK(us("const:30ms", decode_shape(1)) == doctest::Approx(30000.0));
    CHECK(us("const:250us", decode_shape(1)) == doctest::Approx(250.0));
    CHECK(us("const:250\xC2\xB5s", decode_shape(1)) == doctest::Approx(250.0));
    CHECK(us("const:0.5s", decode_shape(1)) == doctest::Approx(500000.0));
    // 2 ms + 25 us x 100 tokens + 40 us x 4 requests, however each term is spelled.
    for (const char* spec : {"affine:2ms,25us,40us", "affine:2,25us,40us", "affine:2000us,0.025ms,0.00004s"}) {
        CAPTURE(spec);
        CHECK(us(spec, prefill_shape(100, 4)) == doctest::Approx(2000.0 + 2500.0 + 160.0));
    }
    // The old bare affine form meant ms, us, us: refused, the message spells the new form.
    for (const auto& p : {std::pair<const char*, const char*>{"affine:2,25,40", "affine:2ms,25us,40us"},
                          {"affine:2ms,25,40us", "affine:2ms,25us,40us"},
                          {"affine:1.5,0,7", "affine:1.5ms,0us,7us"}}) {
        const char* old_form = p.first; // not a structured binding: CAPTURE's lambda (Clang 14)
        const char* fixed = p.second;
        CAPTURE(old_form);
        try {
            (void)llmemu::AnyLatencyModel::from_spec(old_form);
            FAIL("accepted");
        } catch (const llmemu::profile_error& e) {
            const std::string what = e.what();
            CHECK(what.find(old_form) != std::string::npos);
            CHECK(what.find(std::string("write ") + fixed) != std::string::npos);
        }
    }
    // A long bad spec is echoed truncated.
    try {
        (void)llmemu::AnyLatencyModel::from_spec("const:" + std::string(100000, '7') + "x");
        FAIL("accepted");
    } catch (const llmemu::profile_error& e) {
        CHECK(std::string(e.what()).size() < 1000);
    }
}

TEST_CASE("Oracle.sparse_bucket_mixes_neighbours_by_shepard_weight") {
    // (3, 2) has one sample (< min_exact_samples 3): the bucket itself weighs most but
    // its neighbours (2, 2) and (1, 2) are drawn too; never averaged.
    llmemu::LatencyOracle<> o(toy_store());
    llmemu::Rng rng(5);
    std::map<double, int> seen;
    for (int i = 0; i < 4000; ++i) ++seen[o.sample(decode_shape(3), rng)];
    int own = seen[300.0];
    int near = seen[200.0] + seen[201.0] + seen[202.0];
    CHECK(own > near); // distance floor 0.5 step vs 1 step: weight 4x
    CHECK(near > 0);
    for (auto [v, n] : seen) CHECK((v == 300.0 || (v >= 100.0 && v <= 202.0) || (v >= 1000.0 && v <= 1003.0)));
    CHECK(o.coverage().interpolated == 4000);
    const llmemu::Resolution r = o.resolve(decode_shape(3));
    CHECK(r.kind == llmemu::CoverageKind::interpolated);
    CHECK(r.neighbours[0].bucket == 2);
    double total = 0;
    for (std::size_t j = 0; j < r.neighbours.size(); ++j) total += r.probability[j];
    CHECK(total == doctest::Approx(1.0));
}

TEST_CASE("Oracle.empty_cell_inside_range_is_interpolated") {
    llmemu::LatencyOracle<> o(toy_store());
    llmemu::Rng rng(5);
    // (6, 7) lies inside the decode range (tt 1..10, conc 2..12) but has no bucket.
    for (int i = 0; i < 100; ++i) {
        const double v = o.sample({llmemu::Phase::decode, 6, 6, 0}, rng);
        CHECK(v >= 100.0);
        CHECK(v <= 1003.0);
    }
    CHECK(o.coverage().interpolated == 100);
}

TEST_CASE("Oracle.out_of_range.clamp_and_token_slope") {
    llmemu::OracleOptions clamp;
    llmemu::LatencyOracle<> oc(toy_store(), clamp);
    llmemu::Rng rng(9);
    // tt 500 >> tt_max 10, conc 100 >> conc_max 12: clamped onto (10, 12).
    const double v = oc.sample({llmemu::Phase::decode, 500, 100, 0}, rng);
    CHECK(v >= 1000.0);
    CHECK(v <= 1003.0);
    CHECK(oc.coverage() == llmemu::Coverage{0, 0, 1, 1});
    CHECK(oc.resolve({llmemu::Phase::decode, 500, 100, 0}).scale == 1.0);

    llmemu::OracleOptions slope;
    slope.out_of_range = llmemu::OutOfRangePolicy::token_slope;
    llmemu::LatencyOracle<> os(toy_store(), slope);
    // Latency rises with tt at the top edge, so a larger tt scales the sample up.
    const llmemu::Resolution r = os.resolve({llmemu::Phase::decode, 20, 12, 0});
    CHECK(r.kind == llmemu::CoverageKind::out_of_range);
    CHECK(r.scale > 1.0);
    const double s = os.sample({llmemu::Phase::decode, 20, 12, 0}, rng);
    CHECK(s > 1003.0);
    // Below the range it clamps.
    CHECK(os.resolve({llmemu::Phase::decode, 0, 2, 0}).scale == 1.0);
}

TEST_CASE("Oracle.out_of_range.token_slope_line_is_the_least_squares_fit") {
    // The toy decode table's buckets (all of them are "the largest-tt ones": n < 8) have
    // medians 101, 201, 300 and 1002 (upper median of 1000..1003) at tt 1, 2, 3, 10.
    // Least squares by hand: mean tt 4, mean latency 401, Sxx = 50, Sxy = 5007, so
    // b = 100.14 and a = 401 - 4 b = 0.44; a step at tt 20 scales by
    // (a + 20 b) / (a + 10 b) = 2003.24 / 1001.84.
    llmemu::OracleOptions slope;
    slope.out_of_range = llmemu::OutOfRangePolicy::token_slope;
    const llmemu::LatencyOracle<> os(toy_store(), slope);
    CHECK(os.resolve({llmemu::Phase::decode, 20, 12, 0}).scale == doctest::Approx(2003.24 / 1001.84).epsilon(1e-12));
    CHECK(os.resolve({llmemu::Phase::decode, 110, 12, 0}).scale ==
          doctest::Approx((0.44 + 110 * 100.14) / 1001.84).epsilon(1e-12));
    // Every top bucket at one tt: no slope to fit, so nothing is scaled.
    llmemu::ProfileStore flat;
    flat.set_bucketing({1, 5});
    flat.set_table(llmemu::TableKind::decode, llmemu::ProfileTable({1, 5}, {{4, 2}, {4, 7}}, {1, 1}, {100, 300}));
    const llmemu::LatencyOracle<> of(std::move(flat), slope);
    CHECK(of.resolve({llmemu::Phase::decode, 50, 2, 0}).scale == 1.0);
}

TEST_CASE("Oracle.table_by_phase_with_fallback") {
    {
        llmemu::LatencyOracle<> o(toy_store(true, false));
        CHECK(o.table_for(llmemu::Phase::decode) == llmemu::TableKind::decode);
        CHECK(o.table_for(llmemu::Phase::prefill) == llmemu::TableKind::prefill);
        llmemu::Rng rng(1);
        CHECK(o.sample(prefill_shape(100, 2), rng) >= 5000.0);
    }
    {
        // No prefill table: prefill steps fall back to the combined step-cycle table.
        llmemu::LatencyOracle<> o(toy_store(false, true));
        CHECK(o.table_for(llmemu::Phase::prefill) == llmemu::TableKind::step_cycle);
        llmemu::Rng rng(1);
        CHECK(o.sample(prefill_shape(50, 7), rng) >= 7000.0);
    }
    {
        // Neither: the other phase table, rather than failing mid-run.
        llmemu::LatencyOracle<> o(toy_store(false, false));
        CHECK(o.table_for(llmemu::Phase::prefill) == llmemu::TableKind::decode);
    }
    CHECK_THROWS_AS(llmemu::LatencyOracle<>(llmemu::ProfileStore{}), llmemu::profile_error);
    llmemu::OracleOptions bad;
    bad.min_exact_samples = 0;
    CHECK_THROWS_AS(llmemu::LatencyOracle<>(toy_store(), bad), llmemu::config_error);
}

TEST_CASE_TEMPLATE("Oracle.policies.deterministic_and_within_table", Policy,
                   llmemu::LatencyOracle<llmemu::AdaptiveKNeighbours, llmemu::ShepardWeights>,
                   llmemu::LatencyOracle<llmemu::NearestBucket, llmemu::UniformWeights>,
                   llmemu::LatencyOracle<llmemu::AdaptiveKNeighbours, llmemu::UniformWeights>) {
    Policy a(bundled_store());
    Policy b(bundled_store());
    llmemu::Rng ra(77);
    llmemu::Rng rb(77);
    const auto* prefill = bundled_store()->table(llmemu::TableKind::prefill);
    const float lo = *std::min_element(prefill->all_samples().begin(), prefill->all_samples().end());
    const float hi = *std::max_element(prefill->all_samples().begin(), prefill->all_samples().end());
    for (std::uint32_t i = 0; i < 500; ++i) {
        const auto shape = prefill_shape(6 + (i * 37) % 2043, 1 + (i * 13) % 257);
        const double x = a.sample(shape, ra);
        CHECK(x == b.sample(shape, rb));
        CHECK(x >= lo);
        CHECK(x <= hi);
    }
    const llmemu::Coverage c = a.coverage();
    CHECK(c.exact + c.interpolated + c.out_of_range == c.total);
    CHECK(c.total == 500);
}

TEST_CASE("Oracle.neighbours.grid_search_matches_brute_force") {
    const auto store = bundled_store();
    for (llmemu::TableKind kind : llmemu::all_table_kinds) {
        const auto& t = *store->table(kind);
        const llmemu::TableGeometry g(t);
        llmemu::Rng rng(3);
        for (int q = 0; q < 200; ++q) {
            const double tt = static_cast<double>(t.tt_min() + llmemu::uniform_index(rng, t.tt_max() - t.tt_min() + 1));
            const double conc =
                static_cast<double>(t.conc_min() + llmemu::uniform_index(rng, t.conc_max() - t.conc_min() + 1));
            llmemu::NeighbourSet got;
            g.nearest(tt, conc, 8, got);
            std::vector<std::pair<double, std::uint32_t>> all;
            for (std::size_t i = 0; i < t.size(); ++i)
                all.emplace_back(g.distance(i, tt, conc), static_cast<std::uint32_t>(i));
            std::sort(all.begin(), all.end());
            REQUIRE(got.size() == 8);
            for (std::size_t j = 0; j < 8; ++j) CHECK(got[j].distance == doctest::Approx(all[j].first).epsilon(1e-9));
        }
    }
}

TEST_CASE("Oracle.memo_replays_identical_draws") {
    llmemu::LatencyOracle<> warm(bundled_store());
    const llmemu::LatencyOracle<> cold(bundled_store());
    llmemu::Rng ra(21);
    llmemu::Rng rb(21);
    const std::vector<llmemu::StepShape> shapes{
        prefill_shape(1500, 200), prefill_shape(777, 33), decode_shape(240), {llmemu::Phase::decode, 5000, 400, 0}};
    for (int i = 0; i < 200; ++i) {
        const auto& s = shapes[static_cast<std::size_t>(i) % shapes.size()];
        llmemu::LatencyOracle<> fresh = cold; // a copy starts with an empty memo
        CHECK(warm.sample(s, ra) == fresh.sample(s, rb));
    }
    CHECK(warm.coverage().total == 200);
}

TEST_CASE("Oracle.sparse_index_table_behaves_like_dense") {
    // tt 1 and 10,000,000: far too wide for a dense grid, so lookups use sorted keys.
    llmemu::ProfileStore s;
    s.set_bucketing({1, 5});
    s.set_table(llmemu::TableKind::decode,
                llmemu::ProfileTable({1, 5}, {{1, 2}, {10000000, 2}}, {3, 3}, {1, 2, 3, 7, 8, 9}));
    REQUIRE_FALSE(s.table(llmemu::TableKind::decode)->dense_index());
    CHECK(s.table(llmemu::TableKind::decode)->find(10000000, 2) == 1);
    llmemu::LatencyOracle<> o(s);
    llmemu::Rng rng(2);
    for (int i = 0; i < 50; ++i) {
        const double a = o.sample({llmemu::Phase::decode, 1, 1, 0}, rng);
        const double b = o.sample({llmemu::Phase::decode, 10000000, 4, 0}, rng);
        CHECK((a >= 1.0 && a <= 3.0));
        CHECK((b >= 7.0 && b <= 9.0));
    }
    CHECK(o.coverage().exact == 100);
    (void)o.sample({llmemu::Phase::decode, 5, 1, 0}, rng);
    CHECK(o.coverage().interpolated == 1);
}

namespace {
// A user's own latency model: 1 us per token, with its own description.
struct PerTokenModel {
    template <class G>
    double sample(const llmemu::StepShape& s, G& /*rng*/) const {
        return static_cast<double>(s.total_tokens);
    }
    std::string describe() const { return "one microsecond per token"; }
};
} // namespace

TEST_CASE("AnyLatencyModel.wraps_any_latency_model_and_oracle_options") {
    llmemu::AnyLatencyModel m = PerTokenModel{};
    llmemu::Rng rng(1);
    CHECK(m.sample(prefill_shape(123, 1), rng) == 123.0);
    CHECK(m.describe() == "one microsecond per token");
    CHECK(m.model_config() == nullptr);
    CHECK(m.coverage() == llmemu::Coverage{1, 0, 0, 1});
    m.reset_coverage();
    CHECK(m.coverage().total == 0);
    llmemu::AnyLatencyModel moved = std::move(m);
    CHECK(moved.sample(decode_shape(4), rng) == 4.0);
    // Options reach the oracle behind a pack spec.
    llmemu::OracleOptions o;
    o.out_of_range = llmemu::OutOfRangePolicy::token_slope;
    const auto p = llmemu::AnyLatencyModel::from_spec(bundled_pack.string(), o);
    CHECK(p.describe().find("token_slope") != std::string::npos);
    CHECK(p.describe().find("Qwen/Qwen3-8B") != std::string::npos);
}

TEST_CASE("Oracle.out_of_range.bundled_pack_decode_beyond_profiled_batch") {
    // Decode steps with more sequences than profiled (tt 252) count as out of range and
    // under token_slope grow with the batch (decode latency rises with batch size).
    llmemu::OracleOptions o;
    o.out_of_range = llmemu::OutOfRangePolicy::token_slope;
    llmemu::LatencyOracle<> oracle(bundled_store(), o);
    const llmemu::Resolution at_edge = oracle.resolve(decode_shape(252));
    const llmemu::Resolution beyond = oracle.resolve(decode_shape(400));
    CHECK(at_edge.kind != llmemu::CoverageKind::out_of_range);
    CHECK(beyond.kind == llmemu::CoverageKind::out_of_range);
    CHECK(beyond.scale >= 1.0);
    llmemu::Rng rng(4);
    for (int i = 0; i < 20; ++i) CHECK(oracle.sample(decode_shape(400), rng) > 0.0);
    CHECK(oracle.coverage().out_of_range == 20);
}

// The drift check between two packs (oracle/drift.hpp).
namespace oracle_drift_test {
using namespace llmemu;

TEST_CASE("OracleDrift.catches_a_decode_slowdown_and_not_a_resample") {
    const ProfileStore old = load_llm_emu_pack(bundled_pack);
    auto transform = [&](auto f) {
        ProfileStore s = old;
        for (TableKind k : all_table_kinds) {
            const ProfileTable* t = old.table(k);
            if (!t) continue;
            std::vector<BucketKey> keys;
            std::vector<std::uint32_t> counts;
            std::vector<float> samples;
            for (std::size_t i = 0; i < t->size(); ++i) {
                keys.push_back(t->key(i));
                counts.push_back(t->count(i));
                f(k, t->samples(i), samples);
            }
            s.set_table(k, ProfileTable(old.bucketing(), keys, counts, samples));
        }
        return s;
    };
    // Identical pack: nothing moves.
    const DriftReport same = run_drift(old, old);
    CHECK(same.moved_mass == 0.0);
    CHECK_FALSE(same.stale);
    CHECK(same.regions.size() > 10);
    // A bootstrap resample of every bucket: not flagged at 5 % FDR.
    const DriftReport rs = run_drift(old, bootstrap_resample(old, 11));
    for (const auto& g : rs.regions) CHECK_FALSE(g.moved);
    CHECK_FALSE(rs.stale);
    // Decode steps 5 % slower: the decode regions move by ~+5 %, the pack is stale.
    const ProfileStore slower = transform([&](TableKind k, std::span<const float> s, std::vector<float>& out) {
        for (float v : s) out.push_back(k == TableKind::decode ? v * 1.05F : v);
    });
    const DriftReport d = run_drift(old, slower);
    CHECK(d.stale);
    std::size_t moved_decode = 0;
    for (const auto& g : d.regions) {
        if (g.table != TableKind::decode) {
            CHECK_FALSE(g.moved);
            continue;
        }
        if (g.moved) {
            ++moved_decode;
            CHECK(g.median_shift_pct == doctest::Approx(5.0).epsilon(0.1));
        }
    }
    CHECK(moved_decode >= 5);
    CHECK(d.moved_mass > 0.2);
    CHECK_THROWS_AS(run_drift(old, old, DriftOptions{0.0}), config_error);
}

} // namespace oracle_drift_test
