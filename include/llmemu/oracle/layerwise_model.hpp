#pragma once
/// \file layerwise_model.hpp
/// LayerwiseModel: a latency model that composes a step's GPU time from layer-wise
/// profile tables (profile/layerwise_profile.hpp) and the batch it runs.
///
/// For a batch of T scheduled tokens over S requests, of which the prefill chunks sum to
/// P tokens (each chunk c_i already has k_i tokens of context) and D requests decode one
/// token each against contexts kv_j:
///
///     step = L * (attention + sum_op mult_op * dense_op(T) + moe(T) / tp + allreduce(T))
///          + embedding(T) + final_layernorm(T) + lm_head(S) + sampler(S)
///
/// with L the model's num_hidden_layers (the tables time one layer), mult 2 for
/// `layernorm` and `qk_norm` (the profiler averages a layer's two RMSNorm calls into one
/// row) and 1 for every other per-layer op. Attention is one lookup of the 4-D table at
/// (P, kp, D, mean kv) with kp = sum(c_i k_i) / P (keeps the chunk-times-context term of
/// the prefills exact), corrected for uneven decode contexts by skew_fit.csv's alpha:
/// t_mean + alpha * (t_max - t_mean), t_max the lookup at max kv, alpha clamped to [0, 1]
/// (between the uniform batches at the mean and at the max context). lm_head and sampler run
/// over every scheduled request, as vLLM v1 samples each (a partial prefill's token is
/// discarded). MoE: the tokens' expected distinct experts under uniform top-k routing,
/// E * (1 - (1 - k/E)^T), looked up in moe.csv (profiled at tp 1 for one GPU), divided by
/// the tensor-parallel degree (each GPU holds 1/tp of every expert). Tensor parallelism
/// reads the tp<N>/ tables (profiled at per-GPU shapes) and adds two ring all-reduces of
/// T * hidden * dtype bytes per layer: latency + 2 (N-1)/N * bytes / bandwidth.
///
/// Interpolation is piecewise linear on every axis (exact at grid points, monotone
/// between monotone points); `interp=loglog` blends in log-log space instead. Below an
/// axis' first point the first value is used; beyond its last, the line through the last
/// two points continues (slope floored at 0). Either counts as out_of_range in
/// coverage(); a step whose every lookup hit grid points counts as exact. An unprofiled
/// (prefill_chunk, n_decode) corner answers from the nearest profiled pair; a pure prefill
/// below the smallest profiled chunk takes that chunk's time.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/core/atomic_coverage.hpp"
#include "llmemu/core/coverage.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/profile/hf_config.hpp"
#include "llmemu/profile/layerwise_profile.hpp"
#include "llmemu/profile/model_config.hpp"

LLMEMU_BEGIN_NAMESPACE

/// How LayerwiseModel interpolates between grid points.
enum class LayerwiseInterp : std::uint8_t {
    /// Piecewise linear on each axis: the kernels are linear in each axis (decode attention
    /// fits a + b * n * kv), and leave-one-out on the RTX 4090 attention grid gives 1.5-6.3%
    /// mean error per axis, against 3.3-7.6% for log-log.
    linear,
    /// Linear in log(x) -> log(y) (power law between neighbours), linear where a value is 0.
    loglog,
};

