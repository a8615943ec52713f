#pragma once
/// \file length_model.hpp
/// An output-length model learned from a trace: P(output length | prompt length) as the
/// conditional empirical distribution over the k training requests whose prompt lengths
/// are nearest (by rank) to the asked one. That is a prompt-length bin centred on every
/// query instead of fixed bin edges: the window slides, so neighbouring prompt lengths share
/// most of their samples (the smoothing across bins) and no edge splits a cluster of
/// similar prompts; k adapts to where the trace is dense. k is chosen by validation on the
/// training requests themselves (fit_output_length_model). The model also yields the
/// held-out evaluation `llmemu workload fit --holdout` prints: Kolmogorov-Smirnov distances
/// of its predictive distribution to real output lengths, overall and per prompt-length
/// bin, beside two baselines (the trace's unconditional distribution; one fixed length, as
/// vLLM's --random-output-len gives).
///
/// Model files are JSON (write_output_length_model / read_output_length_model); every
/// reader error names the file, the key and the fix. OutputLengthEmitter turns a model into
/// EOS decisions for a serving engine.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/random.hpp"
#include "llmemu/tokens/token_emitter.hpp"
#include "llmemu/workload/lengths.hpp"

LLMEMU_BEGIN_NAMESPACE

/// P(output length | prompt length): the outputs of the k training requests with the
/// nearest prompt lengths, each equally likely.
class OutputLengthModel {
public:
    /// `pairs`: training requests (any order, >= 1, lengths >= 1); `k`: window size, clamped
    /// to [1, pairs.size()]. Throws workload_error for no pairs or a zero length.
    OutputLengthModel(std::vector<LengthPair> pairs, std::size_t k, std::string source = "output-length model")
        : m_pairs(std::move(pairs)), m_source(std::move(source)) {
        if (m_pairs.empty())
            detail::throw_error<workload_error>(m_source + ": no requests to learn output lengths from; give a trace "
                                                           "with prompt and output lengths");
        for (const auto& p : m_pairs)
            if (p.prompt_len == 0 || p.output_len == 0)
                detail::throw_error<workload_error>(m_source +
                                                    ": a request has a zero prompt or output length; lengths are >= 1");
        std::stable_sort(m_pairs.begin(), m_pairs.end(), [](const LengthPair& a, const LengthPair& b) {
            return a.prompt_len < b.prompt_len || (a.prompt_len == b.prompt_len && a.output_len < b.output_len);
        });
        m_k = std::clamp<std::size_t>(k, 1, m_pairs.size());
    }

    /// The training requests, sorted by prompt length (then output length).
    [[nodiscard]] const std::vector<LengthPair>& pairs() const noexcept { return m_pairs; }
    [[nodiscard]] std::size_t k() const noexcept { return m_k; }
    [[nodiscard]] const std::string& source() const noexcept { return m_source; }

    /// The window [first, last) of pairs() that P(. | prompt_len) is uniform over: k pairs
    /// centred on the pairs with this prompt length (or where it would be).
    [[nodiscard]] std::pair<std::size_t, std::size_t> window(std::uint32_t prompt_len) const noexcept {
        const auto cmp_lo = [](const LengthPair& p, std::uint32_t v) { return p.prompt_len < v; };
        const auto cmp_hi = [](std::uint32_t v, const LengthPair& p) { return v < p.prompt_len; };
        const auto lo = static_cast<std::size_t>(std::lower_bound(m_pairs.begin(), m_pairs.end(), prompt_len, cmp_lo) -
                                                 m_pairs.begin());
        const auto hi = static_cast<std::size_t>(
            std::upper_bound(m_pairs.begin() + static_cast<std::ptrdiff_t>(lo), m_pairs.end(), prompt_len, cmp_hi) -
            m_pairs.begin());
        const std::size_t centre = (lo + hi) / 2;
        const std::size_t n = m_pairs.size();
        std::size_t first = centre > m_k / 2 ? centre - m_k / 2 : 0;
        if (first + m_k > n) first = n - m_k;
        return {first, first + m_k};
    }

    /// One output length for a prompt of `prompt_len` tokens (one draw from `g`).
    template <class G>
    [[nodiscard]] std::uint32_t sample(std::uint32_t prompt_len, G& g) const noexcept {
        const auto [first, last] = window(prompt_len);
        return m_pairs[first + uniform_index(g, last - first)].output_len;
    }

private:
    std::vector<LengthPair> m_pairs;
    std::size_t m_k = 1;
    std::string m_source;
};

