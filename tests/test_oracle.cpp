// LatencyOracle, analytic profiles and AnyLatencyModel.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/random.hpp"

namespace {

const std::filesystem::path bundled_pack = std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";

std::shared_ptr<const llmemu::ProfileStore> bundled_store() {
    static const auto store = std::make_shared<const llmemu::ProfileStore>(llmemu::load_llm_emu_pack(bundled_pack));
    return store;
}

llmemu::StepShape decode_shape(std::uint32_t n) { return {llmemu::Phase::decode, n, n, 0}; }
llmemu::StepShape prefill_shape(std::uint32_t tt, std::uint32_t n) { return {llmemu::Phase::prefill, tt, n, 0}; }

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
    auto a = llmemu::AnyLatencyModel::from_spec("affine:1,2,3");
    CHECK(a.sample(prefill_shape(10, 2), rng) == doctest::Approx(1000.0 + 20.0 + 6.0));
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
    for (const char* bad : {"const:", "const:abc", "const:-1", "const:1,2", "affine:1,2", "affine:1,x,3", "", "no/such/pack.json", "pack:"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(llmemu::AnyLatencyModel::from_spec(bad), llmemu::profile_error);
    }
}
