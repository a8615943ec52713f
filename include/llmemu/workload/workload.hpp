#pragma once
/// \file workload.hpp
/// Builds a whole workload (arrival time, lengths and, where prompts share prefixes, prompt
/// contents of every request) from a description: trace replay (CSV or Mooncake JSONL, told
/// apart by content), vLLM's random dataset, or lengths sampled from a trace with synthetic
/// arrivals. Deterministic for a seed.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/random.hpp"
#include "llmemu/workload/arrivals.hpp"
#include "llmemu/workload/datasets.hpp"
#include "llmemu/workload/length_model.hpp"
#include "llmemu/workload/lengths.hpp"
#include "llmemu/workload/mooncake.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/schedule.hpp"
#include "llmemu/workload/sessions.hpp"
#include "llmemu/workload/trace.hpp"

LLMEMU_BEGIN_NAMESPACE

/// No request (WorkloadRequest's session links).
inline constexpr std::size_t no_turn = static_cast<std::size_t>(-1);

/// One request of a workload, before it becomes an engine request.
struct WorkloadRequest {
    /// Send time, seconds from the start.
    double arrival_s = 0.0;
    std::uint32_t prompt_len = 0;
    /// Tokens the request generates (max_tokens with ignore_eos: exactly this many).
    std::uint32_t output_len = 0;
    /// The prompt's contents when it shares prefixes with other requests (segments summing
    /// to prompt_len); empty = a prompt unique to this request.
    PromptSegments prompt;
    /// The prompt's token ids when it comes from text (custom, sharegpt); empty otherwise.
    std::vector<TokenId> prompt_ids;
    /// Multi-turn sessions: the index of this request's previous turn (no_turn: it starts a
    /// session or is a single request) and of its next turn. A later turn's `prompt` is the
    /// previous turn's prompt, one segment for the previous turn's output (its output_len
    /// tokens; the engine's real output ids replace them when the turn is sent) and one for
    /// the user's new tokens; it is sent `think_s` after the previous turn finished, so its
    /// `arrival_s` is only the earliest possible time (every earlier turn served at once).
    std::size_t previous_turn = no_turn;
    std::size_t next_turn = no_turn;
    double think_s = 0.0;
};

/// A pool of shared prompt prefixes (system prompts): each request starts with one of
/// `prompts` prefixes of `tokens` tokens, prefix k drawn with probability proportional to
/// 1 / (k + 1)^zipf (0 = uniform).
struct PrefixPool {
    std::uint32_t prompts = 0;
    std::uint32_t tokens = 0;
    double zipf = 0.0;
};

/// Where the requests come from.
enum class WorkloadKind {
    /// Replay a trace (CSV, or Mooncake JSONL with its prompt reuse): its arrival times
    /// (optionally rescaled) and exact lengths.
    trace,
    /// vLLM's random dataset: UniformLengths(input_len, output_len, range_ratio).
    random,
    /// Lengths drawn from a trace (joint empirical distribution), synthetic arrivals.
    empirical,
    /// vLLM's prefix_repetition: num_prefixes shared prefixes, each with its own suffixes.
    prefix_repetition,
    /// vLLM's custom dataset: JSONL prompts (dataset_path), output custom_output_len.
    custom,
    /// vLLM's sharegpt dataset: conversations JSON (dataset_path).
    sharegpt,
};

/// "trace", "random", "empirical", "prefix_repetition", "custom", "sharegpt".
[[nodiscard]] inline const char* to_string(WorkloadKind k) noexcept {
    switch (k) {
    case WorkloadKind::trace:
        return "trace";
    case WorkloadKind::random:
        return "random";
    case WorkloadKind::empirical:
        return "empirical";
    case WorkloadKind::prefix_repetition:
        return "prefix_repetition";
    case WorkloadKind::custom:
        return "custom";
    case WorkloadKind::sharegpt:
        return "sharegpt";
    }
    return "trace";
}

