#pragma once
/// \file layerwise_profile.hpp
/// Layer-wise GPU timing tables in LLMServingSim's profiler layout: a folder with
/// `meta.yaml` and one `tp<N>/` folder per profiled tensor-parallel degree holding
/// `attention.csv` (prefill_chunk, kv_prefill, n_decode, kv_decode -> time_us),
/// `dense.csv` (layer, tokens -> time_us), `per_sequence.csv` (layer, sequences ->
/// time_us), and optionally `moe.csv` (tokens, activated_experts -> time_us) and
/// `skew_fit.csv` (the fitted attention-skew alpha per bucket). One transformer layer
/// was profiled; LayerwiseModel (oracle/layerwise_model.hpp) composes a step from it.
///
/// Everything is validated on load: a malformed file raises profile_error naming the
/// file, the line and the fix; nothing is silently repaired.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A sorted 1-D table: strictly increasing keys x and times y (microseconds).
struct LayerwiseTable1D {
    std::vector<double> x;
    std::vector<double> y;
    friend bool operator==(const LayerwiseTable1D&, const LayerwiseTable1D&) = default;
};

/// One named op of dense.csv or per_sequence.csv.
struct LayerwiseOp {
    std::string name;
    LayerwiseTable1D table;
    friend bool operator==(const LayerwiseOp&, const LayerwiseOp&) = default;
};

/// attention.csv as a sparse 4-D grid: global axes of prefill_chunk (pc) and n_decode (nd);
/// each profiled (pc, nd) pair is a slice of rows, one per kv_prefill value, each a table
/// over kv_decode. `slice_of[i * nd.size() + j]` is the slice of (pc[i], nd[j]), or the
/// nearest profiled one (in grid steps) when that pair was not profiled; `profiled` says
/// which.
struct LayerwiseAttention {
    struct Slice {
        std::vector<double> kv_prefill;
        std::vector<LayerwiseTable1D> rows; ///< per kv_prefill: kv_decode -> time_us
        friend bool operator==(const Slice&, const Slice&) = default;
    };
    std::vector<double> pc;
    std::vector<double> nd;
    std::vector<std::uint32_t> slice_of;
    std::vector<std::uint8_t> profiled;
    std::vector<Slice> slices;
    std::size_t num_rows = 0;
    friend bool operator==(const LayerwiseAttention&, const LayerwiseAttention&) = default;
};

/// moe.csv: per activated_experts value (ascending), a table over tokens.
struct LayerwiseMoe {
    std::vector<double> activated_experts;
    std::vector<LayerwiseTable1D> rows;
    friend bool operator==(const LayerwiseMoe&, const LayerwiseMoe&) = default;
};

/// skew_fit.csv: alpha per (pc, n, skew_rate, kv_big, kp) bucket, where a skewed decode
/// batch costs t_mean + alpha * (t_max - t_mean). The bucket edges are read from the
/// labels themselves (`n<=128`, `sr<=15%`, `kvB<=4k`, `kp=0`, `n>256`: k = 1024), so the
/// table carries its own axes. A missing bucket uses `alpha_default`.
struct LayerwiseSkewFit {
    /// One bucket edge: value v matches `<=` when v <= bound, `=` when v == bound, `>` when
    /// v > bound (the open top bucket).
    struct Edge {
        char op = '<'; ///< '<' for <=, '=' or '>'
        double bound = 0;
        friend bool operator==(const Edge&, const Edge&) = default;
    };
    std::vector<double> pc;     ///< the profiled prefill-chunk values (ascending)
    std::vector<Edge> axes[4];  ///< n, skew_rate, kv_big, kp: edges in ascending order
    std::vector<double> alpha;  ///< [pc][n][sr][kvb][kp], NaN = not fitted
    double alpha_default = 0.0; ///< meta.yaml's per-TP alpha_default, else the samples-weighted mean
    friend bool operator==(const LayerwiseSkewFit& a, const LayerwiseSkewFit& b) {
        if (a.pc != b.pc || a.alpha_default != b.alpha_default || a.alpha.size() != b.alpha.size()) return false;
        for (int i = 0; i < 4; ++i)
            if (a.axes[i] != b.axes[i]) return false;
        for (std::size_t i = 0; i < a.alpha.size(); ++i)
            if (!(a.alpha[i] == b.alpha[i] || (std::isnan(a.alpha[i]) && std::isnan(b.alpha[i])))) return false;
        return true;
    }
};

/// The tables of one `tp<N>/` folder.
struct LayerwiseTables {
    std::uint32_t tensor_parallel_size = 1;
    std::vector<LayerwiseOp> dense;
    std::vector<LayerwiseOp> per_sequence;
    LayerwiseAttention attention;
    std::optional<LayerwiseMoe> moe;
    std::optional<LayerwiseSkewFit> skew;

