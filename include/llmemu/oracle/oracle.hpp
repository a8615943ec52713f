#pragma once
/// \file oracle.hpp
/// LatencyOracle: the latency of one engine step drawn from a profile pack's raw
/// samples (LLM-Emu's density-aware profile oracle).
///
/// - The table follows the step's phase (any prompt work in the step: prefill table; a
///   pure decode step: decode table), falling back to the combined step-cycle table when the phase table
///   is missing (and to the other phase table when that is missing too).
/// - Keys are bucketed exactly like the pack: centre = (v // w) * w + w // 2.
/// - Exact bucket with at least `min_exact_samples` samples: one raw sample uniformly.
/// - Otherwise: the neighbour policy gathers nearby buckets (default: adaptive K in
///   normalised space), the weight policy weighs them (default: Shepard, power 1), one
///   bucket is drawn by weight and one raw sample from it. No averaging: outliers and
///   multi-modal buckets survive.
/// - Outside the profiled range the query is clamped onto it; with
///   OutOfRangePolicy::token_slope a step above the largest profiled tt is also scaled by
///   the token slope of the largest-tt buckets. Coverage counters record every case.

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/atomic_coverage.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/coverage.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/neighbours.hpp"
#include "llmemu/oracle/shepard.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// What the oracle does with a step outside the profiled (tt, conc) range.
enum class OutOfRangePolicy : std::uint8_t {
    /// Answer as for the nearest profiled key (tt and conc clamped onto the range).
    clamp,
    /// Clamp, then scale by the token slope of the largest-tt buckets when tt is above the
    /// range: latency * (a + b * tt) / (a + b * tt_max), from a least-squares line through
    /// their median latencies (b >= 0). Below the range, and for concurrency, it clamps.
    token_slope,
};

/// Oracle settings that are not policy objects.
struct OracleOptions {
    /// An exact bucket answers alone when it has at least this many samples; sparser
    /// buckets are mixed with their neighbours (the bucket itself weighs most).
    std::uint32_t min_exact_samples = 3;
    /// How (tt, conc) are scaled before distances are measured.
    DistanceNormalisation normalisation = DistanceNormalisation::range;
    /// Stretch of the concurrency axis in normalised space (after range normalisation).
    /// 0.3 was best on the A40 holdout: within a table's range, neighbours that share
    /// the step's concurrency band but differ more in tokens are the better predictors.
    double conc_weight = 0.3;
    OutOfRangePolicy out_of_range = OutOfRangePolicy::clamp;

    void validate() const {
        if (min_exact_samples == 0) detail::throw_error<config_error>("oracle: min_exact_samples must be at least 1");
        if (!(conc_weight > 0.0) || !std::isfinite(conc_weight))
            detail::throw_error<config_error>("oracle: conc_weight must be a positive number");
    }
};

/// How one step shape is answered: the table, the case, the clamped query key and the
/// buckets it draws from with their probabilities (for tools, tests and holdout).
struct Resolution {
    TableKind table = TableKind::step_cycle;
    CoverageKind kind = CoverageKind::exact;
    /// Bucket centres queried (after clamping).
    std::uint32_t tt = 0;
    std::uint32_t conc = 0;
    /// Factor applied to the drawn sample (1 unless token_slope scales it).
    double scale = 1.0;
    NeighbourSet neighbours;
    std::array<double, max_neighbour_capacity> probability{};
};

namespace detail {

/// One table prepared for the oracle: its geometry, and the token-slope line at its
/// upper tt edge. Immutable; shared by oracle copies.
struct OracleTableState {
    OracleTableState(const ProfileTable& t, const OracleOptions& opts)
        : table(&t), geometry(t, opts.normalisation, opts.conc_weight) {
        fit_edge();
        build_luts();
    }

    const ProfileTable* table;
    TableGeometry geometry;
    // Raw value -> grid row / column + 1 (0: outside the table's range), for the
    // division-free exact-hit path; empty when the table has no dense grid.
    std::vector<std::uint32_t> tt_row;
    std::vector<std::uint32_t> conc_col;
    double edge_a = 1.0; // latency ~ edge_a + edge_b * tt near tt_max
    double edge_b = 0.0;

