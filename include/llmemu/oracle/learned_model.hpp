#pragma once
/// \file learned_model.hpp
/// LearnedLatencyModel: a step-latency model fitted to a profile pack that predicts a
/// distribution, not a point, and extrapolates by the step's FLOPs instead of clamping.
///
/// Per table (prefill, decode, step_cycle) it holds
/// - a smooth surface of the log median latency over (total tokens, requests): a
///   tensor-product linear spline on a uniform knot grid, fitted to the bucket medians by
///   penalised least squares (second-difference penalty, Eilers & Marx P-splines); the
///   knot count and penalty are chosen by K-fold cross-validation over buckets;
/// - split-conformal residuals: the ratio sample / cross-fitted median of every training
///   sample, pooled by region of the (tt, conc) plane, kept as quantile functions.
///   sample() draws median x ratio(u), so output keeps the pack's spread (multi-modal
///   buckets included), and quantile() gives calibrated intervals for unseen buckets;
/// - a roofline trend at the edge: beyond the profiled range, the median grows by
///   slope x (FLOPs(step) - FLOPs(edge)), the slope a Theil-Sen line through the
///   largest-tt buckets' medians against the step's FLOPs from the model config
///   (dense layers per token, LM head per request). Never a clamp.
/// The model saves to and loads from a small JSON file (`llmemu profile fit`), recognised
/// by its first key "llmemu_latency_model". Fitting one is fit_learned_model() in
/// learned_fit.hpp, the only part that needs Eigen (sparse LDLT): loading and sampling a
/// fitted model do not pay for Eigen's headers.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/coverage.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The format tag (first key) and version of a learned-model JSON file.
inline constexpr std::string_view learned_model_format_key = "llmemu_latency_model";
inline constexpr std::uint32_t learned_model_format_version = 1;

/// Roofline terms of one step from the model config: FLOPs of the forward pass (the
/// transformer layers' matrix products per scheduled token, the LM head per request) and
/// the bytes of weights read once per step. Without a model config FLOPs = tokens.
struct RooflineTerms {
    double flops_per_token = 1.0;
    double flops_per_request = 0.0;
    double weight_bytes = 0.0;

    /// Terms of a dense decoder (GQA attention projections + gated MLP), bf16 weights.
    [[nodiscard]] static RooflineTerms from(const ModelConfig& m) {
        if (m.num_hidden_layers == 0 || m.hidden_size == 0) return {};
        const double h = m.hidden_size;
        const double heads = m.num_attention_heads != 0 ? m.num_attention_heads : 1.0;
        const double kv_heads = m.num_key_value_heads != 0 ? m.num_key_value_heads : heads;
        const double hd = m.head_dim != 0 ? m.head_dim : h / heads;
        const double inter = m.intermediate_size != 0 ? m.intermediate_size : 4.0 * h;
        const double per_layer = 2.0 * h * heads * hd + 2.0 * h * kv_heads * hd + 3.0 * h * inter;
        const double layers = per_layer * m.num_hidden_layers;
        const double lm_head = h * m.vocab_size;
        return {2.0 * layers, 2.0 * lm_head, 2.0 * (layers + lm_head)};
    }
    /// FLOPs of a step with `tt` scheduled tokens and `conc` requests.
    [[nodiscard]] double flops(double tt, double conc) const noexcept {
        return flops_per_token * tt + flops_per_request * conc;
    }
    friend bool operator==(const RooflineTerms&, const RooflineTerms&) = default;
};

/// Settings of fit_learned_model() (learned_fit.hpp).
struct LearnedFitOptions {
    /// Folds of the cross-validation over buckets (model choice and conformal residuals).
    std::uint32_t folds = 5;
    /// Seed of the fold assignment.
    std::uint64_t seed = 0;
    /// Points of each stored residual quantile function (levels 0, 1/(n-1), ..., 1).
    std::uint32_t quantile_levels = 65;
    /// Largest knot count on the token axis tried by the cross-validation.
    std::uint32_t max_tt_knots = 32;
    /// Knots on the concurrency axis (at most the table's distinct concurrencies).
    std::uint32_t conc_knots = 24;
    /// Share of the largest-tt buckets the edge trend is fitted on.
    double edge_fraction = 0.15;
    /// A bucket weighs min(samples, weight_cap) in the surface fit and the residuals.
    std::uint32_t weight_cap = 64;
    /// Reweighting rounds of the median (L1) regression; 0 = least squares.
    std::uint32_t l1_iterations = 6;

