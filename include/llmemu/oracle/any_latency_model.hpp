#pragma once
/// \file any_latency_model.hpp
/// AnyLatencyModel: one value type for "whatever latency model the user asked for" —
/// a constant, an affine formula, a profile pack behind the LatencyOracle, or any type
/// modelling LatencyModel — chosen at run time from a spec string.

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/oracle/coverage.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/oracle/step_shape.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

namespace llmemu {

namespace detail {

struct AnyModelBase {
    virtual ~AnyModelBase() = default;
    [[nodiscard]] virtual std::unique_ptr<AnyModelBase> clone() const = 0;
    virtual double sample(const StepShape& shape, Rng& rng) = 0;
    [[nodiscard]] virtual Coverage coverage() const = 0;
    virtual void reset_coverage() = 0;
    [[nodiscard]] virtual std::string describe() const = 0;
    [[nodiscard]] virtual const ModelConfig* model_config() const = 0;
    [[nodiscard]] virtual const ProfileStore* store() const = 0;
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

inline std::string format_number(double v) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

template <class M>
struct AnyModelImpl final : AnyModelBase {
    explicit AnyModelImpl(M m) : model(std::move(m)) {}
    M model;
    Coverage own{}; // for models without their own counters: every sample is "exact"

    std::unique_ptr<AnyModelBase> clone() const override { return std::make_unique<AnyModelImpl>(*this); }
    double sample(const StepShape& shape, Rng& rng) override {
        if constexpr (!HasCoverage<M>) {
            ++own.total;
            ++own.exact;
        }
        return static_cast<double>(model.sample(shape, rng));
    }
    Coverage coverage() const override {
        if constexpr (HasCoverage<M>)
            return model.coverage();
        else
            return own;
    }
    void reset_coverage() override {
        if constexpr (requires(M & m) { m.reset_coverage(); }) model.reset_coverage();
        own = {};
    }
    std::string describe() const override {
        if constexpr (std::same_as<M, ConstantProfile>) {
            return "const:" + format_number(model.ms) + " (every step " + format_number(model.ms) + " ms)";
        } else if constexpr (std::same_as<M, AffineProfile>) {
            return "affine:" + format_number(model.base_ms) + "," + format_number(model.per_token_us) + "," +
                   format_number(model.per_seq_us) + " (" + format_number(model.base_ms) + " ms + " +
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
    throw profile_error("latency model spec '" + std::string(spec) + "': " + what +
                        " (use const:<ms>, affine:<base_ms>,<per_token_us>,<per_seq_us>, or the path of a pack JSON or a "
                        "learned-model JSON)");
}

inline std::vector<double> parse_spec_numbers(std::string_view spec, std::string_view list, std::size_t expected) {
    std::vector<double> out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t comma = list.find(',', pos);
        std::string_view item =
            list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        double v = 0;
        const auto res = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || res.ec != std::errc{} || res.ptr != item.data() + item.size())
            spec_fail(spec, "'" + std::string(item) + "' is not a number");
        if (!std::isfinite(v) || v < 0.0) spec_fail(spec, "'" + std::string(item) + "' must be a finite number >= 0");
        out.push_back(v);
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    if (out.size() != expected)
        spec_fail(spec, "expected " + std::to_string(expected) + " number(s), got " + std::to_string(out.size()));
    return out;
}

} // namespace detail

/// A type-erased latency model. Copies are cheap and independent: a pack-backed model
/// shares its immutable store and prepared tables, and each copy has its own coverage
/// counters. Not for concurrent sample() calls on one object (copy it per thread).
class AnyLatencyModel {
public:
    /// The default oracle type behind pack specs.
    using Oracle = LatencyOracle<>;

    /// Wraps any LatencyModel (ConstantProfile, AffineProfile, LatencyOracle, your own).
    template <class M>
    requires(!std::same_as<std::remove_cvref_t<M>, AnyLatencyModel> && LatencyModel<std::remove_cvref_t<M>, Rng>)
        AnyLatencyModel(M&& model) // NOLINT(google-explicit-constructor): a model IS-A latency model
        : m_impl(std::make_unique<detail::AnyModelImpl<std::remove_cvref_t<M>>>(std::forward<M>(model))) {}

    AnyLatencyModel(const AnyLatencyModel& o) : m_impl(o.m_impl ? o.m_impl->clone() : nullptr) {}
    AnyLatencyModel(AnyLatencyModel&&) noexcept = default;
    AnyLatencyModel& operator=(const AnyLatencyModel& o) {
        if (this != &o) m_impl = o.m_impl ? o.m_impl->clone() : nullptr;
        return *this;
    }
    AnyLatencyModel& operator=(AnyLatencyModel&&) noexcept = default;
    ~AnyLatencyModel() = default;

    /// Builds a model from `const:<ms>`, `affine:<base_ms>,<per_token_us>,<per_seq_us>`,
    /// the path of an LLM-Emu pack (optionally prefixed `pack:`), or the path of a
    /// learned-model file (`llmemu profile fit`, recognised by its content). Throws
    /// profile_error naming the spec and the fix.
    static AnyLatencyModel from_spec(std::string_view spec, const OracleOptions& options = {}) {
        if (spec.starts_with("const:")) {
            const auto v = detail::parse_spec_numbers(spec, spec.substr(6), 1);
            return AnyLatencyModel(ConstantProfile{v[0]});
        }
        if (spec.starts_with("affine:")) {
            const auto v = detail::parse_spec_numbers(spec, spec.substr(7), 3);
            return AnyLatencyModel(AffineProfile{v[0], v[1], v[2]});
        }
        std::string_view path = spec;
        if (path.starts_with("pack:")) path.remove_prefix(5);
        if (path.empty()) detail::spec_fail(spec, "empty");
        std::error_code ec;
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
                                                   const OracleOptions& options = {}) {
        if (fallback_model.empty()) return from_spec(spec, options);
        std::string_view path = spec;
        if (path.starts_with("pack:")) path.remove_prefix(5);
        std::error_code ec;
        if (spec.starts_with("const:") || spec.starts_with("affine:") || path.empty() ||
            !std::filesystem::is_regular_file(std::filesystem::path(path), ec) ||
            is_learned_model_file(std::filesystem::path(path)))
            detail::spec_fail(spec, "a learned fallback needs a profile pack to fall back from; give --profile PACK.json");
        if (!is_learned_model_file(fallback_model))
            throw profile_error("learned model '" + fallback_model.string() +
                                "': not a learned-model file (its first key must be \"llmemu_latency_model\"); "
                                "write one with `llmemu profile fit PACK -o MODEL.json`");
        auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(std::filesystem::path(path)));
        return AnyLatencyModel(OracleWithFallback<Oracle>(Oracle(std::move(store), options),
                                                          LearnedLatencyModel::load(fallback_model), scope));
    }

    /// One step latency in MICROSECONDS.
    double sample(const StepShape& shape, Rng& rng) { return m_impl->sample(shape, rng); }
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
static_assert(LatencyModel<LearnedLatencyModel>);
static_assert(LatencyModel<OracleWithFallback<LatencyOracle<>>>);
static_assert(!LatencyModel<int>);

} // namespace llmemu
