#pragma once
/// \file any_latency_model.hpp
/// AnyLatencyModel: one value type for "whatever latency model the user asked for" —
/// a constant, an affine formula, a profile pack behind the LatencyOracle, or any type
/// modelling LatencyModel — chosen at run time from a spec string.

#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/coverage.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/core/step.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/analytic.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {

struct AnyModelBase {
    virtual ~AnyModelBase() = default;
    [[nodiscard]] virtual std::unique_ptr<AnyModelBase> clone() const = 0;
    virtual LatencySample sample(const StepShape& shape, Rng& rng) = 0;
    virtual LatencySample sample(const StepBatch& batch, const StepShape& shape, Rng& rng) = 0;
    [[nodiscard]] virtual bool sees_batch() const noexcept = 0;
    [[nodiscard]] virtual Coverage coverage() const = 0;
    virtual void reset_coverage() = 0;
    [[nodiscard]] virtual std::string describe() const = 0;
    [[nodiscard]] virtual const ModelConfig* model_config() const = 0;
    [[nodiscard]] virtual const ProfileStore* store() const = 0;
    [[nodiscard]] virtual std::optional<Resolution> resolve(const StepShape& shape) const = 0;
    [[nodiscard]] virtual bool shareable() const noexcept = 0;
};

template <class M>
concept HasCoverage = requires(const M& m) {
    { m.coverage() } -> std::convertible_to<Coverage>;
};
template <class M>
concept HasDescribe = requires(const M& m) {
    { m.describe() } -> std::convertible_to<std::string>;
};
template <class M>
concept HasStore = requires(const M& m) {
    { m.store() } -> std::convertible_to<const ProfileStore&>;
};
template <class M>
concept HasModelConfig = requires(const M& m) {
    { m.model_config() } -> std::convertible_to<const ModelConfig&>;
};

[[noreturn, gnu::cold, gnu::noinline]] inline void any_model_needs_batch(const std::string& what) {
    throw_error<config_error>("AnyLatencyModel::sample(const StepShape&, Rng&): the wrapped model (" + what +
                              ") needs the whole step; call sample(const StepBatch&, Rng&) or "
                              "llmemu::sample_latency(model, batch, rng)");
}

inline std::string format_number(double v) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

template <class M>
struct AnyModelImpl final : AnyModelBase {
    explicit AnyModelImpl(M m) : model(std::move(m)) {}
    M model;
    AtomicCoverage own; // for models without their own counters (counted by what they return)

    std::unique_ptr<AnyModelBase> clone() const override { return std::make_unique<AnyModelImpl>(*this); }
    LatencySample sample(const StepShape& shape, Rng& rng) override {
        if constexpr (ShapeLatencyModel<M, Rng>) {
            return count(to_latency_sample(model.sample(shape, rng)));
        } else {
            any_model_needs_batch(describe());
        }
    }
    LatencySample sample(const StepBatch& batch, const StepShape& shape, Rng& rng) override {
        return count(sample_latency(model, batch, shape, rng));
    }
    bool sees_batch() const noexcept override { return BatchLatencyModel<M, Rng>; }
    LatencySample count(LatencySample r) {
        if constexpr (!HasCoverage<M>) own.count(r.coverage);
        return r;
    }
    Coverage coverage() const override {
        if constexpr (HasCoverage<M>)
            return model.coverage();
        else
            return own.load();
    }
    void reset_coverage() override {
        if constexpr (requires(M & m) { m.reset_coverage(); }) model.reset_coverage();
        own.set({});
    }
    std::optional<Resolution> resolve(const StepShape& shape) const override {
        if constexpr (requires(const M& m) {
                          { m.resolve(shape) } -> std::convertible_to<Resolution>;
                      })
            return model.resolve(shape);
        else
            return std::nullopt;
    }
    bool shareable() const noexcept override {
        return requires(const M& m, const StepShape& sh, Rng& g) {
            m.sample(sh, g);
        }
        || requires(const M& m, const StepBatch& b, Rng& g) {
            m.sample(b, g);
        };
    }
    std::string describe() const override {
        if constexpr (std::same_as<M, ConstantProfile>) {
            return "const:" + format_number(model.ms) + "ms (every step " + format_number(model.ms) + " ms)";
        } else if constexpr (std::same_as<M, AffineProfile>) {
            return "affine:" + format_number(model.base_ms) + "ms," + format_number(model.per_token_us) + "us," +
                   format_number(model.per_seq_us) + "us (" + format_number(model.base_ms) + " ms + " +
                   format_number(model.per_token_us) + " us/token + " + format_number(model.per_seq_us) +
                   " us/request)";
        } else if constexpr (HasDescribe<M>) {
            return model.describe();
        } else {
            return "custom latency model";
        }
    }
    const ModelConfig* model_config() const override {
        if constexpr (HasStore<M>)
            return &model.store().model_config();
        else if constexpr (HasModelConfig<M>)
            return &model.model_config();
        else
            return nullptr;
    }
    const ProfileStore* store() const override {
        if constexpr (HasStore<M>)
            return &model.store();
        else
            return nullptr;
    }
};

