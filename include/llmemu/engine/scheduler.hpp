#pragma once
/// \file scheduler.hpp
/// The reference engine's scheduler: vLLM v1's rules as pure logic (no clock, no
/// executor). Each schedule() fills a StepBatch under a token budget
/// (max_num_batched_tokens) and a sequence cap (max_num_seqs): running requests first in
/// admission order (chunked prefill, long_prefill_token_threshold, max_model_len,
/// preemption by recompute when KV blocks run out: FCFS preempts the last running
/// request, priority the largest (priority, arrival); the victim goes to the FRONT of the
/// waiting queue and later recomputes its prompt and the tokens it had generated), then,
/// only when nobody was preempted, waiting requests in strict order (prefix-cache lookup
/// on admission; the first one whose KV allocation fails ends the step's admissions; a
/// resumed request is not "new": it is one of vLLM's cached requests).
/// update_from_output() appends sampled tokens, applies the stop conditions (max_tokens,
/// max_model_len, EOS unless ignore_eos or fewer than min_tokens) and frees finished
/// requests' blocks. With async scheduling a request in flight holds an output
/// placeholder, so it is scheduled again before its token is known (vLLM's
/// AsyncScheduler).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/detail/engine_slots.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/kv_cache.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Where a request is in its life.
enum class RequestStatus : std::uint8_t { waiting, running, preempted, finished };

/// One scheduled step: the batch handed to the executor, plus the engine's handle of each
/// scheduled request (same order as batch.requests).
struct ScheduledStep {
    StepBatch batch;
    /// slot | generation << 32 of each entry of batch.requests.
    std::vector<std::uint64_t> handles;
    /// When it was scheduled (since the run's origin).
    std::chrono::nanoseconds scheduled_at{0};

    void clear() noexcept {
        batch.requests.clear();
        handles.clear();
    }
    [[nodiscard]] bool empty() const noexcept { return batch.requests.empty(); }
};

/// The output tokens of one processed step, as a streaming client sees their times: what a
/// summary needs for inter-token latency without keeping any token's time. Most tokens
/// of a step continue a run (their request's previous token came with the previous
/// processed step), so their gaps are all `run_gap`; the others (after a preemption or a
/// skipped step) are listed one by one.
struct StepTokenTimes {
    /// When the tokens were emitted (since the run's origin).
    std::chrono::nanoseconds time{0};
    /// Output tokens emitted, first tokens included.
    std::uint32_t tokens = 0;
    /// Of them, first tokens of their request (no inter-token gap).
    std::uint32_t first_tokens = 0;
    /// Tokens whose previous token came with the previous processed step...
    std::uint32_t run_tokens = 0;
    /// ...`run_gap` ago.
    std::chrono::nanoseconds run_gap{0};
    /// The gaps of the remaining tokens (tokens - first_tokens - run_tokens of them).
    std::span<const std::chrono::nanoseconds> other_gaps;
};

/// The state the scheduler keeps per request (exposed for tests and tools). Laid out hot
/// first: what schedule() and update_from_output() touch at every step of a running
/// request lies in its first two cache lines (the struct starts on a line), the rest
/// after, so a step over a large batch (and a fleet of engines) misses fewer lines.
struct alignas(64) SchedulerRequest {
    // ---- hot: read or written at every step ----
    RequestId id = 0;
    std::uint32_t generation = 0;
    std::uint32_t prompt_len = 0;
    std::uint32_t max_tokens = 0;
    std::uint32_t min_tokens = 0;
    /// Output tokens received (vLLM's num_output_tokens).
    std::uint32_t num_output_tokens = 0;
    /// Tokens in the KV cache, including those scheduled in steps still in flight.
    std::uint32_t num_computed_tokens = 0;
    /// Scheduled steps whose sampled token has not come back yet (async scheduling).
    std::uint32_t num_output_placeholders = 0;
    RequestStatus status = RequestStatus::finished;
    bool ignore_eos = false;
    bool ever_scheduled = false;
    /// Last step id that scheduled it.
    std::uint64_t last_step = ~0ULL;
    /// When its latest output token was emitted.
    std::chrono::nanoseconds last_token = RequestRecord::unset;
    std::function<void(const TokenEvent&)> on_event;
    RequestKV kv; // its block list, salt and cached-block count are hot, its token lists not
    // ---- cold: admission, preemption and the record ----
    int priority = 0;
    std::uint32_t num_preemptions = 0;
    std::uint32_t num_cached_tokens = 0;
    /// RequestSpec::num_external_computed_tokens, until the first admission.
    std::uint32_t num_external_tokens = 0;
    std::uint64_t arrival_seq = 0;
    std::chrono::nanoseconds arrival{0};
    std::chrono::nanoseconds first_scheduled = RequestRecord::unset;
    std::chrono::nanoseconds first_token = RequestRecord::unset;
    /// Every token's time, only while recording token times (set_record_token_times).
    std::vector<std::chrono::nanoseconds> token_times;

    /// Prompt plus output tokens received.
    [[nodiscard]] std::uint32_t num_tokens() const noexcept { return prompt_len + num_output_tokens; }
};