    void validate() const {
        if (folds < 2 || folds > 50) detail::throw_error<config_error>("learned model: folds must be in [2, 50]");
        if (quantile_levels < 3 || quantile_levels > 1025)
            detail::throw_error<config_error>("learned model: quantile_levels must be in [3, 1025]");
        if (max_tt_knots < 2 || max_tt_knots > 512 || conc_knots < 2 || conc_knots > 128)
            detail::throw_error<config_error>(
                "learned model: knots must be in [2, 512] (tokens) and [2, 128] (requests)");
        if (!(edge_fraction > 0.0 && edge_fraction <= 1.0))
            detail::throw_error<config_error>("learned model: edge_fraction must be in (0, 1]");
        if (weight_cap == 0) detail::throw_error<config_error>("learned model: weight_cap must be at least 1");
    }
};

namespace detail {

/// A uniform knot grid on one axis: knots first + k * step, k < count (count >= 2).
struct KnotGrid {
    double first = 0.0;
    double step = 1.0;
    std::uint32_t count = 2;

    // Cell j (knots j, j+1) and position t in [0, 1] of x, clamped onto the grid.
    void locate(double x, std::uint32_t& j, double& t) const noexcept {
        const double p = (x - first) / step;
        if (!(p > 0.0)) {
            j = 0;
            t = 0.0;
        } else if (p >= static_cast<double>(count - 1)) {
            j = count - 2;
            t = 1.0;
        } else {
            j = static_cast<std::uint32_t>(p);
            if (j > count - 2) j = count - 2;
            t = p - static_cast<double>(j);
        }
    }
    [[nodiscard]] static KnotGrid spanning(double lo, double hi, std::uint32_t count) {
        if (!(hi > lo) || count < 2) return {lo, 1.0, 2};
        return {lo, (hi - lo) / static_cast<double>(count - 1), count};
    }
    friend bool operator==(const KnotGrid&, const KnotGrid&) = default;
};

/// The tensor-product linear spline with coefficients `c` (row-major, gt.count x gc.count)
/// at (tt, conc), clamped onto the grids.
inline double knot_grid_eval(const double* c, const KnotGrid& gt, const KnotGrid& gc, double tt, double conc) noexcept {
    std::uint32_t i = 0;
    std::uint32_t j = 0;
    double a = 0.0;
    double b = 0.0;
    gt.locate(tt, i, a);
    gc.locate(conc, j, b);
    const std::size_t n = gc.count;
    const double* p = c + std::size_t{i} * n + j;
    return (1.0 - a) * ((1.0 - b) * p[0] + b * p[1]) + a * ((1.0 - b) * p[n] + b * p[n + 1]);
}

/// One fitted table of a learned model (immutable once built).
struct LearnedTable {
    TableKind table = TableKind::step_cycle;
    std::size_t buckets = 0;
    std::size_t samples = 0;
    double lambda = 0.0;
    double cv_abs_log_error = 0.0; // cross-validated weighted mean |log pred - log median|
    KnotGrid tt_grid;
    KnotGrid conc_grid;
    std::vector<double> log_median; // tt_grid.count x conc_grid.count, row-major by tt
    double tt_min = 0.0;
    double tt_max = 0.0;
    double conc_min = 0.0;
    double conc_max = 0.0;
    double edge_slope = 0.0;         // µs per FLOP beyond the profiled range (> 0)
    std::vector<double> tt_bounds;   // inner region boundaries, ascending
    std::vector<double> conc_bounds; // inner region boundaries, ascending
    std::uint32_t levels = 0;
    std::vector<double> ratio_quantiles; // regions x levels, non-decreasing per region

    [[nodiscard]] std::size_t regions() const noexcept { return (tt_bounds.size() + 1) * (conc_bounds.size() + 1); }

    [[nodiscard]] bool in_range(double tt, double conc) const noexcept {
        return tt >= tt_min && tt <= tt_max && conc >= conc_min && conc <= conc_max;
    }

    [[nodiscard]] double surface(double tt, double conc) const noexcept {
        return knot_grid_eval(log_median.data(), tt_grid, conc_grid, tt, conc);
    }

    /// Median-scale latency (µs) before the residual ratio: the surface inside the
    /// profiled range, the roofline trend from the nearest edge point outside it.
    [[nodiscard]] double base(double tt, double conc, const RooflineTerms& roof) const noexcept {
        const double ctt = std::clamp(tt, tt_min, tt_max);
        const double cconc = std::clamp(conc, conc_min, conc_max);
        const double edge = std::exp(surface(ctt, cconc));
        if (ctt == tt && cconc == conc) return edge;
        const double v = edge + edge_slope * (roof.flops(tt, conc) - roof.flops(ctt, cconc));
        return std::max(v, 0.25 * edge);
    }