    /// The dense or per-sequence op named `name`, or nullptr.
    [[nodiscard]] const LayerwiseOp* find_dense(std::string_view name) const noexcept {
        for (const auto& op : dense)
            if (op.name == name) return &op;
        return nullptr;
    }
    [[nodiscard]] const LayerwiseOp* find_per_sequence(std::string_view name) const noexcept {
        for (const auto& op : per_sequence)
            if (op.name == name) return &op;
        return nullptr;
    }
};

/// What meta.yaml says (the fields a simulation uses; the rest is provenance).
struct LayerwiseMeta {
    std::string gpu;      ///< the driver's device name, e.g. "NVIDIA GeForce RTX 4090"
    std::string hardware; ///< the profiler's label, e.g. "RTX4090"
    std::string model;    ///< e.g. "meta-llama/Llama-3.1-8B"
    std::string variant;  ///< e.g. "bf16"
    std::string vllm_version;
    std::vector<std::uint32_t> tp_degrees;
    std::uint32_t max_num_batched_tokens = 0; ///< engine_effective: the sweep's bounds
    std::uint32_t max_num_seqs = 0;
    bool skew_fit_enabled = false;
    /// skew_fit.per_tp.<N>.alpha_default, by TP degree.
    std::vector<std::pair<std::uint32_t, double>> alpha_default;
};

/// A whole profile folder.
struct LayerwiseProfile {
    std::filesystem::path dir;
    LayerwiseMeta meta;
    std::vector<LayerwiseTables> tp; ///< ascending tensor_parallel_size

    /// The tables of TP degree `n`, or nullptr when it was not profiled.
    [[nodiscard]] const LayerwiseTables* find_tp(std::uint32_t n) const noexcept {
        for (const auto& t : tp)
            if (t.tensor_parallel_size == n) return &t;
        return nullptr;
    }
    /// "1, 2": the profiled degrees, for messages.
    [[nodiscard]] std::string tp_list() const {
        std::string s;
        for (const auto& t : tp) s += (s.empty() ? "" : ", ") + std::to_string(t.tensor_parallel_size);
        return s;
    }
};

namespace detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void lw_fail(std::string_view source, std::size_t line,
                                                           const std::string& what) {
    text_fail<profile_error>({source, line}, what);
}

/// A CSV with a header; rows must have exactly as many fields as the header, which must
/// hold every column of `wanted` exactly once (extra columns are allowed and ignored).
/// `row(line, fields)` is called with the fields in `wanted` order.
template <class F>
void lw_csv(std::string_view text, std::string_view source, const std::vector<std::string_view>& wanted, F&& row) {
    if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
        static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF)
        text.remove_prefix(3);
    std::size_t pos = 0;
    std::size_t line = 0;
    std::vector<std::size_t> index(wanted.size(), static_cast<std::size_t>(-1));
    std::size_t ncols = 0;
    std::vector<std::string_view> fields;
    std::vector<std::string_view> picked(wanted.size());
    std::size_t blank_at = 0;
    std::string wanted_list;
    for (auto w : wanted) wanted_list += (wanted_list.empty() ? "" : ",") + std::string(w);
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        const std::string_view raw = text_trim(text.substr(pos, nl - pos));
        pos = nl + 1;
        ++line;
        if (raw.empty()) {
            if (blank_at == 0) blank_at = line;
            continue;
        }
        if (blank_at != 0)
            lw_fail(source, blank_at, "blank line inside the table; remove it (only trailing blank lines are allowed)");
        fields.clear();
        std::size_t f = 0;
        while (true) {
            const std::size_t c = raw.find(',', f);
            fields.push_back(text_trim(raw.substr(f, c == std::string_view::npos ? std::string_view::npos : c - f)));
            if (c == std::string_view::npos) break;
            f = c + 1;
        }
        if (ncols == 0) {
            ncols = fields.size();
            for (std::size_t i = 0; i < fields.size(); ++i) {
                for (std::size_t w = 0; w < wanted.size(); ++w) {
                    if (fields[i] != wanted[w]) continue;
                    if (index[w] != static_cast<std::size_t>(-1))
                        lw_fail(source, line, "column '" + std::string(wanted[w]) + "' appears twice in the header");
                    index[w] = i;
                }
            }
            for (std::size_t w = 0; w < wanted.size(); ++w)
                if (index[w] == static_cast<std::size_t>(-1))
                    lw_fail(source, line,
                            "the header lacks column '" + std::string(wanted[w]) + "'; expected the columns " +
                                wanted_list + " (LLMServingSim profiler layout)");
            continue;
        }
        if (fields.size() != ncols)
            lw_fail(source, line,
                    "has " + std::to_string(fields.size()) + " fields but the header has " + std::to_string(ncols) +
                        "; every row needs one value per column (" + wanted_list + ")");
        for (std::size_t w = 0; w < wanted.size(); ++w) picked[w] = fields[index[w]];
        row(line, picked);
    }
    if (ncols == 0) lw_fail(source, 0, "is empty; expected a header with the columns " + wanted_list + " and rows");
}

inline double lw_number(std::string_view source, std::size_t line, std::string_view column, std::string_view v) {
    return csv_number<profile_error>(v, {source, line}, column, "fix the profile table");
}