// ---------------------------------------------------------------------------------------
// Kolmogorov-Smirnov evaluation

/// A discrete distribution over output lengths: (value, probability) pairs sorted by value.
using LengthPmf = std::vector<std::pair<std::uint32_t, double>>;

namespace detail {
inline LengthPmf length_pmf_normalised(std::vector<std::pair<std::uint32_t, double>> w) {
    std::sort(w.begin(), w.end());
    LengthPmf out;
    double total = 0.0;
    for (const auto& [v, p] : w) {
        if (p <= 0.0) continue;
        total += p;
        if (!out.empty() && out.back().first == v)
            out.back().second += p;
        else
            out.emplace_back(v, p);
    }
    if (total > 0.0)
        for (auto& e : out) e.second /= total;
    return out;
}
} // namespace detail

/// Kolmogorov-Smirnov distance sup |F_model - F_real| between a distribution and the
/// empirical distribution of `real` (any order). 1 when `real` or `model` is empty.
[[nodiscard]] inline double ks_distance(const LengthPmf& model, std::vector<std::uint32_t> real) {
    if (real.empty() || model.empty()) return 1.0;
    std::sort(real.begin(), real.end());
    const double n = static_cast<double>(real.size());
    double fm = 0.0;
    double d = 0.0;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < model.size() || j < real.size()) {
        const std::uint32_t v = j >= real.size()                                ? model[i].first
                                : i >= model.size() || real[j] < model[i].first ? real[j]
                                                                                : model[i].first;
        while (i < model.size() && model[i].first == v) fm += model[i++].second;
        while (j < real.size() && real[j] == v) ++j;
        d = std::max(d, std::fabs(fm - static_cast<double>(j) / n));
    }
    return d;
}

/// The model's predictive distribution of output lengths for requests with these prompt
/// lengths (the mixture of P(. | p) over them), computed exactly (no sampling noise).
[[nodiscard]] inline LengthPmf predictive_pmf(const OutputLengthModel& m, const std::vector<std::uint32_t>& prompts) {
    const std::size_t n = m.pairs().size();
    std::vector<double> diff(n + 1, 0.0); // weight per training pair, as a difference array
    for (const std::uint32_t p : prompts) {
        const auto [first, last] = m.window(p);
        const double w = 1.0 / static_cast<double>(last - first);
        diff[first] += w;
        diff[last] -= w;
    }
    std::vector<std::pair<std::uint32_t, double>> w;
    w.reserve(n);
    double run = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        run += diff[i];
        w.emplace_back(m.pairs()[i].output_len, run);
    }
    return detail::length_pmf_normalised(std::move(w));
}

/// The empirical distribution of the output lengths of `pairs`.
[[nodiscard]] inline LengthPmf unconditional_pmf(const std::vector<LengthPair>& pairs) {
    std::vector<std::pair<std::uint32_t, double>> w;
    w.reserve(pairs.size());
    for (const auto& p : pairs) w.emplace_back(p.output_len, 1.0);
    return detail::length_pmf_normalised(std::move(w));
}

/// One row of the held-out table: requests whose prompt lengths lie in [prompt_lo, prompt_hi].
struct KsRow {
    std::uint32_t prompt_lo = 0;
    std::uint32_t prompt_hi = 0;
    std::size_t requests = 0;
    double ks_model = 1.0;
    double ks_unconditional = 1.0;
    double ks_fixed = 1.0;
};

/// The held-out evaluation: one row per prompt-length bin (equal-count bins of the held-out
/// requests), all requests, and the request-weighted mean over the bins.
struct KsTable {
    std::vector<KsRow> bins;
    KsRow overall;
    KsRow bin_mean;
    /// The fixed baseline's output length.
    std::uint32_t fixed_output_len = 0;
};

