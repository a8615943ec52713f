#pragma once
/// \file source.hpp
/// WorkloadSource: the requests of a Workload as a RequestSource for run_simulation and
/// run_fleet_simulation, made one at a time as the run takes them. Request i has id i, a
/// prompt of prompt_len tokens and generates exactly output_len tokens (max_tokens with
/// ignore_eos, as trace replay and vLLM's random dataset do); shared-prefix prompts get
/// their token ids from prepare_workload_prompt when they join the engine.
///
/// With multi-turn sessions it is a closed loop (a FeedbackRequestSource): a session's
/// first turn is sent at its arrival; every later turn waits until the previous turn
/// finished, then `think_s` more, and its prompt is the previous turn's prompt token ids,
/// the output token ids the engine really generated, then the user's new tokens, so the
/// prefix cache sees the real reuse. A turn the engine refuses ends its session.

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/workload/stream.hpp"
#include "llmemu/workload/workload.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The requests of a Workload (in arrival order, as every workload kind builds them) or of a
/// WorkloadStream (a workload spec's clients merged as the run goes), one at a time; later
/// session turns as their previous turns finish. A shared-prefix prompt gets its token ids
/// when it is taken (what prepare_workload_prompt gives at arrival). Keeps a reference to the
/// workload or stream, which must outlive it.
class WorkloadSource {
public:
    explicit WorkloadSource(const Workload& w) : m_owned(std::make_shared<WorkloadStream>(w)), m_s(m_owned.get()) {
        advance();
    }
    /// Takes the requests of `s` from its first one.
    explicit WorkloadSource(WorkloadStream& s) : m_s(&s) {
        m_s->rewind();
        advance();
    }

    bool next(TimedRequest& t) {
        skip_later_turns();
        const bool has_open = m_head != nullptr;
        const std::chrono::nanoseconds open = has_open ? to_ns(m_head->arrival_s) : std::chrono::nanoseconds{};
        // The earliest of: the earliest released (or handed back) turn, the next open-loop request.
        const bool take_released =
            !m_released.empty() && (!has_open || m_released.top().arrival < open ||
                                    (m_released.top().arrival == open && m_released.top().index < m_head_index));
        if (!take_released && !has_open) return false;
        if (take_released) {
            const std::size_t i = m_released.top().index;
            m_released.pop();
            auto it = m_turns.find(i);
            t = std::move(it->second.first);
            const StreamRef ref = it->second.second;
            m_turns.erase(it);
            remember(ref, t);
            return true;
        }
        make(t);
        advance();
        return true;
    }

    /// A later turn's previous turn produced a token or finished (FeedbackRequestSource).
    bool on_event(const TokenEvent& e) {
        const auto it = m_history.find(e.id);
        if (it == m_history.end()) return false;
        if (e.has_token) it->second.tokens.push_back(e.token);
        if (!e.finished) return false;
        std::vector<TokenId> tokens = std::move(it->second.tokens);
        const StreamRef next = it->second.next;
        m_history.erase(it);
        if (e.reason != FinishReason::length && e.reason != FinishReason::stop) {
            ++m_ended_early; // refused or aborted: the user gives up
            return false;
        }
        const WorkloadRequest& r = m_s->at(next);
        const std::size_t j = m_s->index_of(next);
        append_prompt_tokens(PromptSegments(r.prompt.end() - 1, r.prompt.end()), tokens); // the user's new tokens
        TimedRequest t;
        t.arrival = e.time + to_ns(r.think_s);
        t.spec.id = j;
        t.spec.prompt_tokens = std::move(tokens);
        t.spec.max_tokens = r.output_len;
        t.spec.ignore_eos = true;
        const std::chrono::nanoseconds at = t.arrival;
        m_turns.insert_or_assign(j, std::make_pair(std::move(t), next));
        m_released.push({at, j});
        return true;
    }