[[noreturn, gnu::cold]] inline void spec_fail(std::string_view spec, const std::string& what) {
    throw profile_error("latency model spec '" + std::string(spec.substr(0, 200)) + "': " + what +
                        " (use const:<time>, affine:<base>,<per_token>,<per_request> with units us, ms or s "
                        "(e.g. const:30ms, affine:2ms,25us,40us), the path of a pack JSON or of a learned-model "
                        "JSON, or a layer-wise profile folder with meta.yaml and tp<N>/)");
}

/// One term of an analytic spec: a number >= 0 with its unit.
struct SpecDuration {
    double us = 0.0;
    bool has_unit = false;
    std::string text; // as written (for the suggested spelling)
};

/// Splits `list` at commas into `expected` durations "<number>[us|µs|ms|s]"; a term
/// without a unit is returned with has_unit false (the caller decides what that means).
inline std::vector<SpecDuration> parse_spec_durations(std::string_view spec, std::string_view list,
                                                      std::size_t expected) {
    std::vector<SpecDuration> out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t comma = list.find(',', pos);
        std::string_view item =
            list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        SpecDuration d;
        d.text = std::string(item.substr(0, 40));
        double scale = 1000.0; // bare: milliseconds
        // Longest suffix first ("ms" before "s"); "µs" is the UTF-8 micro sign.
        for (const auto& [suffix, factor] :
             {std::pair<std::string_view, double>{"ms", 1000.0}, {"us", 1.0}, {"\xC2\xB5s", 1.0}, {"s", 1e6}}) {
            if (item.size() > suffix.size() && item.ends_with(suffix)) {
                item.remove_suffix(suffix.size());
                scale = factor;
                d.has_unit = true;
                break;
            }
        }
        const std::optional<double> v = parse_number<double>(item);
        const std::string& shown = d.text;
        if (!v) spec_fail(spec, "'" + shown + "' is not a number with a unit (us, ms or s)");
        if (*v < 0.0) spec_fail(spec, "'" + shown + "' must be a finite number >= 0");
        d.us = *v * scale;
        if (!std::isfinite(d.us)) spec_fail(spec, "'" + shown + "' is too large");
        out.push_back(std::move(d));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
        if (out.size() > expected) break;
    }
    if (out.size() != expected)
        spec_fail(spec, "expected " + std::to_string(expected) + " term(s), got " +
                            (out.size() > expected ? "more" : std::to_string(out.size())));
    return out;
}

/// `const:<time>`: a bare number is milliseconds (the one unit a bare number has in specs).
inline ConstantProfile parse_const_spec(std::string_view spec) {
    const auto v = parse_spec_durations(spec, spec.substr(6), 1);
    return ConstantProfile{v[0].us / 1000.0};
}

/// `affine:<base>,<per_token>,<per_request>`. The old form gave the base in ms and the
/// two slopes in µs as bare numbers; a bare slope is refused (showing the new spelling)
/// rather than read in either unit. A bare base is milliseconds, as everywhere.
inline AffineProfile parse_affine_spec(std::string_view spec) {
    const auto v = parse_spec_durations(spec, spec.substr(7), 3);
    if (!v[1].has_unit || !v[2].has_unit) {
        auto with_us = [](const SpecDuration& d) { return d.has_unit ? d.text : d.text + "us"; };
        spec_fail(spec, "the per-token and per-request terms need a unit (a bare number there used to mean "
                        "microseconds while the base meant milliseconds); write affine:" +
                            v[0].text + (v[0].has_unit ? "" : "ms") + "," + with_us(v[1]) + "," + with_us(v[2]));
    }
    return AffineProfile{v[0].us / 1000.0, v[1].us, v[2].us};
}

} // namespace detail

/// A type-erased latency model. Copies are cheap and independent: a pack-backed model
/// shares its immutable store and prepared tables, and each copy has its own coverage
/// counters and memo. One object may be sampled from several threads at once when the
/// wrapped model is shareable() (the oracle, layer-wise, learned and analytic models); a copy per thread is
/// still faster (no shared counters).
class AnyLatencyModel {
public:
    /// The default oracle type behind pack specs.
    using Oracle = LatencyOracle<>;