    [[nodiscard]] const double* region_quantiles(double tt, double conc) const noexcept {
        const auto rt =
            static_cast<std::size_t>(std::upper_bound(tt_bounds.begin(), tt_bounds.end(), tt) - tt_bounds.begin());
        const auto rc = static_cast<std::size_t>(std::upper_bound(conc_bounds.begin(), conc_bounds.end(), conc) -
                                                 conc_bounds.begin());
        return ratio_quantiles.data() + (rt * (conc_bounds.size() + 1) + rc) * levels;
    }

    [[nodiscard]] double ratio_at(const double* q, double u) const noexcept {
        const double pos = std::clamp(u, 0.0, 1.0) * static_cast<double>(levels - 1);
        auto k = static_cast<std::uint32_t>(pos);
        if (k >= levels - 1) return q[levels - 1];
        const double f = pos - static_cast<double>(k);
        return q[k] + f * (q[k + 1] - q[k]);
    }

    /// CDF of the predicted distribution at x (µs) for the step (tt, conc).
    [[nodiscard]] double cdf(double tt, double conc, const RooflineTerms& roof, double x) const noexcept {
        const double b = base(tt, conc, roof);
        const double* q = region_quantiles(tt, conc);
        const double r = b > 0.0 ? x / b : std::numeric_limits<double>::infinity();
        if (r < q[0]) return 0.0;
        if (r >= q[levels - 1]) return 1.0;
        const std::size_t k = static_cast<std::size_t>(std::upper_bound(q, q + levels, r) - q) - 1;
        const double span = q[k + 1] - q[k];
        const double f = span > 0.0 ? (r - q[k]) / span : 1.0;
        return (static_cast<double>(k) + f) / static_cast<double>(levels - 1);
    }
};

struct LearnedState {
    ModelConfig model;
    std::string gpu_model;
    std::string source;
    RooflineTerms roof;
    LearnedFitOptions fit;
    std::vector<LearnedTable> tables;
    std::array<std::size_t, 2> phase_table{}; // index into tables, by Phase
};

inline void learned_pick_phases(LearnedState& s, std::string_view name) {
    auto find = [&](TableKind k) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < s.tables.size(); ++i)
            if (s.tables[i].table == k) return i;
        return std::nullopt;
    };
    auto pick = [&](TableKind own, TableKind other) {
        for (TableKind k : {own, TableKind::step_cycle, other})
            if (auto i = find(k)) return *i;
        throw profile_error("learned model '" + std::string(name) +
                            "': no table; fit it on a pack with at least one table (llmemu profile fit PACK -o M)");
    };
    s.phase_table[static_cast<std::size_t>(Phase::decode)] = pick(TableKind::decode, TableKind::prefill);
    s.phase_table[static_cast<std::size_t>(Phase::prefill)] = pick(TableKind::prefill, TableKind::decode);
}

inline void learned_append_double(std::string& out, double v) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
    const std::string_view s(buf, static_cast<std::size_t>(res.ptr - buf));
    if (s.find_first_of(".eEn") == std::string_view::npos) out += ".0";
}

inline void learned_append_array(std::string& out, std::span<const double> v) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i != 0) out += ", ";
        learned_append_double(out, v[i]);
    }
    out += ']';
}

[[noreturn, gnu::cold, gnu::noinline]] inline void learned_fail(std::string_view name, const std::string& what) {
    throw profile_error("learned model '" + std::string(name) + "': " + what +
                        " (write it again with `llmemu profile fit PACK -o MODEL.json`)");
}

inline double learned_get_double(std::string_view name, simdjson::dom::element e, const std::string& where) {
    double v = 0.0;
    if (e.get_double().get(v) != simdjson::SUCCESS)
        learned_fail(name, where + " is " + std::string(pack_type_name(e.type())) + "; it must be a number");
    if (!std::isfinite(v)) learned_fail(name, where + " must be finite");
    return v;
}

inline simdjson::dom::element learned_field(std::string_view name, simdjson::dom::object o, std::string_view key,
                                            const std::string& where) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS) learned_fail(name, where + " has no \"" + std::string(key) + "\"");
    return e;
}

inline std::vector<double> learned_get_array(std::string_view name, simdjson::dom::element e,
                                             const std::string& where) {
    simdjson::dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS)
        learned_fail(name, where + " is " + std::string(pack_type_name(e.type())) + "; it must be an array of numbers");
    std::vector<double> out;
    out.reserve(a.size());
    std::size_t i = 0;
    for (simdjson::dom::element x : a)
        out.push_back(learned_get_double(name, x, where + "[" + std::to_string(i++) + "]"));
    return out;
}