    /// Takes back a request next() gave (FeedbackRequestSource); next() gives it again in
    /// arrival order.
    void put_back(TimedRequest&& t) {
        const auto i = static_cast<std::size_t>(t.spec.id);
        StreamRef ref{no_part, 0};                                            // a request without a next turn
        if (const auto h = m_history.find(t.spec.id); h != m_history.end()) { // remembered when taken
            ref = h->second.self;
            m_history.erase(h); // remember() keeps it again when next() gives it
        }
        m_released.push({t.arrival, i});
        m_turns.insert_or_assign(i, std::make_pair(std::move(t), ref));
    }

    /// Sessions cut short because a turn was refused.
    [[nodiscard]] std::size_t ended_early() const noexcept { return m_ended_early; }

private:
    static constexpr std::uint32_t no_part = static_cast<std::uint32_t>(-1);
    struct Released {
        std::chrono::nanoseconds arrival;
        std::size_t index;
        bool operator<(const Released& o) const noexcept { // min-heap, by arrival then index
            return arrival != o.arrival ? arrival > o.arrival : index > o.index;
        }
    };
    /// A turn in flight with a next turn: its prompt ids, then its output ids so far.
    struct History {
        std::vector<TokenId> tokens;
        StreamRef self, next;
    };

    static std::chrono::nanoseconds to_ns(double s) { return std::chrono::nanoseconds(std::llround(s * 1e9)); }

    void advance() {
        if (!m_s->next(m_head, m_head_ref, m_head_index)) m_head = nullptr;
    }
    void skip_later_turns() {
        while (m_head != nullptr && m_head->previous_turn != no_turn) advance();
    }

    void make(TimedRequest& t) {
        const WorkloadRequest& r = *m_head;
        t = TimedRequest{};
        t.arrival = to_ns(r.arrival_s);
        t.spec.id = m_head_index;
        t.spec.prompt_len = r.prompt_len;
        t.spec.max_tokens = r.output_len;
        t.spec.ignore_eos = true;
        if (!r.prompt_ids.empty())
            t.spec.prompt_tokens = r.prompt_ids;
        else if (!r.prompt.empty())
            t.spec.prompt_tokens = prompt_tokens(r.prompt);
        remember(m_head_ref, t);
    }

    /// A request with a next turn: keep its prompt ids and ask for its tokens.
    void remember(const StreamRef& ref, TimedRequest& t) {
        if (ref.part == no_part) return;
        const std::size_t next = m_s->at(ref).next_turn;
        if (next == no_turn) return;
        t.notify = true;
        t.spec.prompt_len = 0;
        m_history[t.spec.id] = History{t.spec.prompt_tokens, ref, StreamRef{ref.part, next}};
    }

    std::shared_ptr<WorkloadStream> m_owned;
    WorkloadStream* m_s;
    /// The next request of the stream (null at its end), where it lives and its index.
    const WorkloadRequest* m_head = nullptr;
    StreamRef m_head_ref;
    std::size_t m_head_index = 0;
    std::priority_queue<Released> m_released;
    /// Released (or handed back) requests not yet taken, and where they live.
    std::unordered_map<std::size_t, std::pair<TimedRequest, StreamRef>> m_turns;
    std::unordered_map<RequestId, History> m_history;
    std::size_t m_ended_early = 0;
};

/// A SimulationOptions::prepare that gives request i (id i) of `w` its prompt's token ids
/// (from text, or built from its segments) only when it joins the engine; nothing for
/// unique prompts or requests that already carry their ids (later session turns).
inline std::function<void(RequestSpec&)> prepare_workload_prompt(const Workload& w) {
    if (!has_shared_prompts(w)) return {};
    return [&w](RequestSpec& s) {
        if (!s.prompt_tokens.empty()) return;
        const WorkloadRequest& r = w.requests[static_cast<std::size_t>(s.id)];
        if (!r.prompt_ids.empty())
            s.prompt_tokens = r.prompt_ids;
        else if (!r.prompt.empty())
            s.prompt_tokens = prompt_tokens(r.prompt);
    };
}

LLMEMU_END_NAMESPACE