/// A non-negative integer grid key (stored as double for interpolation).
inline double lw_key(std::string_view source, std::size_t line, std::string_view column, std::string_view v) {
    const double d = lw_number(source, line, column, v);
    if (d < 0 || d > 1e12 || d != std::floor(d))
        lw_fail(source, line,
                "column '" + std::string(column) + "' is '" + text_echo(v) +
                    "'; it must be an integer >= 0 (a grid point)");
    return d;
}

inline double lw_time(std::string_view source, std::size_t line, std::string_view v) {
    const double d = lw_number(source, line, "time_us", v);
    if (d < 0) lw_fail(source, line, "time_us is " + text_echo(v) + "; a measured time must be >= 0 microseconds");
    if (d > 1e12)
        lw_fail(source, line, "time_us is " + text_echo(v) + "; above 1e12 us (11 days) is not a kernel time");
    return d;
}

/// Sorts (x, y, line) triples into a table; a repeated key is an error naming both lines.
inline LayerwiseTable1D lw_table(std::vector<std::pair<double, std::pair<double, std::size_t>>>& pts,
                                 std::string_view source, const std::string& what) {
    std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    LayerwiseTable1D t;
    t.x.reserve(pts.size());
    t.y.reserve(pts.size());
    for (std::size_t i = 0; i < pts.size(); ++i) {
        if (i > 0 && pts[i].first == pts[i - 1].first) {
            const auto [a, b] = std::minmax(pts[i - 1].second.second, pts[i].second.second);
            lw_fail(source, b,
                    what + " repeats the key " + std::to_string(static_cast<std::uint64_t>(pts[i].first)) +
                        " of line " + std::to_string(a) + "; keep one measurement per grid point");
        }
        t.x.push_back(pts[i].first);
        t.y.push_back(pts[i].second.first);
    }
    return t;
}

inline std::size_t lw_index(const std::vector<double>& axis, double v) {
    return static_cast<std::size_t>(std::lower_bound(axis.begin(), axis.end(), v) - axis.begin());
}

} // namespace detail

/// Parses dense.csv or per_sequence.csv (`key_column` "tokens" or "sequences"): one table
/// per op, in first-appearance order.
[[nodiscard]] inline std::vector<LayerwiseOp> parse_layerwise_ops_csv(std::string_view text, std::string_view source,
                                                                      std::string_view key_column) {
    std::vector<std::string> names;
    std::vector<std::vector<std::pair<double, std::pair<double, std::size_t>>>> pts;
    detail::lw_csv(text, source, {"layer", key_column, "time_us"}, [&](std::size_t line, const auto& f) {
        if (f[0].empty()) detail::lw_fail(source, line, "column 'layer' is empty; name the op (e.g. qkv_proj)");
        const double k = detail::lw_key(source, line, key_column, f[1]);
        if (k < 1) detail::lw_fail(source, line, std::string(key_column) + " is 0; the grid starts at 1");
        const double t = detail::lw_time(source, line, f[2]);
        std::size_t i = 0;
        while (i < names.size() && names[i] != f[0]) ++i;
        if (i == names.size()) {
            if (names.size() >= 256) detail::lw_fail(source, line, "more than 256 distinct ops; is this a dense.csv?");
            names.emplace_back(f[0]);
            pts.emplace_back();
        }
        pts[i].push_back({k, {t, line}});
    });
    std::vector<LayerwiseOp> out;
    for (std::size_t i = 0; i < names.size(); ++i)
        out.push_back({names[i], detail::lw_table(pts[i], source, "op '" + detail::text_echo(names[i]) + "'")});
    if (out.empty()) detail::lw_fail(source, 0, "has a header but no rows; re-run the profiler");
    return out;
}