    [[nodiscard]] double slope_factor(std::uint64_t tt) const noexcept {
        const double at_edge = edge_a + edge_b * static_cast<double>(table->tt_max());
        if (edge_b <= 0.0 || at_edge <= 0.0 || tt <= table->tt_max()) return 1.0;
        return (edge_a + edge_b * static_cast<double>(tt)) / at_edge;
    }

private:
    static constexpr std::uint64_t max_lut = std::uint64_t{1} << 17U;

    void build_luts() {
        const ProfileTable& t = *table;
        if (!t.dense_index() || t.tt_max() >= max_lut || t.conc_max() >= max_lut) return;
        const Bucketing& b = t.bucketing();
        tt_row.assign(std::uint64_t{t.tt_max()} + 1, 0);
        for (std::uint64_t v = 0; v < tt_row.size(); ++v) {
            const std::uint64_t c = b.tt_centre(v);
            if (c >= t.tt_min() && c <= t.tt_max())
                tt_row[v] = static_cast<std::uint32_t>(c / b.tt_width - t.grid_row0() + 1);
        }
        // Raw concurrency up to the last value that still buckets into conc_max.
        const std::uint64_t conc_end = (std::uint64_t{t.conc_max()} / b.conc_width + 1) * b.conc_width;
        conc_col.assign(conc_end, 0);
        for (std::uint64_t v = 0; v < conc_col.size(); ++v) {
            const std::uint64_t c = b.conc_centre(v);
            if (c >= t.conc_min() && c <= t.conc_max())
                conc_col[v] = static_cast<std::uint32_t>(c / b.conc_width - t.grid_col0() + 1);
        }
    }

    /// Least-squares line latency = a + b * tt through the median latency of the
    /// largest-tt buckets. Two parameters: the closed form (centred sums) is exact and
    /// keeps a linear-algebra library out of every includer of this header.
    void fit_edge() {
        const std::size_t n = table->size();
        const std::size_t m = std::min(n, std::max<std::size_t>(8, n / 10));
        if (m < 2) return;
        std::vector<double> xs(m);
        std::vector<double> ys(m);
        std::vector<float> tmp;
        for (std::size_t j = 0; j < m; ++j) {
            const std::size_t i = n - m + j; // buckets are sorted by tt: the largest-tt ones
            const auto s = table->samples(i);
            tmp.assign(s.begin(), s.end());
            // The upper median (a sample of the bucket, by selection), not core/quantile.hpp's
            // interpolated one: kept so that fitted edges, and the results pinned on them, stay.
            std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(tmp.size() / 2), tmp.end());
            xs[j] = static_cast<double>(table->tt(i));
            ys[j] = tmp[tmp.size() / 2];
        }
        double x_mean = 0.0;
        double y_mean = 0.0;
        for (std::size_t j = 0; j < m; ++j) {
            x_mean += xs[j];
            y_mean += ys[j];
        }
        x_mean /= static_cast<double>(m);
        y_mean /= static_cast<double>(m);
        double sxx = 0.0;
        double sxy = 0.0;
        for (std::size_t j = 0; j < m; ++j) {
            sxx += (xs[j] - x_mean) * (xs[j] - x_mean);
            sxy += (xs[j] - x_mean) * (ys[j] - y_mean);
        }
        if (!(sxx > 0.0)) return; // every bucket at one tt: no slope to fit
        const double b = sxy / sxx;
        const double a = y_mean - b * x_mean;
        if (std::isfinite(a) && std::isfinite(b) && b > 0.0) {
            edge_a = a;
            edge_b = b;
        }
    }
};

/// Everything an oracle shares with its copies.
struct OracleState {
    std::shared_ptr<const ProfileStore> store;
    std::array<std::optional<OracleTableState>, num_table_kinds> tables;
    std::array<TableKind, 2> phase_table{}; // indexed by Phase
};

