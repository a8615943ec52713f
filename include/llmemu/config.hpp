#pragma once
/// \file config.hpp
/// What llmemu knows about the compiler and platform, in one place (fmt's base.h is the
/// model): the version macros, feature macros a host may override before the first llmemu
/// include, and the (not yet used) versioned namespace. Depends on nothing.

#include <cstdint>

/// \name Version
/// Bumped together with CMakeLists.txt's and meson.build's project version. While the major
/// version is 0 a new minor version may break the API (the CMake package accepts only the
/// same minor version: SameMinorVersion).
/// @{
#define LLMEMU_VERSION_MAJOR 0
#define LLMEMU_VERSION_MINOR 1
#define LLMEMU_VERSION_PATCH 0
#define LLMEMU_VERSION_STRING "0.1.0"
/// One number for `#if` checks: major * 10000 + minor * 100 + patch (fmt's FMT_VERSION).
#define LLMEMU_VERSION (LLMEMU_VERSION_MAJOR * 10000 + LLMEMU_VERSION_MINOR * 100 + LLMEMU_VERSION_PATCH)
/// @}

/// 1 when the compiler has `unsigned __int128` (GCC and Clang on 64-bit targets), else 0.
/// The 64 x 64 -> 128-bit products of random.hpp and engine/block_hash.hpp then use it;
/// otherwise a portable four-multiply version gives the same bits. Define it to 0 before
/// including llmemu to force the portable path.
#ifndef LLMEMU_HAS_INT128
#if defined(__SIZEOF_INT128__)
#define LLMEMU_HAS_INT128 1
#else
#define LLMEMU_HAS_INT128 0
#endif
#endif

/// 1 on POSIX systems (Linux, the BSDs, macOS), else 0. The few POSIX calls llmemu makes
/// (the machine's memory size, the process CPU metrics, the timer thread's real-time
/// priority) are skipped elsewhere, each saying what is missing.
#ifndef LLMEMU_POSIX
#if defined(__unix__) || defined(__APPLE__)
#define LLMEMU_POSIX 1
#else
#define LLMEMU_POSIX 0
#endif
#endif

/// 1 when exceptions are enabled. llmemu reports every error by throwing a type derived
/// from llmemu::error (error.hpp), so it needs them: compiling it with -fno-exceptions
/// stops here with one message instead of many.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define LLMEMU_HAS_EXCEPTIONS 1
#else
#define LLMEMU_HAS_EXCEPTIONS 0
#error "llmemu reports errors by throwing llmemu::error: compile it with exceptions enabled (no -fno-exceptions)"
#endif

/// The ABI-versioned namespace to come (`namespace llmemu { inline namespace v0_1 {`), so
/// that two llmemu versions in one program fail to link instead of mixing layouts. Not used
/// by the headers yet; LLMEMU_ABI_TAG follows the minor version while the major one is 0.
/// @{
#define LLMEMU_ABI_TAG v0_1
#define LLMEMU_BEGIN_NAMESPACE                                                                                         \
    namespace llmemu {                                                                                                 \
    inline namespace LLMEMU_ABI_TAG {
#define LLMEMU_END_NAMESPACE                                                                                           \
    }                                                                                                                  \
    }
/// @}

namespace llmemu::detail {

/// The high and low 64 bits of a 128-bit product.
struct Wide128 {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
};

/// a * b in 128 bits from 32-bit halves: what mul_wide computes without `unsigned __int128`
/// (always defined, so that a test can compare the two on one build).
[[nodiscard]] constexpr Wide128 mul_wide_portable(std::uint64_t a, std::uint64_t b) noexcept {
    const std::uint64_t a_lo = a & 0xFFFFFFFFU;
    const std::uint64_t a_hi = a >> 32U;
    const std::uint64_t b_lo = b & 0xFFFFFFFFU;
    const std::uint64_t b_hi = b >> 32U;
    const std::uint64_t lo_lo = a_lo * b_lo;
    const std::uint64_t hi_lo = a_hi * b_lo;
    const std::uint64_t lo_hi = a_lo * b_hi;
    const std::uint64_t hi_hi = a_hi * b_hi;
    // The middle column, carries included, cannot overflow 64 bits.
    const std::uint64_t mid = (lo_lo >> 32U) + (hi_lo & 0xFFFFFFFFU) + lo_hi;
    return {hi_hi + (hi_lo >> 32U) + (mid >> 32U), (mid << 32U) | (lo_lo & 0xFFFFFFFFU)};
}

/// a * b in 128 bits: one multiply instruction where the compiler has `unsigned __int128`.
[[nodiscard]] constexpr Wide128 mul_wide(std::uint64_t a, std::uint64_t b) noexcept {
#if LLMEMU_HAS_INT128
    __extension__ using u128 = unsigned __int128; // GCC/Clang extension; silences -Wpedantic
    const u128 r = static_cast<u128>(a) * b;
    return {static_cast<std::uint64_t>(r >> 64U), static_cast<std::uint64_t>(r)};
#else
    return mul_wide_portable(a, b);
#endif
}

} // namespace llmemu::detail
