// config.hpp: the version macros and the portable 128-bit product behind uniform_index and
// the block hash.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "llmemu/config.hpp"
#include "llmemu/engine/block_hash.hpp"
#include "llmemu/random.hpp"
#include "llmemu/version.hpp"

using llmemu::detail::mul_wide;
using llmemu::detail::mul_wide_portable;
using llmemu::detail::Wide128;

namespace {
constexpr std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();
constexpr bool same(Wide128 a, Wide128 b) {
    return a.hi == b.hi && a.lo == b.lo;
}
#define LLMEMU_TEST_STR2(x) #x
#define LLMEMU_TEST_STR(x) LLMEMU_TEST_STR2(x)
} // namespace

// Known products, checked at compile time on both paths.
static_assert(same(mul_wide_portable(0, max64), {0, 0}));
static_assert(same(mul_wide_portable(max64, max64), {max64 - 1, 1}));
static_assert(same(mul_wide_portable(1ULL << 32U, 1ULL << 32U), {1, 0}));
static_assert(same(mul_wide_portable(0xFFFFFFFFULL, 0xFFFFFFFFULL), {0, 0xFFFFFFFE00000001ULL}));
static_assert(same(mul_wide_portable(0x9E3779B97F4A7C15ULL, 3), {1, 0xDAA66D2C7DDF743FULL}));
static_assert(same(mul_wide(max64, max64), {max64 - 1, 1}));

TEST_CASE("Config.mul_wide.portable_path_matches_the_int128_path") {
    // Edge cases (carries out of the middle column) and a million random pairs, including
    // ones with small or all-ones halves.
    const std::uint64_t edges[] = {0,
                                   1,
                                   2,
                                   0xFFFFFFFFULL,
                                   0x100000000ULL,
                                   0xFFFFFFFF00000000ULL,
                                   max64 - 1,
                                   max64,
                                   0x8000000000000000ULL,
                                   0x7FFFFFFFFFFFFFFFULL};
    for (std::uint64_t a : edges)
        for (std::uint64_t b : edges) {
            CAPTURE(a);
            CAPTURE(b);
            CHECK(same(mul_wide_portable(a, b), mul_wide(a, b)));
        }
    llmemu::Rng rng(20);
    std::uint64_t mismatches = 0;
    for (int i = 0; i < 1'000'000; ++i) {
        std::uint64_t a = rng();
        std::uint64_t b = rng();
        if (i % 4 == 1) a >>= (rng() % 64U);
        if (i % 4 == 2) b |= 0xFFFFFFFFULL;
        if (!same(mul_wide_portable(a, b), mul_wide(a, b))) ++mismatches;
    }
    CHECK(mismatches == 0);
#if LLMEMU_HAS_INT128
    // And against the compiler's own 128-bit multiply, which mul_wide uses here.
    __extension__ using u128 = unsigned __int128;
    for (int i = 0; i < 100'000; ++i) {
        const std::uint64_t a = rng();
        const std::uint64_t b = rng();
        const u128 r = static_cast<u128>(a) * b;
        const Wide128 p = mul_wide_portable(a, b);
        REQUIRE(p.hi == static_cast<std::uint64_t>(r >> 64U));
        REQUIRE(p.lo == static_cast<std::uint64_t>(r));
    }
#endif
}

TEST_CASE("Config.mul_wide.uniform_index_and_block_hash_keep_their_values") {
    // Outputs pinned with the unguarded `unsigned __int128` code this replaced (commit
    // 8df2694); the same on the portable path (checked there with -DLLMEMU_HAS_INT128=0), so
    // workloads drawn and prefix-cache hashes are unchanged.
    llmemu::Rng rng(42);
    const std::uint64_t expected[] = {83, 378, 680, 924};
    for (std::uint64_t e : expected) CHECK(llmemu::uniform_index(rng, 1000) == e);
    CHECK(llmemu::detail::engine_mum(0x1234567890ABCDEFULL, 0xFEDCBA0987654321ULL) == 0xD055E42F46242298ULL);
    const llmemu::TokenId block[] = {1, 2, 3, 4};
    CHECK(llmemu::hash_block_tokens(llmemu::root_block_hash, block) == 16774386179632371367ULL);
}

TEST_CASE("Config.version.macros_agree") {
    CHECK(LLMEMU_VERSION == LLMEMU_VERSION_MAJOR * 10000 + LLMEMU_VERSION_MINOR * 100 + LLMEMU_VERSION_PATCH);
    const std::string composed = std::to_string(LLMEMU_VERSION_MAJOR) + "." + std::to_string(LLMEMU_VERSION_MINOR) +
                                 "." + std::to_string(LLMEMU_VERSION_PATCH);
    CHECK(composed == LLMEMU_VERSION_STRING);
    CHECK(std::string(llmemu::version_string) == LLMEMU_VERSION_STRING);
    // The versioned namespace's tag follows the minor version while the major one is 0.
    const std::string tag = LLMEMU_TEST_STR(LLMEMU_ABI_TAG);
    CHECK(tag == "v" + std::to_string(LLMEMU_VERSION_MAJOR) + "_" + std::to_string(LLMEMU_VERSION_MINOR));
    CHECK(LLMEMU_HAS_EXCEPTIONS == 1);
}
