#pragma once
/// \file stream.hpp
/// WorkloadStream: the requests of one or several workloads (the clients of a workload
/// spec) in arrival order, made as a run takes them. Each client is a generator: a built
/// request list, or a trace replayed `repeat` times with `copies` interleaved copies whose
/// requests are produced from the trace on the fly (a k-way merge of one cursor per copy);
/// the clients are merged by arrival time (a k-way merge of the clients), so memory follows
/// the clients' own lists, not the whole run: the fleet-day spec (a 19,366-request trace x 24
/// x 8) keeps the trace, not its 3.7 M requests.
///
/// The order is exactly the one of building every client's list and merging them with
/// merge_workload (stable by arrival: earlier clients first at equal times, and within a
/// replayed trace repeat_trace's order), so request i of the stream is request i of the
/// materialised workload (collect() builds it; the tests compare both).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/workload.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Where a request of a WorkloadStream lives: its client (part) and its index there. Session
/// links (WorkloadRequest::previous_turn / next_turn) are indices within the same part.
struct StreamRef {
    std::uint32_t part = 0;
    std::size_t local = 0;
};

/// What a run needs to know of a whole stream before it starts.
struct WorkloadStreamStats {
    std::size_t count = 0;
    /// The longest prompt + output.
    std::uint64_t longest = 0;
    /// The last arrival, seconds.
    double last_arrival_s = 0.0;
    bool shared_prompts = false;
    bool sessions = false;
};

/// Requests of one or several clients in arrival order (see the file comment).
class WorkloadStream {
public:
    WorkloadStream() = default;
    /// One built workload, borrowed (it must outlive the stream): request i is w.requests[i],
    /// in its own order.
    explicit WorkloadStream(const Workload& w) : m_description(w.description) {
        Part p;
        p.list = &w;
        p.count = w.requests.size();
        m_parts.push_back(std::move(p));
        m_identity = true;
        finish_part(m_parts.back());
        rewind();
    }
    /// One built workload, kept by the stream, in its own order.
    explicit WorkloadStream(Workload&& w) : m_description(w.description) {
        Part p;
        p.owned = std::make_shared<Workload>(std::move(w));
        p.list = p.owned.get();
        p.count = w.requests.size();
        m_parts.push_back(std::move(p));
        m_identity = true;
        finish_part(m_parts.back());
        rewind();
    }

    /// Adds a client whose requests are `w`'s, `start_s` later (sorted by arrival, stably).
    void add(Workload w, double start_s = 0.0) {
        if (start_s > 0.0)
            for (auto& r : w.requests) r.arrival_s += start_s;
        sort_by_arrival(w);
        Part p;
        p.owned = std::make_shared<Workload>(std::move(w));
        p.list = p.owned.get();
        p.count = p.list->requests.size();
        m_parts.push_back(std::move(p));
        finish_part(m_parts.back());
    }

    /// Adds a client replaying trace `base` as repeat_trace(base, repeat, copies) would, then
    /// `start_s` later; the replays are made on the fly when the base is in arrival order
    /// (else built whole, as repeat_trace builds them).
    void add_repeated(Workload base, std::uint32_t repeat, std::uint32_t copies, double start_s = 0.0) {
        if (repeat == 0 || copies == 0)
            detail::throw_error<workload_error>("trace: repeat and copies must be >= 1 (1 = the trace once)");
        const auto& q = base.requests;
        const bool sorted = std::is_sorted(q.begin(), q.end(), [](const WorkloadRequest& a, const WorkloadRequest& b) {
            return a.arrival_s < b.arrival_s;
        });
        if ((repeat == 1 && copies == 1) || q.empty() || !sorted || has_sessions(base)) {
            repeat_trace(base, repeat, copies);
            add(std::move(base), start_s);
            return;
        }
        Part p;
        p.owned = std::make_shared<Workload>(std::move(base));
        p.list = p.owned.get();
        p.repeat = repeat;
        p.copies = copies;
        p.shift = start_s;
        const std::size_t n = p.list->requests.size();
        const double first = p.list->requests.front().arrival_s;
        const double last = p.list->requests.back().arrival_s;
        p.gap = n > 1 ? (last - first) / static_cast<double>(n - 1) : 1.0;
        p.period = last - first + p.gap;
        p.count = n * repeat * copies;
        m_parts.push_back(std::move(p));
        finish_part(m_parts.back());
    }