/// vLLM v1's scheduler (see the file comment). Single-threaded; times are passed in.
class Scheduler {
public:
    /// `config.num_gpu_blocks` must be resolved (non-zero; see resolve_num_gpu_blocks).
    explicit Scheduler(const EngineConfig& config)
        : m_config(checked(config)), m_kv(config.num_gpu_blocks, config.block_size, config.enable_prefix_caching) {
        m_running.reserve(config.max_num_seqs);
        m_stats.num_gpu_blocks = config.num_gpu_blocks;
        m_stats.block_size = config.block_size;
    }

    [[nodiscard]] const EngineConfig& config() const noexcept { return m_config; }
    [[nodiscard]] const KVCacheManager& kv_cache() const noexcept { return m_kv; }
    [[nodiscard]] KVCacheManager& kv_cache() noexcept { return m_kv; }

    /// Why `spec` can never be served under `config` (empty prompt, max_tokens 0,
    /// min_tokens > max_tokens, prompt + max_tokens > max_model_len), or nullopt.
    [[nodiscard]] static std::optional<std::string> check_spec(const RequestSpec& spec, const EngineConfig& config) {
        const std::uint32_t prompt = spec.effective_prompt_len();
        if (!spec.prompt_tokens.empty() && spec.prompt_len != 0 && spec.prompt_len != spec.prompt_tokens.size())
            return "prompt_len=" + std::to_string(spec.prompt_len) + " does not match the " +
                   std::to_string(spec.prompt_tokens.size()) + " prompt token ids given";
        if (prompt == 0) return std::string("the prompt is empty (a request needs at least one prompt token)");
        if (spec.num_external_computed_tokens > prompt)
            return "num_external_computed_tokens=" + std::to_string(spec.num_external_computed_tokens) +
                   " exceeds the prompt's " + std::to_string(prompt) + " tokens";
        if (spec.max_tokens == 0) return std::string("max_tokens must be at least 1");
        if (spec.min_tokens > spec.max_tokens)
            return "min_tokens=" + std::to_string(spec.min_tokens) +
                   " must be <= max_tokens=" + std::to_string(spec.max_tokens);
        const std::uint64_t total = static_cast<std::uint64_t>(prompt) + spec.max_tokens;
        if (total > config.max_model_len)
            return "This model's maximum context length is " + std::to_string(config.max_model_len) +
                   " tokens. However, you requested " + std::to_string(total) + " tokens (" + std::to_string(prompt) +
                   " in the messages, " + std::to_string(spec.max_tokens) +
                   " in the completion). Please reduce the length of the messages or completion, "
                   "or raise --max-model-len.";
        return std::nullopt;
    }

    /// Queues a request that arrived at `arrival`. A request that can never run (see
    /// check_spec) or whose id is in flight is refused: it is recorded as finished with
    /// FinishReason::rejected and its reason, counted, and on_event gets a final event.
    /// Returns whether it was accepted.
    bool add_request(RequestSpec spec, std::chrono::nanoseconds arrival,
                     std::function<void(const TokenEvent&)> on_event = {}) {
        ++m_stats.requests_received;
        notify([&](EngineObserver& o) { o.on_request_arrived(spec.id, arrival); });
        std::optional<std::string> why = check_spec(spec, m_config);
        if (!why && m_ids.count(spec.id) != 0)
            why = "request id " + std::to_string(spec.id) + " is already in flight; ids must be unique";
        if (why) {
            reject(spec, arrival, std::move(*why), on_event);
            return false;
        }
        const std::uint32_t slot = acquire_slot();
        SchedulerRequest& r = m_requests[slot];
        r.id = spec.id;
        r.status = RequestStatus::waiting;
        r.prompt_len = spec.effective_prompt_len();
        r.max_tokens = spec.max_tokens;
        r.min_tokens = spec.min_tokens;
        r.ignore_eos = spec.ignore_eos;
        r.priority = spec.priority;
        r.num_output_tokens = 0;
        r.num_computed_tokens = 0;
        r.num_output_placeholders = 0;
        r.num_preemptions = 0;
        r.num_cached_tokens = 0;
        r.num_external_tokens = spec.num_external_computed_tokens;
        r.ever_scheduled = false;
        r.arrival_seq = m_arrival_seq++;
        r.last_step = ~0ULL;
        r.arrival = arrival;
        r.first_scheduled = RequestRecord::unset;
        r.first_token = RequestRecord::unset;
        r.last_token = RequestRecord::unset;
        r.token_times.clear();
        if (m_record_token_times) r.token_times.reserve(r.max_tokens);
        r.kv.clear_blocks();
        r.kv.hashes.clear();
        r.kv.tokens.clear();
        r.kv.freed.clear();
        if (spec.prompt_tokens.empty()) {
            r.kv.salt = detail::engine_mum(m_salt_base ^ (r.arrival_seq + 1), 0x9FB21C651E98DF25ULL) | 1U;
        } else {
            r.kv.salt = 0;
            r.kv.tokens = std::move(spec.prompt_tokens);
            r.kv.tokens.reserve(r.kv.tokens.size() + r.max_tokens);
        }
        r.on_event = std::move(on_event);
        m_ids.emplace(r.id, slot);
        push_waiting(slot, false);
        refresh_gauges();
        return true;
    }