/// A workload description (what the command line's workload flags fill in).
struct WorkloadSpec {
    WorkloadKind kind = WorkloadKind::trace;
    /// Trace file, CSV or Mooncake JSONL (trace and empirical kinds).
    std::filesystem::path trace_path;
    /// Requests: trace kind: the first N (0 = all); random/empirical: how many (0 = 1000, vLLM's default).
    std::size_t num_prompts = 0;
    std::uint32_t input_len = 1024;
    std::uint32_t output_len = 128;
    double range_ratio = 0.0;
    /// Trace kind: rescale the trace to this mean rate (empty = keep its own timing).
    /// Random/empirical: the arrival rate (empty = inf, everything at t = 0).
    std::optional<double> request_rate;
    double burstiness = 1.0;
    std::uint64_t seed = 0;
    /// random: tokens of one prefix every prompt starts with (vLLM's --random-prefix-len).
    std::uint32_t random_prefix_len = 0;
    /// prefix_repetition (vLLM's --prefix-repetition-* flags).
    std::uint32_t prefix_len = 256;
    std::uint32_t suffix_len = 256;
    std::uint32_t num_prefixes = 10;
    std::uint32_t prefix_output_len = 128;
    /// custom / sharegpt: the dataset file (vLLM's --dataset-path).
    std::filesystem::path dataset_path;
    /// custom: every output length (vLLM's --custom-output-len).
    std::uint32_t custom_output_len = 256;
    /// sharegpt: every output length; 0 = each completion's token count (vLLM's default).
    std::uint32_t sharegpt_output_len = 0;
    /// vLLM's --ramp-up-strategy: synthetic arrivals at a rate growing over the requests.
    std::optional<RampUp> ramp_up;
    /// A rate schedule (a time,rate CSV path or diurnal:MEAN[,AMPLITUDE[,PERIOD_S]]):
    /// synthetic arrivals follow it; a trace's arrival times are mapped onto it.
    std::string rate_schedule;
    /// An output-length model file (`llmemu workload fit`): random/empirical kinds draw each
    /// output length from it given the prompt length (empty = their own output lengths).
    std::filesystem::path output_lengths;
    /// Synthetic kinds: every request starts with a prefix from this pool (prompts 0 = none).
    PrefixPool prefix_pool;
    /// Synthetic kinds: each request is the first turn of a session of this shape (its
    /// later turns follow it; num_prompts and the arrival process count sessions).
    std::optional<SessionShape> sessions;
    /// Trace kind: the trace replayed `repeat` times back to back, and `copies` interleaved
    /// copies of that (copies x its rate); each copy's Mooncake block ids are its own.
    std::uint32_t repeat = 1;
    std::uint32_t copies = 1;
};

/// A built workload, with a one-line description for summaries.
struct Workload {
    std::vector<WorkloadRequest> requests;
    std::string description;
};

namespace detail {
/// A segment content unique to (seed, tag, index).
[[nodiscard]] inline std::uint64_t workload_content(std::uint64_t seed, std::uint64_t tag,
                                                    std::uint64_t index) noexcept {
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL ^ tag ^ (index * 0xD1B54A32D192ED03ULL);
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31U);
}
inline std::string workload_fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}
} // namespace detail

namespace detail {
/// Where each request of `order` goes: the links of `requests` follow a permutation.
inline void permute_requests(std::vector<WorkloadRequest>& requests, const std::vector<std::size_t>& order) {
    std::vector<std::size_t> where(order.size());
    for (std::size_t k = 0; k < order.size(); ++k) where[order[k]] = k;
    std::vector<WorkloadRequest> out;
    out.reserve(requests.size());
    for (const std::size_t i : order) {
        WorkloadRequest r = std::move(requests[i]);
        if (r.previous_turn != no_turn) r.previous_turn = where[r.previous_turn];
        if (r.next_turn != no_turn) r.next_turn = where[r.next_turn];
        out.push_back(std::move(r));
    }
    requests = std::move(out);
}
} // namespace detail

/// Stably sorts the requests of `w` by arrival_s, keeping the session links.
inline void sort_by_arrival(Workload& w) {
    std::vector<std::size_t> order(w.requests.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&w](std::size_t a, std::size_t b) { return w.requests[a].arrival_s < w.requests[b].arrival_s; });
    detail::permute_requests(w.requests, order);
}

