#pragma once
/// \file chrome_trace.hpp
/// ChromeTraceObserver: an EngineObserver that records one engine's run and writes it as
/// Trace Event JSON (the format chrome://tracing and https://ui.perfetto.dev open), as
/// Taskflow's in-library ChromeObserver does for a taskflow. `llmemu simulate
/// --chrome-trace FILE` attaches one per engine.
///
/// Each engine is two processes: "engine" has the step timeline (one complete "X" event per
/// step, prefill steps and decode steps named apart, with tokens / requests / new requests
/// as args) and counters (running, waiting, KV usage after each step was scheduled);
/// "requests" has each request's queued / prefill / decode spans, laid out on as few lanes
/// as possible (a lane is reused once its request ended), and an instant event for each
/// refused request. Engine k of write_chrome_trace's list is processes 2k + 1 and 2k + 2.
///
/// Memory grows with the run: a StepRecord and a gauge point per step, a slim record per
/// request. The hooks run on the engine's thread (observer.hpp); write after the run.
///
/// ```cpp
/// llmemu::ChromeTraceObserver trace;
/// engine.add_observer(&trace);
/// llmemu::run_simulation(engine, workload);
/// std::ofstream out("run.trace.json");
/// trace.write(out, "my run");
/// ```

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/request.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {

inline double trace_us(std::chrono::nanoseconds ns) {
    return static_cast<double>(ns.count()) / 1000.0;
}

inline std::string trace_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

class TraceWriter {
public:
    explicit TraceWriter(std::ostream& os) : m_os(os) { m_os << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n"; }
    void raw(const std::string& event) {
        if (!m_first) m_os << ",\n";
        m_first = false;
        m_os << event;
    }
    void span(int pid, std::uint64_t tid, std::string_view name, std::chrono::nanoseconds begin,
              std::chrono::nanoseconds end, const std::string& args) {
        if (end < begin) return;
        char buf[256];
        std::snprintf(buf, sizeof buf, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%llu,\"ts\":%.3f,\"dur\":%.3f,\"name\":\"",
                      pid, static_cast<unsigned long long>(tid), trace_us(begin), trace_us(end) - trace_us(begin));
        raw(std::string(buf) + trace_escape(name) + "\",\"args\":{" + args + "}}");
    }
    void close(std::string_view title) {
        m_os << "\n],\"otherData\":{\"generator\":\"llmemu\",\"title\":\"" << trace_escape(title) << "\"}}\n";
    }

private:
    std::ostream& m_os;
    bool m_first = true;
};

} // namespace detail

/// Records one engine's steps, gauges and requests for a Chrome trace (see the file
/// comment). Attach it with Engine::add_observer before the run; write it after.
class ChromeTraceObserver final : public EngineObserver {
public:
    /// What the trace keeps of a finished (or refused) request.
    struct Request {
        RequestId id = 0;
        std::uint32_t prompt_len = 0;
        std::uint32_t output_len = 0;
        std::uint32_t num_preemptions = 0;
        std::chrono::nanoseconds arrival{0};
        std::chrono::nanoseconds first_scheduled = RequestRecord::unset;
        std::chrono::nanoseconds first_token = RequestRecord::unset;
        std::chrono::nanoseconds finish = RequestRecord::unset;
        FinishReason reason = FinishReason::none;
        std::string error;
    };
    /// The gauges after a step was scheduled.
    struct Gauge {
        std::chrono::nanoseconds time{0};
        std::uint32_t running = 0;
        std::uint32_t waiting = 0;
        double kv_usage = 0.0;
    };

    /// `process_name` names the engine's step process, `requests_name` its request lanes
    /// (a fleet's replica i: "replica i" and "replica i requests").
    explicit ChromeTraceObserver(std::string process_name = "engine", std::string requests_name = "requests")
        : m_name(std::move(process_name)), m_requests_name(std::move(requests_name)) {}

    void on_step_begin(const StepBatch&, std::chrono::nanoseconds now, const EngineStats& stats) override {
        m_gauges.push_back({now, stats.running, stats.waiting, stats.kv_usage});
    }
    void on_step_end(const StepRecord& step, std::chrono::nanoseconds, const EngineStats&) override {
        m_steps.push_back(step);
    }
    void on_request_finished(const RequestRecord& r) override {
        m_requests.push_back({r.id, r.prompt_len, r.output_len, r.num_preemptions, r.arrival, r.first_scheduled,
                              r.first_token, r.finish, r.reason, r.error});
    }

    [[nodiscard]] const std::string& name() const noexcept { return m_name; }
    [[nodiscard]] const std::string& requests_name() const noexcept { return m_requests_name; }
    /// Executed steps, in the order their outputs were applied.
    [[nodiscard]] const std::vector<StepRecord>& steps() const noexcept { return m_steps; }
    /// One point per dispatched step.
    [[nodiscard]] const std::vector<Gauge>& gauges() const noexcept { return m_gauges; }
    /// Requests in the order they finished (refusals included).
    [[nodiscard]] const std::vector<Request>& requests() const noexcept { return m_requests; }
    /// Forgets what was recorded (to reuse the observer for another run).
    void clear() noexcept {
        m_steps.clear();
        m_gauges.clear();
        m_requests.clear();
    }

    /// Writes this engine's run alone: a whole Trace Event JSON document titled `title`.
    void write(std::ostream& os, std::string_view title) const;

    /// Appends this engine's events as processes `pid` (steps, counters) and `pid + 1`
    /// (request lanes) to a document being written.
    void write_events(detail::TraceWriter& w, int pid) const {
        char buf[256];
        std::snprintf(buf, sizeof buf, R"({"ph":"M","pid":%d,"name":"process_name","args":{"name":"%s"}})", pid,
                      detail::trace_escape(m_name).c_str());
        w.raw(buf);
        std::snprintf(buf, sizeof buf, R"({"ph":"M","pid":%d,"tid":1,"name":"thread_name","args":{"name":"steps"}})",
                      pid);
        w.raw(buf);
        std::snprintf(buf, sizeof buf, R"({"ph":"M","pid":%d,"name":"process_name","args":{"name":"%s"}})", pid + 1,
                      detail::trace_escape(m_requests_name).c_str());
        w.raw(buf);
        for (const auto& s : m_steps) {
            const bool prefill = s.shape.phase == Phase::prefill;
            std::snprintf(buf, sizeof buf, "\"tokens\":%u,\"requests\":%u,\"new\":%u",
                          static_cast<unsigned>(s.shape.total_tokens), static_cast<unsigned>(s.shape.num_requests),
                          static_cast<unsigned>(s.num_new));
            w.span(pid, 1, prefill ? "prefill step" : "decode step", s.start, s.end, buf);
        }
        for (const auto& p : m_gauges) {
            std::snprintf(
                buf, sizeof buf,
                "{\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,\"name\":\"queues\",\"args\":{\"running\":%u,\"waiting\":%u}}",
                pid, detail::trace_us(p.time), static_cast<unsigned>(p.running), static_cast<unsigned>(p.waiting));
            w.raw(buf);
            std::snprintf(buf, sizeof buf,
                          "{\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,\"name\":\"kv_usage\",\"args\":{\"kv\":%.4f}}", pid,
                          detail::trace_us(p.time), p.kv_usage);
            w.raw(buf);
        }
        const int rpid = pid + 1;
        // Lanes: requests in arrival order take the lowest free lane.
        std::vector<const Request*> order;
        order.reserve(m_requests.size());
        for (const Request& r : m_requests) order.push_back(&r);
        std::stable_sort(order.begin(), order.end(),
                         [](const Request* a, const Request* b) { return a->arrival < b->arrival; });
        using Busy = std::pair<std::chrono::nanoseconds, std::uint64_t>; // (end, lane)
        std::priority_queue<Busy, std::vector<Busy>, std::greater<>> busy;
        std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> free_lanes;
        std::uint64_t lanes = 0;
        constexpr auto unset = RequestRecord::unset;
        for (const Request* rp : order) {
            const Request& r = *rp;
            while (!busy.empty() && busy.top().first <= r.arrival) {
                free_lanes.push(busy.top().second);
                busy.pop();
            }
            std::uint64_t lane = 0;
            if (free_lanes.empty()) {
                lane = ++lanes;
                std::snprintf(
                    buf, sizeof buf,
                    "{\"ph\":\"M\",\"pid\":%d,\"tid\":%llu,\"name\":\"thread_name\",\"args\":{\"name\":\"lane %llu\"}}",
                    rpid, static_cast<unsigned long long>(lane), static_cast<unsigned long long>(lane));
                w.raw(buf);
            } else {
                lane = free_lanes.top();
                free_lanes.pop();
            }
            const auto end = r.finish == unset ? r.arrival : r.finish;
            busy.emplace(end, lane);
            std::snprintf(buf, sizeof buf, "\"id\":%llu,\"prompt\":%u,\"output\":%u,\"preemptions\":%u",
                          static_cast<unsigned long long>(r.id), static_cast<unsigned>(r.prompt_len),
                          static_cast<unsigned>(r.output_len), static_cast<unsigned>(r.num_preemptions));
            const std::string args = buf;
            const std::string id = "req " + std::to_string(r.id);
            if (r.first_scheduled == unset) {
                std::snprintf(buf, sizeof buf,
                              "{\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%llu,\"ts\":%.3f,\"name\":\"", rpid,
                              static_cast<unsigned long long>(lane), detail::trace_us(r.arrival));
                w.raw(std::string(buf) + detail::trace_escape(id + " " + to_string(r.reason)) + "\",\"args\":{" + args +
                      ",\"error\":\"" + detail::trace_escape(r.error) + "\"}}");
                continue;
            }
            w.span(rpid, lane, id + " queued", r.arrival, r.first_scheduled, args);
            if (r.first_token != unset) {
                w.span(rpid, lane, id + " prefill", r.first_scheduled, r.first_token, args);
                if (r.finish != unset) w.span(rpid, lane, id + " decode", r.first_token, r.finish, args);
            } else if (r.finish != unset) {
                w.span(rpid, lane, id + " " + to_string(r.reason), r.first_scheduled, r.finish, args);
            }
        }
    }

private:
    std::string m_name;
    std::string m_requests_name;
    std::vector<StepRecord> m_steps;
    std::vector<Gauge> m_gauges;
    std::vector<Request> m_requests;
};

/// Writes several engines' runs (a fleet's replicas, in order) as one Trace Event JSON
/// document titled `title`: engine k is processes 2k + 1 and 2k + 2.
inline void write_chrome_trace(std::ostream& os, std::span<const ChromeTraceObserver* const> engines,
                               std::string_view title) {
    detail::TraceWriter w(os);
    for (std::size_t k = 0; k < engines.size(); ++k) engines[k]->write_events(w, static_cast<int>(2 * k + 1));
    w.close(title);
}

inline void ChromeTraceObserver::write(std::ostream& os, std::string_view title) const {
    const ChromeTraceObserver* self = this;
    write_chrome_trace(os, std::span<const ChromeTraceObserver* const>(&self, 1), title);
}

LLMEMU_END_NAMESPACE
