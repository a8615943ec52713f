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
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmemu/engine/request.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/workload/workload.hpp"

namespace llmemu {

/// The requests of a Workload (in arrival order, as every workload kind builds them), one at
/// a time; later session turns as their previous turns finish. Keeps a reference to the
/// workload, which must outlive it.
class WorkloadSource {
public:
    explicit WorkloadSource(const Workload& w) : m_w(&w) {}

    bool next(TimedRequest& t) {
        skip_later_turns();
        const bool has_open = m_next < m_w->requests.size();
        const std::chrono::nanoseconds open =
            has_open ? to_ns(m_w->requests[m_next].arrival_s) : std::chrono::nanoseconds{};
        // The earliest of: the earliest released (or handed back) turn, the next open-loop request.
        const bool take_released =
            !m_released.empty() && (!has_open || m_released.top().arrival < open ||
                                    (m_released.top().arrival == open && m_released.top().index < m_next));
        if (!take_released && !has_open) return false;
        if (take_released) {
            const std::size_t i = m_released.top().index;
            m_released.pop();
            t = std::move(m_turns[i]);
            m_turns.erase(i);
            remember(i, t);
            return true;
        }
        make(m_next, t);
        ++m_next;
        return true;
    }

    /// A later turn's previous turn produced a token or finished (FeedbackRequestSource).
    bool on_event(const TokenEvent& e) {
        const auto it = m_history.find(e.id);
        if (it == m_history.end()) return false;
        if (e.has_token) it->second.push_back(e.token);
        if (!e.finished) return false;
        std::vector<TokenId> tokens = std::move(it->second);
        m_history.erase(it);
        const auto i = static_cast<std::size_t>(e.id);
        const std::size_t j = m_w->requests[i].next_turn;
        if (e.reason != FinishReason::length && e.reason != FinishReason::stop) {
            ++m_ended_early; // refused or aborted: the user gives up
            return false;
        }
        const WorkloadRequest& r = m_w->requests[j];
        append_prompt_tokens(PromptSegments(r.prompt.end() - 1, r.prompt.end()), tokens); // the user's new tokens
        TimedRequest t;
        t.arrival = e.time + to_ns(r.think_s);
        t.spec.id = j;
        t.spec.prompt_tokens = std::move(tokens);
        t.spec.max_tokens = r.output_len;
        t.spec.ignore_eos = true;
        m_turns.emplace(j, std::move(t));
        m_released.push({m_turns.at(j).arrival, j});
        return true;
    }

    /// Takes back a request next() gave (FeedbackRequestSource); next() gives it again in
    /// arrival order.
    void put_back(TimedRequest&& t) {
        const auto i = static_cast<std::size_t>(t.spec.id);
        m_released.push({t.arrival, i});
        m_turns.insert_or_assign(i, std::move(t));
    }

    /// Sessions cut short because a turn was refused.
    [[nodiscard]] std::size_t ended_early() const noexcept { return m_ended_early; }

private:
    struct Released {
        std::chrono::nanoseconds arrival;
        std::size_t index;
        bool operator<(const Released& o) const noexcept { // min-heap, by arrival then index
            return arrival != o.arrival ? arrival > o.arrival : index > o.index;
        }
    };

    static std::chrono::nanoseconds to_ns(double s) { return std::chrono::nanoseconds(std::llround(s * 1e9)); }

    void skip_later_turns() {
        while (m_next < m_w->requests.size() && m_w->requests[m_next].previous_turn != no_turn) ++m_next;
    }

    void make(std::size_t i, TimedRequest& t) {
        const WorkloadRequest& r = m_w->requests[i];
        t = TimedRequest{};
        t.arrival = to_ns(r.arrival_s);
        t.spec.id = i;
        t.spec.prompt_len = r.prompt_len;
        t.spec.max_tokens = r.output_len;
        t.spec.ignore_eos = true;
        if (r.next_turn != no_turn) t.spec.prompt_tokens = prompt_tokens(r.prompt); // kept for the next turn
        remember(i, t);
    }

    /// A request with a next turn: keep its prompt ids and ask for its tokens.
    void remember(std::size_t i, TimedRequest& t) {
        if (m_w->requests[i].next_turn == no_turn) return;
        t.notify = true;
        t.spec.prompt_len = 0;
        m_history[t.spec.id] = t.spec.prompt_tokens;
    }

    const Workload* m_w;
    std::size_t m_next = 0;
    std::priority_queue<Released> m_released;
    /// Released (or handed back) requests not yet taken.
    std::unordered_map<std::size_t, TimedRequest> m_turns;
    /// Turns in flight with a next turn: their prompt ids, then their output ids so far.
    std::unordered_map<RequestId, std::vector<TokenId>> m_history;
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

} // namespace llmemu