/// Adds the requests of `other` to `into` (their session links shifted) and sorts all by
/// arrival (stable: `into`'s requests first at equal times).
inline void merge_workload(Workload& into, Workload&& other) {
    const std::size_t base = into.requests.size();
    into.requests.reserve(base + other.requests.size());
    for (auto& r : other.requests) {
        if (r.previous_turn != no_turn) r.previous_turn += base;
        if (r.next_turn != no_turn) r.next_turn += base;
        into.requests.push_back(std::move(r));
    }
    sort_by_arrival(into);
}

/// Whether any request belongs to a multi-turn session.
[[nodiscard]] inline bool has_sessions(const Workload& w) noexcept {
    for (const auto& r : w.requests)
        if (r.next_turn != no_turn) return true;
    return false;
}

/// Makes every request of `w` start with a prefix of `pool` (drawn with `rng`); a request
/// without shared content first gets a segment of its own. No-op for an empty pool.
inline void apply_prefix_pool(Workload& w, const PrefixPool& pool, std::uint64_t seed, Rng& rng) {
    if (pool.prompts == 0 && pool.tokens == 0) return;
    if (pool.prompts == 0 || pool.tokens == 0 || !(pool.zipf >= 0.0) || !std::isfinite(pool.zipf))
        detail::throw_error<workload_error>(
            "prefix pool: give prompts >= 1 and tokens >= 1 (and a zipf exponent >= 0, 0 = uniform)");
    std::vector<double> cum(pool.prompts);
    double sum = 0.0;
    for (std::uint32_t k = 0; k < pool.prompts; ++k) cum[k] = sum += std::pow(static_cast<double>(k) + 1.0, -pool.zipf);
    for (std::size_t i = 0; i < w.requests.size(); ++i) {
        WorkloadRequest& r = w.requests[i];
        const double u = uniform01(rng) * sum;
        const auto k = static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        const PromptSegment prefix{
            detail::workload_content(seed, 0x504F4F4C00000000ULL, std::min<std::size_t>(k, pool.prompts - 1)),
            pool.tokens};
        if (std::uint64_t{r.prompt_len} + pool.tokens > 0xFFFFFFFFULL)
            detail::throw_error<workload_error>("prefix pool: a prompt would exceed 4294967295 tokens");
        if (!r.prompt_ids.empty()) {
            std::vector<TokenId> ids = prompt_tokens(PromptSegments{prefix});
            ids.insert(ids.end(), r.prompt_ids.begin(), r.prompt_ids.end());
            r.prompt_ids = std::move(ids);
        } else {
            if (r.prompt.empty()) r.prompt = {{detail::workload_content(seed, 0x554E495155450000ULL, i), r.prompt_len}};
            r.prompt.insert(r.prompt.begin(), prefix);
        }
        r.prompt_len += pool.tokens;
    }
}

