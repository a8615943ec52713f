#pragma once
/// \file uniform_vocab_emitter.hpp
/// UniformVocabEmitter: token ids drawn uniformly from a vocabulary (the default emitter).

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/tokens/token_emitter.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Draws each token uniformly from [0, vocab_size), optionally never drawing one id (the
/// EOS id, so that only an explicit policy ends a sequence). Never reports EOS itself.
/// Stateless apart from its settings: emit is const and thread-safe (the Rng is the caller's).
class UniformVocabEmitter {
public:
    /// Llama-2's vocabulary size; pass ModelConfig::vocab_size for the profiled model.
    static constexpr std::uint32_t default_vocab_size = 32000;

    /// Uniform over default_vocab_size ids.
    UniformVocabEmitter() noexcept = default;
    /// Uniform over [0, vocab_size), skipping `exclude` when given. Throws config_error for
    /// an empty vocabulary, one larger than TokenId can hold, or an excluded id outside it.
    explicit UniformVocabEmitter(std::uint32_t vocab_size, std::optional<TokenId> exclude = std::nullopt)
        : m_vocab_size(vocab_size), m_exclude(exclude) {
        if (vocab_size == 0)
            detail::throw_error<config_error>("UniformVocabEmitter: vocab_size is 0; give the model's vocabulary size "
                                              "(e.g. 151936 for Qwen3, 32000 for Llama-2)");
        if (vocab_size > static_cast<std::uint32_t>(std::numeric_limits<TokenId>::max()))
            detail::throw_error<config_error>("UniformVocabEmitter: vocab_size " + std::to_string(vocab_size) +
                                              " does not fit a TokenId (int32)");
        if (exclude) {
            if (*exclude < 0 || static_cast<std::uint32_t>(*exclude) >= vocab_size)
                detail::throw_error<config_error>("UniformVocabEmitter: excluded id " + std::to_string(*exclude) +
                                                  " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                                                  "); give an id inside it or none");
            if (vocab_size == 1)
                detail::throw_error<config_error>(
                    "UniformVocabEmitter: excluding id " + std::to_string(*exclude) +
                    " from a vocabulary of 1 leaves nothing to draw; use a larger vocab_size");
        }
        m_draw_range = vocab_size - (exclude ? 1U : 0U);
    }

    [[nodiscard]] EmittedToken emit(const ScheduledRequest& /*request*/, Rng& rng) const noexcept {
        auto id = static_cast<TokenId>(uniform_index(rng, m_draw_range));
        if (m_exclude && id >= *m_exclude) ++id;
        return EmittedToken{id, false};
    }

    [[nodiscard]] std::uint32_t vocab_size() const noexcept { return m_vocab_size; }
    [[nodiscard]] std::optional<TokenId> excluded() const noexcept { return m_exclude; }

private:
    std::uint32_t m_vocab_size = default_vocab_size;
    std::optional<TokenId> m_exclude;
    std::uint32_t m_draw_range = default_vocab_size;
};

static_assert(TokenEmitter<UniformVocabEmitter>);

LLMEMU_END_NAMESPACE
