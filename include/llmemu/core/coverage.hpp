#pragma once
/// \file coverage.hpp
/// How often a latency model answered from an exact bucket, from neighbours, or outside
/// the profiled range: the numbers that say whether a profile covers a workload. In core/
/// because every StepOutput says how its step was answered (oracle/coverage.hpp forwards).

#include <cstdint>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Coverage counters of one latency model (exact + interpolated + out_of_range == total).
struct Coverage {
    /// Exact bucket with enough samples.
    std::uint64_t exact = 0;
    /// Inside the profiled range, drawn from neighbouring buckets.
    std::uint64_t interpolated = 0;
    /// Outside the profiled (tt, conc) range: clamped (and maybe scaled).
    std::uint64_t out_of_range = 0;
    /// All samples drawn.
    std::uint64_t total = 0;
    /// Of the samples above, those a learned model answered (LearnedLatencyModel alone, or
    /// as the oracle's fallback); they are also counted as interpolated or out_of_range.
    std::uint64_t learned = 0;

    Coverage& operator+=(const Coverage& o) noexcept {
        exact += o.exact;
        interpolated += o.interpolated;
        out_of_range += o.out_of_range;
        total += o.total;
        learned += o.learned;
        return *this;
    }
    friend constexpr bool operator==(const Coverage&, const Coverage&) = default;
};

/// Which way one shape was answered.
enum class CoverageKind : std::uint8_t { exact, interpolated, out_of_range };

/// "exact", "interpolated" or "out_of_range".
constexpr const char* to_string(CoverageKind k) noexcept {
    switch (k) {
    case CoverageKind::exact:
        return "exact";
    case CoverageKind::interpolated:
        return "interpolated";
    case CoverageKind::out_of_range:
        return "out_of_range";
    }
    return "?";
}

LLMEMU_END_NAMESPACE