/// Turns every request of `w` into the first turn of a session of `shape` (drawn with
/// `rng`): turn k + 1's prompt is turn k's prompt, a segment for turn k's output and the
/// user's new tokens; its output length is `output_for(prompt length)`. Requests end up
/// sorted by their earliest arrival (turns in order). Throws workload_error for a bad shape,
/// a request given as text token ids, or a prompt past 4294967295 tokens.
inline void expand_sessions(Workload& w, const SessionShape& shape, std::uint64_t seed, Rng& rng,
                            const std::function<std::uint32_t(std::uint32_t)>& output_for) {
    shape.validate();
    std::vector<WorkloadRequest> out;
    out.reserve(static_cast<std::size_t>(static_cast<double>(w.requests.size()) * shape.mean_turns()) + 1);
    for (auto& first : w.requests) {
        if (!first.prompt_ids.empty())
            detail::throw_error<workload_error>(
                "sessions: the first turns come from text token ids (custom/sharegpt), which sessions do not extend; "
                "use the random, empirical or prefix_repetition dataset");
        if (first.prompt.empty())
            first.prompt = {{detail::workload_content(seed, 0x5345535300000000ULL, out.size()), first.prompt_len}};
        const std::uint32_t turns = shape.draw_turns(rng);
        std::size_t prev = out.size();
        out.push_back(std::move(first));
        for (std::uint32_t k = 1; k < turns; ++k) {
            const double think = shape.draw_think(rng);
            const std::uint32_t fresh = shape.draw_new_tokens(rng);
            WorkloadRequest t;
            {
                const WorkloadRequest& p = out[prev];
                const std::uint64_t len = std::uint64_t{p.prompt_len} + p.output_len + fresh;
                if (len > 0xFFFFFFFFULL)
                    detail::throw_error<workload_error>("sessions: turn " + std::to_string(k + 1) +
                                                        " would exceed 4294967295 prompt tokens; use fewer turns");
                t.prompt = p.prompt;
                t.prompt.push_back({detail::workload_content(seed, 0x534F555400000000ULL, out.size()), p.output_len});
                t.prompt.push_back({detail::workload_content(seed, 0x534E455700000000ULL, out.size()), fresh});
                t.prompt_len = static_cast<std::uint32_t>(len);
                t.arrival_s = p.arrival_s + think;
            }
            t.output_len = output_for(t.prompt_len);
            t.think_s = think;
            t.previous_turn = prev;
            out[prev].next_turn = out.size();
            prev = out.size();
            out.push_back(std::move(t));
        }
    }
    w.requests = std::move(out);
    sort_by_arrival(w);
}

/// The trace kind's `repeat` and `copies`: the requests replayed `repeat` times back to back
/// (each replay starts one mean gap after the previous one's last arrival) and `copies`
/// interleaved copies of that (copy c shifted by c / copies of a mean gap); every replay and
/// copy but the first gets Mooncake contents of its own (other users, same shape).
inline void repeat_trace(Workload& w, std::uint32_t repeat, std::uint32_t copies) {
    if (repeat == 0 || copies == 0)
        detail::throw_error<workload_error>("trace: repeat and copies must be >= 1 (1 = the trace once)");
    if (repeat == 1 && copies == 1) return;
    const std::size_t n = w.requests.size();
    if (n == 0) return;
    const double first = w.requests.front().arrival_s;
    const double last = w.requests.back().arrival_s;
    const double gap = n > 1 ? (last - first) / static_cast<double>(n - 1) : 1.0;
    const double period = last - first + gap;
    std::vector<WorkloadRequest> out;
    out.reserve(n * repeat * copies);
    for (std::uint32_t rep = 0; rep < repeat; ++rep)
        for (std::size_t i = 0; i < n; ++i)
            for (std::uint32_t c = 0; c < copies; ++c) {
                WorkloadRequest r = w.requests[i];
                r.arrival_s += rep * period + gap * c / copies;
                const std::uint64_t k = std::uint64_t{rep} * copies + c;
                if (k != 0)
                    for (auto& seg : r.prompt)
                        seg.content = detail::workload_content(seg.content, 0x5245504541540000ULL, k);
                out.push_back(std::move(r));
            }
    w.requests = std::move(out);
    sort_by_arrival(w); // copies can overlap where the trace's own gaps are uneven
}

/// Reads a trace file of either format, told apart by its content (looks_like_mooncake_trace):
/// a Mooncake JSONL trace (its arrivals and lengths; its prompt reuse is dropped, see
/// read_mooncake_trace for it) or a CSV trace (read_trace_csv).
inline Trace read_any_trace(const std::filesystem::path& path, bool require_arrivals = false) {
    if (looks_like_mooncake_trace(path)) return read_mooncake_trace(path).trace;
    return read_trace_csv(path, require_arrivals);
}

/// Whether any request's prompt shares content with others (so prefix reuse is possible).
[[nodiscard]] inline bool has_shared_prompts(const Workload& w) noexcept {
    for (const auto& r : w.requests)
        if (!r.prompt.empty() || !r.prompt_ids.empty()) return true;
    return false;
}

namespace detail {
/// build_workload; with `replays` false the trace kind's requests are the trace once (its
/// description still names the repeat and copies, which a WorkloadStream makes on the fly).
inline Workload build_workload(const WorkloadSpec& spec, bool replays);
} // namespace detail

