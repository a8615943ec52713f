#pragma once
/// \file store.hpp
/// ProfileStore: the raw per-step GPU timings of a profile pack, bucketed by
/// (total scheduled tokens `tt`, scheduled requests `conc`) per table, with O(1)
/// exact-bucket lookups.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/model_config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The three tables of an LLM-Emu pack. A step with newly admitted requests is a prefill
/// step, otherwise a decode step; every step also lands in the combined step-cycle table.
enum class TableKind : std::uint8_t { prefill = 0, decode = 1, step_cycle = 2 };

/// Number of TableKind values (for arrays indexed by table).
inline constexpr std::size_t num_table_kinds = 3;

/// All table kinds, in pack order.
inline constexpr std::array<TableKind, num_table_kinds> all_table_kinds{TableKind::prefill, TableKind::decode,
                                                                        TableKind::step_cycle};

/// The table's key in an LLM-Emu JSON pack ("prefill_2d_distribution", ...).
constexpr std::string_view table_key(TableKind t) noexcept {
    switch (t) {
    case TableKind::prefill:
        return "prefill_2d_distribution";
    case TableKind::decode:
        return "decode_2d_distribution";
    case TableKind::step_cycle:
        return "step_cycle_2d_distribution";
    }
    return "?";
}

/// Short table name for tools and reports ("prefill", "decode", "step_cycle").
constexpr std::string_view table_name(TableKind t) noexcept {
    switch (t) {
    case TableKind::prefill:
        return "prefill";
    case TableKind::decode:
        return "decode";
    case TableKind::step_cycle:
        return "step_cycle";
    }
    return "?";
}

/// Parses a short name or a pack key back to a TableKind.
constexpr std::optional<TableKind> table_from_name(std::string_view s) noexcept {
    for (TableKind t : all_table_kinds) {
        if (s == table_name(t) || s == table_key(t)) return t;
    }
    return std::nullopt;
}

/// LLM-Emu's bucket centre of a raw value: (v // width) * width + width // 2.
constexpr std::uint64_t bucket_centre(std::uint64_t value, std::uint32_t width) noexcept {
    return (value / width) * width + width / 2;
}

/// Bucket widths of a pack (LLM-Emu's defaults: tokens 1, concurrency 5).
struct Bucketing {
    std::uint32_t tt_width = 1;
    std::uint32_t conc_width = 5;

    /// Bucket centre of a raw total-token count.
    [[nodiscard]] constexpr std::uint64_t tt_centre(std::uint64_t tt) const noexcept {
        return bucket_centre(tt, tt_width);
    }
    /// Bucket centre of a raw concurrency (LLM-Emu counts at least 1 request).
    [[nodiscard]] constexpr std::uint64_t conc_centre(std::uint64_t conc) const noexcept {
        return bucket_centre(conc == 0 ? 1 : conc, conc_width);
    }

    friend constexpr bool operator==(const Bucketing&, const Bucketing&) = default;
};

/// The key of one bucket: bucket centres of total tokens and concurrency.
struct BucketKey {
    std::uint32_t tt = 0;
    std::uint32_t conc = 0;

    friend constexpr auto operator<=>(const BucketKey&, const BucketKey&) = default;
};

/// Read-only view of one bucket: its key and its raw samples (µs, capture order).
struct BucketView {
    std::uint32_t tt = 0;
    std::uint32_t conc = 0;
    std::span<const float> samples;
};

/// One table of raw samples. All samples of the table live in ONE contiguous float
/// array (bucket i owns [offset[i], offset[i+1])); buckets are sorted by (tt, conc).
/// Exact lookups go through a dense (tt, conc) grid of 16-bit bucket indices when that
/// grid is small (at most max(256 KiB, the samples' own bytes)) and the table has fewer
/// than 65535 buckets, else through a binary search over the sorted keys.
class ProfileTable {
public:
    /// Sentinel returned by find() when no bucket has the key.
    static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();
    /// Bytes a dense grid may always use (it may also use as much as the samples).
    static constexpr std::size_t dense_budget_bytes = std::size_t{256} << 10U;

    ProfileTable() = default;