/// Resolves a query (bucket centres) on one prepared table.
template <class N, class W>
Resolution resolve_on_table(const OracleTableState& ts, TableKind kind, std::uint64_t tt, std::uint64_t conc,
                            const OracleOptions& opts, const N& neighbours, const W& weights) {
    const ProfileTable& t = *ts.table;
    Resolution r;
    r.table = kind;
    const bool in_range = tt >= t.tt_min() && tt <= t.tt_max() && conc >= t.conc_min() && conc <= t.conc_max();
    r.kind = in_range ? CoverageKind::exact : CoverageKind::out_of_range;
    if (!in_range && opts.out_of_range == OutOfRangePolicy::token_slope) r.scale = ts.slope_factor(tt);
    const std::uint64_t ctt = std::clamp<std::uint64_t>(tt, t.tt_min(), t.tt_max());
    const std::uint64_t cconc = std::clamp<std::uint64_t>(conc, t.conc_min(), t.conc_max());
    r.tt = static_cast<std::uint32_t>(ctt);
    r.conc = static_cast<std::uint32_t>(cconc);
    const std::uint32_t i = t.find(r.tt, r.conc);
    if (i != ProfileTable::npos && t.count(i) >= opts.min_exact_samples) {
        r.neighbours.insert({i, 0.0}, 1);
        r.probability[0] = 1.0;
        return r;
    }
    if (in_range) r.kind = CoverageKind::interpolated;
    neighbours.find(ts.geometry, static_cast<double>(ctt), static_cast<double>(cconc), r.neighbours);
    const std::size_t k = r.neighbours.size();
    weights.weights(r.neighbours.items(), 0.5 * ts.geometry.unit_distance(),
                    std::span<double>(r.probability.data(), k));
    double total = 0.0;
    for (std::size_t j = 0; j < k; ++j) total += r.probability[j];
    for (std::size_t j = 0; j < k; ++j)
        r.probability[j] = total > 0.0 ? r.probability[j] / total : 1.0 / static_cast<double>(k);
    return r;
}

/// What the exact-hit path of one phase reads: raw pointers into the shared state.
struct OracleHotTable {
    const std::uint16_t* grid = nullptr; // null: no lookup tables, take the general path
    std::size_t cols = 0;
    const std::uint32_t* tt_row = nullptr;
    std::size_t tt_size = 0;
    const std::uint32_t* conc_col = nullptr;
    std::size_t conc_size = 0;
    const std::uint32_t* offsets = nullptr;
    const float* samples = nullptr;
};

// A small direct-mapped memo of resolved sparse / out-of-range queries: engines ask for
// the same few shapes over and over, so the neighbour search runs once per shape. Each
// oracle copy starts with an empty memo (copies stay cheap); it holds resolutions with
// up to `width` neighbours and replays them bit for bit (same draws as uncached).
//
// Safe to share between threads, lock-free on lookup: a slot is an atomic pointer to an
// immutable entry, published with release and read with acquire. Entries are never freed
// while the memo lives (a replaced one may still be read by another thread): they are
// kept in an arena, and after `max_entries` allocations the memo stops storing (a
// thrashing workload then resolves uncached, still correct).
class OracleMemo {
public:
    static constexpr std::size_t slots = 256;
    static constexpr std::size_t width = 8;
    static constexpr std::size_t max_entries = 4096;

    struct Entry {
        std::uint32_t tt = 0;
        std::uint32_t conc = 0;
        std::uint8_t table = 0xFF;
        std::uint8_t size = 0;
        CoverageKind kind = CoverageKind::interpolated;
        double scale = 1.0;
        std::array<std::uint32_t, width> bucket{};
        std::array<double, width> probability{};
    };

    OracleMemo() = default;
    OracleMemo(const OracleMemo&) noexcept {}
    OracleMemo& operator=(const OracleMemo& o) noexcept {
        if (this != &o) clear();
        return *this;
    }
    OracleMemo(OracleMemo&& o) noexcept { steal(o); }
    OracleMemo& operator=(OracleMemo&& o) noexcept {
        if (this != &o) {
            clear();
            steal(o);
        }
        return *this;
    }
    ~OracleMemo() = default;