/// Switches of LayerwiseModel (the ablations of docs/fidelity.md), parsed from
/// `--layerwise-options` by parse_layerwise_options.
struct LayerwiseOptions {
    /// Tensor-parallel degree: picks tp<N>/ (vLLM --tensor-parallel-size).
    std::uint32_t tensor_parallel_size = 1;
    LayerwiseInterp interp = LayerwiseInterp::linear;
    /// Correct attention for uneven decode contexts with skew_fit.csv (when the profile has
    /// it): true, false, or unset = as meta.yaml's skew_fit.enabled says (LLMServingSim's
    /// rule: a bundle whose fit is disabled gets no correction).
    std::optional<bool> skew;
    /// See only the step's aggregate shape (tokens, requests, total KV depth), as a
    /// StepShape model would: the batch is synthesised by the StepShape rule.
    bool aggregate = false;
    /// Ring all-reduce model for tp > 1: bus bandwidth (GB/s) and per-call latency (us).
    /// Defaults: LLMServingSim's link for these GPUs (16 GB/s, 20 us); no TP run validates them.
    double allreduce_gbps = 16.0;
    double allreduce_latency_us = 20.0;
    /// GPU memory in bytes for KV-pool sizing; 0 = the profile GPU's known size.
    std::uint64_t gpu_memory_bytes = 0;
};

/// Parses "skew=off,interp=loglog,kv=aggregate,allreduce_gbps=25,allreduce_us=10" into
/// `o` (keys: skew=auto|on|off, interp=linear|loglog, kv=batch|aggregate, allreduce_gbps,
/// allreduce_us). Throws config_error naming the item and the fix.
inline void parse_layerwise_options(std::string_view text, LayerwiseOptions& o) {
    auto fail = [&](std::string_view item, const std::string& why) {
        detail::throw_error<config_error>("--layerwise-options '" + detail::text_echo(text) + "': '" +
                                          detail::text_echo(item) + "' " + why +
                                          " (keys: skew=auto|on|off, interp=linear|loglog, kv=batch|aggregate, "
                                          "allreduce_gbps=<GB/s>, allreduce_us=<us>)");
    };
    std::size_t pos = 0;
    while (pos <= text.size() && !text.empty()) {
        const std::size_t comma = text.find(',', pos);
        const std::string_view item =
            detail::text_trim(text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        if (item.empty()) fail(item, "is empty");
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) fail(item, "is not key=value");
        const std::string_view key = item.substr(0, eq);
        const std::string_view val = item.substr(eq + 1);
        auto number = [&]() {
            const auto v = parse_number<double>(val);
            if (!v || *v < 0) fail(item, "needs a finite number >= 0");
            return *v;
        };
        if (key == "skew") {
            if (val != "on" && val != "off" && val != "auto") fail(item, "must be auto, on or off");
            if (val == "auto")
                o.skew.reset();
            else
                o.skew = val == "on";
        } else if (key == "interp") {
            if (val != "linear" && val != "loglog") fail(item, "must be linear or loglog");
            o.interp = val == "linear" ? LayerwiseInterp::linear : LayerwiseInterp::loglog;
        } else if (key == "kv") {
            if (val != "batch" && val != "aggregate") fail(item, "must be batch or aggregate");
            o.aggregate = val == "aggregate";
        } else if (key == "allreduce_gbps") {
            o.allreduce_gbps = number();
            if (!(o.allreduce_gbps > 0)) fail(item, "must be > 0");
        } else if (key == "allreduce_us") {
            o.allreduce_latency_us = number();
        } else {
            fail(item, "is not a known key");
        }
    }
}

/// The GPU memory (bytes) of a GPU known by its driver name, or 0. RTX 4090: the
/// 25,250,627,584 bytes torch reported in the recorded vLLM run; RTX PRO 6000 Blackwell:
/// 96 GiB (the product figure; not measured in the bundled data).
[[nodiscard]] inline std::uint64_t known_gpu_memory_bytes(std::string_view gpu) noexcept {
    if (gpu.find("RTX 4090") != std::string_view::npos) return 25250627584ULL;
    if (gpu.find("RTX PRO 6000") != std::string_view::npos) return 96ULL << 30U;
    return 0;
}

