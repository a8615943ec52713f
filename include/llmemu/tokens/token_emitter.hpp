#pragma once
/// \file token_emitter.hpp
/// Concept TokenEmitter: where an emulated step's synthetic token ids come from.

#include <concepts>
#include <cstdint>

#include "llmemu/executor/step.hpp"
#include "llmemu/random.hpp"

namespace llmemu {

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
template <class E>
concept TokenEmitter = requires(E& e, const ScheduledRequest& request, Rng& rng) {
    { e.emit(request, rng) } -> std::same_as<EmittedToken>;
};

} // namespace llmemu
