#pragma once
/// \file oracle.hpp
/// LatencyOracle: the latency of one engine step drawn from a profile pack's raw
/// samples (LLM-Emu's density-aware profile oracle).
///
/// - The table follows the step's phase (new requests in the step: prefill table, else
///   decode table), falling back to the combined step-cycle table when the phase table
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
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "llmemu/error.hpp"
#include "llmemu/oracle/coverage.hpp"
#include "llmemu/oracle/neighbours.hpp"
#include "llmemu/oracle/shepard.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

namespace llmemu {

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
    }

    const ProfileTable* table;
    TableGeometry geometry;
    double edge_a = 1.0; // latency ~ edge_a + edge_b * tt near tt_max
    double edge_b = 0.0;

    [[nodiscard]] double slope_factor(std::uint64_t tt) const noexcept {
        const double at_edge = edge_a + edge_b * static_cast<double>(table->tt_max());
        if (edge_b <= 0.0 || at_edge <= 0.0 || tt <= table->tt_max()) return 1.0;
        return (edge_a + edge_b * static_cast<double>(tt)) / at_edge;
    }

private:
    void fit_edge() {
        const std::size_t n = table->size();
        const std::size_t m = std::min(n, std::max<std::size_t>(8, n / 10));
        if (m < 2) return;
        Eigen::MatrixXd x(static_cast<Eigen::Index>(m), 2);
        Eigen::VectorXd y(static_cast<Eigen::Index>(m));
        std::vector<float> tmp;
        for (std::size_t j = 0; j < m; ++j) {
            const std::size_t i = n - m + j; // buckets are sorted by tt: the largest-tt ones
            const auto s = table->samples(i);
            tmp.assign(s.begin(), s.end());
            std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(tmp.size() / 2), tmp.end());
            x(static_cast<Eigen::Index>(j), 0) = 1.0;
            x(static_cast<Eigen::Index>(j), 1) = static_cast<double>(table->tt(i));
            y(static_cast<Eigen::Index>(j)) = tmp[tmp.size() / 2];
        }
        if (x.col(1).maxCoeff() == x.col(1).minCoeff()) return;
        const Eigen::Vector2d c = x.colPivHouseholderQr().solve(y);
        if (std::isfinite(c[0]) && std::isfinite(c[1]) && c[1] > 0.0) {
            edge_a = c[0];
            edge_b = c[1];
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
    weights.weights(r.neighbours.items(), 0.5 * ts.geometry.unit_distance(), std::span<double>(r.probability.data(), k));
    double total = 0.0;
    for (std::size_t j = 0; j < k; ++j) total += r.probability[j];
    for (std::size_t j = 0; j < k; ++j) r.probability[j] = total > 0.0 ? r.probability[j] / total : 1.0 / static_cast<double>(k);
    return r;
}

} // namespace detail

