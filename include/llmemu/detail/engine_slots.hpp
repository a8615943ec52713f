#pragma once
/// \file engine_slots.hpp
/// detail::StableSlots: the scheduler's request slots in fixed chunks. Growing never moves
/// a slot (a std::vector that doubles copies every slot and briefly holds both buffers: the
/// peak memory of an engine with a long waiting queue), and a slot's address is stable.
#include <cstddef>
#include <memory>
#include <vector>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace detail {

template <class T, unsigned ChunkBits = 9>
class StableSlots {
public:
    static constexpr std::size_t chunk = std::size_t{1} << ChunkBits;

    [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_chunks[i >> ChunkBits][i & (chunk - 1)]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept {
        return m_chunks[i >> ChunkBits][i & (chunk - 1)];
    }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    /// A default-constructed slot at the end.
    T& emplace_back() {
        if (m_size == m_chunks.size() * chunk) m_chunks.push_back(std::make_unique<T[]>(chunk));
        return (*this)[m_size++];
    }

private:
    std::vector<std::unique_ptr<T[]>> m_chunks;
    std::size_t m_size = 0;
};

} // namespace detail
LLMEMU_END_NAMESPACE
