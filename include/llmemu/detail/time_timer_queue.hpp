#pragma once
// The deadline heap shared by VirtualClock and TimerService (not thread-safe: the
// service guards it with its mutex). Timers with equal deadlines run in the order they
// were scheduled. Cancellation is O(1): a handle names a slot and a generation, and heap
// entries whose slot has moved on are skipped lazily (and compacted away when they pile up).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/time/clock.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace detail {

template <class TimePoint>
class TimerQueue {
public:
    using time_point = TimePoint;
    using callback = std::function<void()>;

    /// Adds a timer; never fails except by std::bad_alloc.
    TimerHandle push(time_point deadline, callback fn) {
        std::uint32_t slot = 0;
        if (!m_free.empty()) {
            slot = m_free.back();
            m_free.pop_back();
        } else {
            slot = static_cast<std::uint32_t>(m_slots.size());
            m_slots.emplace_back();
        }
        Slot& s = m_slots[slot];
        s.fn = std::move(fn);
        s.live = true;
        m_heap.push_back(Entry{deadline, m_next_seq++, slot, s.generation});
        std::push_heap(m_heap.begin(), m_heap.end(), later);
        ++m_live;
        return TimerHandle{(static_cast<std::uint64_t>(s.generation) << 32U) | (slot + 1ULL)};
    }

    /// Removes a pending timer and hands back its callback (so the caller can destroy it
    /// outside any lock); nullopt when the handle names no pending timer.
    std::optional<callback> cancel(TimerHandle h) {
        if (!h) return std::nullopt;
        const auto slot = static_cast<std::uint32_t>((h.id & 0xFFFFFFFFULL) - 1ULL);
        const auto generation = static_cast<std::uint32_t>(h.id >> 32U);
        if (slot >= m_slots.size()) return std::nullopt;
        Slot& s = m_slots[slot];
        if (!s.live || s.generation != generation) return std::nullopt;
        callback fn = release(slot);
        maybe_compact();
        return fn;
    }

    /// The earliest pending deadline (drops cancelled entries from the top).
    [[nodiscard]] std::optional<time_point> next_deadline() {
        drop_stale();
        if (m_heap.empty()) return std::nullopt;
        return m_heap.front().deadline;
    }

    /// Removes the earliest pending timer; precondition: next_deadline() has a value.
    std::pair<time_point, callback> pop() {
        drop_stale();
        std::pop_heap(m_heap.begin(), m_heap.end(), later);
        const Entry e = m_heap.back();
        m_heap.pop_back();
        return {e.deadline, release(e.slot)};
    }

    /// Removes every pending timer and hands back their callbacks, earliest first.
    std::vector<callback> take_all() {
        std::sort(m_heap.begin(), m_heap.end(), [](const Entry& a, const Entry& b) { return later(b, a); });
        std::vector<callback> out;
        out.reserve(m_live);
        for (const Entry& e : m_heap) {
            if (is_current(e)) out.push_back(release(e.slot));
        }
        m_heap.clear();
        return out;
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_live; }
    [[nodiscard]] bool empty() const noexcept { return m_live == 0; }

private:
    struct Entry {
        time_point deadline;
        std::uint64_t seq;
        std::uint32_t slot;
        std::uint32_t generation;
    };
    struct Slot {
        callback fn;
        std::uint32_t generation = 1;
        bool live = false;
    };

    // Heap order: the top is the earliest deadline, ties broken by scheduling order.
    static bool later(const Entry& a, const Entry& b) noexcept {
        if (a.deadline != b.deadline) return a.deadline > b.deadline;
        return a.seq > b.seq;
    }
    [[nodiscard]] bool is_current(const Entry& e) const noexcept {
        const Slot& s = m_slots[e.slot];
        return s.live && s.generation == e.generation;
    }
    callback release(std::uint32_t slot) {
        Slot& s = m_slots[slot];
        callback fn = std::move(s.fn);
        s.fn = nullptr;
        s.live = false;
        ++s.generation;
        if (s.generation == 0) s.generation = 1;
        m_free.push_back(slot);
        --m_live;
        return fn;
    }
    void drop_stale() {
        while (!m_heap.empty() && !is_current(m_heap.front())) {
            std::pop_heap(m_heap.begin(), m_heap.end(), later);
            m_heap.pop_back();
        }
    }
    void maybe_compact() {
        if (m_heap.size() <= 2 * m_live + 64) return;
        std::erase_if(m_heap, [this](const Entry& e) { return !is_current(e); });
        std::make_heap(m_heap.begin(), m_heap.end(), later);
    }

    std::vector<Entry> m_heap;
    std::vector<Slot> m_slots;
    std::vector<std::uint32_t> m_free;
    std::uint64_t m_next_seq = 0;
    std::size_t m_live = 0;
};

} // namespace detail
LLMEMU_END_NAMESPACE
