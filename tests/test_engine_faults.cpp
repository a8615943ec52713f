// Exception safety of the engines (unordered_dense's bombing-allocator idea): an executor
// whose execute() throws, or whose latency model throws, on its k-th call, for every k
// over a short run. The step that failed ends its own requests with FinishReason::error;
// the scheduler keeps no placeholder of it; every other request completes; the live
// engine keeps serving, or stops cleanly with the reason, and never terminates.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/live_engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"

using namespace llmemu;
using namespace std::chrono_literals;

namespace {

/// A latency model that throws on its k-th draw (k = 0: never); `calls` counts draws.
struct BombModel {
    double us = 1000.0;
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    int bomb_at = 0;
    template <class G>
    double sample(const StepShape&, G&) {
        if (calls->fetch_add(1) + 1 == bomb_at) throw std::runtime_error("latency model bomb");
        return us;
    }
};

/// An executor whose execute() itself throws on its k-th call (k = 0: never).
template <class C>
class BombExecutor {
public:
    BombExecutor(C& clock, int bomb_at) : m_inner(BombModel{}, clock), m_bomb_at(bomb_at) {}
    TimerFuture<StepOutput, C> execute(const StepBatch& batch) {
        if (++m_calls == m_bomb_at) throw std::runtime_error("executor bomb");
        return m_inner.execute(batch);
    }
    int calls() const { return m_calls; }

private:
    EmulatedExecutor<BombModel, C> m_inner;
    int m_bomb_at;
    int m_calls = 0;
};

EngineConfig tight_config(bool async) {
    EngineConfig c;
    c.async_scheduling = async;
    c.block_size = 16;
    c.num_gpu_blocks = 13; // 192 tokens: four requests growing to 80 tokens must preempt
    c.max_model_len = 160;
    c.max_num_batched_tokens = 48; // chunked prefills
    return c;
}

struct Events {
    std::map<RequestId, int> finals;
    std::map<RequestId, FinishReason> reason;
    std::map<RequestId, std::uint32_t> tokens;
};

/// Adds 5 requests, steps until idle catching every throw; after each throw drains the
/// steps in flight and checks that no request still holds an output placeholder.
template <class Eng>
int drive(Eng& engine, Events& ev, const char* bomb_text) {
    for (RequestId id = 1; id <= 5; ++id) {
        RequestSpec s;
        s.id = id;
        s.prompt_len = 20 + 9 * static_cast<std::uint32_t>(id);
        s.max_tokens = 12 + static_cast<std::uint32_t>(id);
        s.ignore_eos = true;
        engine.add_request(s, [&ev](const TokenEvent& e) {
            if (e.has_token) ev.tokens[e.id] = e.num_output_tokens;
            if (e.finished) {
                ++ev.finals[e.id];
                ev.reason[e.id] = e.reason;
            }
        });
    }
    int throws = 0;
    int guard = 0;
    while (engine.busy() && ++guard < 10000) {
        try {
            engine.step();
        } catch (const std::runtime_error& e) {
            ++throws;
            CHECK(std::string(e.what()) == bomb_text);
            engine.finish_in_flight();
            for (const RequestId id : engine.scheduler().unfinished_ids()) {
                const SchedulerRequest* r = engine.scheduler().find(id);
                REQUIRE(r != nullptr);
                CHECK(r->num_output_placeholders == 0); // nothing left of a step never applied
                CHECK(r->num_computed_tokens <= r->num_tokens());
            }
        }
    }
    CHECK(guard < 10000);
    return throws;
}

template <class MakeEngine>
void bomb_every_call(MakeEngine make, const char* bomb_text) {
    // The fault-free run: how many calls there are to bomb.
    int total_calls = 0;
    {
        VirtualClock clock;
        auto engine = make(clock, 0);
        Events ev;
        CHECK(drive(*engine, ev, bomb_text) == 0);
        total_calls = engine->calls();
        REQUIRE(total_calls > 10);
        CHECK(engine->stats().preemptions > 0);
    }
    for (int k = 1; k <= total_calls + 1; ++k) {
        CAPTURE(k);
        VirtualClock clock;
        auto engine = make(clock, k);
        Events ev;
        const int throws = drive(*engine, ev, bomb_text);
        const bool bombed = k <= total_calls;
        CHECK(throws == (bombed ? 1 : 0));
        CHECK(engine->stats().failed_steps == (bombed ? 1U : 0U));
        CHECK_FALSE(engine->busy());
        CHECK(engine->scheduler().kv_cache().usage() == 0.0);
        auto& records = engine->finished_records();
        REQUIRE(records.size() == 5);
        int failed = 0;
        for (const RequestRecord& r : records) {
            CAPTURE(r.id);
            CHECK(ev.finals[r.id] == 1); // exactly one final event
            CHECK(ev.reason[r.id] == r.reason);
            if (r.reason == FinishReason::error) {
                ++failed;
                CHECK(r.error.find(bomb_text) != std::string::npos);
                CHECK(r.error.find("step ") == 0);
            } else {
                CHECK(r.reason == FinishReason::length);
                CHECK(r.output_len == 12 + r.id);
                CHECK(ev.tokens[r.id] == r.output_len);
            }
        }
        CHECK(failed == (bombed ? static_cast<int>(engine->stats().num_finished(FinishReason::error)) : 0));
        if (bombed) CHECK(failed >= 1);
    }
}

template <class C>
struct ModelBombEngine : Engine<EmulatedExecutor<BombModel, C>, C> {
    using Base = Engine<EmulatedExecutor<BombModel, C>, C>;
    ModelBombEngine(C& clock, int k, bool async)
        : Base(EmulatedExecutor<BombModel, C>(BombModel{1000.0, std::make_shared<std::atomic<int>>(0), k}, clock),
               clock, tight_config(async)) {}
    int calls() { return this->executor().model().calls->load(); }
};

template <class C>
struct ExecutorBombEngine : Engine<BombExecutor<C>, C> {
    ExecutorBombEngine(C& clock, int k, bool async)
        : Engine<BombExecutor<C>, C>(BombExecutor<C>(clock, k), clock, tight_config(async)) {}
    int calls() { return this->executor().calls(); }
};

} // namespace

