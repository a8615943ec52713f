// Token emitters: concept conformance, distributions, replay, EOS at target lengths.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/tokens/emitters.hpp"

using llmemu::ConstantTokenEmitter;
using llmemu::EmittedToken;
using llmemu::EosAtLengthEmitter;
using llmemu::ReplayTokenEmitter;
using llmemu::Rng;
using llmemu::ScheduledRequest;
using llmemu::TokenId;
using llmemu::UniformVocabEmitter;

namespace {
struct ReturnsInt {
    int emit(const ScheduledRequest&, Rng&) { return 0; }
};
struct WrongArgs {
    EmittedToken emit(const ScheduledRequest&) { return {}; }
};
ScheduledRequest req(llmemu::RequestId id, std::uint32_t outputs) {
    return ScheduledRequest::decode(id, 10 + outputs, outputs);
}

std::filesystem::path temp_file(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() / ("llmemu_test_tokens_" + name);
    std::ofstream(p) << text;
    return p;
}
} // namespace

static_assert(llmemu::TokenEmitter<ConstantTokenEmitter>);
static_assert(llmemu::TokenEmitter<UniformVocabEmitter>);
static_assert(llmemu::TokenEmitter<ReplayTokenEmitter>);
static_assert(llmemu::TokenEmitter<EosAtLengthEmitter>);
static_assert(llmemu::TokenEmitter<llmemu::BasicEosAtLengthEmitter<ReplayTokenEmitter>>);
static_assert(!llmemu::TokenEmitter<ReturnsInt>);
static_assert(!llmemu::TokenEmitter<WrongArgs>);
static_assert(!llmemu::TokenEmitter<int>);

TEST_CASE("Tokens.constant") {
    Rng rng(1);
    ConstantTokenEmitter e(77);
    for (std::uint32_t i = 0; i < 5; ++i) CHECK(e.emit(req(i, i), rng) == EmittedToken{77, false});
    CHECK(ConstantTokenEmitter{}.emit(req(0, 0), rng).id == 0);
}

TEST_CASE("Tokens.uniform_covers_the_vocabulary_and_excludes_eos") {
    Rng rng(2);
    UniformVocabEmitter e(8, TokenId{3});
    std::vector<int> counts(8, 0);
    for (int i = 0; i < 7000; ++i) {
        const auto t = e.emit(req(1, 0), rng);
        REQUIRE(t.id >= 0);
        REQUIRE(t.id < 8);
        CHECK_FALSE(t.eos);
        ++counts[static_cast<std::size_t>(t.id)];
    }
    CHECK(counts[3] == 0);
    for (int id : {0, 1, 2, 4, 5, 6, 7}) {
        CHECK(counts[static_cast<std::size_t>(id)] > 800); // expected 1000 each
        CHECK(counts[static_cast<std::size_t>(id)] < 1200);
    }
    UniformVocabEmitter d;
    CHECK(d.vocab_size() == UniformVocabEmitter::default_vocab_size);
    CHECK_FALSE(d.excluded().has_value());
    // Edge of the exclusion: the last id excluded, a vocabulary of 2.
    UniformVocabEmitter two(2, TokenId{1});
    for (int i = 0; i < 100; ++i) CHECK(two.emit(req(1, 0), rng).id == 0);
}

