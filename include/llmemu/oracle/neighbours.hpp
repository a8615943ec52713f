#pragma once
/// \file neighbours.hpp
/// Nearest-bucket search in normalised (tt, conc) space, and the neighbour policies of
/// the latency oracle: density-aware adaptive-K expansion (the default) and a plain
/// nearest bucket (the baseline `llmemu profile holdout` compares against).

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/store.hpp"

#if defined(__GNUC__)
#define LLMEMU_ORACLE_ALWAYS_INLINE __attribute__((always_inline))
#else
#define LLMEMU_ORACLE_ALWAYS_INLINE
#endif

LLMEMU_BEGIN_NAMESPACE

/// How bucket keys are scaled before distances are measured.
enum class DistanceNormalisation : std::uint8_t {
    /// Each axis divided by the table's extent (max - min), so tokens and concurrency
    /// weigh the same over the profiled range (the default: best on the A40 holdout).
    range,
    /// Each axis divided by its bucket width: one token step = one concurrency bucket.
    bucket_width,
};

/// One neighbour bucket of a query and its normalised distance.
struct Neighbour {
    std::uint32_t bucket = 0;
    double distance = 0.0;
};

/// Most neighbours any policy may return (fixed capacity: no allocation per sample).
inline constexpr std::size_t max_neighbour_capacity = 32;

/// The neighbours of one query, nearest first (ties: lower bucket index first).
class NeighbourSet {
public:
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
    [[nodiscard]] const Neighbour& operator[](std::size_t i) const noexcept { return m_items[i]; }
    [[nodiscard]] std::span<const Neighbour> items() const noexcept { return {m_items.data(), m_size}; }
    void clear() noexcept { m_size = 0; }
    /// Keeps the first n neighbours.
    void truncate(std::size_t n) noexcept { m_size = std::min(m_size, n); }

    /// Inserts in distance order, keeping at most `cap` (<= capacity) nearest.
    void insert(Neighbour n, std::size_t cap) noexcept {
        auto before = [](const Neighbour& a, const Neighbour& b) {
            return a.distance < b.distance || (a.distance == b.distance && a.bucket < b.bucket);
        };
        if (m_size == cap && !before(n, m_items[m_size - 1])) return;
        std::size_t i = m_size < cap ? m_size++ : m_size - 1;
        while (i > 0 && before(n, m_items[i - 1])) {
            m_items[i] = m_items[i - 1];
            --i;
        }
        m_items[i] = n;
    }
    /// Turns squared distances (as gathered) into distances.
    void finish_sqrt() noexcept {
        for (std::size_t i = 0; i < m_size; ++i) m_items[i].distance = std::sqrt(m_items[i].distance);
    }
    /// Distance of the last (farthest kept) neighbour.
    [[nodiscard]] double back_distance() const noexcept { return m_items[m_size - 1].distance; }

private:
    std::array<Neighbour, max_neighbour_capacity> m_items{};
    std::size_t m_size = 0;
};

