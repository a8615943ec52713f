#pragma once
/// \file analytic.hpp
/// Analytic latency models for quick what-ifs and exact tests: every step a constant, or
/// an affine function of the step's tokens and requests. Both model LatencyModel.

#include <cstdint>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Every step takes `ms` milliseconds (spec "const:<ms>ms", e.g. "const:30ms").
struct ConstantProfile {
    double ms = 0.0;

    /// The step latency in MICROSECONDS; the random engine is not used.
    template <class G>
    [[nodiscard]] double sample(const StepShape& /*shape*/, G& /*rng*/) const noexcept {
        return ms * 1000.0;
    }
};

/// A step takes base_ms + per_token_us * total_tokens + per_seq_us * num_requests
/// (spec "affine:<base_ms>ms,<per_token_us>us,<per_seq_us>us", e.g. "affine:2ms,25us,40us").
struct AffineProfile {
    double base_ms = 0.0;
    double per_token_us = 0.0;
    double per_seq_us = 0.0;

    /// The step latency in MICROSECONDS; the random engine is not used.
    template <class G>
    [[nodiscard]] double sample(const StepShape& shape, G& /*rng*/) const noexcept {
        return base_ms * 1000.0 + per_token_us * static_cast<double>(shape.total_tokens) +
               per_seq_us * static_cast<double>(shape.num_requests);
    }
};

LLMEMU_END_NAMESPACE
