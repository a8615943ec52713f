#pragma once
/// \file prompt.hpp
/// Prompt contents for workloads that share prefixes. A prompt is a list of segments; a
/// segment is `length` tokens of the deterministic synthetic sequence named by `content`
/// (token j of content c is segment_token(c, j)), so two segments with the same content
/// agree on their common length and two different contents (almost surely) never agree.
/// A Mooncake hash id becomes one segment of up to 512 tokens; a shared system prompt or a
/// session's history becomes a segment every request that shares it starts with. The
/// engine sees the resulting token ids (RequestSpec::prompt_tokens) and its prefix cache
/// finds the real reuse. PrefixReuseCounter gives the hit rate an infinite cache would
/// reach on the same prompts, in the engine's own units.

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/block_hash.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// `length` tokens of the synthetic sequence `content`.
struct PromptSegment {
    std::uint64_t content = 0;
    std::uint32_t length = 0;
    friend bool operator==(const PromptSegment&, const PromptSegment&) = default;
};

/// A prompt as segments, first to last (empty = a prompt unique to its request).
using PromptSegments = std::vector<PromptSegment>;

/// Token ids are drawn from [0, synthetic_vocab_size) (Llama-2's vocabulary size, so any
/// served model's tokenizer range holds them).
inline constexpr std::uint32_t synthetic_vocab_size = 32000;

/// Token `index` of the synthetic sequence `content` (splitmix64 of both, reduced to the
/// vocabulary): the same on every platform.
[[nodiscard]] inline TokenId segment_token(std::uint64_t content, std::uint32_t index) noexcept {
    std::uint64_t z = content * 0x9E3779B97F4A7C15ULL + index + 0x632BE59BD9B4E019ULL;
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    z ^= z >> 31U;
    return static_cast<TokenId>(z % synthetic_vocab_size);
}

/// Total tokens of a segmented prompt.
[[nodiscard]] inline std::uint64_t prompt_length(const PromptSegments& segments) noexcept {
    std::uint64_t n = 0;
    for (const auto& s : segments) n += s.length;
    return n;
}

/// Appends the token ids of `segments` to `out`.
inline void append_prompt_tokens(const PromptSegments& segments, std::vector<TokenId>& out) {
    out.reserve(out.size() + prompt_length(segments));
    for (const auto& s : segments)
        for (std::uint32_t j = 0; j < s.length; ++j) out.push_back(segment_token(s.content, j));
}

/// The token ids of `segments`.
[[nodiscard]] inline std::vector<TokenId> prompt_tokens(const PromptSegments& segments) {
    std::vector<TokenId> out;
    append_prompt_tokens(segments, out);
    return out;
}

/// Prefix-cache hits an infinite cache would give, counted as the engine counts them: a
/// request looks up its prompt on arrival, hits the full `block_size`-token blocks of the
/// longest prefix that an earlier request's prompt held as full blocks, and at most
/// prompt - 1 tokens (one must be computed). Requests are observed in arrival order.
/// Memory grows with the distinct segments seen, not with tokens.
class PrefixReuseCounter {
public:
    explicit PrefixReuseCounter(std::uint32_t block_size) : m_block_size(block_size) {
        if (block_size == 0) detail::throw_error<workload_error>("prefix reuse: block size must be >= 1 token");
    }

    /// Observes one prompt; returns its ideal hit tokens. A prompt without segments is
    /// unique to its request: `unique_len` tokens queried, none hit.
    std::uint32_t observe(const PromptSegments& segments, std::uint32_t unique_len = 0) {
        if (segments.empty()) {
            m_queries += unique_len;
            return 0;
        }
        const std::uint64_t len = prompt_length(segments);
        m_queries += len;
        const std::uint64_t common = walk(segments);
        const std::uint64_t max_blocks = len == 0 ? 0 : (len - 1) / m_block_size;
        std::uint64_t blocks = common / m_block_size;
        if (blocks > max_blocks) blocks = max_blocks;
        const std::uint64_t hit = blocks * m_block_size;
        m_hits += hit;
        return static_cast<std::uint32_t>(hit);
    }

    /// Records that the cache holds `segments` (e.g. a prompt and the output tokens computed
    /// after it, which a session's next turn starts with) without a lookup.
    void hold(const PromptSegments& segments) { (void)walk(segments); }

    /// Observes a prompt given as token ids (a text dataset); returns its ideal hit tokens.
    /// Keeps one key per distinct full block, so use it for datasets, not day-long traces.
    std::uint32_t observe_tokens(const std::vector<TokenId>& tokens) {
        const auto n = static_cast<std::uint32_t>(tokens.size());
        m_queries += n;
        const std::uint32_t max_blocks = n == 0 ? 0 : (n - 1) / m_block_size;
        std::uint64_t parent = root_block_hash;
        std::uint32_t hit_blocks = 0;
        bool walking = true;
        for (std::uint32_t b = 0; b < n / m_block_size; ++b) {
            parent = hash_block_tokens(
                parent, std::span<const TokenId>(tokens.data() + std::size_t{b} * m_block_size, m_block_size));
            if (walking && b < max_blocks && m_blocks.contains(parent))
                ++hit_blocks;
            else
                walking = false;
            m_blocks.insert(parent);
        }
        const std::uint64_t hit = std::uint64_t{hit_blocks} * m_block_size;
        m_hits += hit;
        return static_cast<std::uint32_t>(hit);
    }

    /// Prompt tokens looked up and ideal hits so far.
    [[nodiscard]] std::uint64_t queries() const noexcept { return m_queries; }
    [[nodiscard]] std::uint64_t hits() const noexcept { return m_hits; }
    /// hits / queries (0 when nothing was queried).
    [[nodiscard]] double hit_rate() const noexcept {
        return m_queries == 0 ? 0.0 : static_cast<double>(m_hits) / static_cast<double>(m_queries);
    }

private:
    static std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
        std::uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ULL + (a << 6U) + (a >> 2U));
        z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31U);
    }

    /// Registers `segments` and returns how many leading tokens an earlier registered
    /// sequence shares with them. Walk: node = hash of the segments matched so far; at each
    /// segment, the longest earlier segment with the same content after the same node
    /// bounds the common prefix; an earlier sequence with the identical segment lets the
    /// walk go on.
    std::uint64_t walk(const PromptSegments& segments) {
        std::uint64_t node = 0x243F6A8885A308D3ULL;
        std::uint64_t offset = 0;
        std::uint64_t common = 0;
        bool walking = true;
        for (const auto& s : segments) {
            const std::uint64_t key = mix(node, s.content);
            const std::uint64_t next = mix(key, s.length);
            if (walking) {
                const auto it = m_longest.find(key);
                if (it == m_longest.end()) {
                    walking = false;
                } else {
                    common = offset + (it->second < s.length ? it->second : s.length);
                    walking = m_nodes.contains(next);
                }
            }
            auto& longest = m_longest[key];
            if (s.length > longest) longest = s.length;
            m_nodes.insert(next);
            offset += s.length;
            node = next;
        }
        return common;
    }

    std::uint32_t m_block_size;
    std::uint64_t m_queries = 0;
    std::uint64_t m_hits = 0;
    /// (prefix node, content) -> the longest such segment seen.
    std::unordered_map<std::uint64_t, std::uint32_t> m_longest;
    /// Prefix nodes seen (the segments before them matched exactly).
    std::unordered_set<std::uint64_t> m_nodes;
    /// Chained keys of the full blocks of token-id prompts seen.
    std::unordered_set<std::uint64_t> m_blocks;
};

LLMEMU_END_NAMESPACE