/// Parses attention.csv into the sparse 4-D grid.
[[nodiscard]] inline LayerwiseAttention parse_layerwise_attention_csv(std::string_view text, std::string_view source) {
    struct Row {
        double pc, kp, nd, kd, t;
        std::size_t line;
    };
    std::vector<Row> rows;
    detail::lw_csv(text, source, {"prefill_chunk", "kv_prefill", "n_decode", "kv_decode", "time_us"},
                   [&](std::size_t line, const auto& f) {
                       Row r{detail::lw_key(source, line, "prefill_chunk", f[0]),
                             detail::lw_key(source, line, "kv_prefill", f[1]),
                             detail::lw_key(source, line, "n_decode", f[2]),
                             detail::lw_key(source, line, "kv_decode", f[3]),
                             detail::lw_time(source, line, f[4]),
                             line};
                       if (r.pc == 0 && r.nd == 0)
                           detail::lw_fail(
                               source, line,
                               "prefill_chunk and n_decode are both 0: a shot with no work; remove the row");
                       rows.push_back(r);
                   });
    if (rows.empty()) detail::lw_fail(source, 0, "has a header but no rows; re-run the profiler");
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        if (a.pc != b.pc) return a.pc < b.pc;
        if (a.nd != b.nd) return a.nd < b.nd;
        if (a.kp != b.kp) return a.kp < b.kp;
        return a.kd < b.kd;
    });
    LayerwiseAttention att;
    att.num_rows = rows.size();
    for (const auto& r : rows) {
        att.pc.push_back(r.pc);
        att.nd.push_back(r.nd);
    }
    for (auto* axis : {&att.pc, &att.nd}) {
        std::sort(axis->begin(), axis->end());
        axis->erase(std::unique(axis->begin(), axis->end()), axis->end());
    }
    const std::size_t npc = att.pc.size();
    const std::size_t nnd = att.nd.size();
    if (npc * nnd > (1U << 20U)) detail::lw_fail(source, 0, "has more than 2^20 (prefill_chunk, n_decode) pairs");
    constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    att.slice_of.assign(npc * nnd, none);
    att.profiled.assign(npc * nnd, 0);
    std::size_t i = 0;
    while (i < rows.size()) {
        LayerwiseAttention::Slice slice;
        const double pc = rows[i].pc;
        const double nd = rows[i].nd;
        while (i < rows.size() && rows[i].pc == pc && rows[i].nd == nd) {
            const double kp = rows[i].kp;
            std::vector<std::pair<double, std::pair<double, std::size_t>>> pts;
            while (i < rows.size() && rows[i].pc == pc && rows[i].nd == nd && rows[i].kp == kp) {
                pts.push_back({rows[i].kd, {rows[i].t, rows[i].line}});
                ++i;
            }
            slice.kv_prefill.push_back(kp);
            slice.rows.push_back(detail::lw_table(pts, source,
                                                  "the shot (prefill_chunk " +
                                                      std::to_string(static_cast<std::uint64_t>(pc)) + ", kv_prefill " +
                                                      std::to_string(static_cast<std::uint64_t>(kp)) + ", n_decode " +
                                                      std::to_string(static_cast<std::uint64_t>(nd)) + ")"));
        }
        const std::size_t cell = detail::lw_index(att.pc, pc) * nnd + detail::lw_index(att.nd, nd);
        att.slice_of[cell] = static_cast<std::uint32_t>(att.slices.size());
        att.profiled[cell] = 1;
        att.slices.push_back(std::move(slice));
    }
    // Unprofiled (pc, nd) pairs answer from the nearest profiled pair in grid steps (ties:
    // the smaller pc, then the smaller nd, so the choice is deterministic).
    for (std::size_t a = 0; a < npc; ++a) {
        for (std::size_t b = 0; b < nnd; ++b) {
            if (att.profiled[a * nnd + b] != 0) continue;
            std::size_t best = static_cast<std::size_t>(-1);
            std::uint64_t best_d = std::numeric_limits<std::uint64_t>::max();
            for (std::size_t c = 0; c < npc; ++c) {
                for (std::size_t d = 0; d < nnd; ++d) {
                    if (att.profiled[c * nnd + d] == 0) continue;
                    const std::uint64_t dc = c > a ? c - a : a - c;
                    const std::uint64_t dd = d > b ? d - b : b - d;
                    const std::uint64_t dist = dc * dc + dd * dd;
                    if (dist < best_d) {
                        best_d = dist;
                        best = c * nnd + d;
                    }
                }
            }
            att.slice_of[a * nnd + b] = att.slice_of[best];
        }
    }
    return att;
}

/// Parses moe.csv (tokens, activated_experts -> time_us).
[[nodiscard]] inline LayerwiseMoe parse_layerwise_moe_csv(std::string_view text, std::string_view source) {
    std::map<double, std::vector<std::pair<double, std::pair<double, std::size_t>>>> by_ae;
    detail::lw_csv(text, source, {"tokens", "activated_experts", "time_us"}, [&](std::size_t line, const auto& f) {
        const double tok = detail::lw_key(source, line, "tokens", f[0]);
        const double ae = detail::lw_key(source, line, "activated_experts", f[1]);
        if (tok < 1 || ae < 1) detail::lw_fail(source, line, "tokens and activated_experts must be >= 1");
        if (by_ae.size() >= 4096 && by_ae.find(ae) == by_ae.end())
            detail::lw_fail(source, line, "more than 4096 distinct activated_experts values");
        by_ae[ae].push_back({tok, {detail::lw_time(source, line, f[2]), line}});
    });
    if (by_ae.empty()) detail::lw_fail(source, 0, "has a header but no rows; re-run the profiler");
    LayerwiseMoe moe;
    for (auto& [ae, pts] : by_ae) {
        moe.activated_experts.push_back(ae);
        moe.rows.push_back(detail::lw_table(
            pts, source, "activated_experts " + std::to_string(static_cast<std::uint64_t>(ae)) + ": tokens"));
    }
    return moe;
}