TEST_CASE("Tokens.uniform_rejects_bad_settings") {
    CHECK_THROWS_WITH_AS(UniformVocabEmitter(0), doctest::Contains("vocab_size is 0"), llmemu::config_error);
    CHECK_THROWS_AS(UniformVocabEmitter(0x8000'0000U), llmemu::config_error);
    CHECK_THROWS_WITH_AS(UniformVocabEmitter(10, TokenId{10}), doctest::Contains("outside the vocabulary"),
                         llmemu::config_error);
    CHECK_THROWS_AS(UniformVocabEmitter(10, TokenId{-1}), llmemu::config_error);
    CHECK_THROWS_WITH_AS(UniformVocabEmitter(1, TokenId{0}), doctest::Contains("nothing to draw"),
                         llmemu::config_error);
}

TEST_CASE("Tokens.replay_cycles_per_request") {
    Rng rng(3);
    ReplayTokenEmitter same({5, 6, 7}, ReplayTokenEmitter::Start::beginning);
    std::vector<TokenId> got;
    for (std::uint32_t k = 0; k < 7; ++k) got.push_back(same.emit(req(42, k), rng).id);
    CHECK(got == std::vector<TokenId>{5, 6, 7, 5, 6, 7, 5});

    std::vector<TokenId> corpus;
    for (TokenId i = 0; i < 1000; ++i) corpus.push_back(i);
    ReplayTokenEmitter spread(corpus); // per-request starting points
    std::set<TokenId> firsts;
    for (llmemu::RequestId id = 0; id < 50; ++id) {
        const TokenId first = spread.emit(req(id, 0), rng).id;
        firsts.insert(first);
        // Consecutive outputs of one request are consecutive corpus positions.
        CHECK(spread.emit(req(id, 1), rng).id == (first + 1) % 1000);
        CHECK(spread.emit(req(id, 0), rng).id == first); // deterministic, stateless
    }
    CHECK(firsts.size() > 40);
    // EOS when the corpus holds the EOS id.
    ReplayTokenEmitter eos({9, 9, 2}, ReplayTokenEmitter::Start::beginning, TokenId{2});
    CHECK_FALSE(eos.emit(req(1, 1), rng).eos);
    CHECK(eos.emit(req(1, 2), rng) == EmittedToken{2, true});
}

TEST_CASE("Tokens.replay_bad_input") {
    CHECK_THROWS_WITH_AS(ReplayTokenEmitter({}), doctest::Contains("empty"), llmemu::config_error);
    CHECK_THROWS_WITH_AS(ReplayTokenEmitter({1, -4}), doctest::Contains("position 1"), llmemu::config_error);
    const auto missing = std::filesystem::temp_directory_path() / "llmemu_test_tokens_missing.txt";
    std::filesystem::remove(missing);
    CHECK_THROWS_WITH_AS((void)ReplayTokenEmitter::from_file(missing), doctest::Contains("cannot open"),
                         llmemu::workload_error);
    const auto bad = temp_file("bad.txt", "1 2 three 4");
    CHECK_THROWS_WITH_AS((void)ReplayTokenEmitter::from_file(bad), doctest::Contains("byte 4"), llmemu::workload_error);
    const auto neg = temp_file("neg.txt", "1 -2");
    CHECK_THROWS_AS((void)ReplayTokenEmitter::from_file(neg), llmemu::workload_error);
    const auto big = temp_file("big.txt", "99999999999");
    CHECK_THROWS_WITH_AS((void)ReplayTokenEmitter::from_file(big), doctest::Contains("int32"), llmemu::workload_error);
    const auto empty = temp_file("empty.txt", " \n, []");
    CHECK_THROWS_WITH_AS((void)ReplayTokenEmitter::from_file(empty), doctest::Contains("no token ids"),
                         llmemu::workload_error);
    const auto good = temp_file("good.json", "[10, 11,\n12 13]\n");
    CHECK(ReplayTokenEmitter::from_file(good).corpus() == std::vector<TokenId>{10, 11, 12, 13});
    for (const auto& p : {bad, neg, big, empty, good}) std::filesystem::remove(p);
}

TEST_CASE("Tokens.eos_at_target_length") {
    Rng rng(4);
    EosAtLengthEmitter e;
    e.set_target(1, 1);
    e.set_target(2, 4);
    CHECK(e.emit(req(1, 0), rng) == EmittedToken{EosAtLengthEmitter::default_eos_id, true}); // first token ends it
    for (std::uint32_t k = 0; k < 3; ++k) {
        const auto t = e.emit(req(2, k), rng);
        CHECK_FALSE(t.eos);
        CHECK(t.id != EosAtLengthEmitter::default_eos_id);
    }
    CHECK(e.emit(req(2, 3), rng).eos);
    CHECK(e.emit(req(2, 4), rng).eos); // a host that ignores EOS keeps seeing it
    // No target and no sampler: never EOS.
    for (std::uint32_t k = 0; k < 100; ++k) CHECK_FALSE(e.emit(req(3, k), rng).eos);
    CHECK(e.target(2) == 4U);
    CHECK_FALSE(e.target(3).has_value());
    CHECK(e.tracked() == 2);
    e.forget(2);
    CHECK(e.tracked() == 1);
    e.clear();
    CHECK(e.tracked() == 0);
    CHECK_THROWS_WITH_AS(e.set_target(5, 0), doctest::Contains("request 5"), llmemu::config_error);
}

TEST_CASE("Tokens.eos_lengths_from_a_sampler_are_reproducible") {
    auto lengths = [](std::uint64_t seed) {
        EosAtLengthEmitter e(7, UniformVocabEmitter(100, TokenId{7}), [](llmemu::RequestId, Rng& g) {
            return static_cast<std::uint32_t>(1 + llmemu::uniform_index(g, 20));
        });
        Rng rng(seed);
        std::vector<std::uint32_t> out;
        for (llmemu::RequestId id = 0; id < 30; ++id) {
            std::uint32_t k = 0;
            while (!e.emit(req(id, k), rng).eos) ++k;
            out.push_back(k + 1);
            CHECK(e.target(id) == k + 1);
        }
        return out;
    };
    const auto a = lengths(9);
    CHECK(a == lengths(9));
    CHECK(a != lengths(10));
    for (auto n : a) {
        CHECK(n >= 1);
        CHECK(n <= 20);
    }
    EosAtLengthEmitter zero(7, UniformVocabEmitter(100, TokenId{7}), [](llmemu::RequestId, Rng&) { return 0U; });
    Rng rng(1);
    CHECK_THROWS_WITH_AS((void)zero.emit(req(3, 0), rng), doctest::Contains("returned 0 for request 3"),
                         llmemu::config_error);
}