inline KnotGrid learned_read_grid(std::string_view name, simdjson::dom::element e, const std::string& where) {
    const simdjson::dom::object o = pack_get_object(name, e, where);
    KnotGrid g;
    g.first = learned_get_double(name, learned_field(name, o, "first", where), where + ".first");
    g.step = learned_get_double(name, learned_field(name, o, "step", where), where + ".step");
    g.count =
        static_cast<std::uint32_t>(pack_get_uint(name, learned_field(name, o, "count", where), where + ".count", 512));
    if (!(g.step > 0.0)) learned_fail(name, where + ".step must be positive");
    if (g.count < 2) learned_fail(name, where + ".count must be at least 2");
    return g;
}

} // namespace detail

/// A fitted step-latency model (see the file comment). Copies share the immutable fit and
/// keep their own coverage counters; not for concurrent sample() on one object.
class LearnedLatencyModel {
public:
    /// Parses a model file's text; `name` labels errors. Throws profile_error naming the
    /// field and the fix.
    [[nodiscard]] static LearnedLatencyModel parse(std::string_view json, std::string_view name = "<memory>");
    /// Loads a model file (throws profile_error naming the file).
    [[nodiscard]] static LearnedLatencyModel load(const std::filesystem::path& path) {
        std::ifstream f(path, std::ios::binary);
        if (!f) detail::learned_fail(path.string(), "cannot open the file; check the path");
        std::ostringstream ss;
        ss << f.rdbuf();
        return parse(ss.str(), path.string());
    }

    /// One step latency in MICROSECONDS: base(shape) x a residual ratio drawn from the
    /// shape's region (one uniform draw). Const and thread-safe (atomic counters).
    template <class G>
    LatencySample sample(const StepShape& shape, G& g) const {
        const detail::LearnedTable& t = table_of(shape.phase);
        const double tt = shape.total_tokens;
        const double conc = shape.num_requests == 0 ? 1.0 : static_cast<double>(shape.num_requests);
        const CoverageKind kind = t.in_range(tt, conc) ? CoverageKind::interpolated : CoverageKind::out_of_range;
        m_coverage.count(kind);
        const double r = t.ratio_at(t.region_quantiles(tt, conc), uniform01(g));
        return {t.base(tt, conc, m_state->roof) * r, kind};
    }

    /// The q-quantile (q in [0, 1]) of the predicted latency (µs) of `shape`.
    [[nodiscard]] double quantile(const StepShape& shape, double q) const {
        const detail::LearnedTable& t = table_of(shape.phase);
        const double conc = shape.num_requests == 0 ? 1.0 : static_cast<double>(shape.num_requests);
        const double tt = shape.total_tokens;
        return t.base(tt, conc, m_state->roof) * t.ratio_at(t.region_quantiles(tt, conc), q);
    }
    /// The predicted median latency (µs).
    [[nodiscard]] double median(const StepShape& shape) const { return quantile(shape, 0.5); }
    /// CDF of the predicted latency of `shape` at `us`.
    [[nodiscard]] double cdf(const StepShape& shape, double us) const {
        const double conc = shape.num_requests == 0 ? 1.0 : static_cast<double>(shape.num_requests);
        return table_of(shape.phase).cdf(shape.total_tokens, conc, m_state->roof, us);
    }
    /// True when `shape` lies inside the range its table was fitted on.
    [[nodiscard]] bool in_range(const StepShape& shape) const {
        const double conc = shape.num_requests == 0 ? 1.0 : static_cast<double>(shape.num_requests);
        return table_of(shape.phase).in_range(shape.total_tokens, conc);
    }

    /// Counters of this copy: every sample counts as learned, and as interpolated (inside
    /// the fitted range) or out_of_range.
    [[nodiscard]] Coverage coverage() const noexcept {
        Coverage c = m_coverage.load();
        c.learned = c.total;
        return c;
    }
    void reset_coverage() noexcept { m_coverage.set({}); }

    /// The model config of the pack it was fitted on (KV sizing, roofline terms).
    [[nodiscard]] const ModelConfig& model_config() const noexcept { return m_state->model; }
    [[nodiscard]] const RooflineTerms& roofline() const noexcept { return m_state->roof; }
    [[nodiscard]] const std::string& source() const noexcept { return m_state->source; }
    [[nodiscard]] std::span<const detail::LearnedTable> tables() const noexcept { return m_state->tables; }
    /// The table steps of this phase are answered from.
    [[nodiscard]] TableKind table_for(Phase p) const noexcept { return table_of(p).table; }