/// The config.json of a profile folder when none is given: `dir/config.json`, then
/// `dir/../config.json`, then, for each folder above `dir`, `models/<model>.json` and
/// `configs/model/<model>.json` with <model> meta.yaml's model (e.g.
/// meta-llama/Llama-3.1-8B), the layouts of the bundled data and of LLMServingSim.
/// Returns an empty path when none exists.
[[nodiscard]] inline std::filesystem::path find_layerwise_model_config(const std::filesystem::path& dir,
                                                                       std::string_view model) {
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(dir, ec);
    const std::filesystem::path base = ec ? dir : abs.lexically_normal();
    auto file = [&](const std::filesystem::path& p) { return std::filesystem::is_regular_file(p, ec); };
    if (file(base / "config.json")) return base / "config.json";
    if (file(base.parent_path() / "config.json")) return base.parent_path() / "config.json";
    if (model.empty() || model.find("..") != std::string_view::npos) return {};
    const std::filesystem::path rel = std::filesystem::path(std::string(model) + ".json");
    for (std::filesystem::path p = base; !p.empty(); p = p.parent_path()) {
        if (file(p / "models" / rel)) return p / "models" / rel;
        if (file(p / "configs" / "model" / rel)) return p / "configs" / "model" / rel;
        if (p == p.parent_path()) break;
    }
    return {};
}

/// How AnyLatencyModel::from_spec builds a LayerwiseModel from a profile folder: the
/// config.json (empty = find_layerwise_model_config's search) and the options.
struct LayerwiseSpec {
    std::filesystem::path model_config;
    LayerwiseOptions options;
};

/// The parts of one step's time, in microseconds (total = sum of the others).
struct LayerwiseStepTime {
    double attention = 0; ///< all layers
    double dense = 0;     ///< per-layer dense ops, all layers
    double moe = 0;       ///< all layers
    double allreduce = 0; ///< all layers
    double per_step = 0;  ///< embedding, final norm, LM head, sampler
    double total = 0;
    CoverageKind kind = CoverageKind::exact;
};

/// The layer-wise latency model (see the file comment). Models LatencyModel for both
/// StepBatch and StepShape. Copies share the immutable profile; each has its own coverage.
/// sample() is const and safe to call from several threads on one object (it composes
/// from immutable tables; the coverage counters are atomic); a copy per thread avoids the
/// shared counters' cache-line traffic (bench/bench_layerwise).
class LayerwiseModel {
public:
    /// Composes over `profile`'s tables of `options.tensor_parallel_size` for the model
    /// `config` (from its config.json). Throws config_error when that degree was not
    /// profiled and profile_error when the tables and the config disagree.
    LayerwiseModel(std::shared_ptr<const LayerwiseProfile> profile, ModelConfig config, LayerwiseOptions options = {})
        : m_profile(std::move(profile)), m_config(std::move(config)), m_options(options) {
        prepare();
    }

    /// Loads the profile folder `dir` and its model config (`model_config`, or when empty
    /// the one find_layerwise_model_config finds).
    [[nodiscard]] static LayerwiseModel load(const std::filesystem::path& dir,
                                             const std::filesystem::path& model_config = {},
                                             LayerwiseOptions options = {}) {
        auto prof = std::make_shared<const LayerwiseProfile>(load_layerwise_profile(dir));
        std::filesystem::path cfg = model_config;
        if (cfg.empty()) cfg = find_layerwise_model_config(dir, prof->meta.model);
        if (cfg.empty())
            detail::throw_error<config_error>(
                "layer-wise profile '" + dir.string() + "' (model '" + prof->meta.model +
                "'): no config.json in or beside the folder, nor models/" + prof->meta.model +
                ".json above it; give the model's Hugging Face config.json with --model-config FILE");
        ModelConfig m = load_hf_config(cfg);
        if (!prof->meta.model.empty()) m.model_name = prof->meta.model;
        LayerwiseModel model(std::move(prof), std::move(m), options);
        model.m_config_path = cfg;
        return model;
    }