namespace detail {

/// Parses a skew bucket label such as "n<=128", "sr<=15%", "kvB<=4k", "kp=0", "n>256"
/// for axis `prefix`. Returns false when it does not have that shape.
inline bool lw_skew_label(std::string_view label, std::string_view prefix, LayerwiseSkewFit::Edge& e) {
    if (!label.starts_with(prefix)) return false;
    label.remove_prefix(prefix.size());
    if (label.starts_with("<=")) {
        e.op = '<';
        label.remove_prefix(2);
    } else if (label.starts_with("=")) {
        e.op = '=';
        label.remove_prefix(1);
    } else if (label.starts_with(">")) {
        e.op = '>';
        label.remove_prefix(1);
    } else {
        return false;
    }
    double scale = 1.0;
    if (label.ends_with("%")) {
        scale = 0.01;
        label.remove_suffix(1);
    } else if (label.ends_with("k")) {
        scale = 1024.0;
        label.remove_suffix(1);
    }
    const auto v = parse_number<double>(label);
    if (!v || *v < 0) return false;
    e.bound = *v * scale;
    return true;
}

inline bool lw_edge_less(const LayerwiseSkewFit::Edge& a, const LayerwiseSkewFit::Edge& b) noexcept {
    if (a.bound != b.bound) return a.bound < b.bound;
    auto rank = [](char op) { return op == '=' ? 0 : op == '<' ? 1 : 2; };
    return rank(a.op) < rank(b.op);
}

} // namespace detail

/// The bucket of `v` on one skew axis: the first edge it satisfies, or -1.
[[nodiscard]] inline int layerwise_skew_bucket(const std::vector<LayerwiseSkewFit::Edge>& axis, double v) noexcept {
    for (std::size_t i = 0; i < axis.size(); ++i) {
        const auto& e = axis[i];
        if ((e.op == '=' && v == e.bound) || (e.op == '<' && v <= e.bound) || (e.op == '>' && v > e.bound))
            return static_cast<int>(i);
    }
    return -1;
}

/// Parses skew_fit.csv. `alpha_default` NaN = use the samples-weighted mean of the table.
[[nodiscard]] inline LayerwiseSkewFit parse_layerwise_skew_fit_csv(std::string_view text, std::string_view source,
                                                                   double alpha_default = std::nan("")) {
    static constexpr std::string_view prefixes[4] = {"n", "sr", "kvB", "kp"};
    static constexpr std::string_view columns[4] = {"n_label", "skew_rate_label", "kv_big_label", "kp_label"};
    struct Row {
        double pc;
        LayerwiseSkewFit::Edge e[4];
        double alpha;
        double n;
        std::size_t line;
    };
    std::vector<Row> rows;
    detail::lw_csv(text, source, {"pc", "n_label", "skew_rate_label", "kv_big_label", "kp_label", "alpha", "n_samples"},
                   [&](std::size_t line, const auto& f) {
                       Row r{};
                       r.line = line;
                       r.pc = detail::lw_key(source, line, "pc", f[0]);
                       for (int a = 0; a < 4; ++a)
                           if (!detail::lw_skew_label(f[static_cast<std::size_t>(a) + 1], prefixes[a], r.e[a]))
                               detail::lw_fail(source, line,
                                               std::string(columns[a]) + " '" + detail::text_echo(f[a + 1]) +
                                                   "' is not a bucket label like " + std::string(prefixes[a]) +
                                                   "<=8, " + std::string(prefixes[a]) + "=0 or " +
                                                   std::string(prefixes[a]) + ">256 (k = 1024, % = /100)");
                       r.alpha = detail::lw_number(source, line, "alpha", f[5]);
                       if (std::fabs(r.alpha) > 1e6)
                           detail::lw_fail(source, line,
                                           "alpha is " + detail::text_echo(f[5]) +
                                               "; a skew blend weight beyond +-1e6 is not a fit (most are -1..2)");
                       r.n = detail::lw_key(source, line, "n_samples", f[6]);
                       rows.push_back(r);
                   });
    if (rows.empty()) detail::lw_fail(source, 0, "has a header but no rows; re-run the profiler's skew fit");
    LayerwiseSkewFit fit;
    for (const auto& r : rows) {
        fit.pc.push_back(r.pc);
        for (int a = 0; a < 4; ++a) fit.axes[a].push_back(r.e[a]);
    }
    std::sort(fit.pc.begin(), fit.pc.end());
    fit.pc.erase(std::unique(fit.pc.begin(), fit.pc.end()), fit.pc.end());
    for (auto& axis : fit.axes) {
        std::sort(axis.begin(), axis.end(), detail::lw_edge_less);
        axis.erase(std::unique(axis.begin(), axis.end()), axis.end());
        if (axis.size() > 64) detail::lw_fail(source, 0, "a bucket axis has more than 64 labels");
    }
    const std::size_t dims[5] = {fit.pc.size(), fit.axes[0].size(), fit.axes[1].size(), fit.axes[2].size(),
                                 fit.axes[3].size()};
    std::size_t cells = 1;
    for (std::size_t d : dims) {
        cells *= d;
        if (cells > (1U << 22U)) detail::lw_fail(source, 0, "has more than 2^22 buckets; is this a skew_fit.csv?");
    }
    fit.alpha.assign(cells, std::nan(""));
    std::vector<std::size_t> line_of(cells, 0);
    double wsum = 0;
    double wn = 0;
    for (const auto& r : rows) {
        std::size_t cell = detail::lw_index(fit.pc, r.pc);
        for (int a = 0; a < 4; ++a) {
            const auto& axis = fit.axes[a];
            const auto it = std::lower_bound(axis.begin(), axis.end(), r.e[a], detail::lw_edge_less);
            cell = cell * dims[a + 1] + static_cast<std::size_t>(it - axis.begin());
        }
        if (line_of[cell] != 0)
            detail::lw_fail(source, r.line,
                            "repeats the bucket of line " + std::to_string(line_of[cell]) +
                                "; keep one alpha per bucket");
        line_of[cell] = r.line;
        fit.alpha[cell] = r.alpha;
        wsum += r.alpha * r.n;
        wn += r.n;
    }
    fit.alpha_default = std::isfinite(alpha_default) ? alpha_default : (wn > 0 ? wsum / wn : 0.0);
    return fit;
}

