// Engine observers (observer.hpp): every step and request event reaches each attached
// observer, in order, without changing the run; the step log and the time series are
// observers; a failed step is reported before its requests finish.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/engine/chrome_trace.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/observer.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/analytic.hpp"
#include "llmemu/time/virtual_clock.hpp"

using namespace llmemu;
using std::chrono::nanoseconds;

namespace {

struct Counting final : EngineObserver {
    std::uint64_t begun = 0, ended = 0, failed = 0, arrived = 0, scheduled = 0, preempted = 0, first = 0, finished = 0;
    std::map<RequestId, std::vector<std::string>> life; // each request's events, in order
    std::vector<StepRecord> steps;
    std::uint64_t last_step_id = 0;
    bool step_ids_increase = true;
    bool ended_after_begun = true;
    std::string failure;

    void on_step_begin(const StepBatch& b, nanoseconds, const EngineStats&) override {
        if (begun > 0 && b.step_id <= last_step_id) step_ids_increase = false;
        last_step_id = b.step_id;
        ++begun;
    }
    void on_step_end(const StepRecord& s, nanoseconds now, const EngineStats& st) override {
        ++ended;
        if (ended > begun || s.end > now || st.steps < ended) ended_after_begun = false;
        steps.push_back(s);
    }
    void on_step_failed(std::uint64_t, const std::string& why) override {
        ++failed;
        failure = why;
    }
    void on_request_arrived(RequestId id, nanoseconds) override {
        ++arrived;
        life[id].push_back("arrived");
    }
    void on_request_scheduled(RequestId id, nanoseconds) override {
        ++scheduled;
        life[id].push_back("scheduled");
    }
    void on_request_preempted(RequestId id, nanoseconds) override {
        ++preempted;
        life[id].push_back("preempted");
    }
    void on_first_token(RequestId id, nanoseconds) override {
        ++first;
        life[id].push_back("first");
    }
    void on_request_finished(const RequestRecord& r) override {
        ++finished;
        life[r.id].push_back(std::string("finished:") + to_string(r.reason));
    }
};

using Exec = EmulatedExecutor<ConstantProfile, VirtualClock>;

EngineConfig small_pool() {
    EngineConfig c;
    c.block_size = 16;
    c.num_gpu_blocks = 20; // preempts under the workload below
    c.max_model_len = 256;
    c.max_num_batched_tokens = 64;
    return c;
}

std::vector<TimedRequest> workload() {
    std::vector<TimedRequest> w;
    for (RequestId id = 1; id <= 12; ++id) {
        RequestSpec s;
        s.id = id;
        s.prompt_len = 30 + 7 * static_cast<std::uint32_t>(id % 5);
        s.max_tokens = 20 + static_cast<std::uint32_t>(id % 3) * 10;
        s.ignore_eos = true;
        w.push_back(TimedRequest{std::chrono::milliseconds(3 * id), s});
    }
    RequestSpec too_long;
    too_long.id = 99;
    too_long.prompt_len = 250;
    too_long.max_tokens = 50;
    w.push_back(TimedRequest{std::chrono::milliseconds(5), too_long}); // rejected
    return w;
}

} // namespace

