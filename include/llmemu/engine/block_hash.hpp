#pragma once
/// \file block_hash.hpp
/// Prefix-cache keys: a full block of token ids is identified by a hash chained over the
/// hash of the block before it, so equal keys mean equal whole prefixes (vLLM's
/// hash_block_tokens). 64-bit keys; a collision (about 2^-64 per pair) would make two
/// different prefixes share KV blocks, which only affects timing in an emulator.

#include <cstdint>
#include <span>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"

namespace llmemu {

namespace detail {
[[nodiscard]] inline std::uint64_t engine_mum(std::uint64_t a, std::uint64_t b) noexcept {
    const Wide128 r = mul_wide(a, b);
    return r.lo ^ r.hi;
}
} // namespace detail

/// Parent hash of a request's first block (vLLM's NONE_HASH).
inline constexpr std::uint64_t root_block_hash = 0x6A09E667F3BCC908ULL;

/// Hash of one full block of `tokens` following a block whose hash is `parent`. Never 0.
[[nodiscard]] inline std::uint64_t hash_block_tokens(std::uint64_t parent, std::span<const TokenId> tokens) noexcept {
    std::uint64_t h = detail::engine_mum(parent ^ 0xA0761D6478BD642FULL, 0xE7037ED1A0B428DBULL ^ tokens.size());
    std::size_t i = 0;
    for (; i + 1 < tokens.size(); i += 2) {
        const std::uint64_t w = static_cast<std::uint32_t>(tokens[i]) |
                                (static_cast<std::uint64_t>(static_cast<std::uint32_t>(tokens[i + 1])) << 32U);
        h = detail::engine_mum(h ^ w, 0x8EBC6AF09C88C6E3ULL);
    }
    if (i < tokens.size()) h = detail::engine_mum(h ^ static_cast<std::uint32_t>(tokens[i]), 0x589965CC75374CC3ULL);
    h = detail::engine_mum(h, 0x1D8E4E27C47D124FULL);
    return h == 0 ? 1 : h;
}

/// Hash of block `index` of a synthetic sequence identified by `salt` (a request whose
/// prompt is unique to it): unique per (salt, index), chained implicitly. Never 0.
[[nodiscard]] inline std::uint64_t hash_synthetic_block(std::uint64_t salt, std::uint64_t index) noexcept {
    const std::uint64_t h = detail::engine_mum(salt ^ 0xD6E8FEB86659FD93ULL, index + 0x9E3779B97F4A7C15ULL);
    const std::uint64_t r = detail::engine_mum(h, 0xCA5A826395121157ULL) ^ salt;
    return r == 0 ? 1 : r;
}

} // namespace llmemu