    [[nodiscard]] static std::size_t slot(TableKind t, std::uint32_t tt, std::uint32_t conc) noexcept {
        const std::uint64_t h = (std::uint64_t{tt} * 0x9E3779B97F4A7C15ULL) ^
                                (std::uint64_t{conc} * 0xC2B2AE3D27D4EB4FULL) ^ static_cast<std::uint64_t>(t);
        return static_cast<std::size_t>((h ^ (h >> 29U)) & (slots - 1));
    }
    [[nodiscard]] const Entry* find(TableKind t, std::uint32_t tt, std::uint32_t conc) const noexcept {
        const Entry* e = m_slots[slot(t, tt, conc)].load(std::memory_order_acquire);
        return (e != nullptr && e->table == static_cast<std::uint8_t>(t) && e->tt == tt && e->conc == conc) ? e
                                                                                                            : nullptr;
    }
    /// Stores the resolution and returns its entry (nullptr when too wide or over budget).
    const Entry* store(TableKind t, std::uint32_t tt, std::uint32_t conc, const Resolution& r) const {
        if (r.neighbours.size() > width) return nullptr;
        auto e = std::make_unique<Entry>();
        e->tt = tt;
        e->conc = conc;
        e->table = static_cast<std::uint8_t>(t);
        e->size = static_cast<std::uint8_t>(r.neighbours.size());
        e->kind = r.kind;
        e->scale = r.scale;
        for (std::size_t j = 0; j < r.neighbours.size(); ++j) {
            e->bucket[j] = r.neighbours[j].bucket;
            e->probability[j] = r.probability[j];
        }
        const Entry* raw = e.get();
        {
            std::lock_guard lock(m_arena->mutex);
            if (m_arena->entries.size() >= max_entries) return nullptr;
            m_arena->entries.push_back(std::move(e));
        }
        m_slots[slot(t, tt, conc)].store(raw, std::memory_order_release);
        return raw;
    }

private:
    struct Arena {
        std::mutex mutex;
        std::vector<std::unique_ptr<Entry>> entries;
    };
    void clear() noexcept {
        for (auto& s : m_slots) s.store(nullptr, std::memory_order_relaxed);
        m_arena = std::make_unique<Arena>();
    }
    void steal(OracleMemo& o) noexcept {
        for (std::size_t i = 0; i < slots; ++i)
            m_slots[i].store(o.m_slots[i].exchange(nullptr, std::memory_order_relaxed), std::memory_order_relaxed);
        std::swap(m_arena, o.m_arena);
    }

    mutable std::array<std::atomic<const Entry*>, slots> m_slots{};
    std::unique_ptr<Arena> m_arena = std::make_unique<Arena>();
};

} // namespace detail

/// Draws step latencies (µs) from a ProfileStore. Copies share the immutable store and
/// prepared tables and keep their own coverage counters and memo. sample() is const and
/// safe to call from several threads on one object (lock-free memo, atomic counters); a
/// copy per thread avoids the shared counters' cache-line traffic (bench/bench_oracle).
template <NeighbourPolicy N = AdaptiveKNeighbours, WeightPolicy W = ShepardWeights,
          uniform_random_bit_generator G = Rng>
class LatencyOracle {
public:
    using neighbour_policy = N;
    using weight_policy = W;
    using random_engine = G;

    /// Prepares the store's tables (throws profile_error for a store without tables,
    /// config_error for bad options).
    explicit LatencyOracle(std::shared_ptr<const ProfileStore> store, OracleOptions options = {}, N neighbours = {},
                           W weights = {})
        : m_options(options), m_neighbours(std::move(neighbours)), m_weights(std::move(weights)) {
        m_options.validate();
        if (!store) detail::throw_error<profile_error>("LatencyOracle: no profile store given");
        auto state = std::make_shared<detail::OracleState>();
        state->store = std::move(store);
        for (TableKind t : all_table_kinds) {
            if (const ProfileTable* table = state->store->table(t))
                state->tables[static_cast<std::size_t>(t)].emplace(*table, m_options);
        }
        auto pick = [&](TableKind own, TableKind other) {
            for (TableKind t : {own, TableKind::step_cycle, other}) {
                if (state->tables[static_cast<std::size_t>(t)]) return t;
            }
            detail::throw_error<profile_error>(
                "LatencyOracle: the profile store has no table; load or build a pack with at least one table");
        };
        state->phase_table[static_cast<std::size_t>(Phase::decode)] = pick(TableKind::decode, TableKind::prefill);
        state->phase_table[static_cast<std::size_t>(Phase::prefill)] = pick(TableKind::prefill, TableKind::decode);
        m_state = std::move(state);
        for (std::size_t p = 0; p < 2; ++p) {
            const detail::OracleTableState& ts = *m_state->tables[static_cast<std::size_t>(m_state->phase_table[p])];
            detail::OracleHotTable& h = m_hot[p];
            if (ts.tt_row.empty() || ts.conc_col.empty()) continue;
            h.grid = ts.table->grid().data();
            h.cols = ts.table->grid_cols();
            h.tt_row = ts.tt_row.data();
            h.tt_size = ts.tt_row.size();
            h.conc_col = ts.conc_col.data();
            h.conc_size = ts.conc_col.size();
            h.offsets = ts.table->offsets().data();
            h.samples = ts.table->all_samples().data();
        }
    }