/// Evaluates `model` on `test` against the unconditional distribution of `train` and a
/// fixed output length `fixed_len`, overall and in `num_bins` prompt-length bins. Requests
/// with equal prompt lengths stay in one bin, so there may be fewer bins.
[[nodiscard]] inline KsTable evaluate_output_lengths(const OutputLengthModel& model,
                                                     const std::vector<LengthPair>& train, std::vector<LengthPair> test,
                                                     std::uint32_t fixed_len, std::size_t num_bins) {
    if (test.empty())
        detail::throw_error<workload_error>("output-length evaluation: no held-out requests; give a larger trace");
    if (num_bins == 0) num_bins = 1;
    std::stable_sort(test.begin(), test.end(),
                     [](const LengthPair& a, const LengthPair& b) { return a.prompt_len < b.prompt_len; });
    const LengthPmf uncond = unconditional_pmf(train);
    const LengthPmf fixed{{fixed_len, 1.0}};
    KsTable t;
    t.fixed_output_len = fixed_len;
    auto row = [&](std::size_t first, std::size_t last) {
        KsRow r;
        r.prompt_lo = test[first].prompt_len;
        r.prompt_hi = test[last - 1].prompt_len;
        r.requests = last - first;
        std::vector<std::uint32_t> prompts;
        std::vector<std::uint32_t> real;
        for (std::size_t i = first; i < last; ++i) {
            prompts.push_back(test[i].prompt_len);
            real.push_back(test[i].output_len);
        }
        r.ks_model = ks_distance(predictive_pmf(model, prompts), real);
        r.ks_unconditional = ks_distance(uncond, real);
        r.ks_fixed = ks_distance(fixed, real);
        return r;
    };
    std::size_t first = 0;
    for (std::size_t b = 0; b < num_bins && first < test.size(); ++b) {
        std::size_t last = b + 1 == num_bins ? test.size() : std::max(first + 1, test.size() * (b + 1) / num_bins);
        while (last < test.size() && test[last].prompt_len == test[last - 1].prompt_len) ++last;
        t.bins.push_back(row(first, last));
        first = last;
    }
    t.overall = row(0, test.size());
    t.bin_mean.prompt_lo = t.overall.prompt_lo;
    t.bin_mean.prompt_hi = t.overall.prompt_hi;
    t.bin_mean.requests = test.size();
    t.bin_mean.ks_model = t.bin_mean.ks_unconditional = t.bin_mean.ks_fixed = 0.0;
    for (const auto& r : t.bins) {
        const double w = static_cast<double>(r.requests) / static_cast<double>(test.size());
        t.bin_mean.ks_model += w * r.ks_model;
        t.bin_mean.ks_unconditional += w * r.ks_unconditional;
        t.bin_mean.ks_fixed += w * r.ks_fixed;
    }
    return t;
}

/// The mean output length of `pairs`, rounded (>= 1): what --random-output-len would be set
/// to so that a fixed-length workload generates the trace's tokens.
[[nodiscard]] inline std::uint32_t mean_output_len(const std::vector<LengthPair>& pairs) noexcept {
    double s = 0.0;
    for (const auto& p : pairs) s += p.output_len;
    const double m = pairs.empty() ? 1.0 : s / static_cast<double>(pairs.size());
    return static_cast<std::uint32_t>(std::max(1.0, std::round(m)));
}

/// Window sizes fit_output_length_model tries, as shares of the training requests.
inline constexpr double output_length_bandwidths[] = {0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16};

/// Fits the model on `pairs` (in trace order). `k` = 0 chooses the window: each bandwidth
/// in output_length_bandwidths (k / n) is fitted on the first half of `pairs` and scored on
/// the second half by the request-weighted mean per-bin KS distance (8 bins); the best
/// bandwidth is kept for the model on all of `pairs`. Fitting on the past and scoring on the
/// later half favours windows that survive drift in the prompt mix.
[[nodiscard]] inline OutputLengthModel fit_output_length_model(const std::vector<LengthPair>& pairs, std::size_t k = 0,
                                                               std::string source = "output-length model") {
    if (k == 0) {
        double best_bw = output_length_bandwidths[3];
        if (pairs.size() >= 40) {
            const std::size_t half = pairs.size() / 2;
            const std::vector<LengthPair> a(pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(half));
            const std::vector<LengthPair> b(pairs.begin() + static_cast<std::ptrdiff_t>(half), pairs.end());
            double best = std::numeric_limits<double>::infinity();
            for (const double bw : output_length_bandwidths) {
                const auto ka = static_cast<std::size_t>(std::llround(bw * static_cast<double>(a.size())));
                const OutputLengthModel m(a, std::max<std::size_t>(ka, 1), source);
                const double score = evaluate_output_lengths(m, a, b, 1, 8).bin_mean.ks_model;
                if (score < best) {
                    best = score;
                    best_bw = bw;
                }
            }
        }
        k = std::max<std::size_t>(1,
                                  static_cast<std::size_t>(std::llround(best_bw * static_cast<double>(pairs.size()))));
    }
    return OutputLengthModel(pairs, k, std::move(source));
}

