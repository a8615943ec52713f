#pragma once
/// \file token_emitter.hpp
/// Concept TokenEmitter: where an emulated step's synthetic token ids come from.

#include <concepts>
#include <cstdint>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One sampled token: its id, and whether it ends the sequence (EOS).
struct EmittedToken {
    TokenId id = 0;
    bool eos = false;

    friend constexpr bool operator==(const EmittedToken&, const EmittedToken&) = default;
};

/// A token emitter picks the token a request samples in a step:
/// `e.emit(const ScheduledRequest&, Rng&) -> EmittedToken`. It is called once per request
/// that emits a token in the step (its chunk completes the prompt, or it is decoding),
/// on the thread that dispatches the step, with the executor's token random stream.
/// ConstantTokenEmitter, UniformVocabEmitter, ReplayTokenEmitter and EosAtLengthEmitter
/// model it; so can a user's type.
///
/// The random engine must be taken by non-const reference: an emitter taking it by value
/// (or by const / forwarding reference) would draw the same token every time, so the
/// concept rejects it.
template <class E>
concept TokenEmitter = requires(E& e, const ScheduledRequest& request, Rng& rng) {
    { e.emit(request, rng) } -> std::same_as<EmittedToken>;
}
&&!requires(E & e, const ScheduledRequest& request, Rng&& rng) {
    e.emit(request, static_cast<Rng&&>(rng));
};

namespace detail {
/// Readable diagnostics for a type used as a TokenEmitter (one static_assert per reason).
template <class E>
constexpr bool diagnose_token_emitter() {
    constexpr bool by_value = requires(E & e, const ScheduledRequest& request, Rng&& rng) {
        e.emit(request, static_cast<Rng&&>(rng));
    };
    static_assert(!by_value, "llmemu::TokenEmitter: emit() takes the random engine by value (or const / forwarding "
                             "reference), which would emit the same token forever; declare "
                             "`llmemu::EmittedToken emit(const llmemu::ScheduledRequest&, llmemu::Rng& rng)`");
    static_assert(by_value || TokenEmitter<E>, "llmemu::TokenEmitter: the type needs "
                                               "`llmemu::EmittedToken emit(const llmemu::ScheduledRequest&, "
                                               "llmemu::Rng&)`");
    return TokenEmitter<E>;
}
} // namespace detail

LLMEMU_END_NAMESPACE