/// The alpha of a skewed decode batch: prefill chunk `pc` (snapped to the nearest
/// profiled value), `n` decodes, skew rate `sr` in [0, 1], longest decode context
/// `kv_big`, prefill context `kp`. Unfitted buckets give `alpha_default`.
[[nodiscard]] inline double layerwise_skew_alpha(const LayerwiseSkewFit& fit, double pc, double n, double sr,
                                                 double kv_big, double kp) noexcept {
    if (fit.pc.empty()) return fit.alpha_default;
    std::size_t p = detail::lw_index(fit.pc, pc);
    if (p == fit.pc.size()) {
        p = fit.pc.size() - 1;
    } else if (p > 0 && fit.pc[p] != pc) {
        // nearest on a log scale (the grid doubles); 0 only matches 0
        const double lo = fit.pc[p - 1];
        const double hi = fit.pc[p];
        if (lo > 0 && pc > 0 ? std::log(pc / lo) < std::log(hi / pc) : pc - lo < hi - pc) --p;
    }
    const double v[4] = {n, std::clamp(sr, 0.0, 1.0), kv_big, kp};
    std::size_t cell = p;
    for (int a = 0; a < 4; ++a) {
        const int b = layerwise_skew_bucket(fit.axes[a], v[a]);
        if (b < 0) return fit.alpha_default;
        cell = cell * fit.axes[a].size() + static_cast<std::size_t>(b);
    }
    const double alpha = fit.alpha[cell];
    return std::isnan(alpha) ? fit.alpha_default : alpha;
}

// ---------------------------------------------------------------------------------------
// meta.yaml: a small YAML subset (block mappings by indentation, one-line flow lists
// `[a, b]`, scalars, comments), enough for the profiler's meta.yaml.

/// One node of the YAML subset: a scalar, a flow list of scalars, or a mapping.
struct LayerwiseYamlNode {
    std::string scalar;
    std::vector<std::string> list;
    /// A mapping: keys[i] -> values[i], in file order.
    std::vector<std::string> keys;
    std::vector<LayerwiseYamlNode> values;
    bool is_list = false;
    std::size_t line = 0;

    [[nodiscard]] const LayerwiseYamlNode* find(std::string_view key) const noexcept {
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (keys[i] == key) return &values[i];
        return nullptr;
    }
};

namespace detail {

inline std::string lw_unquote(std::string_view v) {
    v = text_trim(v);
    if (v.size() >= 2 && ((v.front() == '\'' && v.back() == '\'') || (v.front() == '"' && v.back() == '"')))
        return std::string(v.substr(1, v.size() - 2));
    return std::string(v);
}

/// Strips a comment: '#' at the start or after a space, outside quotes.
inline std::string_view lw_strip_comment(std::string_view s) noexcept {
    char quote = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (quote != 0) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            return s.substr(0, i);
        }
    }
    return s;
}

} // namespace detail