/// Draws step latencies (µs) from a ProfileStore. Copies share the immutable store and
/// prepared tables and keep their own coverage counters; one object is not meant to be
/// sampled from several threads at once (give each thread its copy).
template <NeighbourPolicy N = AdaptiveKNeighbours, WeightPolicy W = ShepardWeights,
          std::uniform_random_bit_generator G = Rng>
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
    }

    /// Convenience: takes a copy of the store.
    explicit LatencyOracle(ProfileStore store, OracleOptions options = {}, N neighbours = {}, W weights = {})
        : LatencyOracle(std::make_shared<const ProfileStore>(std::move(store)), options, std::move(neighbours),
                        std::move(weights)) {}

    /// One step latency in MICROSECONDS, drawn with `g` (deterministic per seed).
    double sample(const StepShape& shape, G& g) {
        const TableKind kind = m_state->phase_table[static_cast<std::size_t>(shape.phase)];
        const detail::OracleTableState& ts = *m_state->tables[static_cast<std::size_t>(kind)];
        const ProfileTable& t = *ts.table;
        const Bucketing& b = t.bucketing();
        const std::uint64_t tt = b.tt_width == 1 ? shape.total_tokens : b.tt_centre(shape.total_tokens);
        const std::uint64_t conc = b.conc_centre(shape.num_requests);
        ++m_coverage.total;
        if (tt >= t.tt_min() && tt <= t.tt_max() && conc >= t.conc_min() && conc <= t.conc_max()) [[likely]] {
            const std::uint32_t i = t.find(static_cast<std::uint32_t>(tt), static_cast<std::uint32_t>(conc));
            if (i != ProfileTable::npos) [[likely]] {
                const auto s = t.samples(i);
                if (s.size() >= m_options.min_exact_samples) [[likely]] {
                    ++m_coverage.exact;
                    return static_cast<double>(s[uniform_index(g, s.size())]);
                }
            }
        }
        return sample_slow(ts, kind, tt, conc, g);
    }

    /// How `shape` is answered (does not touch the coverage counters).
    [[nodiscard]] Resolution resolve(const StepShape& shape) const {
        const TableKind kind = m_state->phase_table[static_cast<std::size_t>(shape.phase)];
        const detail::OracleTableState& ts = *m_state->tables[static_cast<std::size_t>(kind)];
        const Bucketing& b = ts.table->bucketing();
        return detail::resolve_on_table(ts, kind, b.tt_centre(shape.total_tokens), b.conc_centre(shape.num_requests),
                                        m_options, m_neighbours, m_weights);
    }

    /// The table a step of this phase is drawn from.
    [[nodiscard]] TableKind table_for(Phase p) const noexcept { return m_state->phase_table[static_cast<std::size_t>(p)]; }

    /// Counters since construction (or the last reset), of this copy only.
    [[nodiscard]] Coverage coverage() const noexcept { return m_coverage; }
    void reset_coverage() noexcept { m_coverage = {}; }

    [[nodiscard]] const ProfileStore& store() const noexcept { return *m_state->store; }
    [[nodiscard]] const std::shared_ptr<const ProfileStore>& store_ptr() const noexcept { return m_state->store; }
    [[nodiscard]] const OracleOptions& options() const noexcept { return m_options; }
    [[nodiscard]] const N& neighbour_policy_object() const noexcept { return m_neighbours; }
    [[nodiscard]] const W& weight_policy_object() const noexcept { return m_weights; }

    /// One line: model, GPU, tables and out-of-range policy.
    [[nodiscard]] std::string describe() const {
        const ProfileStore& s = *m_state->store;
        const ModelConfig& m = s.model_config();
        std::string d = "profile pack";
        if (!m.model_name.empty()) d += " of " + m.model_name;
        const std::string& gpu = !m.gpu_name.empty() ? m.gpu_name : s.gpu_model();
        if (!gpu.empty()) d += " on " + gpu;
        d += ":";
        for (TableKind t : all_table_kinds) {
            if (const ProfileTable* table = s.table(t))
                d += " " + std::string(table_name(t)) + " " + std::to_string(table->size()) + " buckets/" +
                     std::to_string(table->num_samples()) + " samples;";
        }
        d += m_options.out_of_range == OutOfRangePolicy::clamp ? " out-of-range: clamp" : " out-of-range: token_slope";
        return d;
    }

private:
    [[gnu::noinline]] double sample_slow(const detail::OracleTableState& ts, TableKind kind, std::uint64_t tt,
                                         std::uint64_t conc, G& g) {
        const Resolution r = detail::resolve_on_table(ts, kind, tt, conc, m_options, m_neighbours, m_weights);
        switch (r.kind) {
        case CoverageKind::exact: ++m_coverage.exact; break; // unreachable in practice
        case CoverageKind::interpolated: ++m_coverage.interpolated; break;
        case CoverageKind::out_of_range: ++m_coverage.out_of_range; break;
        }
        std::size_t pick = 0;
        if (r.neighbours.size() > 1) {
            double u = uniform01(g);
            pick = r.neighbours.size() - 1;
            for (std::size_t j = 0; j < r.neighbours.size(); ++j) {
                u -= r.probability[j];
                if (u < 0.0) {
                    pick = j;
                    break;
                }
            }
        }
        const auto s = ts.table->samples(r.neighbours[pick].bucket);
        return static_cast<double>(s[uniform_index(g, s.size())]) * r.scale;
    }

    std::shared_ptr<const detail::OracleState> m_state;
    OracleOptions m_options;
    N m_neighbours;
    W m_weights;
    Coverage m_coverage{};
};

} // namespace llmemu
