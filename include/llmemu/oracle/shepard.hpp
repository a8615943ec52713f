#pragma once
/// \file shepard.hpp
/// Weight policies of the latency oracle: Shepard inverse-distance weights (the
/// default) and uniform weights.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>

#include "llmemu/config.hpp"
#include "llmemu/oracle/neighbours.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A weight policy turns neighbour distances into non-negative, not-all-zero weights
/// (one per neighbour; they need not sum to 1). `floor` is the smallest distance to use
/// (a query's own, too-sparse bucket sits at distance 0).
template <class W>
concept WeightPolicy = requires(const W& w, std::span<const Neighbour> n, double floor, std::span<double> out) {
    { w.weights(n, floor, out) } -> std::same_as<void>;
};

/// Shepard's inverse-distance weights: w_i = 1 / max(d_i, floor)^power. Power 1 is the
/// default: on the A40 holdout it beat power 2 and 3 (a flatter mixture keeps more of
/// the neighbours' spread, which lowers the KS distance too).
struct ShepardWeights {
    double power = 1.0;

    // Element-wise, so a plain loop (which compilers vectorise) computes exactly what an
    // Eigen array expression would, without Eigen's headers in every includer.
    void weights(std::span<const Neighbour> n, double floor, std::span<double> out) const noexcept {
        const double f = floor > 0.0 ? floor : 1e-12;
        const std::size_t k = n.size();
        if (power == 2.0) {
            for (std::size_t i = 0; i < k; ++i) {
                const double d = std::max(n[i].distance, f);
                out[i] = 1.0 / (d * d);
            }
        } else if (power == 1.0) {
            for (std::size_t i = 0; i < k; ++i) out[i] = 1.0 / std::max(n[i].distance, f);
        } else {
            for (std::size_t i = 0; i < k; ++i) out[i] = std::pow(std::max(n[i].distance, f), -power);
        }
    }
};

/// Every neighbour weighs the same.
struct UniformWeights {
    void weights(std::span<const Neighbour> n, double /*floor*/, std::span<double> out) const noexcept {
        std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n.size()), 1.0);
    }
};

static_assert(WeightPolicy<ShepardWeights>);
static_assert(WeightPolicy<UniformWeights>);
static_assert(!WeightPolicy<double>);

LLMEMU_END_NAMESPACE
