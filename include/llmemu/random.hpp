#pragma once
/// \file random.hpp
/// Seeded, portable randomness. Everything random in llmemu takes an explicit engine, so
/// a seed gives the same result on every platform and standard library (the std::
/// distributions are implementation-defined, so llmemu draws its own).

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "llmemu/config.hpp"

namespace llmemu {

/// The requirements of std::uniform_random_bit_generator, spelled out here so that
/// headers constraining a random engine need not include <random> (its distributions
/// cost every includer about 0.3 s of parsing).
template <class G>
concept uniform_random_bit_generator =
    std::invocable<G&> && std::unsigned_integral<std::invoke_result_t<G&>> && requires {
    { G::min() } -> std::same_as<std::invoke_result_t<G&>>;
    { G::max() } -> std::same_as<std::invoke_result_t<G&>>;
    requires std::bool_constant<(G::min() < G::max())>::value;
};

/// xoshiro256** seeded through splitmix64: small, fast, and a UniformRandomBitGenerator.
class Rng {
public:
    using result_type = std::uint64_t;

    explicit Rng(std::uint64_t seed = 0x9E3779B97F4A7C15ULL) noexcept { reseed(seed); }

    void reseed(std::uint64_t seed) noexcept {
        std::uint64_t x = seed;
        for (auto& s : m_state) {
            x += 0x9E3779B97F4A7C15ULL;
            std::uint64_t z = x;
            z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
            s = z ^ (z >> 31U);
        }
    }

    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    result_type operator()() noexcept {
        const std::uint64_t result = rotl(m_state[1] * 5U, 7) * 9U;
        const std::uint64_t t = m_state[1] << 17U;
        m_state[2] ^= m_state[0];
        m_state[3] ^= m_state[1];
        m_state[1] ^= m_state[2];
        m_state[0] ^= m_state[3];
        m_state[2] ^= t;
        m_state[3] = rotl(m_state[3], 45);
        return result;
    }

    /// An independent stream derived from this one (for per-replica / per-run engines).
    Rng split() noexcept { return Rng((*this)()); }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::uint64_t m_state[4]{};
};

/// Uniform double in [0, 1) with 53 random bits.
template <class G>
inline double uniform01(G& g) noexcept {
    return static_cast<double>(g() >> 11U) * 0x1.0p-53;
}

/// Uniform integer in [0, n) (Lemire's multiply-shift; n > 0). Used on hot paths.
template <class G>
inline std::uint64_t uniform_index(G& g, std::uint64_t n) noexcept {
    return detail::mul_wide(g(), n).hi;
}

/// Exponential variate with the given rate (> 0).
template <class G>
inline double exponential(G& g, double rate) noexcept {
    return -std::log1p(-uniform01(g)) / rate;
}

/// Standard normal variate (Marsaglia polar method).
template <class G>
inline double standard_normal(G& g) noexcept {
    for (;;) {
        const double u = 2.0 * uniform01(g) - 1.0;
        const double v = 2.0 * uniform01(g) - 1.0;
        const double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
    }
}

/// Gamma(shape, scale) variate (Marsaglia–Tsang; shape < 1 by the boost trick).
template <class G>
inline double gamma(G& g, double shape, double scale) noexcept {
    if (shape < 1.0) {
        const double u = uniform01(g);
        return gamma(g, shape + 1.0, scale) * std::pow(u > 0.0 ? u : 0x1.0p-53, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        double x = 0;
        double v = 0;
        do {
            x = standard_normal(g);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        const double u = uniform01(g);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
        if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * scale;
    }
}

} // namespace llmemu