    /// Builds a table from buckets in any order. Keys must be distinct bucket centres of
    /// `bucketing` and every bucket must hold at least one sample; callers that read
    /// user input check that first (see find_duplicate) to name the culprit.
    ProfileTable(Bucketing bucketing, std::vector<BucketKey> keys, std::vector<std::uint32_t> counts,
                 std::vector<float> samples)
        : m_bucketing(bucketing) {
        const std::size_t n = keys.size();
        if (counts.size() != n) detail::throw_error<profile_error>("ProfileTable: counts and keys differ in size");
        for (const BucketKey& k : keys) {
            if (bucketing.tt_centre(k.tt) != k.tt || k.conc == 0 || bucketing.conc_centre(k.conc) != k.conc)
                detail::throw_error<profile_error>(
                    "ProfileTable: bucket (tt=" + std::to_string(k.tt) + ", conc=" + std::to_string(k.conc) +
                    ") is not a bucket centre for widths " + std::to_string(bucketing.tt_width) + "/" +
                    std::to_string(bucketing.conc_width));
        }
        if (auto dup = find_duplicate(keys))
            detail::throw_error<profile_error>(
                "ProfileTable: two buckets have (tt=" + std::to_string(keys[dup->first].tt) +
                ", conc=" + std::to_string(keys[dup->first].conc) + ")");
        std::size_t total = 0;
        for (std::uint32_t c : counts) total += c;
        if (total != samples.size())
            detail::throw_error<profile_error>("ProfileTable: bucket counts do not add up to the samples");
        if (samples.size() > std::numeric_limits<std::uint32_t>::max())
            detail::throw_error<profile_error>("ProfileTable: more than 2^32-1 samples in one table");
        m_offsets.clear();
        m_offsets.reserve(n + 1);
        m_offsets.push_back(0);
        m_tt.reserve(n);
        m_conc.reserve(n);
        if (std::is_sorted(keys.begin(), keys.end())) {
            // Packs are written sorted: keep the sample array as it is (no copy).
            for (std::size_t i = 0; i < n; ++i) {
                m_tt.push_back(keys[i].tt);
                m_conc.push_back(keys[i].conc);
                m_offsets.push_back(m_offsets.back() + counts[i]);
            }
            m_samples = std::move(samples);
        } else {
            std::vector<std::uint32_t> order(n);
            for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
            std::stable_sort(order.begin(), order.end(),
                             [&](std::uint32_t a, std::uint32_t b) { return keys[a] < keys[b]; });
            std::vector<std::size_t> src_offset(n + 1, 0);
            for (std::size_t i = 0; i < n; ++i) src_offset[i + 1] = src_offset[i] + counts[i];
            m_samples.reserve(samples.size());
            for (std::uint32_t i : order) {
                m_tt.push_back(keys[i].tt);
                m_conc.push_back(keys[i].conc);
                m_samples.insert(m_samples.end(), samples.begin() + static_cast<std::ptrdiff_t>(src_offset[i]),
                                 samples.begin() + static_cast<std::ptrdiff_t>(src_offset[i + 1]));
                m_offsets.push_back(static_cast<std::uint32_t>(m_samples.size()));
            }
        }
        build_index();
    }