    /// Aborts a waiting or running request at `now`: its blocks are freed at once (so the
    /// next step can use them), on_event gets a final event with `reason` (abort; stop when
    /// a front end ended it on a stop string, as vLLM's output processor does). False if unknown.
    bool abort(RequestId id, std::chrono::nanoseconds now, FinishReason reason = FinishReason::abort) {
        const auto it = m_ids.find(id);
        if (it == m_ids.end()) return false;
        const std::uint32_t slot = it->second;
        const bool was_running = m_requests[slot].status == RequestStatus::running;
        finish(slot, reason, now, false, 0);
        if (was_running) compact_running();
        refresh_gauges();
        return true;
    }

    /// Fills `out` with the next step (empty when nothing can be scheduled) at time `now`.
    void schedule(ScheduledStep& out, std::chrono::nanoseconds now) {
        out.clear();
        out.scheduled_at = now;
        out.batch.step_id = m_next_step;
        std::uint32_t budget = m_config.max_num_batched_tokens;
        bool preempted = false;

        // ---- running requests, in admission order ----
        for (std::size_t i = 0; i < m_running.size() && budget > 0;) {
            if (i + prefetch_distance < m_running.size()) prefetch(m_running[i + prefetch_distance]);
            const std::uint32_t slot = m_running[i];
            SchedulerRequest& r = m_requests[slot];
            // Async: the token in flight already reaches max_tokens; do not schedule more.
            if (r.num_output_placeholders > 0 &&
                r.num_computed_tokens + 2 - r.num_output_placeholders >= r.prompt_len + r.max_tokens) {
                ++i;
                continue;
            }
            std::uint32_t n = chunk_limit(r.num_tokens() + r.num_output_placeholders - r.num_computed_tokens, budget);
            const std::uint32_t room = m_config.max_model_len - 1 > r.num_computed_tokens
                                           ? m_config.max_model_len - 1 - r.num_computed_tokens
                                           : 0;
            n = std::min(n, room);
            if (n == 0) {
                ++i;
                continue;
            }
            bool ok = false;
            for (;;) {
                if (m_kv.allocate_slots(r.kv, r.num_computed_tokens, n, {}, r.num_tokens())) {
                    ok = true;
                    break;
                }
                // Out of blocks: preempt a victim and retry.
                std::size_t victim_index = m_running.size() - 1;
                if (m_config.policy == SchedulingPolicy::priority) victim_index = priority_victim();
                const std::uint32_t victim = m_running[victim_index];
                SchedulerRequest& v = m_requests[victim];
                if (v.last_step == m_next_step) {
                    // Already scheduled in this step (priority policy): give its tokens back.
                    budget += unschedule(out, victim);
                }
                m_running.erase(m_running.begin() + static_cast<std::ptrdiff_t>(victim_index));
                if (victim_index < i) --i;
                preempt(victim, now);
                preempted = true;
                if (victim == slot) break;
            }
            if (!ok) break;
            add_to_step(out, slot, n, false);
            budget -= n;
            ++i;
        }

        // ---- waiting requests, only when nobody was preempted ----
        if (!preempted) {
            while (budget > 0 && m_running.size() < m_config.max_num_seqs) {
                const std::uint32_t slot = peek_waiting();
                if (slot == nil) break;
                SchedulerRequest& r = m_requests[slot];
                const std::uint32_t num_tokens = r.num_tokens();
                std::uint32_t hit = 0;
                if (m_kv.caching_enabled())
                    hit = m_kv.find_cached_prefix(r.kv, num_tokens, m_hits);
                else
                    m_hits.clear();
                // P/D decode side: the prompt's KV beyond the local hit comes over the link
                // (vLLM: get_num_new_matched_tokens, then the last token is recomputed).
                std::uint32_t external = 0;
                if (r.num_external_tokens > hit) external = std::min(r.num_external_tokens, num_tokens - 1) - hit;
                const std::uint32_t n = chunk_limit(num_tokens - hit - external, budget);
                if (r.kv.blocks.capacity() == 0) // once, for the whole request
                    r.kv.blocks.reserve(
                        (std::min(r.prompt_len + r.max_tokens, m_config.max_model_len) + m_config.block_size - 1) /
                        m_config.block_size);
                if (!m_kv.allocate_slots(r.kv, external, n, m_hits, num_tokens)) break; // strict FCFS
                // Prefix-cache stats count admissions, not lookups: a request whose
                // allocation failed and is retried later is counted once (vLLM >= 0.12).
                if (m_kv.caching_enabled()) {
                    if (r.num_preemptions > 0) {
                        m_stats.preempted_prefix_cache_queries += num_tokens;
                        m_stats.preempted_prefix_cache_hits += hit;
                    } else {
                        m_stats.prefix_cache_queries += num_tokens;
                        m_stats.prefix_cache_hits += hit;
                        ++m_stats.prefix_cache_requests;
                    }
                }
                pop_waiting();
                // vLLM's scheduled_new_reqs hold first admissions only; a preempted
                // request that resumes is a cached request (scheduled_resumed_reqs).
                const bool first_admission = r.status == RequestStatus::waiting;
                r.status = RequestStatus::running;
                r.num_computed_tokens = hit + external;
                r.num_external_tokens = 0;
                if (!r.ever_scheduled) {
                    r.ever_scheduled = true;
                    r.first_scheduled = now;
                    r.num_cached_tokens = hit;
                    notify([&](EngineObserver& o) { o.on_request_scheduled(r.id, now); });
                }
                m_running.push_back(slot);
                add_to_step(out, slot, n, first_admission);
                budget -= n;
            }
        }

        // ---- after scheduling: advance computed tokens, add output placeholders ----
        // (FCFS did it as each request was added: it never takes a scheduled request back.)
        if (m_config.policy != SchedulingPolicy::fcfs)
            for (std::size_t k = 0; k < out.batch.requests.size(); ++k)
                finalize(out.batch.requests[k], m_requests[static_cast<std::uint32_t>(out.handles[k])]);
        std::uint32_t tokens = 0;
        std::uint32_t num_new = 0;
        bool prefill_work = false; // the step's table: any prompt chunk makes it a prefill step
        for (const ScheduledRequest& s : out.batch.requests) {
            prefill_work |= s.is_prefill();
            tokens += s.num_scheduled_tokens;
            num_new += s.is_new ? 1U : 0U;
        }
        if (!out.batch.requests.empty()) {
            ++m_next_step;
            const auto nreq = static_cast<std::uint32_t>(out.batch.requests.size());
            ++m_stats.steps;
            if (prefill_work)
                ++m_stats.prefill_steps;
            else
                ++m_stats.decode_steps;
            m_stats.scheduled_tokens += tokens;
            m_stats.scheduled_requests += nreq;
            m_stats.max_step_tokens = std::max(m_stats.max_step_tokens, tokens);
            m_stats.max_step_requests = std::max(m_stats.max_step_requests, nreq);
        }
        refresh_gauges();
        if (m_record_series && !out.batch.requests.empty()) {
            m_stats.series.push_back(StepStat{now, static_cast<std::uint32_t>(out.batch.requests.size()), tokens,
                                              num_new, m_stats.running, m_stats.waiting, m_stats.kv_usage});
        }
    }