/// A table prepared for nearest-bucket queries: every bucket's normalised coordinates
/// and a uniform grid of cells over them (about eight buckets per cell), searched ring by
/// ring outward from the query so a k-nearest query touches only a few cells.
class TableGeometry {
public:
    /// Prepares `table` (which must outlive the geometry). `conc_weight` stretches the
    /// concurrency axis (> 1: concurrency differences count more).
    TableGeometry(const ProfileTable& table, DistanceNormalisation norm = DistanceNormalisation::range,
                  double conc_weight = 1.0)
        : m_table(&table) {
        if (table.empty()) detail::throw_error<profile_error>("TableGeometry: the table has no buckets");
        if (!(conc_weight > 0.0) || !std::isfinite(conc_weight))
            detail::throw_error<config_error>("oracle: conc_weight must be a positive number");
        const Bucketing& b = table.bucketing();
        double stt = static_cast<double>(b.tt_width);
        double sconc = static_cast<double>(b.conc_width);
        if (norm == DistanceNormalisation::range) {
            stt = std::max(stt, static_cast<double>(table.tt_max() - table.tt_min()));
            sconc = std::max(sconc, static_cast<double>(table.conc_max() - table.conc_min()));
        }
        m_inv_tt = 1.0 / stt;
        m_inv_conc = conc_weight / sconc;
        m_unit = std::min(static_cast<double>(b.tt_width) * m_inv_tt, static_cast<double>(b.conc_width) * m_inv_conc);
        m_x0 = static_cast<double>(table.tt_min()) * m_inv_tt;
        m_y0 = static_cast<double>(table.conc_min()) * m_inv_conc;
        const std::size_t n = table.size();
        m_x.resize(n);
        m_y.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            m_x[i] = static_cast<double>(table.tt(i)) * m_inv_tt - m_x0;
            m_y[i] = static_cast<double>(table.conc(i)) * m_inv_conc - m_y0;
        }
        const double w = static_cast<double>(table.tt_max()) * m_inv_tt - m_x0;
        const double h = static_cast<double>(table.conc_max()) * m_inv_conc - m_y0;
        const double cells = std::max(1.0, static_cast<double>(n) / 8.0);
        double side = (w > 0 && h > 0) ? std::sqrt(w * h / cells) : std::max({w, h, 1e-12}) / cells;
        side = std::max({side, w / 1023.0, h / 1023.0, 1e-12});
        m_inv_side = 1.0 / side;
        m_gx = static_cast<std::size_t>(w * m_inv_side) + 1;
        m_gy = static_cast<std::size_t>(h * m_inv_side) + 1;
        std::vector<std::uint32_t> cell_of(n);
        m_cell_start.assign(m_gx * m_gy + 1, 0);
        for (std::size_t i = 0; i < n; ++i) {
            cell_of[i] = static_cast<std::uint32_t>(cell_y(m_y[i]) * m_gx + cell_x(m_x[i]));
            ++m_cell_start[cell_of[i] + 1];
        }
        for (std::size_t c = 0; c < m_gx * m_gy; ++c) m_cell_start[c + 1] += m_cell_start[c];
        m_cell_items.resize(n);
        std::vector<std::uint32_t> fill(m_cell_start.begin(), m_cell_start.end() - 1);
        for (std::size_t i = 0; i < n; ++i) m_cell_items[fill[cell_of[i]]++] = static_cast<std::uint32_t>(i);
    }

    [[nodiscard]] const ProfileTable& table() const noexcept { return *m_table; }
    /// Normalised distance of one bucket step along the finer axis (used as the
    /// distance of a query to its own, too-sparse bucket).
    [[nodiscard]] double unit_distance() const noexcept { return m_unit; }

    /// Normalised distance between bucket i and the point (tt, conc).
    [[nodiscard]] double distance(std::size_t i, double tt, double conc) const noexcept {
        const double dx = m_x[i] - (tt * m_inv_tt - m_x0);
        const double dy = m_y[i] - (conc * m_inv_conc - m_y0);
        return std::sqrt(dx * dx + dy * dy);
    }

    /// The k (<= max_neighbour_capacity) buckets nearest to (tt, conc), nearest first.
    void nearest(double tt, double conc, std::size_t k, NeighbourSet& out) const noexcept {
        out.clear();
        k = std::min({k, max_neighbour_capacity, m_x.size()});
        if (k == 0) return;
        const double qx = tt * m_inv_tt - m_x0;
        const double qy = conc * m_inv_conc - m_y0;
        const auto cx = static_cast<std::ptrdiff_t>(cell_x(qx));
        const auto cy = static_cast<std::ptrdiff_t>(cell_y(qy));
        const auto gx = static_cast<std::ptrdiff_t>(m_gx);
        const auto gy = static_cast<std::ptrdiff_t>(m_gy);
        const double side = 1.0 / m_inv_side;
        // Cells of ring r around (cx, cy), clipped to the grid; a cell is skipped when its
        // nearest point is farther than the current k-th neighbour.
        auto visit = [&](std::ptrdiff_t x, std::ptrdiff_t y) LLMEMU_ORACLE_ALWAYS_INLINE {
            if (out.size() == k) {
                const double ex =
                    std::max({0.0, static_cast<double>(x) * side - qx, qx - static_cast<double>(x + 1) * side});
                const double ey =
                    std::max({0.0, static_cast<double>(y) * side - qy, qy - static_cast<double>(y + 1) * side});
                if (ex * ex + ey * ey > out.back_distance()) return;
            }
            const std::size_t c = static_cast<std::size_t>(y * gx + x);
            const std::uint32_t end = m_cell_start[c + 1];
            for (std::uint32_t j = m_cell_start[c]; j < end; ++j) {
                const std::uint32_t i = m_cell_items[j];
                const double dx = m_x[i] - qx;
                const double dy = m_y[i] - qy;
                out.insert({i, dx * dx + dy * dy}, k); // squared for now
            }
        };
        for (std::ptrdiff_t r = 0;; ++r) {
            const std::ptrdiff_t x0 = std::max<std::ptrdiff_t>(cx - r, 0);
            const std::ptrdiff_t x1 = std::min<std::ptrdiff_t>(cx + r, gx - 1);
            const std::ptrdiff_t y0 = std::max<std::ptrdiff_t>(cy - r, 0);
            const std::ptrdiff_t y1 = std::min<std::ptrdiff_t>(cy + r, gy - 1);
            if (r == 0) {
                visit(cx, cy);
            } else {
                // A whole side of the ring is skipped when its row / column alone lies
                // beyond the current k-th neighbour.
                auto beyond = [&](double axis_gap) {
                    return out.size() == k && axis_gap > 0.0 && axis_gap * axis_gap > out.back_distance();
                };
                if (cy - r >= 0 && !beyond(qy - static_cast<double>(cy - r + 1) * side))
                    for (std::ptrdiff_t x = x0; x <= x1; ++x) visit(x, cy - r);
                if (cy + r < gy && !beyond(static_cast<double>(cy + r) * side - qy))
                    for (std::ptrdiff_t x = x0; x <= x1; ++x) visit(x, cy + r);
                const std::ptrdiff_t ya = std::max<std::ptrdiff_t>(cy - r + 1, 0);
                const std::ptrdiff_t yb = std::min<std::ptrdiff_t>(cy + r - 1, gy - 1);
                if (cx - r >= 0 && !beyond(qx - static_cast<double>(cx - r + 1) * side))
                    for (std::ptrdiff_t y = ya; y <= yb; ++y) visit(cx - r, y);
                if (cx + r < gx && !beyond(static_cast<double>(cx + r) * side - qx))
                    for (std::ptrdiff_t y = ya; y <= yb; ++y) visit(cx + r, y);
            }
            const bool covers = x0 == 0 && y0 == 0 && x1 == gx - 1 && y1 == gy - 1;
            if (covers) break;
            if (out.size() == k) {
                // Nearest point any unvisited cell could hold.
                constexpr double inf = std::numeric_limits<double>::infinity();
                const double left = cx - r > 0 ? qx - static_cast<double>(cx - r) * side : inf;
                const double right = cx + r < gx - 1 ? static_cast<double>(cx + r + 1) * side - qx : inf;
                const double down = cy - r > 0 ? qy - static_cast<double>(cy - r) * side : inf;
                const double up = cy + r < gy - 1 ? static_cast<double>(cy + r + 1) * side - qy : inf;
                const double bound = std::max(0.0, std::min({left, right, down, up}));
                if (out.back_distance() <= bound * bound) break;
            }
        }
        out.finish_sqrt();
    }