    /// The step time in MICROSECONDS of a scheduled batch; the random engine is not used
    /// (the tables hold mean kernel times).
    template <class G>
    LatencySample sample(const StepBatch& batch, G& /*rng*/) const noexcept {
        const LayerwiseStepTime t = m_options.aggregate ? compose(batch.shape()) : compose(batch);
        count(t.kind);
        return {t.total, t.kind};
    }
    /// The step time of an aggregate shape, by the synthesis rule of compose(StepShape).
    template <class G>
    LatencySample sample(const StepShape& shape, G& /*rng*/) const noexcept {
        const LayerwiseStepTime t = compose(shape);
        count(t.kind);
        return {t.total, t.kind};
    }

    /// The composed time of a batch, by part.
    [[nodiscard]] LayerwiseStepTime compose(const StepBatch& batch) const noexcept {
        BatchKey k;
        double weighted_kp = 0;
        double kv_sum = 0;
        for (const auto& r : batch.requests) {
            const double c = r.num_scheduled_tokens;
            const double ctx = r.num_computed_tokens;
            if (r.num_scheduled_tokens == 0) continue;
            k.tokens += c;
            k.seqs += 1;
            if (r.num_scheduled_tokens == 1) {
                // One query token against its context: the decode kernel, whatever the phase.
                k.n_decode += 1;
                kv_sum += ctx;
                k.kv_max = std::max(k.kv_max, ctx);
                k.kv_min = k.n_decode == 1 ? ctx : std::min(k.kv_min, ctx);
            } else {
                k.prefill += c;
                weighted_kp += c * ctx;
            }
        }
        if (k.prefill > 0) k.kv_prefill = weighted_kp / k.prefill;
        if (k.n_decode > 0) k.kv_mean = kv_sum / k.n_decode;
        return compose(k);
    }

    /// The composed time of an aggregate shape. Synthesis rule: n = num_requests requests
    /// (at least 1) each with context kv_depth / n; if total_tokens <= n, total_tokens of
    /// them decode; otherwise n - 1 decode and one prefill chunk holds the rest.
    [[nodiscard]] LayerwiseStepTime compose(const StepShape& shape) const noexcept {
        BatchKey k;
        const double n = std::max<std::uint32_t>(shape.num_requests, 1);
        const double tokens = shape.total_tokens;
        const double ctx = static_cast<double>(shape.kv_depth) / n;
        k.tokens = tokens;
        if (tokens <= n) {
            k.n_decode = tokens;
            k.seqs = tokens;
        } else {
            k.n_decode = n - 1;
            k.prefill = tokens - (n - 1);
            k.kv_prefill = ctx;
            k.seqs = n;
        }
        if (k.n_decode > 0) k.kv_mean = k.kv_max = k.kv_min = ctx;
        return compose(k);
    }

    [[nodiscard]] Coverage coverage() const noexcept { return m_coverage.load(); }
    void reset_coverage() noexcept { m_coverage.set({}); }
    /// The model and GPU: config.json's shape, meta.yaml's model and GPU, the GPU memory
    /// (known or given) and the tensor-parallel degree, for KV-pool sizing.
    [[nodiscard]] const ModelConfig& model_config() const noexcept { return m_config; }
    [[nodiscard]] const LayerwiseProfile& profile() const noexcept { return *m_profile; }
    [[nodiscard]] const LayerwiseOptions& options() const noexcept { return m_options; }
    /// The config.json used (empty when the config was given in memory).
    [[nodiscard]] const std::filesystem::path& config_path() const noexcept { return m_config_path; }
    /// Whether attention skew correction is applied (asked for and skew_fit.csv present).
    [[nodiscard]] bool skew_active() const noexcept { return m_skew; }