    /// First pair of indices (in the given order) with equal keys, if any.
    static std::optional<std::pair<std::size_t, std::size_t>> find_duplicate(std::span<const BucketKey> keys) {
        if (std::is_sorted(keys.begin(), keys.end())) {
            for (std::size_t i = 1; i < keys.size(); ++i)
                if (keys[i] == keys[i - 1]) return std::pair{i - 1, i};
            return std::nullopt;
        }
        std::vector<std::size_t> order(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
        for (std::size_t i = 1; i < order.size(); ++i) {
            if (keys[order[i]] == keys[order[i - 1]]) return std::pair{order[i - 1], order[i]};
        }
        return std::nullopt;
    }

    /// Number of buckets.
    [[nodiscard]] std::size_t size() const noexcept { return m_tt.size(); }
    [[nodiscard]] bool empty() const noexcept { return m_tt.empty(); }
    /// Total number of samples in the table.
    [[nodiscard]] std::size_t num_samples() const noexcept { return m_samples.size(); }
    [[nodiscard]] const Bucketing& bucketing() const noexcept { return m_bucketing; }

    /// Key fields of bucket i (buckets are sorted by (tt, conc)).
    [[nodiscard]] std::uint32_t tt(std::size_t i) const noexcept { return m_tt[i]; }
    [[nodiscard]] std::uint32_t conc(std::size_t i) const noexcept { return m_conc[i]; }
    [[nodiscard]] BucketKey key(std::size_t i) const noexcept { return {m_tt[i], m_conc[i]}; }
    /// Number of samples in bucket i.
    [[nodiscard]] std::uint32_t count(std::size_t i) const noexcept { return m_offsets[i + 1] - m_offsets[i]; }
    /// Raw samples (µs) of bucket i.
    [[nodiscard]] std::span<const float> samples(std::size_t i) const noexcept {
        return {m_samples.data() + m_offsets[i], m_samples.data() + m_offsets[i + 1]};
    }
    [[nodiscard]] BucketView bucket(std::size_t i) const noexcept { return {m_tt[i], m_conc[i], samples(i)}; }
    /// The flat sample array and the offsets into it (size() + 1 entries).
    [[nodiscard]] std::span<const float> all_samples() const noexcept { return m_samples; }
    [[nodiscard]] std::span<const std::uint32_t> offsets() const noexcept { return m_offsets; }

    /// Smallest / largest bucket centres present.
    [[nodiscard]] std::uint32_t tt_min() const noexcept { return m_tt_min; }
    [[nodiscard]] std::uint32_t tt_max() const noexcept { return m_tt_max; }
    [[nodiscard]] std::uint32_t conc_min() const noexcept { return m_conc_min; }
    [[nodiscard]] std::uint32_t conc_max() const noexcept { return m_conc_max; }

    /// Index of the bucket with exactly these centres, or npos. O(1) on a dense grid.
    [[nodiscard]] std::uint32_t find(std::uint32_t tt_centre, std::uint32_t conc_centre) const noexcept {
        if (m_dense) {
            const std::uint64_t row = tt_centre / m_bucketing.tt_width;
            const std::uint64_t col = conc_centre / m_bucketing.conc_width;
            if (row < m_row0 || col < m_col0) return npos;
            const std::uint64_t r = row - m_row0;
            const std::uint64_t c = col - m_col0;
            if (r >= m_grid_rows || c >= m_grid_cols) return npos;
            const std::uint32_t cell = m_grid[r * m_grid_cols + c];
            if (cell == 0) return npos;
            const std::uint32_t i = cell - 1U;
            // The grid is keyed by cell; the stored centre must match exactly.
            return (m_tt[i] == tt_centre && m_conc[i] == conc_centre) ? i : npos;
        }
        return find_sorted(tt_centre, conc_centre);
    }

    /// Index of the bucket that raw values (tt, conc) fall into, or npos.
    [[nodiscard]] std::uint32_t find_raw(std::uint64_t tt, std::uint64_t conc) const noexcept {
        const std::uint64_t t = m_bucketing.tt_centre(tt);
        const std::uint64_t c = m_bucketing.conc_centre(conc);
        if (t > std::numeric_limits<std::uint32_t>::max() || c > std::numeric_limits<std::uint32_t>::max()) return npos;
        return find(static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(c));
    }

    /// True when exact lookups use the dense grid (false: binary search).
    [[nodiscard]] bool dense_index() const noexcept { return m_dense; }
    /// The dense grid, row-major (row = tt / tt_width - grid_row0(), column = conc /
    /// conc_width - grid_col0()); a cell holds bucket index + 1, or 0. Empty if not dense.
    [[nodiscard]] std::span<const std::uint16_t> grid() const noexcept { return {m_grid.data(), m_grid.size()}; }
    [[nodiscard]] std::size_t grid_rows() const noexcept { return m_dense ? m_grid_rows : 0; }
    [[nodiscard]] std::size_t grid_cols() const noexcept { return m_dense ? m_grid_cols : 0; }
    [[nodiscard]] std::uint64_t grid_row0() const noexcept { return m_row0; }
    [[nodiscard]] std::uint64_t grid_col0() const noexcept { return m_col0; }
    /// Bytes held by the raw samples (4 per sample).
    [[nodiscard]] std::size_t sample_bytes() const noexcept { return m_samples.capacity() * sizeof(float); }
    /// Bytes held by keys, offsets and the lookup grid.
    [[nodiscard]] std::size_t index_bytes() const noexcept {
        return (m_tt.capacity() + m_conc.capacity() + m_offsets.capacity()) * sizeof(std::uint32_t) +
               m_grid.size() * sizeof(std::uint16_t);
    }

    /// Same buckets, same samples (bit-for-bit) and same bucketing.
    friend bool operator==(const ProfileTable& a, const ProfileTable& b) noexcept {
        return a.m_bucketing == b.m_bucketing && a.m_tt == b.m_tt && a.m_conc == b.m_conc &&
               a.m_offsets == b.m_offsets &&
               std::equal(a.m_samples.begin(), a.m_samples.end(), b.m_samples.begin(), b.m_samples.end(),
                          [](float x, float y) { return x == y; });
    }

private:
    void build_index() {
        m_samples.shrink_to_fit();
        if (m_tt.empty()) return;
        m_tt_min = *std::min_element(m_tt.begin(), m_tt.end());
        m_tt_max = *std::max_element(m_tt.begin(), m_tt.end());
        m_conc_min = *std::min_element(m_conc.begin(), m_conc.end());
        m_conc_max = *std::max_element(m_conc.begin(), m_conc.end());
        m_row0 = m_tt_min / m_bucketing.tt_width;
        m_col0 = m_conc_min / m_bucketing.conc_width;
        const std::uint64_t rows = m_tt_max / m_bucketing.tt_width - m_row0 + 1;
        const std::uint64_t cols = m_conc_max / m_bucketing.conc_width - m_col0 + 1;
        const std::uint64_t limit =
            std::max<std::uint64_t>(dense_budget_bytes, m_samples.size() * sizeof(float)) / sizeof(std::uint16_t);
        m_dense = m_tt.size() < 0xFFFFU && rows <= limit && cols <= limit && rows * cols <= limit;
        if (!m_dense) return;
        m_grid_rows = static_cast<std::size_t>(rows);
        m_grid_cols = static_cast<std::size_t>(cols);
        m_grid.assign(m_grid_rows * m_grid_cols, 0);
        for (std::size_t i = 0; i < m_tt.size(); ++i) {
            const std::size_t r = m_tt[i] / m_bucketing.tt_width - m_row0;
            const std::size_t c = m_conc[i] / m_bucketing.conc_width - m_col0;
            m_grid[r * m_grid_cols + c] = static_cast<std::uint16_t>(i + 1);
        }
    }

    [[nodiscard]] std::uint32_t find_sorted(std::uint32_t tt, std::uint32_t conc) const noexcept {
        std::size_t lo = 0;
        std::size_t hi = m_tt.size();
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (m_tt[mid] < tt || (m_tt[mid] == tt && m_conc[mid] < conc))
                lo = mid + 1;
            else
                hi = mid;
        }
        return (lo < m_tt.size() && m_tt[lo] == tt && m_conc[lo] == conc) ? static_cast<std::uint32_t>(lo) : npos;
    }