    /// Wraps any LatencyModel (ConstantProfile, AffineProfile, LatencyOracle, a model of
    /// the whole StepBatch, your own).
    template <class M>
    requires(!std::same_as<std::remove_cvref_t<M>, AnyLatencyModel> && LatencyModel<std::remove_cvref_t<M>, Rng>)
        AnyLatencyModel(M&& model) // NOLINT(google-explicit-constructor): a model IS-A latency model
        : m_impl(std::make_unique<detail::AnyModelImpl<std::remove_cvref_t<M>>>(std::forward<M>(model))) {}

    /// Any other type: a compile error that says which LatencyModel signature is missing.
    template <class M>
    requires(!std::same_as<std::remove_cvref_t<M>, AnyLatencyModel> && !LatencyModel<std::remove_cvref_t<M>, Rng>)
        AnyLatencyModel(M&&) { // NOLINT(google-explicit-constructor)
        static_assert(detail::diagnose_latency_model<std::remove_cvref_t<M>, Rng>(),
                      "AnyLatencyModel wraps only types that model llmemu::LatencyModel");
    }

    AnyLatencyModel(const AnyLatencyModel& o) : m_impl(o.m_impl ? o.m_impl->clone() : nullptr) {}
    AnyLatencyModel(AnyLatencyModel&&) noexcept = default;
    AnyLatencyModel& operator=(const AnyLatencyModel& o) {
        if (this != &o) m_impl = o.m_impl ? o.m_impl->clone() : nullptr;
        return *this;
    }
    AnyLatencyModel& operator=(AnyLatencyModel&&) noexcept = default;
    ~AnyLatencyModel() = default;

