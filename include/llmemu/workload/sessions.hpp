#pragma once
/// \file sessions.hpp
/// Multi-turn sessions (conversations). A session's first turn is an ordinary request of a
/// workload; each later turn's prompt is the previous turn's prompt, then the previous
/// turn's output tokens, then the user's new tokens, so the KV of the whole history is
/// reusable by the prefix cache. Turn k + 1 is sent only after turn k finished and the user
/// thought for a while (a closed loop: see WorkloadSource, which learns of finishes).
///
/// SessionShape says how many turns a session has, how long users think and how many new
/// tokens each turn adds: fixed numbers (exponential think times) or empirical samples
/// fitted from a Mooncake trace whose requests keep turn order (fit_sessions).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/random.hpp"
#include "llmemu/workload/mooncake.hpp"
#include "llmemu/workload/prompt.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The shape of the sessions of a workload.
struct SessionShape {
    /// Turns per session (>= 1) when `turn_samples` is empty.
    std::uint32_t turns = 1;
    /// Mean think time between a turn's finish and the next turn's send, seconds (>= 0;
    /// exponential, 0 = at once) when `think_samples` is empty.
    double think_time_s = 0.0;
    /// New user tokens of each later turn (>= 1) when `new_token_samples` is empty.
    std::uint32_t new_tokens = 64;
    /// Empirical distributions (fit_sessions), drawn uniformly: turns per session, think
    /// times (s), new tokens per later turn.
    std::vector<std::uint32_t> turn_samples;
    std::vector<double> think_samples;
    std::vector<std::uint32_t> new_token_samples;
    /// Where the samples came from (for descriptions), empty for fixed numbers.
    std::string source;

    /// Throws workload_error for turns 0, a negative or non-finite think time, or new tokens 0.
    void validate() const {
        if (turn_samples.empty() && turns == 0)
            detail::throw_error<workload_error>("sessions: turns must be >= 1 (1 = single requests)");
        if (think_samples.empty() && (!(think_time_s >= 0.0) || !std::isfinite(think_time_s)))
            detail::throw_error<workload_error>("sessions: the think time must be a finite number of seconds >= 0");
        if (new_token_samples.empty() && new_tokens == 0)
            detail::throw_error<workload_error>("sessions: new tokens per turn must be >= 1");
    }
    [[nodiscard]] std::uint32_t draw_turns(Rng& rng) const {
        return turn_samples.empty() ? turns : turn_samples[uniform_index(rng, turn_samples.size())];
    }
    [[nodiscard]] double draw_think(Rng& rng) const {
        if (!think_samples.empty()) return think_samples[uniform_index(rng, think_samples.size())];
        return think_time_s > 0.0 ? exponential(rng, 1.0 / think_time_s) : 0.0;
    }
    [[nodiscard]] std::uint32_t draw_new_tokens(Rng& rng) const {
        return new_token_samples.empty() ? new_tokens : new_token_samples[uniform_index(rng, new_token_samples.size())];
    }
    /// Mean turns per session.
    [[nodiscard]] double mean_turns() const {
        if (turn_samples.empty()) return turns;
        return std::accumulate(turn_samples.begin(), turn_samples.end(), 0.0) /
               static_cast<double>(turn_samples.size());
    }
    /// "3 turns, think 30 s (exponential), 200 new tokens" or the fitted source.
    [[nodiscard]] std::string describe() const {
        if (!source.empty())
            return "sessions fitted from " + source + " (mean " + std::to_string(mean_turns()).substr(0, 4) + " turns)";
        char buf[160];
        std::snprintf(buf, sizeof buf, "%u turns, think %g s (exponential), %u new tokens per turn", turns,
                      think_time_s, new_tokens);
        return buf;
    }
};

/// What fit_sessions found in a trace.
struct SessionFit {
    SessionShape shape;
    std::size_t requests = 0;
    std::size_t sessions = 0;
    /// Requests that continue an earlier one (turn >= 2).
    std::size_t follow_ups = 0;
};

/// Fits a SessionShape from a Mooncake trace that keeps turn order: request j continues
/// request i (its previous turn) when i is the latest earlier request whose full 512-token
/// blocks all begin j's hash ids (j resends i's history). A session is a chain of such
/// turns; its turns, the arrival gaps between consecutive turns (think time plus the
/// previous turn's serving time, which the trace does not record: an upper bound on the
/// think time) and each later turn's tokens beyond the previous prompt and output (the
/// user's new tokens, at least 1) become the empirical samples.
/// Throws workload_error for an unreadable trace, a file that is not a Mooncake trace, or one
/// without requests.
[[nodiscard]] inline SessionFit fit_sessions(const std::filesystem::path& path) {
    if (!looks_like_mooncake_trace(path))
        detail::throw_error<workload_error>(
            "trace '" + path.string() +
            "': sessions are fitted from a Mooncake JSONL trace (its hash_ids show which request resends which); "
            "this file is not one (a CSV trace has no prompt contents)");
    const MooncakeTrace t = read_mooncake_trace(path);
    SessionFit fit;
    fit.requests = t.trace.requests.size();
    // Key of a block-id prefix (chained) -> the latest request whose full blocks end there.
    std::unordered_map<std::uint64_t, std::size_t> owner;
    std::vector<std::size_t> session_of(fit.requests);
    std::vector<std::uint32_t> turns;
    std::vector<std::uint64_t> ids;
    for (std::size_t j = 0; j < fit.requests; ++j) {
        const auto& r = t.trace.requests[j];
        // The block ids again (the segments' contents are a bijection of them).
        ids.clear();
        for (const auto& s : t.prompts[j]) ids.push_back(s.content);
        std::uint64_t key = 0x243F6A8885A308D3ULL;
        std::size_t parent = std::numeric_limits<std::size_t>::max();
        std::vector<std::uint64_t> keys;
        keys.reserve(ids.size());
        for (const std::uint64_t id : ids) {
            key = (key ^ (id + 0x9E3779B97F4A7C15ULL + (key << 6U) + (key >> 2U))) * 0xBF58476D1CE4E5B9ULL;
            keys.push_back(key);
        }
        for (std::size_t k = keys.size(); k-- > 0;) {
            const auto it = owner.find(keys[k]);
            if (it != owner.end()) {
                parent = it->second;
                break;
            }
        }
        if (parent != std::numeric_limits<std::size_t>::max()) {
            const auto& p = t.trace.requests[parent];
            fit.shape.think_samples.push_back(std::max(0.0, r.arrived_at - p.arrived_at));
            const std::uint64_t resent = std::uint64_t{p.prompt_len} + p.output_len;
            fit.shape.new_token_samples.push_back(
                r.prompt_len > resent ? static_cast<std::uint32_t>(r.prompt_len - resent) : 1U);
            session_of[j] = session_of[parent];
            ++turns[session_of[j]];
            ++fit.follow_ups;
        } else {
            session_of[j] = turns.size();
            turns.push_back(1);
        }
        // Register this request's full blocks as a prefix a later turn may resend.
        const std::size_t full = r.prompt_len / mooncake_block_tokens;
        if (full > 0) owner[keys[full - 1]] = j;
    }
    fit.sessions = turns.size();
    fit.shape.turn_samples = std::move(turns);
    fit.shape.source = path.filename().string();
    if (fit.shape.think_samples.empty()) { // no follow-up at all: single requests
        fit.shape.think_samples.push_back(0.0);
        fit.shape.new_token_samples.push_back(1);
    }
    return fit;
}

LLMEMU_END_NAMESPACE