    Bucketing m_bucketing{};
    std::vector<std::uint32_t> m_tt;
    std::vector<std::uint32_t> m_conc;
    std::vector<std::uint32_t> m_offsets{0};
    std::vector<float> m_samples;
    std::vector<std::uint16_t> m_grid; // rows x cols, row-major
    std::size_t m_grid_rows = 0;
    std::size_t m_grid_cols = 0;
    std::uint64_t m_row0 = 0;
    std::uint64_t m_col0 = 0;
    std::uint32_t m_tt_min = 0;
    std::uint32_t m_tt_max = 0;
    std::uint32_t m_conc_min = 0;
    std::uint32_t m_conc_max = 0;
    bool m_dense = false;
};

/// A whole profile pack: bucketing, model/GPU metadata and up to three tables of raw
/// samples. Immutable once built; share it (e.g. through std::shared_ptr<const
/// ProfileStore>) between oracles.
class ProfileStore {
public:
    ProfileStore() = default;

    /// Bucket widths of every table.
    [[nodiscard]] const Bucketing& bucketing() const noexcept { return m_bucketing; }
    void set_bucketing(Bucketing b) noexcept { m_bucketing = b; }

    /// Model and GPU the pack was captured on.
    [[nodiscard]] const ModelConfig& model_config() const noexcept { return m_model; }
    void set_model_config(ModelConfig m) { m_model = std::move(m); }

    /// The pack's short GPU label (LLM-Emu's top-level "gpu_model", e.g. "A40").
    [[nodiscard]] const std::string& gpu_model() const noexcept { return m_gpu_model; }
    void set_gpu_model(std::string s) { m_gpu_model = std::move(s); }