    /// Applies a step's output at time `now`: appends each sampled token, checks stop
    /// conditions, streams events, finishes and frees requests. Outputs of requests that
    /// finished or were aborted meanwhile are discarded. Throws contract_error when the
    /// executor's output does not match the step.
    void update_from_output(const ScheduledStep& step, const StepOutput& output, std::chrono::nanoseconds now) {
        const std::size_t n = step.batch.requests.size();
        const bool aligned = output.outputs.size() == n;
        bool any_finished = false;
        StepTokenTimes tt;
        tt.time = now;
        tt.run_gap = now - m_prev_output;
        m_other_gaps.clear();
        for (std::size_t k = 0; k < n; ++k) {
            if (k + prefetch_distance < n) prefetch(static_cast<std::uint32_t>(step.handles[k + prefetch_distance]));
            const ScheduledRequest& s = step.batch.requests[k];
            if (!s.samples_token) continue;
            const RequestOutput* o = nullptr;
            if (aligned && output.outputs[k].id == s.id)
                o = &output.outputs[k];
            else
                o = find_output(output, s.id);
            const auto slot = static_cast<std::uint32_t>(step.handles[k]);
            const auto gen = static_cast<std::uint32_t>(step.handles[k] >> 32U);
            SchedulerRequest& r = m_requests[slot];
            if (r.generation != gen || r.status == RequestStatus::finished) {
                ++m_stats.discarded_tokens;
                continue;
            }
            if (r.num_output_placeholders > 0) --r.num_output_placeholders;
            if (o == nullptr || !o->token) bad_output(s.id, step.batch.step_id);
            const TokenId token = *o->token;
            ++r.num_output_tokens;
            ++m_stats.generation_tokens;
            ++tt.tokens;
            if (r.num_output_tokens == 1) {
                r.first_token = now;
                m_stats.prompt_tokens += r.prompt_len;
                ++tt.first_tokens;
                notify([&](EngineObserver& o) { o.on_first_token(r.id, now); });
            } else if (r.last_token == m_prev_output) {
                ++tt.run_tokens;
            } else {
                m_other_gaps.push_back(now - r.last_token);
            }
            r.last_token = now;
            if (m_record_token_times) r.token_times.push_back(now);
            if (r.kv.salt == 0) r.kv.tokens.push_back(token);
            if (r.status == RequestStatus::running)
                m_kv.cache_blocks(r.kv, r.num_computed_tokens - r.num_output_placeholders);
            const FinishReason reason = stop_reason(r, r.num_output_tokens, o->is_eos);
            if (reason == FinishReason::none) {
                if (r.on_event) r.on_event(TokenEvent{r.id, token, now, r.num_output_tokens, false, reason, true});
            } else {
                any_finished |= r.status == RequestStatus::running;
                finish(slot, reason, now, true, token);
            }
        }
        if (any_finished) compact_running();
        refresh_gauges();
        m_prev_output = now;
        if (m_on_tokens && tt.tokens > 0) {
            tt.other_gaps = m_other_gaps;
            m_on_tokens(tt);
        }
    }