// ---------------------------------------------------------------------------------------
// Model files

/// The model as JSON: {"format": "llmemu-output-length-model", "version": 1, "method":
/// "nearest-prompts", "k": K, "source": "...", "prompt_len": [...], "output_len": [...]}
/// (the training requests sorted by prompt length).
[[nodiscard]] inline std::string write_output_length_model(const OutputLengthModel& m) {
    std::string source;
    for (const char c : m.source()) {
        if (c == '"' || c == '\\') {
            source += '\\';
            source += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            source += ' ';
        } else {
            source += c;
        }
    }
    std::string out = "{\"format\": \"llmemu-output-length-model\", \"version\": 1, \"method\": \"nearest-prompts\", "
                      "\"k\": " +
                      std::to_string(m.k()) + ", \"source\": \"" + source + "\",\n \"prompt_len\": [";
    for (std::size_t i = 0; i < m.pairs().size(); ++i) out += (i ? "," : "") + std::to_string(m.pairs()[i].prompt_len);
    out += "],\n \"output_len\": [";
    for (std::size_t i = 0; i < m.pairs().size(); ++i) out += (i ? "," : "") + std::to_string(m.pairs()[i].output_len);
    out += "]}\n";
    return out;
}

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void length_model_fail(std::string_view name, const std::string& what) {
    throw_error<workload_error>("output-length model '" + std::string(name) + "': " + what);
}

inline std::vector<std::uint32_t> length_model_array(std::string_view name, simdjson::dom::object obj,
                                                     const char* key) {
    simdjson::dom::array arr;
    if (obj[key].get_array().get(arr) != simdjson::SUCCESS)
        length_model_fail(name, std::string("'") + key +
                                    "' is missing or not an array; a model file lists the training requests' " +
                                    "lengths (write one with `llmemu workload fit TRACE -o FILE`)");
    std::vector<std::uint32_t> out;
    out.reserve(arr.size());
    std::size_t i = 0;
    for (simdjson::dom::element e : arr) {
        std::uint64_t v = 0;
        if (e.get_uint64().get(v) != simdjson::SUCCESS || v == 0 || v > 0xFFFFFFFFULL)
            length_model_fail(name, std::string("'") + key + "'[" + std::to_string(i) + "] is " +
                                        simdjson::to_string(e).substr(0, 30) +
                                        "; lengths must be whole numbers of tokens from 1 to 4294967295");
        out.push_back(static_cast<std::uint32_t>(v));
        ++i;
    }
    return out;
}
} // namespace detail