    /// One line: what was fitted on what.
    [[nodiscard]] std::string describe() const {
        const detail::LearnedState& s = *m_state;
        std::string d = "learned latency model (P-spline median + conformal residuals, roofline edge trend)";
        if (!s.model.model_name.empty()) d.append(" of ").append(s.model.model_name);
        const std::string& gpu = !s.model.gpu_name.empty() ? s.model.gpu_name : s.gpu_model;
        if (!gpu.empty()) d.append(" on ").append(gpu);
        d += ':';
        for (const auto& t : s.tables) {
            d.append(" ").append(table_name(t.table)).append(" ");
            d.append(std::to_string(t.buckets)).append(" buckets/");
            d.append(std::to_string(t.tt_grid.count)).append("x").append(std::to_string(t.conc_grid.count));
            d.append(" knots;");
        }
        return d;
    }

    /// The model as JSON text (the file `llmemu profile fit` writes).
    [[nodiscard]] std::string to_json() const {
        using namespace detail;
        const LearnedState& s = *m_state;
        std::string out = "{\n  \"";
        out += learned_model_format_key;
        out += "\": " + std::to_string(learned_model_format_version) + ",\n";
        out += "  \"kind\": \"pspline_conformal\",\n  \"source\": ";
        pack_append_json_string(out, s.source);
        out += ",\n  \"gpu_model\": ";
        pack_append_json_string(out, s.gpu_model);
        out += ",\n  \"model_name\": ";
        pack_append_json_string(out, s.model.model_name);
        out += ",\n  \"fit\": {\"folds\": " + std::to_string(s.fit.folds) +
               ", \"seed\": " + std::to_string(s.fit.seed) + ", \"weight_cap\": " + std::to_string(s.fit.weight_cap) +
               ", \"edge_fraction\": ";
        learned_append_double(out, s.fit.edge_fraction);
        out += "},\n  \"roofline\": {\"flops_per_token\": ";
        learned_append_double(out, s.roof.flops_per_token);
        out += ", \"flops_per_request\": ";
        learned_append_double(out, s.roof.flops_per_request);
        out += ", \"weight_bytes\": ";
        learned_append_double(out, s.roof.weight_bytes);
        out += "},\n  \"tables\": [";
        for (std::size_t k = 0; k < s.tables.size(); ++k) {
            const LearnedTable& t = s.tables[k];
            out += k == 0 ? "\n    {" : ",\n    {";
            out += "\n      \"table\": \"";
            out += table_name(t.table);
            out += "\",\n      \"buckets\": " + std::to_string(t.buckets) +
                   ",\n      \"samples\": " + std::to_string(t.samples) + ",\n      \"lambda\": ";
            learned_append_double(out, t.lambda);
            out += ",\n      \"cv_abs_log_error\": ";
            learned_append_double(out, t.cv_abs_log_error);
            for (const auto& [key, g] : {std::pair{"tt_knots", t.tt_grid}, std::pair{"conc_knots", t.conc_grid}}) {
                out += ",\n      \"";
                out += key;
                out += "\": {\"first\": ";
                learned_append_double(out, g.first);
                out += ", \"step\": ";
                learned_append_double(out, g.step);
                out += ", \"count\": " + std::to_string(g.count) + "}";
            }
            out += ",\n      \"range\": {\"tt_min\": ";
            learned_append_double(out, t.tt_min);
            out += ", \"tt_max\": ";
            learned_append_double(out, t.tt_max);
            out += ", \"conc_min\": ";
            learned_append_double(out, t.conc_min);
            out += ", \"conc_max\": ";
            learned_append_double(out, t.conc_max);
            out += "},\n      \"edge_slope_us_per_flop\": ";
            learned_append_double(out, t.edge_slope);
            out += ",\n      \"log_median_us\": ";
            learned_append_array(out, t.log_median);
            out += ",\n      \"tt_bounds\": ";
            learned_append_array(out, t.tt_bounds);
            out += ",\n      \"conc_bounds\": ";
            learned_append_array(out, t.conc_bounds);
            out += ",\n      \"quantile_levels\": " + std::to_string(t.levels);
            out += ",\n      \"ratio_quantiles\": [";
            for (std::size_t r = 0; r < t.regions(); ++r) {
                out += r == 0 ? "\n        " : ",\n        ";
                learned_append_array(out, std::span<const double>(t.ratio_quantiles.data() + r * t.levels, t.levels));
            }
            out += "\n      ]\n    }";
        }
        out += "\n  ]";
        if (const std::string mc = pack_model_config_json(s.model); !mc.empty()) out += ",\n  \"model_config\": " + mc;
        out += "\n}\n";
        return out;
    }