TEST_CASE("EngineFaults.latency_model_throws_on_every_kth_step") {
    for (const bool async : {true, false}) {
        CAPTURE(async);
        bomb_every_call([async](VirtualClock& clock,
                                int k) { return std::make_unique<ModelBombEngine<VirtualClock>>(clock, k, async); },
                        "latency model bomb");
    }
}

TEST_CASE("EngineFaults.executor_throws_on_every_kth_dispatch") {
    for (const bool async : {true, false}) {
        CAPTURE(async);
        bomb_every_call([async](VirtualClock& clock,
                                int k) { return std::make_unique<ExecutorBombEngine<VirtualClock>>(clock, k, async); },
                        "executor bomb");
    }
}

TEST_CASE("EngineFaults.run_simulation_passes_the_error_to_its_caller") {
    VirtualClock clock;
    Engine<EmulatedExecutor<BombModel, VirtualClock>, VirtualClock> engine(
        EmulatedExecutor<BombModel, VirtualClock>(BombModel{1000.0, std::make_shared<std::atomic<int>>(0), 3}, clock),
        clock, tight_config(true));
    std::vector<TimedRequest> reqs;
    for (RequestId id = 1; id <= 3; ++id) {
        RequestSpec s;
        s.id = id;
        s.prompt_len = 30;
        s.max_tokens = 8;
        reqs.push_back(TimedRequest{std::chrono::nanoseconds(0), s});
    }
    VectorRequestSource source(reqs);
    CHECK_THROWS_WITH_AS(run_simulation(engine, source, SimulationOptions{}), "latency model bomb", std::runtime_error);
    // The engine is consistent: what was left runs to the end.
    engine.run_until_idle();
    CHECK(engine.stats().failed_steps == 1);
    CHECK(engine.scheduler().kv_cache().usage() == 0.0);
}