    /// How many requests applying `output` to `step` (update_from_output, with nothing
    /// else changing the scheduler first) would finish: what leaves running + waiting.
    [[nodiscard]] std::uint32_t count_finishing(const ScheduledStep& step, const StepOutput& output) const {
        const std::size_t n = step.batch.requests.size();
        const bool aligned = output.outputs.size() == n;
        std::uint32_t count = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const ScheduledRequest& s = step.batch.requests[k];
            if (!s.samples_token) continue;
            const SchedulerRequest& r = m_requests[static_cast<std::uint32_t>(step.handles[k])];
            if (r.generation != static_cast<std::uint32_t>(step.handles[k] >> 32U) ||
                r.status == RequestStatus::finished)
                continue;
            const RequestOutput* o = aligned && output.outputs[k].id == s.id ? &output.outputs[k] : find_output(output, s.id);
            if (o == nullptr || !o->token) continue; // update_from_output refuses the output
            count += stop_reason(r, r.num_output_tokens + 1, o->is_eos) != FinishReason::none ? 1U : 0U;
        }
        return count;
    }

    /// A scheduled step will never be applied (its dispatch or its output threw): each of
    /// its requests still alive finishes with FinishReason::error at `now`, `why` in its
    /// record; its blocks are freed, its placeholders go with it and on_event gets its
    /// final event. A later step's output for those requests is discarded. Returns how
    /// many requests it finished.
    std::size_t fail_step(const ScheduledStep& step, std::chrono::nanoseconds now, const std::string& why) {
        std::size_t n = 0;
        for (const std::uint64_t h : step.handles) {
            const auto slot = static_cast<std::uint32_t>(h);
            const SchedulerRequest& r = m_requests[slot];
            if (r.generation != static_cast<std::uint32_t>(h >> 32U) || r.status == RequestStatus::finished) continue;
            finish(slot, FinishReason::error, now, false, 0, &why);
            ++n;
        }
        if (n > 0) compact_running();
        ++m_stats.failed_steps;
        refresh_gauges();
        return n;
    }

    /// Finishes every request waiting or running with FinishReason::error at `now`, `why`
    /// in its record (see fail_step); returns how many.
    std::size_t fail_all(std::chrono::nanoseconds now, const std::string& why) {
        std::size_t n = 0;
        for (const RequestId id : unfinished_ids()) {
            const auto it = m_ids.find(id);
            if (it == m_ids.end()) continue; // a final event's handler may have ended it
            finish(it->second, FinishReason::error, now, false, 0, &why);
            ++n;
        }
        compact_running();
        refresh_gauges();
        return n;
    }

    /// Ids of every request waiting or running (any order).
    [[nodiscard]] std::vector<RequestId> unfinished_ids() const {
        std::vector<RequestId> ids;
        ids.reserve(m_ids.size());
        for (const auto& [id, slot] : m_ids) ids.push_back(id);
        return ids;
    }

    /// Requests waiting or running.
    [[nodiscard]] bool has_unfinished() const noexcept { return !m_running.empty() || m_num_waiting > 0; }
    [[nodiscard]] std::size_t num_running() const noexcept { return m_running.size(); }
    [[nodiscard]] std::size_t num_waiting() const noexcept { return m_num_waiting; }
    /// Slots of the running requests, in admission order.
    [[nodiscard]] const std::vector<std::uint32_t>& running() const noexcept { return m_running; }
    /// The state of an unfinished request, or nullptr (valid until the next add_request).
    [[nodiscard]] const SchedulerRequest* find(RequestId id) const {
        const auto it = m_ids.find(id);
        return it == m_ids.end() ? nullptr : &m_requests[it->second];
    }
    [[nodiscard]] const SchedulerRequest& request_at(std::uint32_t slot) const { return m_requests[slot]; }

    /// Records of requests finished since the last take (moved out).
    [[nodiscard]] std::vector<RequestRecord>& finished_records() noexcept { return m_finished; }
    /// Counters and gauges.
    [[nodiscard]] const EngineStats& stats() const noexcept { return m_stats; }
    [[nodiscard]] EngineStats& stats() noexcept { return m_stats; }
    /// Keep one StepStat per step in stats().series.
    void set_record_series(bool on) noexcept { m_record_series = on; }
    /// Keep every token's time in the records (on by default).
    void set_record_token_times(bool on) noexcept { m_record_token_times = on; }
    /// Called after each processed step that emitted tokens (empty: off), on this thread.
    void set_token_observer(std::function<void(const StepTokenTimes&)> f) { m_on_tokens = std::move(f); }
    /// Attaches an observer (not owned; it must outlive its attachment): the request events
    /// (arrived, first scheduled, preempted, first token, finished) reach it from here, the
    /// step events from the Engine. Attaching one twice does nothing.
    void add_observer(EngineObserver* o) {
        if (o != nullptr && std::find(m_observers.begin(), m_observers.end(), o) == m_observers.end())
            m_observers.push_back(o);
    }
    /// Detaches an observer; false if it was not attached.
    bool remove_observer(EngineObserver* o) noexcept {
        const auto it = std::find(m_observers.begin(), m_observers.end(), o);
        if (it == m_observers.end()) return false;
        m_observers.erase(it);
        return true;
    }
    /// The observers attached, in attachment order.
    [[nodiscard]] const std::vector<EngineObserver*>& observers() const noexcept { return m_observers; }
    /// Calls f(observer) for each observer attached (one test when there is none).
    template <class F>
    void notify(F&& f) {
        if (!m_observers.empty()) [[unlikely]]
            for (EngineObserver* o : m_observers) f(*o);
    }

