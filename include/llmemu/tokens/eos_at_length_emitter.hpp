#pragma once
/// \file eos_at_length_emitter.hpp
/// EosAtLengthEmitter: ends each request at a target output length (set per request, or
/// drawn from a length sampler), so emulated runs reproduce a dataset's output lengths
/// through EOS rather than max_tokens.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/tokens/token_emitter.hpp"
#include "llmemu/tokens/uniform_vocab_emitter.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Reports EOS on a request's target-th output token (and on any later one, should the
/// host ignore EOS); other tokens come from the inner emitter.
///
/// A request's target is the one given to set_target(); a request without one gets a
/// target drawn from the length sampler on its first token (with the executor's token
/// stream, so runs are reproducible per seed); with neither, the request never sees EOS
/// (the host's max_tokens ends it). Targets are kept until forget() / clear(): a host
/// that runs indefinitely calls forget(id) when a request finishes.
///
/// Thread-safety: NOT thread-safe. emit() runs on the thread that dispatches steps, so
/// call set_target / forget / clear on that thread too (e.g. when the host admits and
/// retires requests), or guard the executor with the host's own lock.
template <TokenEmitter Inner = UniformVocabEmitter>
class BasicEosAtLengthEmitter {
public:
    /// Draws a target output length (>= 1) for a request.
    using LengthSampler = std::function<std::uint32_t(RequestId, Rng&)>;
    /// Llama-2's EOS id (</s>).
    static constexpr TokenId default_eos_id = 2;

    /// EOS id 2; other tokens uniform over 32000 ids excluding it; no sampler.
    BasicEosAtLengthEmitter() requires std::same_as<Inner, UniformVocabEmitter>
        : BasicEosAtLengthEmitter(default_eos_id,
                                  UniformVocabEmitter(UniformVocabEmitter::default_vocab_size, default_eos_id)) {}
    /// EOS is `eos_id`; other tokens come from `inner` (which should not itself emit eos_id).
    explicit BasicEosAtLengthEmitter(TokenId eos_id, Inner inner, LengthSampler sampler = {})
        : m_eos(eos_id), m_inner(std::move(inner)), m_sampler(std::move(sampler)) {}

    /// The request ends with its `output_len`-th token (>= 1; throws config_error for 0).
    void set_target(RequestId id, std::uint32_t output_len) {
        if (output_len == 0)
            detail::throw_error<config_error>("EosAtLengthEmitter: target output length 0 for request " +
                                              std::to_string(id) +
                                              "; a request emits at least one token, so give a length >= 1");
        m_targets[id] = output_len;
    }
    /// The request's target, if it has one yet.
    [[nodiscard]] std::optional<std::uint32_t> target(RequestId id) const {
        const auto it = m_targets.find(id);
        if (it == m_targets.end()) return std::nullopt;
        return it->second;
    }
    /// Forgets a finished request's target.
    void forget(RequestId id) { m_targets.erase(id); }
    /// Forgets every target.
    void clear() noexcept { m_targets.clear(); }
    /// Number of requests with a target.
    [[nodiscard]] std::size_t tracked() const noexcept { return m_targets.size(); }
    /// Replaces the length sampler (nullptr: none).
    void set_sampler(LengthSampler sampler) { m_sampler = std::move(sampler); }

    [[nodiscard]] EmittedToken emit(const ScheduledRequest& request, Rng& rng) {
        std::uint32_t target = 0;
        if (const auto it = m_targets.find(request.id); it != m_targets.end()) {
            target = it->second;
        } else if (m_sampler) {
            target = m_sampler(request.id, rng);
            if (target == 0)
                detail::throw_error<config_error>("EosAtLengthEmitter: the length sampler returned 0 for request " +
                                                  std::to_string(request.id) + "; output lengths must be >= 1");
            m_targets.emplace(request.id, target);
        }
        if (target != 0 && request.num_output_tokens + 1U >= target) return EmittedToken{m_eos, true};
        EmittedToken t = m_inner.emit(request, rng);
        t.eos = false;
        return t;
    }

    [[nodiscard]] TokenId eos_id() const noexcept { return m_eos; }
    [[nodiscard]] Inner& inner() noexcept { return m_inner; }

private:
    TokenId m_eos;
    Inner m_inner;
    LengthSampler m_sampler;
    std::unordered_map<RequestId, std::uint32_t> m_targets;
};

/// The common case: uniform tokens, EOS at the target length.
using EosAtLengthEmitter = BasicEosAtLengthEmitter<>;

static_assert(TokenEmitter<EosAtLengthEmitter>);

LLMEMU_END_NAMESPACE