    /// Convenience: takes a copy of the store.
    explicit LatencyOracle(ProfileStore store, OracleOptions options = {}, N neighbours = {}, W weights = {})
        : LatencyOracle(std::make_shared<const ProfileStore>(std::move(store)), options, std::move(neighbours),
                        std::move(weights)) {}

    /// One step latency in MICROSECONDS, drawn with `g` (deterministic per seed), and how
    /// it was answered. Converts to the µs double. Thread-safe (see the class comment).
    LatencySample sample(const StepShape& shape, G& g) const {
        const detail::OracleHotTable& h = m_hot[static_cast<std::size_t>(shape.phase) & 1U];
        if (h.grid != nullptr && shape.total_tokens < h.tt_size && shape.num_requests < h.conc_size) [[likely]] {
            const std::uint32_t row = h.tt_row[shape.total_tokens];
            const std::uint32_t col = h.conc_col[shape.num_requests];
            if (row != 0 && col != 0) [[likely]] {
                const std::uint32_t cell = h.grid[(row - 1) * h.cols + (col - 1)];
                if (cell != 0) [[likely]] {
                    const std::uint32_t begin = h.offsets[cell - 1];
                    const std::uint32_t n = h.offsets[cell] - begin;
                    if (n >= m_options.min_exact_samples) [[likely]] {
                        m_coverage.count(CoverageKind::exact);
                        return {static_cast<double>(h.samples[begin + uniform_index(g, n)]), CoverageKind::exact};
                    }
                }
            }
        }
        return sample_general(shape, g);
    }

    /// How `shape` is answered (does not touch the coverage counters).
    [[nodiscard]] Resolution resolve(const StepShape& shape) const {
        const TableKind kind = m_state->phase_table[static_cast<std::size_t>(shape.phase) & 1U];
        const detail::OracleTableState& ts = *m_state->tables[static_cast<std::size_t>(kind)];
        const Bucketing& b = ts.table->bucketing();
        return detail::resolve_on_table(ts, kind, b.tt_centre(shape.total_tokens), b.conc_centre(shape.num_requests),
                                        m_options, m_neighbours, m_weights);
    }

    /// The table a step of this phase is drawn from.
    [[nodiscard]] TableKind table_for(Phase p) const noexcept {
        return m_state->phase_table[static_cast<std::size_t>(p) & 1U];
    }

    /// Counters since construction (or the last reset), of this copy only.
    [[nodiscard]] Coverage coverage() const noexcept { return m_coverage.load(); }
    void reset_coverage() noexcept { m_coverage.set({}); }

    [[nodiscard]] const ProfileStore& store() const noexcept { return *m_state->store; }
    [[nodiscard]] const std::shared_ptr<const ProfileStore>& store_ptr() const noexcept { return m_state->store; }
    [[nodiscard]] const OracleOptions& options() const noexcept { return m_options; }
    [[nodiscard]] const N& neighbour_policy_object() const noexcept { return m_neighbours; }
    [[nodiscard]] const W& weight_policy_object() const noexcept { return m_weights; }

