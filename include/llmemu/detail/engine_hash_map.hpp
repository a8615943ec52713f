#pragma once
// A flat open-addressing map from non-zero 64-bit block hashes to 32-bit block ids
// (linear probing, backward-shift deletion). Fixed capacity chosen at construction, so
// the prefix cache never allocates while the engine runs.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace detail {

class EngineHashMap {
public:
    static constexpr std::uint32_t npos = 0xFFFFFFFFU;

    EngineHashMap() = default;
    /// Room for at least `max_entries` keys at load factor <= 1/2.
    explicit EngineHashMap(std::size_t max_entries) { reset(max_entries); }

    void reset(std::size_t max_entries) {
        std::size_t cap = 16;
        while (cap < 2 * max_entries + 2) cap <<= 1U;
        m_keys.assign(cap, 0);
        m_values.assign(cap, npos);
        m_mask = cap - 1;
        m_size = 0;
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_size; }

    /// The value stored under `key` (non-zero), or npos.
    [[nodiscard]] std::uint32_t find(std::uint64_t key) const noexcept {
        for (std::size_t i = slot(key);; i = (i + 1) & m_mask) {
            if (m_keys[i] == key) return m_values[i];
            if (m_keys[i] == 0) return npos;
        }
    }

    /// Inserts key -> value unless the key is present; returns whether it inserted.
    bool insert(std::uint64_t key, std::uint32_t value) noexcept {
        for (std::size_t i = slot(key);; i = (i + 1) & m_mask) {
            if (m_keys[i] == key) return false;
            if (m_keys[i] == 0) {
                m_keys[i] = key;
                m_values[i] = value;
                ++m_size;
                return true;
            }
        }
    }

    /// Removes `key` if it maps to `value`; returns whether it removed.
    bool erase(std::uint64_t key, std::uint32_t value) noexcept {
        std::size_t i = slot(key);
        for (;; i = (i + 1) & m_mask) {
            if (m_keys[i] == 0) return false;
            if (m_keys[i] == key) break;
        }
        if (m_values[i] != value) return false;
        // Backward-shift deletion keeps probe sequences intact without tombstones.
        std::size_t hole = i;
        for (std::size_t j = (i + 1) & m_mask; m_keys[j] != 0; j = (j + 1) & m_mask) {
            const std::size_t home = slot(m_keys[j]);
            // Move j into the hole when its home is not cyclically in (hole, j].
            const bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!between) {
                m_keys[hole] = m_keys[j];
                m_values[hole] = m_values[j];
                hole = j;
            }
        }
        m_keys[hole] = 0;
        m_values[hole] = npos;
        --m_size;
        return true;
    }

    void clear() noexcept {
        std::fill(m_keys.begin(), m_keys.end(), 0);
        std::fill(m_values.begin(), m_values.end(), npos);
        m_size = 0;
    }

private:
    [[nodiscard]] std::size_t slot(std::uint64_t key) const noexcept {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> 17U) & m_mask;
    }
    std::vector<std::uint64_t> m_keys;
    std::vector<std::uint32_t> m_values;
    std::size_t m_mask = 0;
    std::size_t m_size = 0;
};

} // namespace detail
LLMEMU_END_NAMESPACE