private:
    // Cell index of a coordinate, clamped onto the grid (also for far-away or NaN input).
    [[nodiscard]] static std::size_t to_cell(double v, double inv_side, std::size_t cells) noexcept {
        const double c = std::floor(v * inv_side);
        if (!(c > 0.0)) return 0;
        if (c >= static_cast<double>(cells - 1)) return cells - 1;
        return static_cast<std::size_t>(c);
    }
    [[nodiscard]] std::size_t cell_x(double x) const noexcept { return to_cell(x, m_inv_side, m_gx); }
    [[nodiscard]] std::size_t cell_y(double y) const noexcept { return to_cell(y, m_inv_side, m_gy); }

    const ProfileTable* m_table = nullptr;
    double m_inv_tt = 1.0;
    double m_inv_conc = 1.0;
    double m_x0 = 0.0;
    double m_y0 = 0.0;
    double m_unit = 1.0;
    double m_inv_side = 1.0;
    std::size_t m_gx = 1;
    std::size_t m_gy = 1;
    std::vector<double> m_x;
    std::vector<double> m_y;
    std::vector<std::uint32_t> m_cell_start;
    std::vector<std::uint32_t> m_cell_items;
};

/// A neighbour policy fills `out` with the buckets a query at bucket centres (tt, conc)
/// draws from, nearest first. It never returns an empty set for a non-empty table.
template <class P>
concept NeighbourPolicy = requires(const P& p, const TableGeometry& g, double tt, double conc, NeighbourSet& out) {
    { p.find(g, tt, conc, out) } -> std::same_as<void>;
};

/// Density-aware adaptive K: take buckets nearest first until they hold at least
/// `target_samples` samples (so K is small where the profile is dense and grows where it
/// is sparse), with at least `min_neighbours` and at most `max_neighbours` buckets.
struct AdaptiveKNeighbours {
    std::uint32_t target_samples = 32;
    std::uint32_t min_neighbours = 1;
    std::uint32_t max_neighbours = 8;

    void find(const TableGeometry& g, double tt, double conc, NeighbourSet& out) const noexcept {
        const std::size_t kmax = std::clamp<std::size_t>(max_neighbours, 1, max_neighbour_capacity);
        g.nearest(tt, conc, kmax, out);
        const ProfileTable& t = g.table();
        std::uint64_t cum = 0;
        for (std::size_t i = 0; i < out.size(); ++i) {
            cum += t.count(out[i].bucket);
            if (cum >= target_samples && i + 1 >= min_neighbours) {
                out.truncate(i + 1);
                return;
            }
        }
    }
};

/// The single nearest bucket (ties: lower bucket index): the holdout baseline.
struct NearestBucket {
    void find(const TableGeometry& g, double tt, double conc, NeighbourSet& out) const noexcept {
        g.nearest(tt, conc, 1, out);
    }
};

static_assert(NeighbourPolicy<AdaptiveKNeighbours>);
static_assert(NeighbourPolicy<NearestBucket>);
static_assert(!NeighbourPolicy<int>);

LLMEMU_END_NAMESPACE