    /// Builds a model from `const:<time>` (e.g. `const:30ms`; a bare number is ms),
    /// `affine:<base>,<per_token>,<per_request>` (e.g. `affine:2ms,25us,40us`: units us, ms
    /// or s; the slopes must carry theirs: the old bare form `affine:2,25,40` is refused),
    /// the path of an LLM-Emu pack (optionally prefixed `pack:`), or a layer-wise profile
    /// folder (recognised by its content: meta.yaml and tp<N>/attention.csv; see
    /// LayerwiseModel, configured by `layerwise`). Throws profile_error naming the spec and
    /// the fix (config_error for a TP degree that was not profiled).
    static AnyLatencyModel from_spec(std::string_view spec, const OracleOptions& options = {},
                                     const LayerwiseSpec& layerwise = {}) {
        if (spec.starts_with("const:")) return AnyLatencyModel(detail::parse_const_spec(spec));
        if (spec.starts_with("affine:")) return AnyLatencyModel(detail::parse_affine_spec(spec));
        std::string_view path = spec;
        if (path.starts_with("pack:")) path.remove_prefix(5);
        if (path.empty()) detail::spec_fail(spec, "empty");
        std::error_code ec;
        if (is_layerwise_profile_dir(std::filesystem::path(path)))
            return AnyLatencyModel(
                LayerwiseModel::load(std::filesystem::path(path), layerwise.model_config, layerwise.options));
        if (std::filesystem::is_directory(std::filesystem::path(path), ec))
            detail::spec_fail(spec, "a folder, but not a layer-wise profile (it needs meta.yaml and "
                                    "tp<N>/attention.csv, dense.csv, per_sequence.csv)");
        if (!std::filesystem::is_regular_file(std::filesystem::path(path), ec))
            detail::spec_fail(spec, "no such pack file");
        if (is_learned_model_file(std::filesystem::path(path)))
            return AnyLatencyModel(LearnedLatencyModel::load(std::filesystem::path(path)));
        auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(std::filesystem::path(path)));
        return AnyLatencyModel(Oracle(std::move(store), options));
    }

    /// A pack spec whose oracle hands the steps of `scope` (out-of-range, or also sparse
    /// and empty buckets) to the learned model in `fallback_model` (`llmemu profile fit`).
    /// An empty `fallback_model` is from_spec(spec). Throws profile_error when `spec` is
    /// not a pack or the model file is not a learned model.
    static AnyLatencyModel from_spec_with_fallback(std::string_view spec, const std::filesystem::path& fallback_model,
                                                   FallbackScope scope = FallbackScope::sparse,
                                                   const OracleOptions& options = {},
                                                   const LayerwiseSpec& layerwise = {}) {
        if (fallback_model.empty()) return from_spec(spec, options, layerwise);
        std::string_view path = spec;
        if (path.starts_with("pack:")) path.remove_prefix(5);
        std::error_code ec;
        if (spec.starts_with("const:") || spec.starts_with("affine:") || path.empty() ||
            !std::filesystem::is_regular_file(std::filesystem::path(path), ec) ||
            is_learned_model_file(std::filesystem::path(path)))
            detail::spec_fail(spec,
                              "a learned fallback needs a profile pack to fall back from; give --profile PACK.json");
        if (!is_learned_model_file(fallback_model))
            throw profile_error("learned model '" + fallback_model.string() +
                                "': not a learned-model file (its first key must be \"llmemu_latency_model\"); "
                                "write one with `llmemu profile fit PACK -o MODEL.json`");
        auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(std::filesystem::path(path)));
        return AnyLatencyModel(OracleWithFallback<Oracle>(Oracle(std::move(store), options),
                                                          LearnedLatencyModel::load(fallback_model), scope));
    }

    /// A pack oracle over a store that is already loaded, shared (not copied): every model
    /// built from the same pointer reads the same samples.
    static AnyLatencyModel from_store(std::shared_ptr<const ProfileStore> store, const OracleOptions& options = {}) {
        return AnyLatencyModel(Oracle(std::move(store), options));
    }

    /// One step latency in MICROSECONDS from the step's shape. For a wrapped model that
    /// needs the whole batch (BatchLatencyModel only) this throws config_error: use the
    /// StepBatch overload.
    LatencySample sample(const StepShape& shape, Rng& rng) { return m_impl->sample(shape, rng); }
    /// One step latency in MICROSECONDS from the whole step: a batch model sees the batch,
    /// a shape model `batch.shape()`.
    LatencySample sample(const StepBatch& batch, Rng& rng) { return m_impl->sample(batch, batch.shape(), rng); }
    /// As above with the shape already computed (`shape == batch.shape()`); what
    /// sample_latency() and EmulatedExecutor call.
    LatencySample sample(const StepBatch& batch, const StepShape& shape, Rng& rng) {
        return m_impl->sample(batch, shape, rng);
    }
    /// The wrapped model reads the whole StepBatch (a shape-only sample() would throw).
    [[nodiscard]] bool sees_batch() const noexcept { return m_impl->sees_batch(); }
    /// The wrapped model's sample() is const, so one AnyLatencyModel may be sampled from
    /// several threads at once (true for the oracle, layer-wise, learned and analytic models; a custom model
    /// with a non-const sample() must be copied per thread).
    [[nodiscard]] bool shareable() const noexcept { return m_impl->shareable(); }
    /// How the wrapped model answers `shape` — table, case (exact / interpolated /
    /// out_of_range), clamped key, buckets and their probabilities — for a pack oracle (or
    /// any model with `resolve(const StepShape&) const -> Resolution`); nullopt otherwise.
    /// Does not touch the coverage counters.
    [[nodiscard]] std::optional<Resolution> resolve(const StepShape& shape) const { return m_impl->resolve(shape); }
    /// The wrapped model if it is an `M` (as std::function::target), else nullptr.
    template <class M>
    [[nodiscard]] M* target() noexcept {
        auto* impl = dynamic_cast<detail::AnyModelImpl<M>*>(m_impl.get());
        return impl != nullptr ? &impl->model : nullptr;
    }
    template <class M>
    [[nodiscard]] const M* target() const noexcept {
        const auto* impl = dynamic_cast<const detail::AnyModelImpl<M>*>(m_impl.get());
        return impl != nullptr ? &impl->model : nullptr;
    }
    /// Coverage counters of this copy (analytic and custom models count every sample as exact).
    [[nodiscard]] Coverage coverage() const { return m_impl->coverage(); }
    void reset_coverage() { m_impl->reset_coverage(); }
    /// One line saying what the model is.
    [[nodiscard]] std::string describe() const { return m_impl->describe(); }
    /// The pack's model/GPU description, or nullptr for analytic and custom models.
    [[nodiscard]] const ModelConfig* model_config() const { return m_impl->model_config(); }
    /// The profile store behind a pack-backed model, or nullptr.
    [[nodiscard]] const ProfileStore* store() const { return m_impl->store(); }

private:
    std::unique_ptr<detail::AnyModelBase> m_impl;
};

static_assert(LatencyModel<ConstantProfile>);
static_assert(LatencyModel<AffineProfile>);
static_assert(LatencyModel<LatencyOracle<>>);
static_assert(LatencyModel<AnyLatencyModel>);
static_assert(ShapeLatencyModel<AnyLatencyModel> && BatchLatencyModel<AnyLatencyModel>);
static_assert(!LatencyModel<int>);
static_assert(LatencyModel<LearnedLatencyModel>);
static_assert(LatencyModel<OracleWithFallback<LatencyOracle<>>>);

LLMEMU_END_NAMESPACE