    /// Sets the stream's description and goes to its first request (after the adds).
    void finish(std::string description) {
        m_description = std::move(description);
        // Session links name requests by their part; the run needs their stream indices.
        if (m_stats.sessions && !m_identity) {
            for (auto& p : m_parts)
                if (p.sessions) p.index.assign(p.count, no_turn);
            rewind();
            const WorkloadRequest* r = nullptr;
            StreamRef ref;
            std::size_t i = 0;
            while (next(r, ref, i))
                if (m_parts[ref.part].sessions) m_parts[ref.part].index[ref.local] = i;
        }
        rewind();
    }

    [[nodiscard]] const std::string& description() const noexcept { return m_description; }
    [[nodiscard]] const WorkloadStreamStats& stats() const noexcept { return m_stats; }
    [[nodiscard]] std::size_t size() const noexcept { return m_stats.count; }
    /// The one workload a stream was made from (WorkloadStream(const Workload&), or a single
    /// add()), else null.
    [[nodiscard]] const Workload* workload() const noexcept {
        return m_parts.size() == 1 && m_parts[0].repeat == 0 ? m_parts[0].list : nullptr;
    }

    /// Back to the first request.
    void rewind() {
        m_next_index = 0;
        m_heads = {};
        for (std::uint32_t k = 0; k < m_parts.size(); ++k) {
            Part& p = m_parts[k];
            p.next = 0;
            p.cursors = {};
            if (p.repeat != 0)
                for (std::uint32_t c = 0; c < p.copies; ++c) p.cursors.push(cursor(p, 0, 0, c));
            push_head(k);
        }
    }

    /// The next request in arrival order: `r` (valid until the next call), where it lives and
    /// its index in the stream. False at the end.
    bool next(const WorkloadRequest*& r, StreamRef& ref, std::size_t& index) {
        if (m_heads.empty()) return false;
        const std::uint32_t k = m_heads.top().part;
        m_heads.pop();
        Part& p = m_parts[k];
        if (p.repeat == 0) {
            ref = {k, p.next};
            r = &p.list->requests[p.next++];
        } else {
            const Cursor c = p.cursors.top();
            p.cursors.pop();
            m_scratch = p.list->requests[c.row];
            m_scratch.arrival_s = c.arrival + p.shift;
            const std::uint64_t copy = std::uint64_t{c.rep} * p.copies + c.copy;
            if (copy != 0)
                for (auto& seg : m_scratch.prompt)
                    seg.content = detail::workload_content(seg.content, 0x5245504541540000ULL, copy);
            ref = {k, 0};
            r = &m_scratch;
            if (c.row + 1 < p.list->requests.size() || c.rep + 1 < p.repeat) {
                const bool row = c.row + 1 < p.list->requests.size();
                const Cursor n = cursor(p, row ? c.rep : c.rep + 1, row ? c.row + 1 : 0, c.copy);
                if (n.arrival < c.arrival) // a replay starting before the previous one ended (rounding)
                    detail::throw_error<workload_error>(
                        "workload stream: a trace replay would start before the previous one ends; replay it once "
                        "per client");
                p.cursors.push(n);
            }
        }
        index = m_next_index++;
        push_head(k);
        return true;
    }

    /// A session turn (a request of a built part) by its place.
    [[nodiscard]] const WorkloadRequest& at(const StreamRef& ref) const {
        return m_parts[ref.part].list->requests[ref.local];
    }
    /// The stream index of a session turn (finish() has mapped every one).
    [[nodiscard]] std::size_t index_of(const StreamRef& ref) const {
        return m_identity ? ref.local : m_parts[ref.part].index[ref.local];
    }

    /// Every request, in order, as one built workload (session links as stream indices).
    [[nodiscard]] Workload collect() {
        Workload w;
        w.description = m_description;
        w.requests.reserve(size());
        rewind();
        const WorkloadRequest* r = nullptr;
        StreamRef ref;
        std::size_t i = 0;
        while (next(r, ref, i)) {
            WorkloadRequest c = *r;
            if (c.previous_turn != no_turn) c.previous_turn = index_of({ref.part, c.previous_turn});
            if (c.next_turn != no_turn) c.next_turn = index_of({ref.part, c.next_turn});
            w.requests.push_back(std::move(c));
        }
        rewind();
        return w;
    }

private:
    struct Cursor {
        double arrival;      // before the part's shift
        std::uint64_t order; // repeat_trace's position: (rep * n + row) * copies + copy
        std::uint32_t rep;
        std::size_t row;
        std::uint32_t copy;
        bool operator<(const Cursor& o) const noexcept { // min-heap by (arrival, order)
            return arrival != o.arrival ? arrival > o.arrival : order > o.order;
        }
    };
    struct Part {
        /// Its requests (a built part) or the trace it replays.
        const Workload* list = nullptr;
        std::shared_ptr<const Workload> owned;
        std::size_t count = 0;
        /// A replayed trace: repeat >= 1 (0: a built part), its copies, timing and cursors.
        std::uint32_t repeat = 0;
        std::uint32_t copies = 1;
        double gap = 0.0, period = 0.0, shift = 0.0;
        std::priority_queue<Cursor> cursors;
        /// A built part: the next request.
        std::size_t next = 0;
        bool sessions = false;
        /// Sessions: each request's stream index.
        std::vector<std::size_t> index;
    };
    struct Head {
        double arrival;
        std::uint32_t part;
        bool operator<(const Head& o) const noexcept { // min-heap by (arrival, part)
            return arrival != o.arrival ? arrival > o.arrival : part > o.part;
        }
    };