TEST_CASE("EngineFaults.contract_violations_are_contract_errors") {
    VirtualClock clock;
    Engine<EmulatedExecutor<BombModel, VirtualClock>, VirtualClock> engine(
        EmulatedExecutor<BombModel, VirtualClock>(BombModel{}, clock), clock, tight_config(true));
    RequestSpec s;
    s.id = 1;
    s.prompt_len = 10;
    s.max_tokens = 2;
    engine.add_request(s);
    CHECK_THROWS_AS(engine.set_origin(clock.now()), contract_error);
    std::vector<TimedRequest> none;
    VectorRequestSource source(none);
    CHECK_THROWS_AS(run_simulation(engine, source, SimulationOptions{}), contract_error);
    // A contract_error is an llmemu::error, but not an input error.
    static_assert(std::is_base_of_v<error, contract_error>);
    static_assert(!std::is_base_of_v<config_error, contract_error> &&
                  !std::is_base_of_v<request_error, contract_error>);
}

namespace {
using LiveExec = EmulatedExecutor<BombModel, WallClock>;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}
} // namespace

TEST_CASE("EngineFaults.live_engine_fails_the_step_and_keeps_serving" * doctest::timeout(60)) {
    // Every k over a short run (the fault-free run makes about 10 draws).
    for (int k = 1; k <= 12; ++k) {
        CAPTURE(k);
        WallClock clock;
        EngineConfig config = tight_config(true);
        LiveEngine<LiveExec> engine(LiveExec(BombModel{100.0, std::make_shared<std::atomic<int>>(0), k}, clock), clock,
                                    config);
        std::mutex mu;
        std::map<RequestId, int> finals;
        std::map<RequestId, FinishReason> reasons;
        auto on_event = [&](const TokenEvent& e) {
            if (!e.finished) return;
            std::lock_guard lock(mu);
            ++finals[e.id];
            reasons[e.id] = e.reason;
        };
        for (int i = 0; i < 3; ++i) {
            RequestSpec s;
            s.prompt_len = 20;
            s.max_tokens = 3;
            s.ignore_eos = true;
            (void)engine.submit(s, on_event);
        }
        REQUIRE(eventually([&] { return engine.num_unfinished() == 0; }));
        // It still serves: a request after the failure completes.
        RequestSpec after;
        after.prompt_len = 10;
        after.max_tokens = 2;
        after.ignore_eos = true;
        const RequestId late = engine.submit(after, on_event);
        REQUIRE(eventually([&] { return engine.num_unfinished() == 0; }));
        std::lock_guard lock(mu);
        CHECK(finals.size() == 4);
        for (const auto& [id, n] : finals) CHECK(n == 1);
        CHECK(engine.stopped_reason().empty());
        const EngineStats st = engine.snapshot();
        const auto errors = st.num_finished(FinishReason::error);
        if (engine.last_error().empty()) {
            CHECK(errors == 0);
        } else {
            CHECK(st.failed_steps == 1);
            CHECK(errors >= 1);
            CHECK(engine.last_error().find("latency model bomb") != std::string::npos);
        }
        CHECK(reasons[late] != FinishReason::abort);
        CHECK(st.num_finished(FinishReason::length) + errors == 4);
    }
}

TEST_CASE("EngineFaults.live_engine_stops_cleanly_when_a_handler_throws" * doctest::timeout(30)) {
    WallClock clock;
    LiveEngine<LiveExec> engine(LiveExec(BombModel{100.0}, clock), clock, tight_config(true));
    std::mutex mu;
    std::map<RequestId, int> finals;
    auto quiet = [&](const TokenEvent& e) {
        if (!e.finished) return;
        std::lock_guard lock(mu);
        ++finals[e.id];
    };
    RequestSpec s;
    s.prompt_len = 20;
    s.max_tokens = 50;
    s.ignore_eos = true;
    const RequestId a = engine.submit(s, quiet);
    const RequestId b = engine.submit(s, [&](const TokenEvent& e) {
        if (e.num_output_tokens == 2 && !e.finished) throw std::runtime_error("handler bomb");
        quiet(e);
    });
    REQUIRE(eventually([&] { return !engine.stopped_reason().empty(); }));
    CHECK(engine.stopped_reason() == "handler bomb");
    REQUIRE(eventually([&] { return engine.num_unfinished() == 0; }));
    {
        std::lock_guard lock(mu);
        CHECK(finals[a] == 1); // every request left got its final event
        CHECK(finals[b] == 1);
    }
    CHECK(engine.snapshot().num_finished(FinishReason::error) == 2);
    CHECK_THROWS_WITH_AS(engine.submit(s, quiet), doctest::Contains("handler bomb"), request_error);
    engine.shutdown();
}
