#pragma once
/// \file latency_model.hpp
/// Concept LatencyModel: anything that turns a step (its StepShape, or the whole
/// StepBatch) into a step latency; sample_latency(), the one way to draw from either kind.

#include <chrono>
#include <concepts>
#include <type_traits>

#include "llmemu/config.hpp"
#include "llmemu/core/coverage.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One drawn step latency: microseconds and how the model answered. Converts implicitly
/// to the microsecond double (so a model may return it where a double is expected) and to
/// a std::chrono duration (`std::chrono::duration<double, std::micro> d = model.sample(...)`).
struct LatencySample {
    /// The latency in MICROSECONDS.
    double us = 0.0;
    /// Exact profile bucket, interpolated from neighbours, or outside the profiled range.
    CoverageKind coverage = CoverageKind::exact;

    constexpr operator double() const noexcept { return us; } // NOLINT(google-explicit-constructor)
    /// The latency as a std::chrono duration.
    [[nodiscard]] constexpr std::chrono::duration<double, std::micro> duration() const noexcept {
        return std::chrono::duration<double, std::micro>(us);
    }
    constexpr
    operator std::chrono::duration<double, std::micro>() const noexcept { // NOLINT(google-explicit-constructor)
        return duration();
    }
};

namespace detail {
// The model accepts the random engine as an rvalue: it takes it by value (or by const
// reference / forwarding reference), so it cannot advance the caller's stream and every
// draw would repeat. Models must take `G&`.
template <class M, class X, class G>
concept SampleTakesRngByValue = requires(M& m, const X& x, G&& g) {
    m.sample(x, static_cast<G&&>(g));
};
} // namespace detail

/// A latency model that sees the step's key only: `m.sample(const StepShape&, G&)`
/// returning the latency in microseconds (a double, or a LatencySample). ConstantProfile,
/// AffineProfile and LatencyOracle model it. The random engine must be taken by non-const
/// reference: a model that takes it by value would freeze randomness (every draw the same).
template <class M, class G = Rng>
concept ShapeLatencyModel = requires(M& m, const StepShape& shape, G& rng) {
    { m.sample(shape, rng) } -> std::convertible_to<double>;
}
&&!detail::SampleTakesRngByValue<M, StepShape, G>;

/// A latency model that sees the whole step: `m.sample(const StepBatch&, G&)`, with each
/// scheduled request's chunk (num_scheduled_tokens), context (num_computed_tokens),
/// whether it samples a token (samples_token) and whether it is prompt work (phase) — for
/// layer-wise models. Same return and Rng rules as ShapeLatencyModel.
template <class M, class G = Rng>
concept BatchLatencyModel = requires(M& m, const StepBatch& batch, G& rng) {
    { m.sample(batch, rng) } -> std::convertible_to<double>;
}
&&!detail::SampleTakesRngByValue<M, StepBatch, G>;

/// A latency model draws the latency of one step, in microseconds, with the caller's
/// random engine (so runs are reproducible per seed), from the step's shape or from the
/// whole batch (either or both). Draw from one with sample_latency().
template <class M, class G = Rng>
concept LatencyModel = ShapeLatencyModel<M, G> || BatchLatencyModel<M, G>;

namespace detail {
template <class R>
constexpr LatencySample to_latency_sample(const R& r) noexcept {
    if constexpr (std::same_as<R, LatencySample>)
        return r;
    else
        return LatencySample{static_cast<double>(r), CoverageKind::exact};
}
template <class M, class G>
concept SampleWithShape = requires(M& m, const StepBatch& b, const StepShape& s, G& g) {
    { m.sample(b, s, g) } -> std::convertible_to<double>;
};
} // namespace detail

/// Draws one step latency from any LatencyModel: a batch model gets the batch, a shape
/// model the shape (`shape` must be `batch.shape()`; the executor computes it in the pass
/// it makes anyway). A model with both is given the batch. A model may also offer
/// `sample(const StepBatch&, const StepShape&, G&)` (AnyLatencyModel does) to take both
/// without recomputing the shape. The result says how the model answered when it returns
/// a LatencySample; a plain double counts as exact.
template <class M, class G>
requires LatencyModel<M, G> LatencySample sample_latency(M& model, const StepBatch& batch, const StepShape& shape,
                                                         G& rng) {
    if constexpr (detail::SampleWithShape<M, G>)
        return detail::to_latency_sample(model.sample(batch, shape, rng));
    else if constexpr (BatchLatencyModel<M, G>)
        return detail::to_latency_sample(model.sample(batch, rng));
    else
        return detail::to_latency_sample(model.sample(shape, rng));
}

/// sample_latency() computing the shape itself.
template <class M, class G>
requires LatencyModel<M, G> LatencySample sample_latency(M& model, const StepBatch& batch, G& rng) {
    if constexpr (BatchLatencyModel<M, G> && !detail::SampleWithShape<M, G>)
        return detail::to_latency_sample(model.sample(batch, rng));
    else
        return sample_latency(model, batch, batch.shape(), rng);
}

namespace detail {
template <class>
inline constexpr bool always_false = false;

/// Readable diagnostics (nlohmann/json style): one static_assert per broken requirement,
/// each naming the signature wanted. Instantiated where a LatencyModel is required.
template <class M, class G = Rng>
constexpr bool diagnose_latency_model() {
    constexpr bool by_value = SampleTakesRngByValue<M, StepShape, G> || SampleTakesRngByValue<M, StepBatch, G>;
    static_assert(!by_value,
                  "llmemu::LatencyModel: sample() takes the random engine by value (or const / forwarding "
                  "reference), which would repeat the same draw forever; declare "
                  "`double sample(const StepShape&, Rng& rng)` or `double sample(const StepBatch&, Rng& rng)`");
    static_assert(by_value || LatencyModel<M, G>,
                  "llmemu::LatencyModel: the type needs `double sample(const llmemu::StepShape&, llmemu::Rng&)` or "
                  "`double sample(const llmemu::StepBatch&, llmemu::Rng&)` (latency in microseconds; may return "
                  "llmemu::LatencySample)");
    return LatencyModel<M, G>;
}
} // namespace detail

LLMEMU_END_NAMESPACE