/// Parses the YAML subset of meta.yaml. Throws profile_error naming `source` and the line.
[[nodiscard]] inline LayerwiseYamlNode parse_layerwise_yaml(std::string_view text, std::string_view source) {
    if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
        static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF)
        text.remove_prefix(3);
    LayerwiseYamlNode root;
    // Stack of (indent, node) for the open mappings.
    std::vector<std::pair<int, LayerwiseYamlNode*>> stack{{-1, &root}};
    LayerwiseYamlNode* pending = nullptr; // a `key:` with no value yet: its children follow, indented
    int pending_indent = 0;
    std::size_t pos = 0;
    std::size_t line = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view raw = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line;
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
        const std::string_view body = detail::text_trim(detail::lw_strip_comment(raw));
        if (body.empty() || body == "---") continue;
        int indent = 0;
        while (static_cast<std::size_t>(indent) < raw.size() && raw[static_cast<std::size_t>(indent)] == ' ') ++indent;
        if (static_cast<std::size_t>(indent) < raw.size() && raw[static_cast<std::size_t>(indent)] == '\t')
            detail::lw_fail(source, line, "indents with a tab; YAML indents with spaces");
        if (indent > 64) detail::lw_fail(source, line, "is indented more than 64 spaces");
        // A mapping's entry on the stack carries the indent of its own key line; its
        // children are the following lines indented deeper.
        if (pending != nullptr) {
            if (indent > pending_indent) stack.emplace_back(pending_indent, pending);
            pending = nullptr;
        }
        while (stack.size() > 1 && indent <= stack.back().first) stack.pop_back();
        LayerwiseYamlNode* parent = stack.back().second;
        if (body.starts_with("- ") || body == "-") {
            // A block list item: accept scalars only (meta.yaml has none; refuse clearly).
            detail::lw_fail(source, line, "block lists ('- item') are not supported; write the list as [a, b]");
        }
        const std::size_t colon = [&] {
            char quote = 0;
            for (std::size_t i = 0; i < body.size(); ++i) {
                const char c = body[i];
                if (quote != 0) {
                    if (c == quote) quote = 0;
                } else if (c == '\'' || c == '"') {
                    quote = c;
                } else if (c == ':' && (i + 1 == body.size() || body[i + 1] == ' ')) {
                    return i;
                }
            }
            return std::string_view::npos;
        }();
        if (colon == std::string_view::npos || colon == 0)
            detail::lw_fail(source, line,
                            "'" + detail::text_echo(body) + "' is not 'key: value'; meta.yaml is a YAML mapping");
        std::string key = detail::lw_unquote(body.substr(0, colon));
        if (parent->find(key) != nullptr)
            detail::lw_fail(source, line, "key '" + detail::text_echo(key) + "' appears twice in the same mapping");
        if (parent->keys.size() >= 100000) detail::lw_fail(source, line, "more than 100000 keys in one mapping");
        LayerwiseYamlNode node;
        node.line = line;
        const std::string_view value = detail::text_trim(body.substr(colon + 1));
        if (value.starts_with("[")) {
            if (!value.ends_with("]"))
                detail::lw_fail(source, line,
                                "the list '" + detail::text_echo(value) + "' does not end with ']' on this line");
            node.is_list = true;
            std::string_view items = value.substr(1, value.size() - 2);
            while (!detail::text_trim(items).empty()) {
                const std::size_t c = items.find(',');
                node.list.push_back(detail::lw_unquote(items.substr(0, c)));
                if (c == std::string_view::npos) break;
                items.remove_prefix(c + 1);
            }
        } else if (value.starts_with("{")) {
            // A flow mapping ({n: 2.0, pc: 2.0}) is kept as its text: no field the model reads is one.
            if (!value.ends_with("}"))
                detail::lw_fail(source, line,
                                "the mapping '" + detail::text_echo(value) + "' does not end with '}' on this line");
            node.scalar = std::string(value);
        } else {
            node.scalar = detail::lw_unquote(value);
        }
        parent->keys.push_back(std::move(key));
        parent->values.push_back(std::move(node));
        if (value.empty()) {
            pending = &parent->values.back();
            pending_indent = indent;
        }
    }
    return root;
}

namespace detail {

inline std::uint32_t lw_yaml_u32(const LayerwiseYamlNode& n, std::string_view source, std::string_view what) {
    const auto v = parse_number<std::uint32_t>(n.scalar);
    if (!v) lw_fail(source, n.line, std::string(what) + " is '" + text_echo(n.scalar) + "'; expected an integer >= 0");
    return *v;
}

} // namespace detail