private:
    static constexpr std::uint32_t nil = 0xFFFFFFFFU;

    struct WaitingEntry {
        int priority;
        std::uint64_t arrival_seq;
        std::uint64_t handle;
    };
    struct WaitingLater { // heap comparator: smallest (priority, arrival) on top
        bool operator()(const WaitingEntry& a, const WaitingEntry& b) const noexcept {
            return a.priority != b.priority ? a.priority > b.priority : a.arrival_seq > b.arrival_seq;
        }
    };

    static const EngineConfig& checked(const EngineConfig& c) {
        c.validate();
        if (c.num_gpu_blocks == 0)
            detail::throw_error<config_error>("scheduler: num_gpu_blocks must be resolved before construction "
                                              "(resolve_num_gpu_blocks)");
        const std::uint64_t capacity = static_cast<std::uint64_t>(c.num_gpu_blocks - 1) * c.block_size;
        if (capacity < c.max_model_len)
            detail::throw_error<config_error>(
                "engine config: the KV pool holds " + std::to_string(capacity) + " tokens (" +
                std::to_string(c.num_gpu_blocks) + " blocks of " + std::to_string(c.block_size) +
                ", one reserved) but max_model_len=" + std::to_string(c.max_model_len) +
                " needs more; lower --max-model-len or raise --num-gpu-blocks (vLLM refuses this too)");
        return c;
    }

    [[noreturn, gnu::cold, gnu::noinline]] static void bad_output(RequestId id, std::uint64_t step) {
        detail::throw_error<contract_error>("executor output of step " + std::to_string(step) +
                                            " has no sampled token for request " + std::to_string(id) +
                                            ", whose scheduled chunk completes its prompt");
    }

    /// Why `r` stops once it has `num_output` output tokens, the last one EOS or not
    /// (FinishReason::none: it goes on).
    [[nodiscard]] FinishReason stop_reason(const SchedulerRequest& r, std::uint32_t num_output, bool eos) const noexcept {
        if (r.prompt_len + num_output >= m_config.max_model_len || num_output >= r.max_tokens)
            return FinishReason::length;
        if (eos && !r.ignore_eos && num_output >= r.min_tokens) return FinishReason::stop;
        return FinishReason::none;
    }
    static const RequestOutput* find_output(const StepOutput& out, RequestId id) noexcept {
        for (const auto& o : out.outputs)
            if (o.id == id) return &o;
        return nullptr;
    }

    /// What a request may compute in this step of the `wanted` tokens it has left: at most
    /// long_prefill_token_threshold (when set; vLLM caps running and waiting requests
    /// alike) and at most the step's remaining token budget.
    [[nodiscard]] std::uint32_t chunk_limit(std::uint32_t wanted, std::uint32_t budget) const noexcept {
        if (m_config.long_prefill_token_threshold != 0)
            wanted = std::min(wanted, m_config.long_prefill_token_threshold);
        return std::min(wanted, budget);
    }

    /// Requests ahead of the one a batch loop works on whose state it asks the CPU for: a
    /// running request's state is rarely still cached from its previous step (the other
    /// requests, and in a fleet the other engines, ran in between).
    static constexpr std::size_t prefetch_distance = 6;
    /// Starts loading the hot lines of a slot's state (a hint; no effect on results).
    void prefetch(std::uint32_t slot) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        const char* p = reinterpret_cast<const char*>(&m_requests[slot]);
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
#else
        (void)slot;
