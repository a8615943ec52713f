// LiveEngine: the engine on its own thread over the wall clock; submit/abort/snapshot/
// shutdown from many threads (run under TSan in CI).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "llmemu/engine/live_engine.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/profile/analytic.hpp"

using namespace llmemu;
using namespace std::chrono_literals;

namespace {
using Exec = EmulatedExecutor<ConstantProfile, WallClock>;

EngineConfig live_config() {
    EngineConfig c;
    c.num_gpu_blocks = 2000;
    c.max_model_len = 2048;
    return c;
}

RequestSpec spec(std::uint32_t prompt, std::uint32_t max_tokens) {
    RequestSpec s;
    s.prompt_len = prompt;
    s.max_tokens = max_tokens;
    s.ignore_eos = true;
    return s;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}
} // namespace

TEST_CASE("LiveEngine.stream.tokens_in_order_then_one_final_event" * doctest::timeout(10)) {
    WallClock clock;
    LiveEngine<Exec> engine(Exec(ConstantProfile{2.0}, clock), clock, live_config());
    std::mutex mu;
    std::vector<TokenEvent> events;
    std::atomic<bool> done{false};
    const RequestId id = engine.submit(spec(40, 6), [&](const TokenEvent& e) {
        std::lock_guard lock(mu);
        events.push_back(e);
        if (e.finished) done = true;
    });
    CHECK(id != 0);
    REQUIRE(wait_for([&] { return done.load(); }));
    std::lock_guard lock(mu);
    REQUIRE(events.size() == 6);
    for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(events[i].id == id);
        CHECK(events[i].num_output_tokens == i + 1);
        CHECK(events[i].has_token);
        CHECK(events[i].finished == (i + 1 == events.size()));
        if (i > 0) CHECK(events[i].time >= events[i - 1].time);
    }
    CHECK(events.back().reason == FinishReason::length);
    CHECK(events.back().time >= 12ms); // six 2 ms steps at least
    CHECK(wait_for([&] { return engine.num_unfinished() == 0; }));
    const EngineStats st = engine.snapshot();
    CHECK(st.generation_tokens == 6);
    CHECK(st.num_finished(FinishReason::length) == 1);
}

TEST_CASE("LiveEngine.submit.refuses_requests_that_can_never_run" * doctest::timeout(10)) {
    WallClock clock;
    LiveEngine<Exec> engine(Exec(ConstantProfile{1.0}, clock), clock, live_config());
    CHECK_THROWS_AS(engine.submit(spec(2000, 100), {}), request_error);
    CHECK_THROWS_AS(engine.submit(spec(0, 10), {}), request_error);
    RequestSpec a = spec(10, 200);
    a.id = 77;
    CHECK(engine.submit(a, {}) == 77);
    CHECK_THROWS_AS(engine.submit(a, {}), request_error); // id in flight
    const EngineStats st = engine.snapshot();
    CHECK(st.rejected() == 3);
    engine.abort(77);
    CHECK(wait_for([&] { return engine.num_unfinished() == 0; }));
    CHECK(engine.snapshot().num_finished(FinishReason::abort) == 1);
    engine.shutdown();
    CHECK_THROWS_AS(engine.submit(spec(10, 10), {}), request_error);
}

TEST_CASE("LiveEngine.concurrency.submit_abort_snapshot_from_many_threads" * doctest::timeout(20)) {
    WallClock clock;
    LiveEngine<Exec> engine(Exec(ConstantProfile{1.0}, clock), clock, live_config());
    std::atomic<int> finished{0};
    std::atomic<int> aborted{0};
    std::atomic<int> tokens{0};
    std::mutex mu;
    std::vector<RequestId> ids;
    std::atomic<bool> stop_snap{false};
    std::thread snapper([&] {
        while (!stop_snap) {
            const EngineStats s = engine.snapshot();
            CHECK(s.kv_usage >= 0.0);
            CHECK(s.kv_usage <= 1.0);
            std::this_thread::sleep_for(200us);
        }
    });
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                const RequestId id =
                    engine.submit(spec(20 + static_cast<std::uint32_t>(t * 10 + i), 8), [&](const TokenEvent& e) {
                        if (e.has_token) ++tokens;
                        if (e.finished) {
                            ++finished;
                            if (e.reason == FinishReason::abort) ++aborted;
                        }
                    });
                {
                    std::lock_guard lock(mu);
                    ids.push_back(id);
                }
                if (i % 5 == 0) engine.abort(id);
                std::this_thread::sleep_for(300us);
            }
        });
    }
    for (auto& c : clients) c.join();
    REQUIRE(wait_for([&] { return finished.load() == 80; }));
    stop_snap = true;
    snapper.join();
    {
        std::lock_guard lock(mu);
        CHECK(std::set<RequestId>(ids.begin(), ids.end()).size() == 80); // fresh ids
    }
    CHECK(wait_for([&] { return engine.num_unfinished() == 0; }));
    const EngineStats st = engine.snapshot();
    CHECK(st.num_finished(FinishReason::abort) == static_cast<std::uint64_t>(aborted.load()));
    CHECK(st.num_finished(FinishReason::length) + st.num_finished(FinishReason::abort) == 80);
    CHECK(st.generation_tokens == static_cast<std::uint64_t>(tokens.load()));
    CHECK(st.running == 0);
    CHECK(st.waiting == 0);
    CHECK(st.kv_usage == 0.0);
}

TEST_CASE("LiveEngine.shutdown.aborts_in_flight_and_records_them" * doctest::timeout(10)) {
    WallClock clock;
    std::atomic<int> aborted{0};
    std::atomic<int> records{0};
    {
        LiveEngine<Exec> engine(Exec(ConstantProfile{2.0}, clock), clock, live_config());
        engine.set_on_finish([&](const RequestRecord& r) {
            if (r.reason == FinishReason::abort) ++records;
        });
        for (int i = 0; i < 10; ++i)
            engine.submit(spec(100, 1000), [&](const TokenEvent& e) {
                if (e.finished && e.reason == FinishReason::abort) ++aborted;
            });
        std::this_thread::sleep_for(10ms);
        engine.shutdown();
        engine.shutdown(); // idempotent
        CHECK(engine.num_unfinished() == 0);
        CHECK(engine.snapshot().num_finished(FinishReason::abort) == 10);
    }
    CHECK(aborted == 10);
    CHECK(records == 10);
}

TEST_CASE("LiveEngine.abort.from_inside_the_token_handler" * doctest::timeout(10)) {
    WallClock clock;
    LiveEngine<Exec> engine(Exec(ConstantProfile{1.0}, clock), clock, live_config());
    std::atomic<bool> done{false};
    std::atomic<std::uint32_t> last{0};
    RequestId id = 0;
    std::atomic<bool> have_id{false};
    id = engine.submit(spec(10, 500), [&](const TokenEvent& e) {
        last = e.num_output_tokens;
        if (e.num_output_tokens == 3 && have_id) engine.abort(e.id); // a client hung up
        if (e.finished) done = true;
    });
    have_id = true;
    REQUIRE(wait_for([&] { return done.load(); }));
    CHECK(last < 500);
    CHECK(wait_for([&] { return engine.snapshot().num_finished(FinishReason::abort) == 1; }));
    (void)id;
}