    /// One line: profile, model, TP degree and the options in force.
    [[nodiscard]] std::string describe() const {
        std::string s = "layer-wise ";
        s += m_profile->meta.hardware.empty() ? m_profile->dir.string() : m_profile->meta.hardware;
        s += " ";
        s += m_config.model_name;
        s += " tp" + std::to_string(m_options.tensor_parallel_size);
        s += " (" + std::to_string(m_config.num_hidden_layers) + " layers";
        if (m_moe != nullptr) s += ", " + std::to_string(m_config.num_experts) + " experts";
        s += skew_active() ? "; skew on" : "; skew off";
        s += m_options.interp == LayerwiseInterp::linear ? ", linear" : ", loglog";
        if (m_options.aggregate) s += ", aggregate KV";
        if (!m_config_path.empty()) s += "; config " + m_config_path.string();
        s += ")";
        return s;
    }

private:
    struct BatchKey {
        double tokens = 0;
        double seqs = 0;
        double prefill = 0;
        double kv_prefill = 0;
        double n_decode = 0;
        double kv_mean = 0;
        double kv_max = 0;
        double kv_min = 0;
    };
    struct Lookup {
        bool out_of_range = false;
        bool inexact = false;
    };
    struct WeightedOp {
        const LayerwiseTable1D* table;
        double mult;
    };

    std::shared_ptr<const LayerwiseProfile> m_profile;
    ModelConfig m_config;
    LayerwiseOptions m_options;
    std::filesystem::path m_config_path;
    const LayerwiseTables* m_tables = nullptr;
    const LayerwiseMoe* m_moe = nullptr;
    std::vector<WeightedOp> m_layer_ops;
    std::vector<WeightedOp> m_step_token_ops;
    std::vector<WeightedOp> m_step_seq_ops;
    double m_allreduce_bytes_per_token = 0;
    bool m_skew = false;
    detail::AtomicCoverage m_coverage;

    void prepare() {
        const std::uint32_t tp = m_options.tensor_parallel_size;
        m_tables = m_profile->find_tp(tp);
        if (m_tables == nullptr)
            detail::throw_error<config_error>("--tensor-parallel-size " + std::to_string(tp) +
                                              ": layer-wise profile '" + m_profile->dir.string() +
                                              "' was profiled at tp " + m_profile->tp_list() +
                                              " only; use one of those or profile tp" + std::to_string(tp) + "/");
        if (m_config.num_hidden_layers == 0 || m_config.hidden_size == 0)
            detail::throw_error<profile_error>(
                "layer-wise model: the model config lacks num_hidden_layers/hidden_size; "
                "give the model's config.json (--model-config)");
        m_config.tensor_parallel_size = tp;
        if (m_config.gpu_name.empty()) m_config.gpu_name = m_profile->meta.gpu;
        if (m_options.gpu_memory_bytes != 0)
            m_config.gpu_memory_bytes = m_options.gpu_memory_bytes;
        else if (m_config.gpu_memory_bytes == 0)
            m_config.gpu_memory_bytes = known_gpu_memory_bytes(m_config.gpu_name);
        if (tp > 1 && m_config.num_attention_heads % tp != 0)
            detail::throw_error<config_error>("--tensor-parallel-size " + std::to_string(tp) + ": " +
                                              std::to_string(m_config.num_attention_heads) +
                                              " attention heads do not split evenly; vLLM refuses it too");
        for (const auto& op : m_tables->dense) {
            if (op.name == "embedding" || op.name == "final_layernorm")
                m_step_token_ops.push_back({&op.table, 1.0});
            else
                m_layer_ops.push_back({&op.table, op.name == "layernorm" || op.name == "qk_norm" ? 2.0 : 1.0});
        }
        for (const auto& op : m_tables->per_sequence) m_step_seq_ops.push_back({&op.table, 1.0});
        if (m_config.num_experts != 0) {
            const LayerwiseTables* t1 = m_tables->moe ? m_tables : m_profile->find_tp(1);
            if (t1 == nullptr || !t1->moe)
                detail::throw_error<profile_error>(
                    "layer-wise profile '" + m_profile->dir.string() + "': the model '" + m_config.model_name +
                    "' is a mixture of experts but neither tp" + std::to_string(tp) +
                    "/ nor tp1/ has moe.csv; re-profile with the MoE category or give the right --model-config");
            m_moe = &*t1->moe;
        } else if (m_tables->moe) {
            detail::throw_error<profile_error>("layer-wise profile '" + m_profile->dir.string() +
                                               "' has moe.csv but the model config '" + m_config.model_name +
                                               "' has no num_experts; give the profiled model's config.json");
        }
        const double dtype = m_config.weight_dtype_bytes == 0 ? 2.0 : m_config.weight_dtype_bytes;
        m_allreduce_bytes_per_token = static_cast<double>(m_config.hidden_size) * dtype;
        m_skew = m_options.skew.value_or(m_profile->meta.skew_fit_enabled) && m_tables->skew.has_value();
    }

