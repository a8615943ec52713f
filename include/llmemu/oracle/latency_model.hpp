#pragma once
/// \file latency_model.hpp
/// Concept LatencyModel: anything that turns a StepShape into a step latency.

#include <concepts>

#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/random.hpp"

namespace llmemu {

/// A latency model draws the latency of one step, in microseconds, using the caller's
/// random engine (so that runs are reproducible per seed). LatencyOracle, ConstantProfile
/// and AffineProfile model it; so can a user's learned predictor.
template <class M, class G = Rng>
concept LatencyModel = requires(M& m, const StepShape& shape, G& rng) {
    { m.sample(shape, rng) } -> std::convertible_to<double>;
};

} // namespace llmemu