TEST_CASE("EngineObserver.sees_every_event_and_changes_nothing") {
    SimulationOptions o;
    o.record_steps = true;
    SimulationResult plain;
    {
        VirtualClock clock;
        Engine<Exec, VirtualClock> engine(Exec(ConstantProfile{2.0}, clock), clock, small_pool());
        plain = run_simulation(engine, workload(), o);
    }
    VirtualClock clock;
    Engine<Exec, VirtualClock> engine(Exec(ConstantProfile{2.0}, clock), clock, small_pool());
    Counting a, b;
    engine.add_observer(&a);
    engine.add_observer(&b);
    engine.add_observer(&a); // once only
    const SimulationResult seen = run_simulation(engine, workload(), o);
    const EngineStats& st = seen.stats;
    REQUIRE(st.preemptions > 0);
    // The same run with and without observers.
    REQUIRE(seen.records.size() == plain.records.size());
    for (std::size_t k = 0; k < seen.records.size(); ++k) {
        CHECK(seen.records[k].id == plain.records[k].id);
        CHECK(seen.records[k].finish == plain.records[k].finish);
    }
    for (const Counting* c : {&a, &b}) {
        CHECK(c->arrived == 13);
        CHECK(c->finished == 13);
        CHECK(c->scheduled == 12);
        CHECK(c->first == 12);
        CHECK(c->preempted == st.preemptions);
        CHECK(c->begun == st.steps);
        CHECK(c->ended == st.steps);
        CHECK(c->failed == 0);
        CHECK(c->step_ids_increase);
        CHECK(c->ended_after_begun);
        // The step log run_simulation keeps is the observer's view too.
        REQUIRE(c->steps.size() == seen.steps.size());
        for (std::size_t k = 0; k < c->steps.size(); ++k) {
            CHECK(c->steps[k].start == seen.steps[k].start);
            CHECK(c->steps[k].end == seen.steps[k].end);
            CHECK(c->steps[k].num_new == seen.steps[k].num_new);
        }
    }
    // Each request's life in order: arrived, scheduled, (preempted...), first token, finished.
    for (const auto& life : a.life) {
        const RequestId id = life.first;
        const std::vector<std::string>& events = life.second;
        CAPTURE(id);
        REQUIRE(events.size() >= 2);
        CHECK(events.front() == "arrived");
        if (id == 99) {
            CHECK(events == std::vector<std::string>{"arrived", "finished:rejected"});
            continue;
        }
        CHECK(events[1] == "scheduled");
        CHECK(events.back() == "finished:length");
        CHECK(std::count(events.begin(), events.end(), "first") == 1);
    }
    CHECK(engine.remove_observer(&a));
    CHECK_FALSE(engine.remove_observer(&a));
    CHECK(engine.scheduler().observers().size() == 1); // run_simulation detached its own
}

namespace {
struct ThrowingModel {
    int calls = 0;
    template <class G>
    double sample(const StepShape&, G&) {
        if (++calls == 4) throw std::runtime_error("model failed");
        return 1000.0;
    }
};
} // namespace

TEST_CASE("EngineObserver.failed_step_is_reported_before_its_requests_finish") {
    VirtualClock clock;
    Engine<EmulatedExecutor<ThrowingModel, VirtualClock>, VirtualClock> engine(
        EmulatedExecutor<ThrowingModel, VirtualClock>(ThrowingModel{}, clock), clock, small_pool());
    struct Order final : EngineObserver {
        std::vector<std::string> log;
        void on_step_failed(std::uint64_t, const std::string& why) override { log.push_back("failed " + why); }
        void on_request_finished(const RequestRecord& r) override {
            log.push_back(std::string("finished ") + to_string(r.reason));
        }
    } order;
    engine.add_observer(&order);
    RequestSpec s;
    s.id = 1;
    s.prompt_len = 20;
    s.max_tokens = 10;
    s.ignore_eos = true;
    engine.add_request(s);
    CHECK_THROWS_AS(engine.run_until_idle(), std::runtime_error);
    REQUIRE(order.log.size() == 2);
    CHECK(order.log[0].find("failed step ") == 0);
    CHECK(order.log[0].find("model failed") != std::string::npos);
    CHECK(order.log[1] == "finished error");
}