/// Reads the fields of meta.yaml a simulation uses.
[[nodiscard]] inline LayerwiseMeta parse_layerwise_meta(std::string_view text, std::string_view source) {
    const LayerwiseYamlNode root = parse_layerwise_yaml(text, source);
    LayerwiseMeta m;
    auto str = [&](std::string_view key, std::string& out) {
        if (const auto* n = root.find(key)) out = n->scalar;
    };
    str("gpu", m.gpu);
    str("hardware", m.hardware);
    str("model", m.model);
    str("variant", m.variant);
    str("vllm_version", m.vllm_version);
    if (const auto* n = root.find("tp_degrees")) {
        if (!n->is_list) detail::lw_fail(source, n->line, "tp_degrees must be a list such as [1, 2]");
        for (const auto& item : n->list) {
            LayerwiseYamlNode tmp;
            tmp.scalar = item;
            tmp.line = n->line;
            const std::uint32_t tp = detail::lw_yaml_u32(tmp, source, "a tp_degrees entry");
            if (tp == 0 || tp > 4096) detail::lw_fail(source, n->line, "tp_degrees entries must be in [1, 4096]");
            m.tp_degrees.push_back(tp);
        }
    }
    if (const auto* eng = root.find("engine_effective")) {
        if (const auto* n = eng->find("max_num_batched_tokens"))
            m.max_num_batched_tokens = detail::lw_yaml_u32(*n, source, "engine_effective.max_num_batched_tokens");
        if (const auto* n = eng->find("max_num_seqs"))
            m.max_num_seqs = detail::lw_yaml_u32(*n, source, "engine_effective.max_num_seqs");
    }
    if (const auto* fit = root.find("skew_fit")) {
        if (const auto* n = fit->find("enabled")) m.skew_fit_enabled = n->scalar == "true" || n->scalar == "True";
        if (const auto* per = fit->find("per_tp")) {
            for (std::size_t i = 0; i < per->keys.size(); ++i) {
                const LayerwiseYamlNode& v = per->values[i];
                LayerwiseYamlNode tmp;
                tmp.scalar = per->keys[i];
                tmp.line = v.line;
                const std::uint32_t tp = detail::lw_yaml_u32(tmp, source, "a skew_fit.per_tp key");
                if (const auto* a = v.find("alpha_default")) {
                    const double alpha = detail::lw_number(source, a->line, "alpha_default", a->scalar);
                    if (std::fabs(alpha) > 1e6)
                        detail::lw_fail(source, a->line, "alpha_default beyond +-1e6 is not a fit (most are -1..2)");
                    m.alpha_default.emplace_back(tp, alpha);
                }
            }
        }
    }
    return m;
}

namespace detail {

inline std::optional<std::string> lw_read_file(const std::filesystem::path& p, bool required) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) {
        if (required)
            lw_fail(p.string(), 0, "is missing; a layer-wise profile needs it (LLMServingSim profiler layout)");
        return std::nullopt;
    }
    const auto size = std::filesystem::file_size(p, ec);
    if (ec || size > (512ULL << 20U)) lw_fail(p.string(), 0, "cannot be read or is larger than 512 MiB");
    std::ifstream in(p, std::ios::binary);
    std::string s(static_cast<std::size_t>(size), '\0');
    if (!in.read(s.data(), static_cast<std::streamsize>(size)))
        lw_fail(p.string(), 0, "cannot be read; check its permissions");
    return s;
}

} // namespace detail

/// True when `dir` is a folder holding meta.yaml and at least one tp<N>/attention.csv.
[[nodiscard]] inline bool is_layerwise_profile_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec) || !std::filesystem::is_regular_file(dir / "meta.yaml", ec))
        return false;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() > 2 && name.starts_with("tp") &&
            std::filesystem::is_regular_file(e.path() / "attention.csv", ec))
            return true;
    }
    return false;
}

/// Loads a profile folder: meta.yaml and every tp<N>/ folder in it.
[[nodiscard]] inline LayerwiseProfile load_layerwise_profile(const std::filesystem::path& dir) {
    LayerwiseProfile prof;
    prof.dir = dir;
    const auto meta_path = dir / "meta.yaml";
    prof.meta = parse_layerwise_meta(*detail::lw_read_file(meta_path, true), meta_path.string());
    std::error_code ec;
    std::vector<std::uint32_t> found;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() < 3 || !name.starts_with("tp") || !e.is_directory(ec)) continue;
        const auto tp = parse_number<std::uint32_t>(std::string_view(name).substr(2));
        if (!tp || *tp == 0) continue;
        found.push_back(*tp);
    }
    if (ec) detail::lw_fail(dir.string(), 0, "cannot list the folder: " + ec.message());
    std::sort(found.begin(), found.end());
    if (found.empty())
        detail::lw_fail(dir.string(), 0, "has no tp<N>/ folder; a layer-wise profile holds tp1/ (and tp2/ ...)");
    for (const std::uint32_t tp : found) {
        const auto sub = dir / ("tp" + std::to_string(tp));
        LayerwiseTables t;
        t.tensor_parallel_size = tp;
        const auto p_att = sub / "attention.csv";
        const auto p_dense = sub / "dense.csv";
        const auto p_seq = sub / "per_sequence.csv";
        t.attention = parse_layerwise_attention_csv(*detail::lw_read_file(p_att, true), p_att.string());
        t.dense = parse_layerwise_ops_csv(*detail::lw_read_file(p_dense, true), p_dense.string(), "tokens");
        t.per_sequence = parse_layerwise_ops_csv(*detail::lw_read_file(p_seq, true), p_seq.string(), "sequences");
        const auto p_moe = sub / "moe.csv";
        if (auto text = detail::lw_read_file(p_moe, false)) t.moe = parse_layerwise_moe_csv(*text, p_moe.string());
        const auto p_skew = sub / "skew_fit.csv";
        if (auto text = detail::lw_read_file(p_skew, false)) {
            double def = std::nan("");
            for (const auto& [k, v] : prof.meta.alpha_default)
                if (k == tp) def = v;
            t.skew = parse_layerwise_skew_fit_csv(*text, p_skew.string(), def);
        }
        prof.tp.push_back(std::move(t));
    }
    return prof;
}

LLMEMU_END_NAMESPACE
