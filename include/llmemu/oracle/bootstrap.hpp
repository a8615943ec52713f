#pragma once
/// \file bootstrap.hpp
/// Bootstrap resampling of a profile pack (every bucket's samples drawn with replacement)
/// and of the pack-backed latency models built on it, so that runs over several resamples
/// carry the profile's sampling uncertainty (`simulate --replicates K --bootstrap-profile`).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A bootstrap resample of `store`: the same tables, bucket keys and per-bucket sample
/// counts, each bucket's samples drawn with replacement from its own samples. Metadata
/// (model config, GPU label, extra fields) is kept. Deterministic in `seed` (tables in pack
/// order, buckets in key order); the stream is derived from `seed` so it differs from the
/// engine's Rng(seed).
[[nodiscard]] inline ProfileStore bootstrap_resample(const ProfileStore& store, std::uint64_t seed) {
    Rng rng(seed ^ 0xB007'57A9'0F11'E5EDULL);
    ProfileStore out = store;
    for (TableKind k : all_table_kinds) {
        const ProfileTable* t = store.table(k);
        if (t == nullptr) continue;
        std::vector<BucketKey> keys;
        std::vector<std::uint32_t> counts;
        std::vector<float> samples;
        keys.reserve(t->size());
        counts.reserve(t->size());
        samples.reserve(t->num_samples());
        for (std::size_t i = 0; i < t->size(); ++i) {
            const auto s = t->samples(i);
            keys.push_back(t->key(i));
            counts.push_back(t->count(i));
            for (std::size_t j = 0; j < s.size(); ++j) samples.push_back(s[uniform_index(rng, s.size())]);
        }
        out.set_table(k, ProfileTable(store.bucketing(), std::move(keys), std::move(counts), std::move(samples)));
    }
    return out;
}

/// True when `model` is a pack oracle (with or without a learned fallback), i.e. when
/// bootstrap_model() can resample it.
[[nodiscard]] inline bool bootstrappable(const AnyLatencyModel& model) noexcept {
    return model.target<AnyLatencyModel::Oracle>() != nullptr ||
           model.target<OracleWithFallback<AnyLatencyModel::Oracle>>() != nullptr;
}

/// The same latency model over bootstrap_resample(model's pack, seed): a pack oracle keeps
/// its options; an oracle with a learned fallback keeps the fallback model (trained once,
/// not resampled) and its scope. Throws config_error for models without a pack
/// (const:/affine:, layer-wise, learned, custom).
[[nodiscard]] inline AnyLatencyModel bootstrap_model(const AnyLatencyModel& model, std::uint64_t seed) {
    using Oracle = AnyLatencyModel::Oracle;
    if (const auto* o = model.target<Oracle>())
        return AnyLatencyModel(
            Oracle(std::make_shared<const ProfileStore>(bootstrap_resample(o->store(), seed)), o->options()));
    if (const auto* f = model.target<OracleWithFallback<Oracle>>())
        return AnyLatencyModel(OracleWithFallback<Oracle>(
            Oracle(std::make_shared<const ProfileStore>(bootstrap_resample(f->store(), seed)), f->oracle().options()),
            f->learned(), f->scope()));
    detail::throw_error<config_error>("bootstrap resampling needs a profile pack, but the latency model is " +
                                      model.describe() +
                                      "; give --profile PACK.json (an LLM-Emu pack) or drop the bootstrap");
}

LLMEMU_END_NAMESPACE