    /// One line: model, GPU, tables and out-of-range policy.
    [[nodiscard]] std::string describe() const {
        const ProfileStore& s = *m_state->store;
        const ModelConfig& m = s.model_config();
        // Built by append() only: GCC 12 at -O3 reports a false -Wrestrict (bug 105329)
        // on `"literal" + std::string` chains, which would break users' -Werror builds.
        std::string d = "profile pack";
        if (!m.model_name.empty()) d.append(" of ").append(m.model_name);
        const std::string& gpu = !m.gpu_name.empty() ? m.gpu_name : s.gpu_model();
        if (!gpu.empty()) d.append(" on ").append(gpu);
        d += ':';
        for (TableKind t : all_table_kinds) {
            if (const ProfileTable* table = s.table(t)) {
                d.append(" ").append(table_name(t)).append(" ");
                d.append(std::to_string(table->size())).append(" buckets/");
                d.append(std::to_string(table->num_samples())).append(" samples;");
            }
        }
        d += m_options.out_of_range == OutOfRangePolicy::clamp ? " out-of-range: clamp" : " out-of-range: token_slope";
        return d;
    }

private:
    // Everything but a dense-grid exact hit: sparse-index tables, sparse or missing
    // buckets, out-of-range shapes.
    [[gnu::noinline]] LatencySample sample_general(const StepShape& shape, G& g) const {
        const TableKind kind = m_state->phase_table[static_cast<std::size_t>(shape.phase) & 1U];
        const detail::OracleTableState& ts = *m_state->tables[static_cast<std::size_t>(kind)];
        const ProfileTable& t = *ts.table;
        const Bucketing& b = t.bucketing();
        const std::uint64_t tt = b.tt_centre(shape.total_tokens);
        const std::uint64_t conc = b.conc_centre(shape.num_requests);
        if (tt >= t.tt_min() && tt <= t.tt_max() && conc >= t.conc_min() && conc <= t.conc_max()) {
            const std::uint32_t i = t.find(static_cast<std::uint32_t>(tt), static_cast<std::uint32_t>(conc));
            if (i != ProfileTable::npos && t.count(i) >= m_options.min_exact_samples) {
                const auto s = t.samples(i);
                m_coverage.count(CoverageKind::exact);
                return {static_cast<double>(s[uniform_index(g, s.size())]), CoverageKind::exact};
            }
        }
        return sample_slow(ts, kind, tt, conc, g);
    }

    LatencySample sample_slow(const detail::OracleTableState& ts, TableKind kind, std::uint64_t tt, std::uint64_t conc,
                              G& g) const {
        constexpr std::uint64_t u32 = 0xFFFFFFFFULL;
        const bool memo = tt <= u32 && conc <= u32;
        const auto ktt = static_cast<std::uint32_t>(tt);
        const auto kconc = static_cast<std::uint32_t>(conc);
        const detail::OracleMemo::Entry* e = memo ? m_memo.find(kind, ktt, kconc) : nullptr;
        if (e == nullptr) {
            const Resolution r = detail::resolve_on_table(ts, kind, tt, conc, m_options, m_neighbours, m_weights);
            if (memo) e = m_memo.store(kind, ktt, kconc, r);
            if (e == nullptr)
                return draw(
                    ts, r.kind, r.neighbours.size(), [&](std::size_t j) { return r.neighbours[j].bucket; },
                    [&](std::size_t j) { return r.probability[j]; }, r.scale, g);
        }
        return draw(
            ts, e->kind, e->size, [&](std::size_t j) { return e->bucket[j]; },
            [&](std::size_t j) { return e->probability[j]; }, e->scale, g);
    }

    template <class Bucket, class Prob>
    LatencySample draw(const detail::OracleTableState& ts, CoverageKind kind, std::size_t n, Bucket bucket, Prob prob,
                       double scale, G& g) const {
        m_coverage.count(kind); // (exact: an exact bucket found after clamping)
        std::size_t pick = 0;
        if (n > 1) {
            double u = uniform01(g);
            pick = n - 1;
            for (std::size_t j = 0; j < n; ++j) {
                u -= prob(j);
                if (u < 0.0) {
                    pick = j;
                    break;
                }
            }
        }
        const auto s = ts.table->samples(bucket(pick));
        return {static_cast<double>(s[uniform_index(g, s.size())]) * scale, kind};
    }

    std::shared_ptr<const detail::OracleState> m_state;
    std::array<detail::OracleHotTable, 2> m_hot{}; // by Phase; points into *m_state
    detail::OracleMemo m_memo;                     // not shared with copies: each starts empty
    OracleOptions m_options;
    N m_neighbours;
    W m_weights;
    detail::AtomicCoverage m_coverage;
};

LLMEMU_END_NAMESPACE
