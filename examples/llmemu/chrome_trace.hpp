#pragma once
// `--chrome-trace FILE`: a run as Trace Event JSON (the format chrome://tracing and
// https://ui.perfetto.dev open). Process 1 "engine" has the step timeline (one complete
// "X" event per step, prefill steps and decode steps named apart, with tokens / requests /
// new requests as args) and counters (running, waiting, KV usage) when the run recorded
// its per-step series. Process 2 "requests" has each request's queued / prefill / decode
// spans, laid out on as few lanes as possible (a lane is reused once its request ended),
// and an instant event for each refused request.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <queue>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/stats.hpp"
#include "llmemu/oracle/step_shape.hpp"

namespace llmemu::cli {

namespace chrome_detail {

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
    void close(const std::string& title) {
        m_os << "\n],\"otherData\":{\"generator\":\"llmemu\",\"title\":\"" << trace_escape(title) << "\"}}\n";
    }

private:
    std::ostream& m_os;
    bool m_first = true;
};

} // namespace chrome_detail

namespace chrome_detail {

/// One engine's steps, gauges and requests as two processes: `pid` (steps, counters) and
/// `pid + 1` (request lanes).
template <class Steps, class Record>
void write_engine(TraceWriter& w, int pid, const std::string& engine_name, const std::string& requests_name,
                  const Steps& steps, const std::vector<llmemu::StepStat>& series,
                  const std::vector<const Record*>& records) {
    char buf[256];
    std::snprintf(buf, sizeof buf, R"({"ph":"M","pid":%d,"name":"process_name","args":{"name":"%s"}})", pid,
                  trace_escape(engine_name).c_str());
    w.raw(buf);
    std::snprintf(buf, sizeof buf, R"({"ph":"M","pid":%d,"tid":1,"name":"thread_name","args":{"name":"steps"}})", pid);
    w.raw(buf);
    std::snprintf(buf, sizeof buf, R"({"ph":"M","pid":%d,"name":"process_name","args":{"name":"%s"}})", pid + 1,
                  trace_escape(requests_name).c_str());
    w.raw(buf);
    for (const auto& s : steps) {
        const bool prefill = s.shape.phase == Phase::prefill;
        std::snprintf(buf, sizeof buf, "\"tokens\":%u,\"requests\":%u,\"new\":%u",
                      static_cast<unsigned>(s.shape.total_tokens), static_cast<unsigned>(s.shape.num_requests),
                      static_cast<unsigned>(s.num_new));
        w.span(pid, 1, prefill ? "prefill step" : "decode step", s.start, s.end, buf);
    }
    for (const auto& p : series) {
        std::snprintf(
            buf, sizeof buf,
            "{\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,\"name\":\"queues\",\"args\":{\"running\":%u,\"waiting\":%u}}", pid,
            trace_us(p.time), static_cast<unsigned>(p.running), static_cast<unsigned>(p.waiting));
        w.raw(buf);
        std::snprintf(buf, sizeof buf,
                      "{\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,\"name\":\"kv_usage\",\"args\":{\"kv\":%.4f}}", pid,
                      trace_us(p.time), p.kv_usage);
        w.raw(buf);
    }
    const int rpid = pid + 1;
    // Lanes: requests in arrival order take the lowest free lane.
    std::vector<const Record*> order = records;
    std::stable_sort(order.begin(), order.end(),
                     [](const Record* a, const Record* b) { return a->arrival < b->arrival; });
    using Busy = std::pair<std::chrono::nanoseconds, std::uint64_t>; // (end, lane)
    std::priority_queue<Busy, std::vector<Busy>, std::greater<>> busy;
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> free_lanes;
    std::uint64_t lanes = 0;
    constexpr auto unset = std::chrono::nanoseconds{-1};
    for (const Record* rp : order) {
        const auto& r = *rp;
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
            std::snprintf(buf, sizeof buf, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%llu,\"ts\":%.3f,\"name\":\"",
                          rpid, static_cast<unsigned long long>(lane), trace_us(r.arrival));
            w.raw(std::string(buf) + trace_escape(id + " " + to_string(r.reason)) + "\",\"args\":{" + args +
                  ",\"error\":\"" + trace_escape(r.error) + "\"}}");
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

} // namespace chrome_detail

/// Writes `result` (a SimulationResult: `steps` with start/end/shape/num_new, `records`,
/// `stats.series`) as Trace Event JSON: process 1 "engine", process 2 "requests".
template <class Result>
void write_chrome_trace(std::ostream& os, const Result& result, const std::string& title) {
    chrome_detail::TraceWriter w(os);
    using Record = std::decay_t<decltype(result.records.front())>;
    std::vector<const Record*> records;
    records.reserve(result.records.size());
    for (const auto& r : result.records) records.push_back(&r);
    chrome_detail::write_engine(w, 1, "engine", "requests", result.steps, result.stats.series, records);
    w.close(title);
}

/// Writes a fleet run as Trace Event JSON: replica i is processes 2i + 1 ("replica i":
/// its steps and gauges) and 2i + 2 ("replica i requests"). `record_replica[k]` is the
/// replica of records[k].
template <class Record>
void write_fleet_chrome_trace(std::ostream& os, const std::vector<std::vector<llmemu::StepRecord>>& steps,
                              const std::vector<llmemu::EngineStats>& stats, const std::vector<Record>& records,
                              const std::vector<std::uint32_t>& record_replica, const std::string& title) {
    chrome_detail::TraceWriter w(os);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        std::vector<const Record*> mine;
        for (std::size_t k = 0; k < records.size(); ++k)
            if (k < record_replica.size() && record_replica[k] == i) mine.push_back(&records[k]);
        const std::string name = "replica " + std::to_string(i);
        chrome_detail::write_engine(w, static_cast<int>(2 * i + 1), name, name + " requests", steps[i],
                                    i < stats.size() ? stats[i].series : std::vector<llmemu::StepStat>{}, mine);
    }
    w.close(title);
}

} // namespace llmemu::cli
