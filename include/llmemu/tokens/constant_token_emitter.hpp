#pragma once
/// \file constant_token_emitter.hpp
/// ConstantTokenEmitter: every token is the same id (cheapest; handy in tests).

#include "llmemu/config.hpp"
#include "llmemu/tokens/token_emitter.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Emits the same token id every time, never EOS. Stateless and thread-safe.
class ConstantTokenEmitter {
public:
    /// Emits token id 0.
    constexpr ConstantTokenEmitter() noexcept = default;
    /// Emits `id`.
    constexpr explicit ConstantTokenEmitter(TokenId id) noexcept : m_id(id) {}

    [[nodiscard]] constexpr EmittedToken emit(const ScheduledRequest& /*request*/, Rng& /*rng*/) const noexcept {
        return EmittedToken{m_id, false};
    }
    [[nodiscard]] constexpr TokenId id() const noexcept { return m_id; }

private:
    TokenId m_id = 0;
};

static_assert(TokenEmitter<ConstantTokenEmitter>);
static_assert(TokenEmitter<const ConstantTokenEmitter>);

LLMEMU_END_NAMESPACE