    static Cursor cursor(const Part& p, std::uint32_t rep, std::size_t row, std::uint32_t copy) {
        // The same arithmetic as repeat_trace's, so the times are bit-identical.
        const double at = p.list->requests[row].arrival_s + (rep * p.period + p.gap * copy / p.copies);
        const std::uint64_t n = p.list->requests.size();
        return {at, (std::uint64_t{rep} * n + row) * p.copies + copy, rep, row, copy};
    }

    void push_head(std::uint32_t k) {
        const Part& p = m_parts[k];
        if (p.repeat == 0) {
            if (p.next < p.list->requests.size()) m_heads.push({p.list->requests[p.next].arrival_s, k});
        } else if (!p.cursors.empty()) {
            m_heads.push({p.cursors.top().arrival + p.shift, k});
        }
    }

    void finish_part(Part& p) {
        const auto& q = p.list->requests;
        for (const auto& r : q) {
            const std::uint64_t len = std::uint64_t{r.prompt_len} + r.output_len;
            if (len > m_stats.longest) m_stats.longest = len;
            if (!r.prompt.empty() || !r.prompt_ids.empty()) m_stats.shared_prompts = true;
            if (r.next_turn != no_turn) p.sessions = true;
        }
        m_stats.sessions = m_stats.sessions || p.sessions;
        m_stats.count += p.count;
        if (q.empty()) return;
        double last = q.back().arrival_s;
        if (p.repeat != 0) last = cursor(p, p.repeat - 1, q.size() - 1, p.copies - 1).arrival + p.shift;
        if (m_identity) // a borrowed list in its own order: its latest request
            for (const auto& r : q) last = std::max(last, r.arrival_s);
        m_stats.last_arrival_s = std::max(m_stats.last_arrival_s, last);
    }

    std::vector<Part> m_parts;
    std::priority_queue<Head> m_heads;
    WorkloadRequest m_scratch;
    std::size_t m_next_index = 0;
    bool m_identity = false;
    std::string m_description;
    WorkloadStreamStats m_stats;
};

/// The prefix-cache hits an infinite cache would give on the stream's requests in arrival
/// order (see PrefixReuseCounter), skipping requests the engine refuses (prompt + output
/// above `max_model_len`; 0 = no limit). Goes through the stream once (and rewinds it).
[[nodiscard]] inline PrefixReuseCounter ideal_prefix_reuse(WorkloadStream& s, std::uint32_t block_size,
                                                           std::uint32_t max_model_len = 0) {
    PrefixReuseCounter c(block_size);
    PromptSegments held;
    s.rewind();
    const WorkloadRequest* r = nullptr;
    StreamRef ref;
    std::size_t i = 0;
    while (s.next(r, ref, i)) {
        if (max_model_len != 0 && std::uint64_t{r->prompt_len} + r->output_len > max_model_len) continue;
        if (!r->prompt_ids.empty())
            c.observe_tokens(r->prompt_ids);
        else
            c.observe(r->prompt, r->prompt_len);
        if (r->next_turn != no_turn && r->output_len > 1) {
            // The engine also holds this turn's output but its last token (never fed back),
            // which the next turn resends.
            const PromptSegments& next = s.at({ref.part, r->next_turn}).prompt;
            held.assign(next.begin(), next.begin() + static_cast<std::ptrdiff_t>(r->prompt.size() + 1));
            held.back().length = r->output_len - 1;
            c.hold(held);
        }
    }
    s.rewind();
    return c;
}

/// ideal_prefix_reuse of a built workload (in its own order).
[[nodiscard]] inline PrefixReuseCounter ideal_prefix_reuse(const Workload& w, std::uint32_t block_size,
                                                           std::uint32_t max_model_len = 0) {
    WorkloadStream s(w);
    return ideal_prefix_reuse(s, block_size, max_model_len);
}

LLMEMU_END_NAMESPACE
