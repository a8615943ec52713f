#pragma once
/// \file lengths.hpp
/// Request length models: fixed, uniform with a range ratio (vLLM's random dataset), and
/// empirical (prompt and output lengths drawn jointly from a trace).

#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The lengths of one request, in tokens.
struct LengthPair {
    std::uint32_t prompt_len = 0;
    std::uint32_t output_len = 0;
    friend bool operator==(const LengthPair&, const LengthPair&) = default;
};

/// Anything that draws a LengthPair from a random engine.
template <class L, class G = Rng>
concept LengthModel = requires(const L& l, G& g) {
    { l.sample(g) } -> std::same_as<LengthPair>;
};

/// Every request has the same lengths.
class FixedLengths {
public:
    FixedLengths(std::uint32_t prompt_len, std::uint32_t output_len) : m_pair{prompt_len, output_len} {
        if (prompt_len == 0 || output_len == 0)
            detail::throw_error<workload_error>("fixed lengths " + std::to_string(prompt_len) + "/" +
                                                std::to_string(output_len) +
                                                ": prompt and output lengths must both be >= 1 token");
    }
    template <class G>
    LengthPair sample(G&) const noexcept {
        return m_pair;
    }

private:
    LengthPair m_pair;
};

/// vLLM's random dataset: input length uniform on [floor(I (1 - r)), ceil(I (1 + r))] and
/// output length uniform on [max(1, floor(O (1 - r))), ceil(O (1 + r))], r in [0, 1).
/// (Unlike vLLM the prompt is also kept >= 1 token: the engine cannot serve empty prompts.)
class UniformLengths {
public:
    UniformLengths(std::uint32_t input_len, std::uint32_t output_len, double range_ratio) {
        if (!(range_ratio >= 0.0 && range_ratio < 1.0))
            detail::throw_error<workload_error>("range ratio " + std::to_string(range_ratio) +
                                                ": must be in [0, 1) (as in vLLM's --random-range-ratio)");
        if (input_len == 0 || output_len == 0)
            detail::throw_error<workload_error>("random dataset lengths " + std::to_string(input_len) + "/" +
                                                std::to_string(output_len) +
                                                ": --input-len and --output-len must both be >= 1");
        m_in_lo = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(std::floor(input_len * (1.0 - range_ratio))));
        m_in_hi = static_cast<std::uint32_t>(std::ceil(input_len * (1.0 + range_ratio)));
        m_out_lo = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(std::floor(output_len * (1.0 - range_ratio))));
        m_out_hi = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(std::ceil(output_len * (1.0 + range_ratio))));
    }
    template <class G>
    LengthPair sample(G& g) const noexcept {
        LengthPair p;
        p.prompt_len = m_in_lo + static_cast<std::uint32_t>(uniform_index(g, std::uint64_t{m_in_hi} - m_in_lo + 1));
        p.output_len = m_out_lo + static_cast<std::uint32_t>(uniform_index(g, std::uint64_t{m_out_hi} - m_out_lo + 1));
        return p;
    }
    [[nodiscard]] std::pair<std::uint32_t, std::uint32_t> input_range() const noexcept { return {m_in_lo, m_in_hi}; }
    [[nodiscard]] std::pair<std::uint32_t, std::uint32_t> output_range() const noexcept { return {m_out_lo, m_out_hi}; }

private:
    std::uint32_t m_in_lo = 1, m_in_hi = 1, m_out_lo = 1, m_out_hi = 1;
};

/// Draws (prompt, output) pairs uniformly from observed requests, keeping their joint
/// distribution (long prompts with their own output lengths), e.g. the arXiv length file.
class EmpiricalLengths {
public:
    explicit EmpiricalLengths(std::vector<LengthPair> pairs, std::string source = "empirical lengths")
        : m_pairs(std::move(pairs)) {
        if (m_pairs.empty())
            detail::throw_error<workload_error>(source + ": no requests to learn lengths from; give a non-empty trace");
        for (const auto& p : m_pairs)
            if (p.prompt_len == 0 || p.output_len == 0)
                detail::throw_error<workload_error>(source + ": a request has a zero prompt or output length");
    }
    template <class G>
    LengthPair sample(G& g) const noexcept {
        return m_pairs[uniform_index(g, m_pairs.size())];
    }
    [[nodiscard]] const std::vector<LengthPair>& pairs() const noexcept { return m_pairs; }

private:
    std::vector<LengthPair> m_pairs;
};

static_assert(LengthModel<FixedLengths>);
static_assert(LengthModel<UniformLengths>);
static_assert(LengthModel<EmpiricalLengths>);
static_assert(!LengthModel<int>);

LLMEMU_END_NAMESPACE