    /// Writes the model file (throws profile_error if it cannot).
    void save(const std::filesystem::path& path) const {
        const std::string text = to_json();
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        if (!f) detail::learned_fail(path.string(), "cannot open the file for writing; check the directory exists");
        f.write(text.data(), static_cast<std::streamsize>(text.size()));
        f.close();
        if (!f) detail::learned_fail(path.string(), "writing failed (disk full?)");
    }

private:
    friend LearnedLatencyModel fit_learned_model(const ProfileStore&, const LearnedFitOptions&, std::string);
    explicit LearnedLatencyModel(std::shared_ptr<const detail::LearnedState> s) : m_state(std::move(s)) {}

    [[nodiscard]] const detail::LearnedTable& table_of(Phase p) const noexcept {
        return m_state->tables[m_state->phase_table[static_cast<std::size_t>(p) & 1U]];
    }

    std::shared_ptr<const detail::LearnedState> m_state;
    detail::AtomicCoverage m_coverage;
};

/// True when `text` looks like a learned-model file: a JSON object whose first key is
/// "llmemu_latency_model" (what LearnedLatencyModel::to_json writes).
inline bool is_learned_model_json(std::string_view text) noexcept {
    std::size_t i = 0;
    auto skip = [&] {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
    };
    skip();
    if (i >= text.size() || text[i] != '{') return false;
    ++i;
    skip();
    const std::string key = "\"" + std::string(learned_model_format_key) + "\"";
    return text.substr(i, key.size()) == key;
}

/// True when the file at `path` is a learned-model file (reads its first bytes only).
inline bool is_learned_model_file(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::string head(256, '\0');
    f.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(f.gcount()));
    return is_learned_model_json(head);
}