/// Parses a model file's text; `name` names it in errors. Throws workload_error for invalid
/// JSON, another format or version, a missing or bad key, arrays of different sizes or
/// none, or k outside [1, requests].
[[nodiscard]] inline OutputLengthModel parse_output_length_model(std::string_view json, std::string_view name) {
    const simdjson::padded_string padded(json);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS)
        detail::length_model_fail(name, std::string("not valid JSON (") + simdjson::error_message(err) +
                                            "); write one with `llmemu workload fit TRACE -o FILE`");
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS)
        detail::length_model_fail(name, "the top level is not an object; write one with `llmemu workload fit`");
    std::string_view format;
    if (obj["format"].get_string().get(format) != simdjson::SUCCESS || format != "llmemu-output-length-model")
        detail::length_model_fail(name, "'format' must be \"llmemu-output-length-model\"; this is not a model file "
                                        "written by `llmemu workload fit`");
    std::uint64_t version = 0;
    if (obj["version"].get_uint64().get(version) != simdjson::SUCCESS || version != 1)
        detail::length_model_fail(name, "'version' must be 1 (the only version this llmemu reads); refit the model");
    std::string_view method;
    if (obj["method"].get_string().get(method) != simdjson::SUCCESS || method != "nearest-prompts")
        detail::length_model_fail(name, "'method' must be \"nearest-prompts\"; refit the model with this llmemu");
    std::uint64_t k = 0;
    if (obj["k"].get_uint64().get(k) != simdjson::SUCCESS || k == 0)
        detail::length_model_fail(name, "'k' must be a whole number >= 1 (the window of nearest prompts)");
    std::string_view source = name;
    if (simdjson::dom::element e;
        obj["source"].get(e) == simdjson::SUCCESS && e.get_string().get(source) != simdjson::SUCCESS)
        detail::length_model_fail(name, "'source' must be a string (the trace the model was fitted on)");
    const auto prompts = detail::length_model_array(name, obj, "prompt_len");
    const auto outputs = detail::length_model_array(name, obj, "output_len");
    if (prompts.size() != outputs.size())
        detail::length_model_fail(name, "'prompt_len' has " + std::to_string(prompts.size()) + " entries but " +
                                            "'output_len' has " + std::to_string(outputs.size()) +
                                            "; they must pair up, one per training request");
    if (prompts.empty()) detail::length_model_fail(name, "no training requests; refit on a non-empty trace");
    if (k > prompts.size())
        detail::length_model_fail(name, "'k' is " + std::to_string(k) + " but the model holds only " +
                                            std::to_string(prompts.size()) + " requests; use k <= that");
    std::vector<LengthPair> pairs;
    pairs.reserve(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) pairs.push_back({prompts[i], outputs[i]});
    return OutputLengthModel(std::move(pairs), static_cast<std::size_t>(k), std::string(source));
}

/// Reads a model file (see parse_output_length_model).
[[nodiscard]] inline OutputLengthModel read_output_length_model(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::throw_error<workload_error>("output-length model '" + path.string() +
                                            "': cannot open the file; check the path (write one with `llmemu "
                                            "workload fit TRACE -o FILE`)");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_output_length_model(ss.str(), path.string());
}

// ---------------------------------------------------------------------------------------
// EOS from the model

/// A TokenEmitter that ends each request at an output length drawn from an
/// OutputLengthModel given its prompt length; other tokens come from `Inner`. Stateless:
/// request `id`'s length is drawn from a stream seeded by (seed, id), so it is the same on
/// every step (no per-request state to forget) and the same per seed. Without a model it
/// is exactly `Inner` (no EOS of its own). EOS applies only where the engine honours it
/// (not with ignore_eos, not before min_tokens); max_tokens still ends a request earlier.
template <TokenEmitter Inner>
class OutputLengthEmitter {
public:
    explicit OutputLengthEmitter(Inner inner, std::shared_ptr<const OutputLengthModel> model = nullptr,
                                 std::uint64_t seed = 0, TokenId eos_id = 2)
        : m_inner(std::move(inner)), m_model(std::move(model)), m_seed(seed), m_eos(eos_id) {}

    /// Prompt length of a request as a step sees it: the tokens in the KV cache after the
    /// step, less the outputs produced so far.
    [[nodiscard]] static std::uint32_t prompt_len_of(const ScheduledRequest& r) noexcept {
        const std::uint64_t ctx = std::uint64_t{r.num_computed_tokens} + r.num_scheduled_tokens;
        return ctx > r.num_output_tokens ? static_cast<std::uint32_t>(ctx - r.num_output_tokens) : 1U;
    }
    /// The output length request `id` with a `prompt_len`-token prompt ends at.
    [[nodiscard]] std::uint32_t target(RequestId id, std::uint32_t prompt_len) const {
        Rng g(m_seed * 0x9E3779B97F4A7C15ULL ^ (id + 0xD1B54A32D192ED03ULL));
        return m_model->sample(prompt_len, g);
    }

    [[nodiscard]] EmittedToken emit(const ScheduledRequest& request, Rng& rng) {
        if (m_model && request.num_output_tokens + 1U >= target(request.id, prompt_len_of(request)))
            return EmittedToken{m_eos, true};
        EmittedToken t = m_inner.emit(request, rng);
        if (m_model) t.eos = false;
        return t;
    }

    [[nodiscard]] bool has_model() const noexcept { return m_model != nullptr; }
    [[nodiscard]] Inner& inner() noexcept { return m_inner; }

private:
    Inner m_inner;
    std::shared_ptr<const OutputLengthModel> m_model;
    std::uint64_t m_seed;
    TokenId m_eos;
};

LLMEMU_END_NAMESPACE