    void count(CoverageKind k) const noexcept { m_coverage.count(k); }

    /// The segment [lo, hi] of a sorted axis for q (lo == hi at or below the first point
    /// or on a one-point axis; the last segment beyond the end).
    static std::pair<std::size_t, std::size_t> segment(const std::vector<double>& x, double q, Lookup& lk) noexcept {
        const std::size_t n = x.size();
        if (n == 1 || q <= x[0]) {
            if (q != x[0]) {
                lk.inexact = true;
                lk.out_of_range = true;
            }
            return {0, 0};
        }
        if (q > x[n - 1]) {
            lk.inexact = true;
            lk.out_of_range = true;
            return {n - 2, n - 1};
        }
        const std::size_t hi = static_cast<std::size_t>(std::lower_bound(x.begin(), x.end(), q) - x.begin());
        if (x[hi] == q) return {hi, hi};
        lk.inexact = true;
        return {hi - 1, hi};
    }

    /// The value at q between (x0, a) and (x1, b); beyond x1 the line continues, slope >= 0.
    double blend(double x0, double x1, double a, double b, double q) const noexcept {
        if (x1 == x0) return a;
        if (q > x1) return b + std::max(0.0, (b - a) / (x1 - x0)) * (q - x1);
        if (m_options.interp == LayerwiseInterp::loglog && x0 > 0 && a > 0 && b > 0) {
            const double t = std::log(q / x0) / std::log(x1 / x0);
            return std::exp(std::log(a) + t * (std::log(b) - std::log(a)));
        }
        return a + (b - a) * (q - x0) / (x1 - x0);
    }

    double interp(const LayerwiseTable1D& t, double q, Lookup& lk) const noexcept {
        const auto [lo, hi] = segment(t.x, q, lk);
        return lo == hi ? t.y[lo] : blend(t.x[lo], t.x[hi], t.y[lo], t.y[hi], q);
    }

    double slice_lookup(const LayerwiseAttention::Slice& s, double kp, double kd, Lookup& lk) const noexcept {
        const auto [lo, hi] = segment(s.kv_prefill, kp, lk);
        const double a = interp(s.rows[lo], kd, lk);
        if (lo == hi) return a;
        const double b = interp(s.rows[hi], kd, lk);
        return blend(s.kv_prefill[lo], s.kv_prefill[hi], a, b, kp);
    }

    /// One layer's attention at (prefill chunk, its context, decodes, their context).
    double attention(double pc, double kp, double nd, double kd, Lookup& lk) const noexcept {
        const LayerwiseAttention& att = m_tables->attention;
        auto [p0, p1] = segment(att.pc, pc, lk);
        const std::pair<std::size_t, std::size_t> dseg = segment(att.nd, nd, lk);
        const std::size_t d0 = dseg.first;
        const std::size_t d1 = dseg.second;
        // A pure prefill shorter than the smallest profiled chunk takes that chunk's time:
        // the (0, 0) corner is "no work", which was never (and cannot be) profiled.
        if (p0 != p1 && att.pc[p0] == 0 && nd == 0) p0 = p1;
        const std::size_t nnd = att.nd.size();
        auto corner = [&](std::size_t i, std::size_t j) {
            const std::size_t cell = i * nnd + j;
            if (att.profiled[cell] == 0) lk.inexact = true;
            return slice_lookup(att.slices[att.slice_of[cell]], kp, kd, lk);
        };
        auto along_nd = [&](std::size_t i) {
            const double a = corner(i, d0);
            return d0 == d1 ? a : blend(att.nd[d0], att.nd[d1], a, corner(i, d1), nd);
        };
        const double v0 = along_nd(p0);
        return p0 == p1 ? v0 : blend(att.pc[p0], att.pc[p1], v0, along_nd(p1), pc);
    }