inline LearnedLatencyModel LearnedLatencyModel::parse(std::string_view json, std::string_view name) {
    using namespace detail;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    const simdjson::padded_string padded(json);
    if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS)
        learned_fail(name, "not valid JSON (" + std::string(simdjson::error_message(err)) + ")");
    simdjson::dom::object top;
    if (doc.get_object().get(top) != simdjson::SUCCESS)
        learned_fail(name, "the document is " + std::string(pack_type_name(doc.type())) + ", not an object");
    const std::uint64_t version = pack_get_uint(name, learned_field(name, top, learned_model_format_key, "the file"),
                                                std::string(learned_model_format_key));
    if (version != learned_model_format_version)
        learned_fail(name, "format version " + std::to_string(version) + " is not " +
                               std::to_string(learned_model_format_version) + ", the one this llmemu reads");
    auto s = std::make_shared<LearnedState>();
    if (simdjson::dom::element e; top["source"].get(e) == simdjson::SUCCESS)
        s->source = pack_get_string(name, e, "source");
    if (simdjson::dom::element e; top["gpu_model"].get(e) == simdjson::SUCCESS)
        s->gpu_model = pack_get_string(name, e, "gpu_model");
    if (simdjson::dom::element e; top["model_config"].get(e) == simdjson::SUCCESS)
        s->model = pack_read_model_config(name, e, s->model);
    if (simdjson::dom::element e; top["model_name"].get(e) == simdjson::SUCCESS && s->model.model_name.empty())
        s->model.model_name = pack_get_string(name, e, "model_name");
    if (simdjson::dom::element e; top["fit"].get(e) == simdjson::SUCCESS) {
        // How it was fitted: informative only, kept so that read -> write is lossless.
        const simdjson::dom::object f = pack_get_object(name, e, "fit");
        if (simdjson::dom::element v; f["folds"].get(v) == simdjson::SUCCESS)
            s->fit.folds = static_cast<std::uint32_t>(pack_get_uint(name, v, "fit.folds"));
        if (simdjson::dom::element v; f["seed"].get(v) == simdjson::SUCCESS)
            s->fit.seed = pack_get_uint(name, v, "fit.seed", std::numeric_limits<std::uint64_t>::max());
        if (simdjson::dom::element v; f["weight_cap"].get(v) == simdjson::SUCCESS)
            s->fit.weight_cap = static_cast<std::uint32_t>(pack_get_uint(name, v, "fit.weight_cap"));
        if (simdjson::dom::element v; f["edge_fraction"].get(v) == simdjson::SUCCESS)
            s->fit.edge_fraction = learned_get_double(name, v, "fit.edge_fraction");
    }
    {
        const simdjson::dom::object r =
            pack_get_object(name, learned_field(name, top, "roofline", "the file"), "roofline");
        s->roof.flops_per_token =
            learned_get_double(name, learned_field(name, r, "flops_per_token", "roofline"), "roofline.flops_per_token");
        s->roof.flops_per_request = learned_get_double(name, learned_field(name, r, "flops_per_request", "roofline"),
                                                       "roofline.flops_per_request");
        s->roof.weight_bytes =
            learned_get_double(name, learned_field(name, r, "weight_bytes", "roofline"), "roofline.weight_bytes");
        if (s->roof.flops_per_token < 0.0 || s->roof.flops_per_request < 0.0 || s->roof.weight_bytes < 0.0)
            learned_fail(name, "roofline terms must be non-negative");
    }
    simdjson::dom::array tables;
    if (learned_field(name, top, "tables", "the file").get_array().get(tables) != simdjson::SUCCESS)
        learned_fail(name, "tables must be an array");
    if (tables.size() == 0) learned_fail(name, "tables is empty");
    std::size_t index = 0;
    for (simdjson::dom::element te : tables) {
        const std::string where = "tables[" + std::to_string(index++) + "]";
        const simdjson::dom::object o = pack_get_object(name, te, where);
        LearnedTable t;
        const std::string tn = pack_get_string(name, learned_field(name, o, "table", where), where + ".table");
        const auto kind = table_from_name(tn);
        if (!kind) learned_fail(name, where + ".table '" + tn + "' is not prefill, decode or step_cycle");
        t.table = *kind;
        for (const auto& other : s->tables)
            if (other.table == t.table) learned_fail(name, where + ": table " + tn + " appears twice");
        t.buckets = pack_get_uint(name, learned_field(name, o, "buckets", where), where + ".buckets",
                                  std::numeric_limits<std::uint64_t>::max());
        t.samples = pack_get_uint(name, learned_field(name, o, "samples", where), where + ".samples",
                                  std::numeric_limits<std::uint64_t>::max());
        t.lambda = learned_get_double(name, learned_field(name, o, "lambda", where), where + ".lambda");
        if (simdjson::dom::element e; o["cv_abs_log_error"].get(e) == simdjson::SUCCESS)
            t.cv_abs_log_error = learned_get_double(name, e, where + ".cv_abs_log_error");
        t.tt_grid = learned_read_grid(name, learned_field(name, o, "tt_knots", where), where + ".tt_knots");
        t.conc_grid = learned_read_grid(name, learned_field(name, o, "conc_knots", where), where + ".conc_knots");
        const simdjson::dom::object r = pack_get_object(name, learned_field(name, o, "range", where), where + ".range");
        t.tt_min =
            learned_get_double(name, learned_field(name, r, "tt_min", where + ".range"), where + ".range.tt_min");
        t.tt_max =
            learned_get_double(name, learned_field(name, r, "tt_max", where + ".range"), where + ".range.tt_max");
        t.conc_min =
            learned_get_double(name, learned_field(name, r, "conc_min", where + ".range"), where + ".range.conc_min");
        t.conc_max =
            learned_get_double(name, learned_field(name, r, "conc_max", where + ".range"), where + ".range.conc_max");
        if (!(t.tt_min >= 0.0 && t.tt_max >= t.tt_min && t.conc_min >= 0.0 && t.conc_max >= t.conc_min))
            learned_fail(name, where + ".range must have 0 <= min <= max on both axes");
        t.edge_slope = learned_get_double(name, learned_field(name, o, "edge_slope_us_per_flop", where),
                                          where + ".edge_slope_us_per_flop");
        if (t.edge_slope < 0.0) learned_fail(name, where + ".edge_slope_us_per_flop must be non-negative");
        t.log_median =
            learned_get_array(name, learned_field(name, o, "log_median_us", where), where + ".log_median_us");
        if (t.log_median.size() != std::size_t{t.tt_grid.count} * t.conc_grid.count)
            learned_fail(name, where + ".log_median_us has " + std::to_string(t.log_median.size()) +
                                   " values; tt_knots.count x conc_knots.count = " +
                                   std::to_string(std::size_t{t.tt_grid.count} * t.conc_grid.count));
        for (double v : t.log_median)
            if (std::abs(v) > 60.0)
                learned_fail(name, where + ".log_median_us holds " + std::to_string(v) +
                                       "; log microseconds must lie in [-60, 60]");
        t.tt_bounds = learned_get_array(name, learned_field(name, o, "tt_bounds", where), where + ".tt_bounds");
        t.conc_bounds = learned_get_array(name, learned_field(name, o, "conc_bounds", where), where + ".conc_bounds");
        for (const auto* bv : {&t.tt_bounds, &t.conc_bounds}) {
            if (bv->size() > 64) learned_fail(name, where + ": at most 64 region bounds per axis");
            for (std::size_t i = 1; i < bv->size(); ++i)
                if (!((*bv)[i] > (*bv)[i - 1]))
                    learned_fail(name, where + ": region bounds must be strictly ascending");
        }
        t.levels = static_cast<std::uint32_t>(
            pack_get_uint(name, learned_field(name, o, "quantile_levels", where), where + ".quantile_levels", 1025));
        if (t.levels < 3) learned_fail(name, where + ".quantile_levels must be at least 3");
        simdjson::dom::array rq;
        if (learned_field(name, o, "ratio_quantiles", where).get_array().get(rq) != simdjson::SUCCESS)
            learned_fail(name, where + ".ratio_quantiles must be an array of arrays");
        if (rq.size() != t.regions())
            learned_fail(name, where + ".ratio_quantiles has " + std::to_string(rq.size()) +
                                   " regions; the bounds make " + std::to_string(t.regions()));
        std::size_t ri = 0;
        for (simdjson::dom::element re : rq) {
            const std::string rw = where + ".ratio_quantiles[" + std::to_string(ri++) + "]";
            const std::vector<double> q = learned_get_array(name, re, rw);
            if (q.size() != t.levels)
                learned_fail(name, rw + " has " + std::to_string(q.size()) + " values; quantile_levels is " +
                                       std::to_string(t.levels));
            for (std::size_t i = 0; i < q.size(); ++i) {
                if (!(q[i] >= 0.0) || q[i] > 1e6) learned_fail(name, rw + " values must be ratios in [0, 1e6]");
                if (i > 0 && q[i] < q[i - 1]) learned_fail(name, rw + " must be non-decreasing");
            }
            t.ratio_quantiles.insert(t.ratio_quantiles.end(), q.begin(), q.end());
        }
        s->tables.push_back(std::move(t));
    }
    learned_pick_phases(*s, name);
    return LearnedLatencyModel(std::move(s));
}