TEST_CASE("EngineObserver.chrome_trace_records_the_run_and_writes_trace_events") {
    SimulationOptions o;
    o.record_steps = true; // the step log and per-step series, to compare with
    VirtualClock clock;
    Engine<Exec, VirtualClock> engine(Exec(ConstantProfile{2.0}, clock), clock, small_pool());
    ChromeTraceObserver trace;
    engine.add_observer(&trace);
    const SimulationResult res = run_simulation(engine, workload(), o);
    // What the observer saw is the run's own step log, gauges and records.
    REQUIRE(trace.steps().size() == res.steps.size());
    for (std::size_t k = 0; k < res.steps.size(); ++k) {
        CHECK(trace.steps()[k].start == res.steps[k].start);
        CHECK(trace.steps()[k].end == res.steps[k].end);
        CHECK(trace.steps()[k].shape.total_tokens == res.steps[k].shape.total_tokens);
    }
    REQUIRE(trace.gauges().size() == res.stats.series.size());
    for (std::size_t k = 0; k < res.stats.series.size(); ++k) {
        CHECK(trace.gauges()[k].time == res.stats.series[k].time);
        CHECK(trace.gauges()[k].running == res.stats.series[k].running);
        CHECK(trace.gauges()[k].waiting == res.stats.series[k].waiting);
        CHECK(trace.gauges()[k].kv_usage == res.stats.series[k].kv_usage);
    }
    REQUIRE(trace.requests().size() == res.records.size());
    for (std::size_t k = 0; k < res.records.size(); ++k) {
        CHECK(trace.requests()[k].id == res.records[k].id);
        CHECK(trace.requests()[k].finish == res.records[k].finish);
    }
    std::ostringstream os;
    trace.write(os, "a \"quoted\" title");
    const auto j = nlohmann::json::parse(os.str());
    CHECK(j["otherData"]["title"] == "a \"quoted\" title");
    std::size_t steps = 0, counters = 0, refused = 0;
    for (const auto& e : j["traceEvents"]) {
        if (e["ph"] == "X" && e["pid"] == 1) ++steps;
        if (e["ph"] == "C") ++counters;
        if (e["ph"] == "i") ++refused;
    }
    CHECK(steps == res.steps.size());
    CHECK(counters == 2 * res.stats.series.size()); // queues and kv_usage per step
    CHECK(refused == 1);                            // request 99, too long
    CHECK(j["traceEvents"][0]["args"]["name"] == "engine");
    CHECK(j["traceEvents"][2]["args"]["name"] == "requests");
    trace.clear();
    CHECK(trace.steps().empty());
    CHECK(trace.requests().empty());
}

TEST_CASE("EngineObserver.chrome_trace_lanes_spans_and_fleet_processes") {
    using namespace std::chrono_literals;
    ChromeTraceObserver t("replica 0", "replica 0 requests");
    const EngineStats st;
    t.on_step_end({0ms, 30ms, {Phase::prefill, 100, 2, 0}, 2}, 30ms, st);
    t.on_step_end({30ms, 60ms, {Phase::decode, 2, 2, 0}, 0}, 60ms, st);
    RequestRecord a;
    a.id = 0;
    a.arrival = 0ms;
    a.first_scheduled = 0ms;
    a.first_token = 30ms;
    a.finish = 60ms;
    a.reason = FinishReason::length;
    RequestRecord b = a;
    b.id = 1;
    RequestRecord c; // refused on arrival, after a and b finished: reuses lane 1
    c.id = 2;
    c.arrival = 70ms;
    c.finish = 70ms;
    c.reason = FinishReason::rejected;
    c.error = "prompt \"too\" long";
    for (const RequestRecord* r : {&a, &b, &c}) t.on_request_finished(*r);
    ChromeTraceObserver other("replica 1", "replica 1 requests");
    other.on_step_end({5ms, 9ms, {Phase::decode, 1, 1, 0}, 0}, 9ms, st);
    std::ostringstream os;
    const std::vector<const ChromeTraceObserver*> fleet{&t, &other};
    write_chrome_trace(os, fleet, "fleet");
    const auto j = nlohmann::json::parse(os.str());
    const auto& ev = j["traceEvents"];
    int steps = 0, spans = 0, instants = 0, lanes = 0, replica1_steps = 0;
    for (const auto& e : ev) {
        if (e["ph"] == "X" && e["pid"] == 1) ++steps;
        if (e["ph"] == "X" && e["pid"] == 2) ++spans;
        if (e["ph"] == "X" && e["pid"] == 3) ++replica1_steps;
        if (e["ph"] == "i") ++instants;
        if (e["ph"] == "M" && e["pid"] == 2 && e["name"] == "thread_name") ++lanes;
    }
    CHECK(steps == 2);
    CHECK(spans == 6); // queued (zero length) + prefill + decode for two requests
    CHECK(instants == 1);
    CHECK(lanes == 2);
    CHECK(replica1_steps == 1);
    CHECK(ev[3]["ts"].get<double>() == doctest::Approx(0.0));
    CHECK(ev[3]["dur"].get<double>() == doctest::Approx(30000.0));
    CHECK(os.str().find("\"replica 1 requests\"") != std::string::npos);
}
