#pragma once
// `--chrome-trace FILE`: a run as Trace Event JSON (the format chrome://tracing and
// https://ui.perfetto.dev open). Process 1 "engine" has the step timeline (one complete
// "X" event per step, prefill steps and decode steps named apart, with tokens / requests /
// new requests as args) and counters (running, waiting, KV usage) when the run recorded
// its per-step series. Process 2 "requests" has each request's queued / prefill / decode
// spans, laid out on as few lanes as possible (a lane is reused once its request ended),
// and an instant event for each refused request.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// Writes `result` (a SimulationResult: `steps` with start/end/shape/num_new, `records`,
/// `stats.series`) as Trace Event JSON.
template <class Result>
void write_chrome_trace(std::ostream& os, const Result& result, const std::string& title) {
    chrome_detail::TraceWriter w(os);
    w.raw(R"({"ph":"M","pid":1,"name":"process_name","args":{"name":"engine"}})");
    w.raw(R"({"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"steps"}})");
    w.raw(R"({"ph":"M","pid":2,"name":"process_name","args":{"name":"requests"}})");
    char buf[256];
    for (const auto& s : result.steps) {
        const bool prefill = s.shape.phase == Phase::prefill;
        std::snprintf(buf, sizeof buf, "\"tokens\":%u,\"requests\":%u,\"new\":%u",
                      static_cast<unsigned>(s.shape.total_tokens), static_cast<unsigned>(s.shape.num_requests),
                      static_cast<unsigned>(s.num_new));
        w.span(1, 1, prefill ? "prefill step" : "decode step", s.start, s.end, buf);
    }
    for (const auto& p : result.stats.series) {
        std::snprintf(
            buf, sizeof buf,
            "{\"ph\":\"C\",\"pid\":1,\"ts\":%.3f,\"name\":\"queues\",\"args\":{\"running\":%u,\"waiting\":%u}}",
            chrome_detail::trace_us(p.time), static_cast<unsigned>(p.running), static_cast<unsigned>(p.waiting));
        w.raw(buf);
        std::snprintf(buf, sizeof buf,
                      "{\"ph\":\"C\",\"pid\":1,\"ts\":%.3f,\"name\":\"kv_usage\",\"args\":{\"kv\":%.4f}}",
                      chrome_detail::trace_us(p.time), p.kv_usage);
        w.raw(buf);
    }
    // Lanes: requests in arrival order take the lowest free lane.
    std::vector<std::size_t> order(result.records.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return result.records[a].arrival < result.records[b].arrival;
    });
    using Busy = std::pair<std::chrono::nanoseconds, std::uint64_t>; // (end, lane)
    std::priority_queue<Busy, std::vector<Busy>, std::greater<>> busy;
    std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> free_lanes;
    std::uint64_t lanes = 0;
    constexpr auto unset = std::chrono::nanoseconds{-1};
    for (std::size_t idx : order) {
        const auto& r = result.records[idx];
        while (!busy.empty() && busy.top().first <= r.arrival) {
            free_lanes.push(busy.top().second);
            busy.pop();
        }
        std::uint64_t lane = 0;
        if (free_lanes.empty()) {
            lane = ++lanes;
            std::snprintf(
                buf, sizeof buf,
                "{\"ph\":\"M\",\"pid\":2,\"tid\":%llu,\"name\":\"thread_name\",\"args\":{\"name\":\"lane %llu\"}}",
                static_cast<unsigned long long>(lane), static_cast<unsigned long long>(lane));
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
            std::snprintf(buf, sizeof buf, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":2,\"tid\":%llu,\"ts\":%.3f,\"name\":\"",
                          static_cast<unsigned long long>(lane), chrome_detail::trace_us(r.arrival));
            w.raw(std::string(buf) + chrome_detail::trace_escape(id + " " + to_string(r.reason)) + "\",\"args\":{" +
                  args + ",\"error\":\"" + chrome_detail::trace_escape(r.error) + "\"}}");
            continue;
        }
        w.span(2, lane, id + " queued", r.arrival, r.first_scheduled, args);
        if (r.first_token != unset) {
            w.span(2, lane, id + " prefill", r.first_scheduled, r.first_token, args);
            if (r.finish != unset) w.span(2, lane, id + " decode", r.first_token, r.finish, args);
        } else if (r.finish != unset) {
            w.span(2, lane, id + " " + to_string(r.reason), r.first_scheduled, r.finish, args);
        }
    }
    w.close(title);
}

} // namespace llmemu::cli