#endif
    }

    [[nodiscard]] std::uint64_t handle(std::uint32_t slot) const noexcept {
        return slot | (static_cast<std::uint64_t>(m_requests[slot].generation) << 32U);
    }

    std::uint32_t acquire_slot() {
        if (!m_free_slots.empty()) {
            const std::uint32_t s = m_free_slots.back();
            m_free_slots.pop_back();
            return s;
        }
        m_requests.emplace_back();
        return static_cast<std::uint32_t>(m_requests.size() - 1);
    }

    void add_to_step(ScheduledStep& out, std::uint32_t slot, std::uint32_t n, bool is_new) {
        SchedulerRequest& r = m_requests[slot];
        r.last_step = m_next_step;
        // Chunk and admission only; finalize() sets the context and what the chunk is once
        // no preemption can take the request out of the step any more.
        out.batch.requests.push_back(ScheduledRequest::prefill_chunk(r.id, n, 0, 0).admitted(is_new));
        out.handles.push_back(handle(slot));
        if (m_config.policy == SchedulingPolicy::fcfs) finalize(out.batch.requests.back(), r);
    }

    /// What a request scheduled for `s.num_scheduled_tokens` tokens computes in the step
    /// (a decode or a prompt chunk, its context) and its state once scheduled: computed
    /// tokens advanced, an output placeholder added. Done when nothing can take it out of
    /// the step any more (FCFS: when added; priority: after the step's preemptions).
    void finalize(ScheduledRequest& s, SchedulerRequest& r) const noexcept {
        // Tokens to compute before the request samples: known tokens + in-flight ones.
        const std::uint32_t to_sample = r.num_tokens() + r.num_output_placeholders;
        const std::uint32_t outputs = r.num_output_tokens + r.num_output_placeholders;
        const bool decode = s.num_scheduled_tokens == 1 && r.num_computed_tokens + 1 == to_sample &&
                            r.num_computed_tokens >= r.prompt_len;
        s = (decode ? ScheduledRequest::decode(r.id, r.num_computed_tokens, outputs)
                    : ScheduledRequest::prefill_chunk(r.id, s.num_scheduled_tokens, r.num_computed_tokens, to_sample,
                                                      outputs))
                .admitted(s.is_new);
        r.num_computed_tokens += s.num_scheduled_tokens;
        // Placeholders are the AsyncScheduler's: vLLM's synchronous Scheduler leaves a
        // request with nothing to schedule until its output has been applied.
        if (s.samples_token && m_config.async_scheduling) ++r.num_output_placeholders;
    }

    std::uint32_t unschedule(ScheduledStep& out, std::uint32_t slot) {
        const std::uint64_t h = handle(slot);
        for (std::size_t k = 0; k < out.handles.size(); ++k) {
            if (out.handles[k] == h) {
                const std::uint32_t n = out.batch.requests[k].num_scheduled_tokens;
                out.handles.erase(out.handles.begin() + static_cast<std::ptrdiff_t>(k));
                out.batch.requests.erase(out.batch.requests.begin() + static_cast<std::ptrdiff_t>(k));
                m_requests[slot].last_step = ~0ULL;
                return n;
            }
        }
        return 0;
    }

    [[nodiscard]] std::size_t priority_victim() const noexcept {
        std::size_t best = 0;
        for (std::size_t k = 1; k < m_running.size(); ++k) {
            const SchedulerRequest& a = m_requests[m_running[k]];
            const SchedulerRequest& b = m_requests[m_running[best]];
            if (a.priority > b.priority || (a.priority == b.priority && a.arrival_seq > b.arrival_seq)) best = k;
        }
        return best;
    }

    void preempt(std::uint32_t slot, std::chrono::nanoseconds now) {
        SchedulerRequest& r = m_requests[slot];
        notify([&](EngineObserver& o) { o.on_request_preempted(r.id, now); });
        m_kv.free(r.kv);
        r.status = RequestStatus::preempted;
        r.num_computed_tokens = 0;
        ++r.num_preemptions;
        ++m_stats.preemptions;
        push_waiting(slot, true);
    }

    void push_waiting(std::uint32_t slot, bool front) {
        const SchedulerRequest& r = m_requests[slot];
        ++m_num_waiting;
        if (m_config.policy == SchedulingPolicy::fcfs) {
            if (front)
                m_waiting.push_front(handle(slot));
            else
                m_waiting.push_back(handle(slot));
        } else {
            m_heap.push_back(WaitingEntry{r.priority, r.arrival_seq, handle(slot)});
            std::push_heap(m_heap.begin(), m_heap.end(), WaitingLater{});
        }
    }

    [[nodiscard]] bool live_waiting(std::uint64_t h) const noexcept {
        const SchedulerRequest& r = m_requests[static_cast<std::uint32_t>(h)];
        return r.generation == static_cast<std::uint32_t>(h >> 32U) &&
               (r.status == RequestStatus::waiting || r.status == RequestStatus::preempted);
    }

    /// Front of the waiting queue (dropping stale entries of finished requests), or nil.
    std::uint32_t peek_waiting() {
        if (m_config.policy == SchedulingPolicy::fcfs) {
            while (!m_waiting.empty() && !live_waiting(m_waiting.front())) m_waiting.pop_front();
            return m_waiting.empty() ? nil : static_cast<std::uint32_t>(m_waiting.front());
        }
        while (!m_heap.empty() && !live_waiting(m_heap.front().handle)) {
            std::pop_heap(m_heap.begin(), m_heap.end(), WaitingLater{});
            m_heap.pop_back();
        }
        return m_heap.empty() ? nil : static_cast<std::uint32_t>(m_heap.front().handle);
    }

    void pop_waiting() {
        --m_num_waiting;
        if (m_config.policy == SchedulingPolicy::fcfs) {
            m_waiting.pop_front();
        } else {
            std::pop_heap(m_heap.begin(), m_heap.end(), WaitingLater{});
            m_heap.pop_back();
        }
    }

    void compact_running() {
        std::erase_if(m_running, [this](std::uint32_t s) { return m_requests[s].status != RequestStatus::running; });
    }

    void finish(std::uint32_t slot, FinishReason reason, std::chrono::nanoseconds now, bool has_token, TokenId token,
                const std::string* why = nullptr) {
        SchedulerRequest& r = m_requests[slot];
        if (r.status == RequestStatus::waiting || r.status == RequestStatus::preempted) --m_num_waiting;
        m_kv.free(r.kv);
        r.status = RequestStatus::finished;
        ++m_stats.finished[static_cast<std::size_t>(reason)];
        RequestRecord rec;
        rec.id = r.id;
        rec.prompt_len = r.prompt_len;
        rec.output_len = r.num_output_tokens;
        rec.arrival = r.arrival;
        rec.first_scheduled = r.first_scheduled;
        rec.first_token = r.first_token;
        rec.finish = now;
        rec.token_times = std::move(r.token_times);
        rec.reason = reason;
        rec.num_preemptions = r.num_preemptions;
        rec.num_cached_tokens = r.num_cached_tokens;
        if (why != nullptr) rec.error = *why;
        m_finished.push_back(std::move(rec));
        notify([&](EngineObserver& o) { o.on_request_finished(m_finished.back()); });
        m_ids.erase(r.id);
        ++r.generation;
        m_free_slots.push_back(slot);
        auto cb = std::move(r.on_event);
        r.on_event = nullptr;
        r.token_times = {};
        // A free slot keeps no lists (a slot reused by a waiting request would otherwise
        // hold the capacity of the longest request it ever served).
        std::vector<std::uint32_t>().swap(r.kv.blocks);
        std::vector<std::uint32_t>().swap(r.kv.freed);
        std::vector<TokenId>().swap(r.kv.tokens);
        std::vector<std::uint64_t>().swap(r.kv.hashes);
        if (cb) cb(TokenEvent{r.id, token, now, r.num_output_tokens, true, reason, has_token});
    }

    void reject(const RequestSpec& spec, std::chrono::nanoseconds arrival, std::string why,
                const std::function<void(const TokenEvent&)>& on_event) {
        ++m_stats.finished[static_cast<std::size_t>(FinishReason::rejected)];
        RequestRecord rec;
        rec.id = spec.id;
        rec.prompt_len = spec.effective_prompt_len();
        rec.arrival = arrival;
        rec.finish = arrival;
        rec.reason = FinishReason::rejected;
        rec.error = std::move(why);
        m_finished.push_back(std::move(rec));
        notify([&](EngineObserver& o) { o.on_request_finished(m_finished.back()); });
        if (on_event) on_event(TokenEvent{spec.id, 0, arrival, 0, true, FinishReason::rejected, false});
    }

    void refresh_gauges() noexcept {
        m_stats.running = static_cast<std::uint32_t>(m_running.size());
        m_stats.waiting = static_cast<std::uint32_t>(m_num_waiting);
        m_stats.kv_usage = m_kv.usage();
        m_stats.max_running = std::max(m_stats.max_running, m_stats.running);
        m_stats.max_waiting = std::max(m_stats.max_waiting, m_stats.waiting);
        m_stats.max_kv_usage = std::max(m_stats.max_kv_usage, m_stats.kv_usage);
    }

    EngineConfig m_config;
    KVCacheManager m_kv;
    detail::StableSlots<SchedulerRequest> m_requests; // slots are reused; grows only in add_request
    std::vector<std::uint32_t> m_free_slots;
    std::unordered_map<RequestId, std::uint32_t> m_ids;
    std::vector<std::uint32_t> m_running;
    std::deque<std::uint64_t> m_waiting; // fcfs: handles
    std::vector<WaitingEntry> m_heap;    // priority: min-heap on (priority, arrival)
    std::size_t m_num_waiting = 0;
    std::vector<std::uint32_t> m_hits;
    std::vector<RequestRecord> m_finished;
    EngineStats m_stats;
    std::uint64_t m_next_step = 0;
    std::uint64_t m_arrival_seq = 0;
    std::uint64_t m_salt_base = 0x2545F4914F6CDD1DULL;
    std::vector<EngineObserver*> m_observers;
    bool m_record_series = false;
    bool m_record_token_times = true;
    std::chrono::nanoseconds m_prev_output = RequestRecord::unset;
    std::vector<std::chrono::nanoseconds> m_other_gaps;
    std::function<void(const StepTokenTimes&)> m_on_tokens;
};

LLMEMU_END_NAMESPACE