/// Which steps the oracle hands to its learned fallback.
enum class FallbackScope : std::uint8_t {
    /// Steps outside the profiled range only (the oracle interpolates sparse buckets).
    out_of_range,
    /// Out-of-range steps and steps whose exact bucket is missing or has fewer than
    /// min_exact_samples samples (the oracle keeps only its well-measured buckets).
    sparse,
};

/// The profile oracle backed by a learned model: exact buckets (and, with scope
/// out_of_range, in-range neighbours) come from the pack's raw samples, the rest from the
/// learned model. Coverage: the oracle's counters plus the learned model's (whose samples
/// are also counted in `learned`).
template <class Oracle>
class OracleWithFallback {
public:
    OracleWithFallback(Oracle oracle, LearnedLatencyModel learned, FallbackScope scope = FallbackScope::sparse)
        : m_oracle(std::move(oracle)), m_learned(std::move(learned)), m_scope(scope) {}

    template <class G>
    LatencySample sample(const StepShape& shape, G& g) const {
        const ProfileTable& t = *m_oracle.store().table(m_oracle.table_for(shape.phase));
        const Bucketing& b = t.bucketing();
        const std::uint64_t tt = b.tt_centre(shape.total_tokens);
        const std::uint64_t conc = b.conc_centre(shape.num_requests);
        const bool in_range = tt >= t.tt_min() && tt <= t.tt_max() && conc >= t.conc_min() && conc <= t.conc_max();
        if (!in_range) return m_learned.sample(shape, g);
        if (m_scope == FallbackScope::sparse) {
            const std::uint32_t i = t.find(static_cast<std::uint32_t>(tt), static_cast<std::uint32_t>(conc));
            if (i == ProfileTable::npos || t.count(i) < m_oracle.options().min_exact_samples)
                return m_learned.sample(shape, g);
        }
        return m_oracle.sample(shape, g);
    }

    [[nodiscard]] Coverage coverage() const noexcept {
        Coverage c = m_oracle.coverage();
        c += m_learned.coverage();
        return c;
    }
    void reset_coverage() noexcept {
        m_oracle.reset_coverage();
        m_learned.reset_coverage();
    }
    [[nodiscard]] const ProfileStore& store() const noexcept { return m_oracle.store(); }
    [[nodiscard]] const Oracle& oracle() const noexcept { return m_oracle; }
    [[nodiscard]] const LearnedLatencyModel& learned() const noexcept { return m_learned; }
    [[nodiscard]] FallbackScope scope() const noexcept { return m_scope; }

    [[nodiscard]] std::string describe() const {
        std::string d = m_oracle.describe();
        d += m_scope == FallbackScope::sparse ? "; learned fallback for sparse, empty and out-of-range steps"
                                              : "; learned fallback for out-of-range steps";
        return d;
    }

private:
    Oracle m_oracle;
    LearnedLatencyModel m_learned;
    FallbackScope m_scope;
};

LLMEMU_END_NAMESPACE