    /// The table of that kind, or nullptr if the pack has none.
    [[nodiscard]] const ProfileTable* table(TableKind t) const noexcept {
        const auto& slot = m_tables[static_cast<std::size_t>(t)];
        return slot ? &*slot : nullptr;
    }
    [[nodiscard]] bool has_table(TableKind t) const noexcept { return table(t) != nullptr; }
    /// Installs (or replaces) a table; its bucketing must be the store's.
    void set_table(TableKind t, ProfileTable table) {
        if (!(table.bucketing() == m_bucketing))
            detail::throw_error<profile_error>(
                "ProfileStore::set_table: the table's bucketing differs from the store's");
        m_tables[static_cast<std::size_t>(t)] = std::move(table);
    }
    void remove_table(TableKind t) noexcept { m_tables[static_cast<std::size_t>(t)].reset(); }
    /// Number of tables present.
    [[nodiscard]] std::size_t num_tables() const noexcept {
        return static_cast<std::size_t>(
            std::count_if(m_tables.begin(), m_tables.end(), [](const auto& t) { return t.has_value(); }));
    }

    /// Top-level pack fields llmemu does not interpret, kept as compact JSON text (in
    /// file order) so that read -> write -> read preserves them.
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& extra_fields() const noexcept {
        return m_extra;
    }
    void add_extra_field(std::string key, std::string json) { m_extra.emplace_back(std::move(key), std::move(json)); }

    /// Samples over all tables.
    [[nodiscard]] std::size_t total_samples() const noexcept {
        std::size_t n = 0;
        for (const auto& t : m_tables) n += t ? t->num_samples() : 0;
        return n;
    }
    /// Bytes held by samples over all tables.
    [[nodiscard]] std::size_t sample_bytes() const noexcept {
        std::size_t n = 0;
        for (const auto& t : m_tables) n += t ? t->sample_bytes() : 0;
        return n;
    }
    /// Bytes held by keys, offsets and lookup grids over all tables.
    [[nodiscard]] std::size_t index_bytes() const noexcept {
        std::size_t n = 0;
        for (const auto& t : m_tables) n += t ? t->index_bytes() : 0;
        return n;
    }

    friend bool operator==(const ProfileStore&, const ProfileStore&) = default;

private:
    Bucketing m_bucketing{};
    ModelConfig m_model{};
    std::string m_gpu_model;
    std::array<std::optional<ProfileTable>, num_table_kinds> m_tables{};
    std::vector<std::pair<std::string, std::string>> m_extra;
};

/// Each table's samples by bucket, as the readers and the builder collect them.
using BucketSamples = std::array<std::map<BucketKey, std::vector<float>>, num_table_kinds>;

/// The store of `buckets` with bucketing `b`: a table for each kind with buckets, its
/// buckets in key order, each keeping the samples `keep(kind, samples)` returns (a
/// std::vector<float>, or a reference to one; the builder's outlier filter). Model and
/// GPU metadata are left for the caller to set. Throws profile_error when a table's keys
/// are not `b`'s bucket centres.
template <class Keep>
[[nodiscard]] ProfileStore store_from_buckets(const BucketSamples& buckets, Bucketing b, Keep&& keep) {
    ProfileStore store;
    store.set_bucketing(b);
    for (TableKind t : all_table_kinds) {
        const auto& m = buckets[static_cast<std::size_t>(t)];
        if (m.empty()) continue;
        std::vector<BucketKey> keys;
        std::vector<std::uint32_t> counts;
        std::vector<float> samples;
        keys.reserve(m.size());
        counts.reserve(m.size());
        for (const auto& [key, values] : m) {
            const std::vector<float>& kept = keep(t, values);
            keys.push_back(key);
            counts.push_back(static_cast<std::uint32_t>(kept.size()));
            samples.insert(samples.end(), kept.begin(), kept.end());
        }
        store.set_table(t, ProfileTable(b, std::move(keys), std::move(counts), std::move(samples)));
    }
    return store;
}

/// store_from_buckets keeping every sample.
[[nodiscard]] inline ProfileStore store_from_buckets(const BucketSamples& buckets, Bucketing b) {
    return store_from_buckets(buckets, b,
                              [](TableKind, const std::vector<float>& v) -> const std::vector<float>& { return v; });
}

LLMEMU_END_NAMESPACE