/// Builds the workload `spec` describes. Throws workload_error for a bad trace file or bad
/// parameters (rate <= 0, burstiness <= 0, range ratio outside [0, 1), zero lengths).
inline Workload build_workload(const WorkloadSpec& spec) {
    return detail::build_workload(spec, true);
}

inline Workload detail::build_workload(const WorkloadSpec& spec, bool replays) {
    Workload w;
    Rng root(spec.seed);
    Rng length_rng = root.split();
    Rng arrival_rng = root.split();
    Rng session_rng = root.split();
    Rng pool_rng = root.split();
    /// A later session turn's output length given its prompt length (set by each synthetic kind).
    std::function<std::uint32_t(std::uint32_t)> turn_output;
    const std::size_t n_synthetic = spec.num_prompts == 0 ? 1000 : spec.num_prompts;
    ArrivalProcess process;
    if (spec.request_rate) process.request_rate = *spec.request_rate;
    process.burstiness = spec.burstiness;

    std::optional<OutputLengthModel> out_model;
    if (!spec.output_lengths.empty()) {
        if (spec.kind == WorkloadKind::trace)
            detail::throw_error<workload_error>(
                "trace '" + spec.trace_path.string() +
                "' is replayed with its own output lengths, so an output-length model would be ignored; drop it or "
                "draw synthetic requests (dataset random or empirical)");
        out_model.emplace(read_output_length_model(spec.output_lengths));
    }
    auto draw_output = [&](LengthPair& p) {
        if (out_model) p.output_len = out_model->sample(p.prompt_len, length_rng);
    };
    const std::string out_note =
        out_model ? ", output lengths from " + spec.output_lengths.filename().string() : std::string();

    if (spec.ramp_up && !spec.rate_schedule.empty())
        detail::throw_error<workload_error>("a ramp-up and a rate schedule both set the rate over time; give one");
    if ((spec.ramp_up || !spec.rate_schedule.empty()) && spec.request_rate && !std::isinf(*spec.request_rate))
        detail::throw_error<workload_error>(
            std::string(spec.ramp_up ? "a ramp-up" : "a rate schedule") +
            " sets the rate over time, so a fixed request rate " + detail::workload_fmt(*spec.request_rate) +
            " contradicts it (vLLM refuses --ramp-up-strategy with a request rate too); drop one");
    std::optional<RateSchedule> schedule;
    if (!spec.rate_schedule.empty()) schedule.emplace(parse_rate_schedule(spec.rate_schedule));
    auto synthetic_times = [&](std::size_t n) {
        if (spec.ramp_up) return ramp_up_arrival_times(n, *spec.ramp_up, spec.burstiness, arrival_rng);
        if (schedule) return schedule_arrival_times(n, *schedule, spec.burstiness, arrival_rng);
        return arrival_times(n, process, arrival_rng);
    };

    if (spec.kind != WorkloadKind::trace && (spec.repeat != 1 || spec.copies != 1))
        detail::throw_error<workload_error>(
            "repeat and copies replay a trace; drop them or replay a trace (dataset trace)");
    const bool text_kind = spec.kind == WorkloadKind::custom || spec.kind == WorkloadKind::sharegpt;
    if (spec.sessions && text_kind)
        detail::throw_error<workload_error>(
            std::string("sessions extend prompts by segments, which the ") + to_string(spec.kind) +
            " dataset's text prompts do not have; use the random, empirical or prefix_repetition dataset");
    switch (spec.kind) {
    case WorkloadKind::trace: {
        if (spec.sessions)
            detail::throw_error<workload_error>(
                "trace '" + spec.trace_path.string() +
                "' is replayed as recorded (a Mooncake trace keeps its own turns); sessions shape synthetic requests "
                "(dataset random, empirical or prefix_repetition)");
        if (spec.prefix_pool.prompts != 0 || spec.prefix_pool.tokens != 0)
            detail::throw_error<workload_error>("trace '" + spec.trace_path.string() +
                                                "' is replayed with its own prompts; a prefix pool shapes synthetic "
                                                "requests (dataset random, empirical or prefix_repetition)");
        if (spec.ramp_up)
            detail::throw_error<workload_error>("trace '" + spec.trace_path.string() +
                                                "' is replayed with its own arrival times; a ramp-up shapes synthetic "
                                                "arrivals (use a rate schedule to reshape a trace's rate)");
        const bool mooncake = looks_like_mooncake_trace(spec.trace_path);
        MooncakeTrace mt;
        if (mooncake) mt = read_mooncake_trace(spec.trace_path, spec.num_prompts);
        Trace trace = mooncake ? std::move(mt.trace) : read_trace_csv(spec.trace_path, /*require_arrivals=*/true);
        take_first(trace, spec.num_prompts);
        if (spec.request_rate && !std::isinf(*spec.request_rate))
            rescale_to_rate(trace, *spec.request_rate);
        else if (spec.request_rate) // inf: keep the lengths, send everything at once
            for (auto& r : trace.requests) r.arrived_at = 0.0;
        if (schedule) { // keep order and bursts, follow the schedule's rate
            std::vector<double> times;
            times.reserve(trace.requests.size());
            for (const auto& r : trace.requests) times.push_back(r.arrived_at);
            apply_schedule(times, *schedule);
            for (std::size_t i = 0; i < times.size(); ++i) trace.requests[i].arrived_at = times[i];
        }
        w.requests.reserve(trace.requests.size());
        for (std::size_t i = 0; i < trace.requests.size(); ++i) {
            const auto& r = trace.requests[i];
            w.requests.push_back(
                {r.arrived_at, r.prompt_len, r.output_len, mooncake ? std::move(mt.prompts[i]) : PromptSegments{}, {}});
        }
        const std::size_t once = w.requests.size();
        if (replays)
            repeat_trace(w, spec.repeat, spec.copies);
        else if (spec.repeat == 0 || spec.copies == 0)
            repeat_trace(w, spec.repeat, spec.copies); // its error
        w.description = (mooncake ? "Mooncake trace " : "trace ") + spec.trace_path.filename().string() + " (" +
                        std::to_string(once) + " requests" + (mooncake ? ", its prefix reuse" : "") +
                        (spec.repeat != 1 ? ", replayed " + std::to_string(spec.repeat) + " times back to back" : "") +
                        (spec.copies != 1 ? ", " + std::to_string(spec.copies) + " interleaved copies" : "") +
                        (schedule            ? ", times mapped onto the rate schedule " + spec.rate_schedule
                         : spec.request_rate ? ", rescaled to " + detail::workload_fmt(*spec.request_rate) + " req/s"
                                             : ", its own arrival times") +
                        ")";
        return w;
    }
    case WorkloadKind::random: {
        process.validate();
        const UniformLengths lengths(spec.input_len, spec.output_len, spec.range_ratio);
        turn_output = [lengths, &length_rng, &draw_output](std::uint32_t prompt) {
            LengthPair p = lengths.sample(length_rng);
            p.prompt_len = prompt;
            draw_output(p);
            return p.output_len;
        };
        const auto times = synthetic_times(n_synthetic);
        w.requests.reserve(n_synthetic);
        const std::uint64_t prefix = detail::workload_content(spec.seed, 0x5052454649580000ULL, 0);
        for (std::size_t i = 0; i < n_synthetic; ++i) {
            LengthPair p = lengths.sample(length_rng);
            draw_output(p);
            WorkloadRequest r{times[i], p.prompt_len, p.output_len, {}, {}};
            if (spec.random_prefix_len > 0) { // vLLM: one shared prefix, then the drawn length
                r.prompt_len = spec.random_prefix_len + p.prompt_len;
                r.prompt = {{prefix, spec.random_prefix_len},
                            {detail::workload_content(spec.seed, 0x52414E444F4D0000ULL, i), p.prompt_len}};
            }
            w.requests.push_back(std::move(r));
        }
        w.description = "random dataset (" + std::to_string(n_synthetic) + " prompts, input " +
                        (spec.random_prefix_len > 0 ? std::to_string(spec.random_prefix_len) + " shared + " : "") +
                        std::to_string(spec.input_len) +
                        (out_model ? std::string() : ", output " + std::to_string(spec.output_len)) + ", range ratio " +
                        detail::workload_fmt(spec.range_ratio) + out_note + ")";
        break;
    }
    case WorkloadKind::prefix_repetition: {
        process.validate();
        if (spec.num_prefixes == 0 || spec.prefix_len == 0 || spec.suffix_len == 0 || spec.prefix_output_len == 0)
            detail::throw_error<workload_error>(
                "prefix_repetition: --prefix-repetition-num-prefixes, -prefix-len, -suffix-len and -output-len must "
                "all be >= 1");
        const std::size_t per = n_synthetic / spec.num_prefixes;
        if (per == 0)
            detail::throw_error<workload_error>("prefix_repetition: num_prompts (" + std::to_string(n_synthetic) +
                                                ") must be greater than or equal to num_prefixes (" +
                                                std::to_string(spec.num_prefixes) +
                                                "); raise --num-prompts or lower --prefix-repetition-num-prefixes");
        turn_output = [&spec, &draw_output](std::uint32_t prompt) {
            LengthPair p{prompt, spec.prefix_output_len};
            draw_output(p);
            return p.output_len;
        };
        for (std::uint32_t k = 0; k < spec.num_prefixes; ++k) {
            const std::uint64_t prefix = detail::workload_content(spec.seed, 0x5052455049580000ULL, k);
            for (std::size_t j = 0; j < per; ++j) {
                LengthPair p{spec.prefix_len + spec.suffix_len, spec.prefix_output_len};
                draw_output(p);
                const std::size_t i = std::size_t{k} * per + j;
                w.requests.push_back(
                    {0.0,
                     p.prompt_len,
                     p.output_len,
                     PromptSegments{{prefix, spec.prefix_len},
                                    {detail::workload_content(spec.seed, 0x5355464649580000ULL, i), spec.suffix_len}},
                     {}});
            }
        }
        shuffle_in_place(w.requests, length_rng); // vLLM shuffles the requests
        const auto times = synthetic_times(w.requests.size());
        for (std::size_t i = 0; i < w.requests.size(); ++i) w.requests[i].arrival_s = times[i];
        w.description =
            "prefix_repetition dataset (" + std::to_string(w.requests.size()) +
            " prompts: " + std::to_string(spec.num_prefixes) + " prefixes of " + std::to_string(spec.prefix_len) +
            " tokens x " + std::to_string(per) + " suffixes of " + std::to_string(spec.suffix_len) +
            (out_model ? std::string() : ", output " + std::to_string(spec.prefix_output_len)) + out_note + ")";
        break;
    }
    case WorkloadKind::custom:
    case WorkloadKind::sharegpt: {
        process.validate();
        const bool custom = spec.kind == WorkloadKind::custom;
        if (spec.dataset_path.empty())
            detail::throw_error<workload_error>(std::string(to_string(spec.kind)) +
                                                " dataset: no file; give --dataset-path FILE");
        std::vector<TextPrompt> all =
            custom ? read_custom_dataset(spec.dataset_path) : read_sharegpt_dataset(spec.dataset_path);
        shuffle_in_place(all, length_rng); // vLLM shuffles with the seed
        const bool fixed = custom || spec.sharegpt_output_len != 0;
        std::vector<std::size_t> usable;
        for (std::size_t i = 0; i < all.size() && usable.size() < n_synthetic; ++i) {
            const auto len = static_cast<std::uint32_t>(all[i].prompt_ids.size());
            const std::uint32_t out = spec.sharegpt_output_len != 0 ? spec.sharegpt_output_len : all[i].completion_len;
            if (custom || sharegpt_valid(len, out, fixed)) usable.push_back(i);
        }
        if (usable.empty())
            detail::throw_error<workload_error>(
                "sharegpt dataset '" + spec.dataset_path.string() +
                "': no entry passes vLLM's filter (prompt 4..1024 tokens, output >= 4, prompt + output <= 2048)");
        const std::size_t distinct = usable.size();
        while (usable.size() < n_synthetic) usable.push_back(usable[uniform_index(length_rng, distinct)]); // oversample
        const auto times = synthetic_times(n_synthetic);
        for (std::size_t i = 0; i < n_synthetic; ++i) {
            const TextPrompt& t = all[usable[i]];
            LengthPair p{static_cast<std::uint32_t>(t.prompt_ids.size()), custom ? spec.custom_output_len
                                                                          : spec.sharegpt_output_len != 0
                                                                              ? spec.sharegpt_output_len
                                                                              : t.completion_len};
            draw_output(p);
            w.requests.push_back({times[i], p.prompt_len, p.output_len, {}, t.prompt_ids});
        }
        w.description = std::string(to_string(spec.kind)) + " dataset " + spec.dataset_path.filename().string() + " (" +
                        std::to_string(n_synthetic) + " prompts, " + std::to_string(distinct) + " distinct" +
                        (out_model                       ? std::string()
                         : custom                        ? ", output " + std::to_string(spec.custom_output_len)
                         : spec.sharegpt_output_len != 0 ? ", output " + std::to_string(spec.sharegpt_output_len)
                                                         : ", output = each completion's tokens") +
                        out_note + ")";
        break;
    }
    case WorkloadKind::empirical: {
        process.validate();
        const Trace trace = read_any_trace(spec.trace_path, /*require_arrivals=*/false);
        const auto lengths = std::make_shared<const EmpiricalLengths>(trace.lengths(), trace.source);
        turn_output = [lengths, &length_rng, &draw_output](std::uint32_t prompt) {
            LengthPair p = lengths->sample(length_rng);
            p.prompt_len = prompt;
            draw_output(p);
            return p.output_len;
        };
        const auto times = synthetic_times(n_synthetic);
        w.requests.reserve(n_synthetic);
        for (std::size_t i = 0; i < n_synthetic; ++i) {
            LengthPair p = lengths->sample(length_rng);
            draw_output(p);
            w.requests.push_back({times[i], p.prompt_len, p.output_len, {}, {}});
        }
        w.description = "lengths from " + spec.trace_path.filename().string() + " (" + std::to_string(n_synthetic) +
                        " prompts" + out_note + ")";
        break;
    }
    }
    if (spec.prefix_pool.prompts != 0 || spec.prefix_pool.tokens != 0) {
        apply_prefix_pool(w, spec.prefix_pool, spec.seed, pool_rng);
        w.description += ", every prompt after one of " + std::to_string(spec.prefix_pool.prompts) +
                         " shared prefixes of " + std::to_string(spec.prefix_pool.tokens) + " tokens";
        if (spec.prefix_pool.zipf > 0.0) w.description += " (Zipf " + detail::workload_fmt(spec.prefix_pool.zipf) + ")";
    }
    if (spec.sessions) {
        const std::size_t sessions = w.requests.size();
        expand_sessions(w, *spec.sessions, spec.seed, session_rng, turn_output);
        w.description += ", " + std::to_string(sessions) + " sessions (" + spec.sessions->describe() + "; " +
                         std::to_string(w.requests.size()) + " requests; arrivals start sessions)";
    }
    if (spec.ramp_up) {
        w.description +=
            std::string(", ramp-up ") + (spec.ramp_up->strategy == RampUpStrategy::linear ? "linear" : "exponential") +
            " from " + detail::workload_fmt(spec.ramp_up->start_rps) + " to " +
            detail::workload_fmt(spec.ramp_up->end_rps) + " req/s, burstiness " + detail::workload_fmt(spec.burstiness);
        return w;
    }
    if (schedule) {
        w.description +=
            ", rate schedule " + spec.rate_schedule + ", burstiness " + detail::workload_fmt(spec.burstiness);
        return w;
    }
    w.description += process.is_instant() ? std::string(", all sent at t=0")
                                          : ", " + detail::workload_fmt(process.request_rate) + " req/s, burstiness " +
                                                detail::workload_fmt(process.burstiness) +
                                                (process.burstiness == 1.0 ? " (Poisson)" : " (Gamma)");
    return w;
}

LLMEMU_END_NAMESPACE
