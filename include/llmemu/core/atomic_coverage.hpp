#pragma once
/// \file atomic_coverage.hpp
/// detail::AtomicCoverage: Coverage counters that several threads may bump at once, for
/// latency models whose sample() is const and shared (oracle, learned, layer-wise).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "llmemu/config.hpp"
#include "llmemu/core/coverage.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace detail {

/// Coverage counters that several threads may bump at once (relaxed atomic adds; the
/// total is the sum, so one add per draw). Copies take a snapshot.
class AtomicCoverage {
public:
    AtomicCoverage() = default;
    AtomicCoverage(const AtomicCoverage& o) noexcept { set(o.load()); }
    AtomicCoverage& operator=(const AtomicCoverage& o) noexcept {
        set(o.load());
        return *this;
    }
    ~AtomicCoverage() = default;

    void count(CoverageKind k) const noexcept {
        m_count[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed);
    }
    [[nodiscard]] Coverage load() const noexcept {
        Coverage c;
        c.exact = m_count[0].load(std::memory_order_relaxed);
        c.interpolated = m_count[1].load(std::memory_order_relaxed);
        c.out_of_range = m_count[2].load(std::memory_order_relaxed);
        c.total = c.exact + c.interpolated + c.out_of_range;
        return c;
    }
    void set(const Coverage& c) noexcept {
        m_count[0].store(c.exact, std::memory_order_relaxed);
        m_count[1].store(c.interpolated, std::memory_order_relaxed);
        m_count[2].store(c.out_of_range, std::memory_order_relaxed);
    }

private:
    mutable std::array<std::atomic<std::uint64_t>, 3> m_count{};
};

} // namespace detail
LLMEMU_END_NAMESPACE