    double moe(double tokens, Lookup& lk) const noexcept {
        const double e = m_config.num_experts;
        const double k = m_config.num_experts_per_tok;
        const double act = e * (1.0 - std::pow(1.0 - k / e, tokens));
        const auto [lo, hi] = segment(m_moe->activated_experts, act, lk);
        const double a = interp(m_moe->rows[lo], tokens, lk);
        if (lo == hi) return a;
        return blend(m_moe->activated_experts[lo], m_moe->activated_experts[hi], a, interp(m_moe->rows[hi], tokens, lk),
                     act);
    }

    LayerwiseStepTime compose(const BatchKey& k) const noexcept {
        LayerwiseStepTime out;
        if (k.tokens <= 0) return out;
        Lookup lk;
        const double layers = m_config.num_hidden_layers;
        double attn = 0;
        if (k.prefill > 0 || k.n_decode > 0) {
            attn = attention(k.prefill, k.kv_prefill, k.n_decode, k.kv_mean, lk);
            if (skew_active() && k.n_decode > 1 && k.kv_max > k.kv_mean) {
                const double gap = k.kv_max - k.kv_min;
                const double rate = gap > 0 ? (k.kv_mean - k.kv_min) / gap : 0.5;
                // Clamped to [0, 1]: a skewed batch costs between the uniform batch at the mean
                // context and the one at the max; fits from few samples go far outside
                // (RTXPRO6000 Llama tp2 has a one-sample bucket at -735).
                const double alpha = std::clamp(
                    layerwise_skew_alpha(*m_tables->skew, k.prefill, k.n_decode, rate, k.kv_max, k.kv_prefill), 0.0,
                    1.0);
                if (alpha != 0.0) {
                    const double t_max = attention(k.prefill, k.kv_prefill, k.n_decode, k.kv_max, lk);
                    if (t_max > attn) attn = std::max(0.0, attn + alpha * (t_max - attn));
                }
            }
        }
        double dense = 0;
        for (const auto& op : m_layer_ops) dense += op.mult * interp(*op.table, k.tokens, lk);
        double per_step = 0;
        for (const auto& op : m_step_token_ops) per_step += op.mult * interp(*op.table, k.tokens, lk);
        for (const auto& op : m_step_seq_ops) per_step += op.mult * interp(*op.table, k.seqs, lk);
        const double tp = m_options.tensor_parallel_size;
        const double moe_t = m_moe != nullptr ? moe(k.tokens, lk) / tp : 0.0;
        double ar = 0;
        if (tp > 1) {
            const double bytes = k.tokens * m_allreduce_bytes_per_token;
            ar =
                2.0 * (m_options.allreduce_latency_us + 2.0 * (tp - 1) / tp * bytes / (m_options.allreduce_gbps * 1e3));
        }
        out.attention = layers * attn;
        out.dense = layers * dense;
        out.moe = layers * moe_t;
        out.allreduce = layers * ar;
        out.per_step = per_step;
        out.total = out.attention + out.dense + out.moe + out.allreduce + out.per_step;
        out.kind = lk.out_of_range ? CoverageKind::out_of_range
                   : lk.inexact    ? CoverageKind::interpolated
                                   : CoverageKind::exact;
        return out;
    }
};

LLMEMU_END_NAMESPACE
