// vLLM v1 scheduling rules as pure logic (no clock, no executor): ports of the intent of
// vLLM's tests/v1/core/test_scheduler.py plus the rules in vllm-semantics.md.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <vector>

#include "llmemu/engine/scheduler.hpp"

using namespace llmemu;
using std::chrono::nanoseconds;

namespace {
EngineConfig config(std::uint32_t blocks = 1000) {
    EngineConfig c;
    c.num_gpu_blocks = blocks;
    c.async_scheduling = false;
    return c;
}
RequestSpec spec(RequestId id, std::uint32_t prompt, std::uint32_t max_tokens, int priority = 0) {
    RequestSpec s;
    s.id = id;
    s.prompt_len = prompt;
    s.max_tokens = max_tokens;
    s.priority = priority;
    s.ignore_eos = true;
    return s;
}
/// The executor's side: one token (id 7) for each entry that completes its prompt;
/// entries whose id is in `eos` sample EOS.
StepOutput output_for(const ScheduledStep& s, const std::set<RequestId>& eos = {}) {
    StepOutput o;
    o.step_id = s.batch.step_id;
    for (const auto& r : s.batch.requests) {
        RequestOutput x;
        x.id = r.id;
        if (r.samples_token) {
            x.token = 7;
            x.is_eos = eos.count(r.id) != 0;
        }
        o.outputs.push_back(x);
    }
    return o;
}
std::uint32_t tokens_of(const ScheduledStep& s, RequestId id) {
    for (const auto& r : s.batch.requests)
        if (r.id == id) return r.num_scheduled_tokens;
    return 0;
}
std::vector<RequestId> ids_of(const ScheduledStep& s) {
    std::vector<RequestId> v;
    for (const auto& r : s.batch.requests) v.push_back(r.id);
    return v;
}
void step(Scheduler& sch, ScheduledStep& s, const std::set<RequestId>& eos = {}) {
    sch.schedule(s, nanoseconds{0});
    sch.update_from_output(s, output_for(s, eos), nanoseconds{0});
}
} // namespace

TEST_CASE("Scheduler.admission.all_fit_in_one_step") {
    Scheduler sch(config());
    for (RequestId i = 1; i <= 10; ++i) REQUIRE(sch.add_request(spec(i, 20, 4), nanoseconds{0}));
    ScheduledStep s;
    sch.schedule(s, nanoseconds{0});
    CHECK(s.batch.requests.size() == 10);
    CHECK(s.batch.total_tokens() == 200);
    CHECK(s.batch.num_new() == 10);
    CHECK(s.batch.shape().phase == Phase::prefill);
    for (const auto& r : s.batch.requests) {
        CHECK(r.samples_token);
        CHECK(r.num_computed_tokens == 0);
        CHECK(sch.find(r.id)->num_computed_tokens == 20);
    }
    sch.update_from_output(s, output_for(s), nanoseconds{1});
    sch.schedule(s, nanoseconds{1});
    // Next step: pure decode, one token each, not new.
    CHECK(s.batch.total_tokens() == 10);
    CHECK(s.batch.num_new() == 0);
    CHECK(s.batch.shape().phase == Phase::decode);
    CHECK(s.batch.requests[0].num_output_tokens == 1);
}

TEST_CASE("Scheduler.budget.partial_prefill_then_continue") {
    // vLLM test_schedule_partial_requests: 3 x 800 tokens, budget 1024.
    EngineConfig c = config();
    c.max_num_batched_tokens = 1024;
    Scheduler sch(c);
    for (RequestId i = 1; i <= 3; ++i) REQUIRE(sch.add_request(spec(i, 800, 4), nanoseconds{0}));
    ScheduledStep s;
    sch.schedule(s, nanoseconds{0});
    CHECK(ids_of(s) == std::vector<RequestId>{1, 2});
    CHECK(tokens_of(s, 1) == 800);
    CHECK(tokens_of(s, 2) == 224);
    CHECK(s.batch.requests[0].samples_token);
    CHECK_FALSE(s.batch.requests[1].samples_token);
    CHECK(sch.num_waiting() == 1);
    sch.update_from_output(s, output_for(s), nanoseconds{0});
    CHECK(sch.find(2)->num_output_tokens == 0); // a partial chunk samples nothing
    sch.schedule(s, nanoseconds{0});
    // Running first: 1 decodes, 2 finishes its prompt (576), then 3 gets the rest (447).
    CHECK(tokens_of(s, 1) == 1);
    CHECK(tokens_of(s, 2) == 576);
    CHECK(tokens_of(s, 3) == 447);
    CHECK(s.batch.total_tokens() == 1024);
}

TEST_CASE("Scheduler.budget.long_prefill_token_threshold_caps_chunks") {
    EngineConfig c = config();
    c.long_prefill_token_threshold = 100;
    Scheduler sch(c);
    REQUIRE(sch.add_request(spec(1, 250, 2), nanoseconds{0}));
    REQUIRE(sch.add_request(spec(2, 30, 2), nanoseconds{0}));
    ScheduledStep s;
    std::vector<std::uint32_t> chunks;
    for (int i = 0; i < 3; ++i) {
        sch.schedule(s, nanoseconds{0});
        chunks.push_back(tokens_of(s, 1));
        if (i == 0) CHECK(tokens_of(s, 2) == 30);
        sch.update_from_output(s, output_for(s), nanoseconds{0});
    }
    CHECK(chunks == std::vector<std::uint32_t>{100, 100, 50});
}

TEST_CASE("Scheduler.budget.max_num_seqs_holds_requests_in_waiting") {
    EngineConfig c = config();
    c.max_num_seqs = 2;
    Scheduler sch(c);
    for (RequestId i = 1; i <= 3; ++i) REQUIRE(sch.add_request(spec(i, 10, 2), nanoseconds{0}));
    ScheduledStep s;
    sch.schedule(s, nanoseconds{0});
    CHECK(ids_of(s) == std::vector<RequestId>{1, 2});
    CHECK(sch.num_waiting() == 1);
    sch.update_from_output(s, output_for(s), nanoseconds{0});
    sch.schedule(s, nanoseconds{0});
    CHECK(ids_of(s) == std::vector<RequestId>{1, 2});         // 3 still waits
    sch.update_from_output(s, output_for(s), nanoseconds{0}); // 1 and 2 reach max_tokens
    CHECK(sch.num_running() == 0);
    sch.schedule(s, nanoseconds{0});
    CHECK(ids_of(s) == std::vector<RequestId>{3});
}

TEST_CASE("Scheduler.stop.eos_min_tokens_ignore_eos_and_length") {
    Scheduler sch(config());
    RequestSpec a = spec(1, 10, 5);
    a.ignore_eos = false;
    RequestSpec b = spec(2, 10, 5);
    b.ignore_eos = false;
    b.min_tokens = 3;
    RequestSpec c = spec(3, 10, 5); // ignore_eos
    REQUIRE(sch.add_request(a, nanoseconds{0}));
    REQUIRE(sch.add_request(b, nanoseconds{0}));
    REQUIRE(sch.add_request(c, nanoseconds{0}));
    ScheduledStep s;
    for (int i = 0; i < 5; ++i) step(sch, s, {1, 2, 3}); // every token is EOS
    auto& done = sch.finished_records();
    REQUIRE(done.size() == 3);
    std::sort(done.begin(), done.end(), [](auto& x, auto& y) { return x.id < y.id; });
    CHECK(done[0].reason == FinishReason::stop);
    CHECK(done[0].output_len == 1);
    CHECK(done[1].reason == FinishReason::stop);
    CHECK(done[1].output_len == 3); // EOS ignored below min_tokens
    CHECK(done[2].reason == FinishReason::length);
    CHECK(done[2].output_len == 5);
    CHECK(sch.stats().num_finished(FinishReason::stop) == 2);
    CHECK(sch.stats().num_finished(FinishReason::length) == 1);
    CHECK(sch.stats().generation_tokens == 9);
    CHECK(sch.stats().prompt_tokens == 30);
    CHECK(sch.kv_cache().num_free_blocks() == sch.kv_cache().num_usable_blocks());
}

TEST_CASE("Scheduler.reject.too_long_and_invalid_requests_are_recorded") {
    EngineConfig c = config();
    c.max_model_len = 100;
    Scheduler sch(c);
    CHECK_FALSE(sch.add_request(spec(1, 90, 11), nanoseconds{5}));
    CHECK(sch.add_request(spec(2, 90, 10), nanoseconds{5})); // exactly max_model_len
    CHECK_FALSE(sch.add_request(spec(3, 0, 10), nanoseconds{5}));
    CHECK_FALSE(sch.add_request(spec(4, 10, 0), nanoseconds{5}));
    RequestSpec m = spec(5, 10, 2);
    m.min_tokens = 3;
    CHECK_FALSE(sch.add_request(m, nanoseconds{5}));
    CHECK_FALSE(sch.add_request(spec(2, 10, 2), nanoseconds{5})); // duplicate id in flight
    RequestSpec t = spec(6, 3, 2);
    t.prompt_tokens = {1, 2};
    CHECK_FALSE(sch.add_request(t, nanoseconds{5})); // prompt_len disagrees with the ids
    const auto& done = sch.finished_records();
    REQUIRE(done.size() == 6);
    for (const auto& r : done) {
        CHECK(r.reason == FinishReason::rejected);
        CHECK_FALSE(r.error.empty());
        CHECK(r.finish == nanoseconds{5});
        CHECK(r.first_token == RequestRecord::unset);
    }
    CHECK(done[0].error.find("maximum context length is 100") != std::string::npos);
    CHECK(done[0].error.find("101") != std::string::npos);
    CHECK(sch.stats().rejected() == 6);
    CHECK(sch.stats().requests_received == 7);
    CHECK(sch.num_waiting() == 1);
}

TEST_CASE("Scheduler.preempt.fcfs_last_running_to_front_of_waiting") {
    // 6 usable blocks of 16: two 32-token prompts (2 blocks each) grow until the pool is
    // exhausted; the later-admitted one is preempted and recomputes prompt + outputs.
    EngineConfig c = config(7);
    c.max_model_len = 96;
    Scheduler sch(c);
    REQUIRE(sch.add_request(spec(1, 32, 40), nanoseconds{0}));
    REQUIRE(sch.add_request(spec(2, 32, 40), nanoseconds{0}));
    ScheduledStep s;
    sch.schedule(s, nanoseconds{0});
    CHECK(ids_of(s) == std::vector<RequestId>{1, 2});
    int steps = 0;
    while (sch.stats().preemptions == 0 && steps < 40) {
        sch.update_from_output(s, output_for(s), nanoseconds{0});
        sch.schedule(s, nanoseconds{0});
        ++steps;
    }
    CHECK(steps == 17);
    REQUIRE(sch.stats().preemptions == 1);
    // Request 1 needed a 4th block at 49 tokens: 2 (admitted last) was preempted.
    CHECK(ids_of(s) == std::vector<RequestId>{1});
    const SchedulerRequest* two = sch.find(2);
    REQUIRE(two != nullptr);
    CHECK(two->status == RequestStatus::preempted);
    CHECK(two->num_computed_tokens == 0);
    CHECK(two->num_output_tokens == 17);
    CHECK(two->num_preemptions == 1);
    CHECK(two->kv.blocks.empty());
    CHECK(sch.num_waiting() == 1);
    CHECK(sch.kv_cache().num_free_blocks() == 2);
    // Nobody else is admitted in the step that preempted.
    CHECK(s.batch.num_new() == 0);
    sch.update_from_output(s, output_for(s), nanoseconds{0});
    // Run to the end: 2 resumes after 1 finishes and recomputes 49 tokens minus its
    // surviving prefix-cache hits.
    bool resumed = false;
    while (sch.has_unfinished()) {
        sch.schedule(s, nanoseconds{0});
        for (const auto& r : s.batch.requests) {
            if (r.id == 2 && r.num_scheduled_tokens > 1) {
                resumed = true;
                CHECK_FALSE(r.is_new); // a cached request, as vLLM's scheduled_resumed_reqs
                CHECK(sch.find(1) == nullptr);
                CHECK(r.num_computed_tokens == 16);  // one cached block survived
                CHECK(r.num_scheduled_tokens == 33); // 49 - 16 recomputed
                CHECK(r.samples_token);
                CHECK(r.num_output_tokens == 17);
            }
        }
        sch.update_from_output(s, output_for(s), nanoseconds{0});
    }
    CHECK(resumed);
    CHECK(sch.stats().preempted_prefix_cache_hits >= 16);
    CHECK(sch.stats().num_finished(FinishReason::length) == 2);
    CHECK(sch.stats().preemptions == 1);
}

TEST_CASE("Scheduler.preempt.priority_victim_and_admission_order") {
    EngineConfig c = config(7); // 6 usable blocks
    c.max_model_len = 96;
    c.policy = SchedulingPolicy::priority;
    c.max_num_seqs = 2;
    Scheduler sch(c);
    // Lower value = served first. Arrival order 1,2,3 but priorities 5,0,1.
    REQUIRE(sch.add_request(spec(1, 16, 3, 5), nanoseconds{0}));
    REQUIRE(sch.add_request(spec(2, 16, 3, 0), nanoseconds{0}));
    REQUIRE(sch.add_request(spec(3, 16, 3, 1), nanoseconds{0}));
    ScheduledStep s;
    step(sch, s);
    CHECK(ids_of(s) == std::vector<RequestId>{2, 3});
    while (sch.has_unfinished()) step(sch, s);
    const auto& done = sch.finished_records();
    REQUIRE(done.size() == 3);
    CHECK(done[2].id == 1);

    // Preemption picks the largest (priority, arrival), even a request already scheduled
    // in this step (its tokens go back to the budget).
    Scheduler p(c);
    REQUIRE(p.add_request(spec(4, 48, 40, 9), nanoseconds{0}));
    ScheduledStep t;
    step(p, t);
    REQUIRE(p.add_request(spec(5, 32, 40, 0), nanoseconds{0}));
    step(p, t);
    CHECK(ids_of(t) == std::vector<RequestId>{4, 5}); // 4 holds 4 blocks, 5 holds 2
    CHECK(p.kv_cache().num_free_blocks() == 0);
    p.schedule(t, nanoseconds{0}); // 5 needs a 3rd block: 4 (priority 9) is the victim
    CHECK(p.stats().preemptions == 1);
    CHECK(p.find(4)->status == RequestStatus::preempted);
    CHECK(ids_of(t) == std::vector<RequestId>{5});
    CHECK(t.batch.total_tokens() == 1);
    CHECK(p.num_waiting() == 1);
}

TEST_CASE("Scheduler.prefix.hit_on_admission_shortens_prefill") {
    Scheduler sch(config());
    RequestSpec a = spec(1, 0, 1);
    for (int i = 0; i < 100; ++i) a.prompt_tokens.push_back(i);
    RequestSpec b = a;
    b.id = 2;
    REQUIRE(sch.add_request(a, nanoseconds{0}));
    ScheduledStep s;
    step(sch, s);
    REQUIRE(sch.add_request(b, nanoseconds{0}));
    sch.schedule(s, nanoseconds{0});
    REQUIRE(s.batch.requests.size() == 1);
    CHECK(s.batch.requests[0].num_computed_tokens == 96);
    CHECK(s.batch.requests[0].num_scheduled_tokens == 4);
    sch.update_from_output(s, output_for(s), nanoseconds{0});
    CHECK(sch.stats().prefix_cache_queries == 200);
    CHECK(sch.stats().prefix_cache_hits == 96);
    CHECK(sch.finished_records().back().num_cached_tokens == 96);
    // Synthetic prompts of equal length never share.
    REQUIRE(sch.add_request(spec(3, 100, 1), nanoseconds{0}));
    REQUIRE(sch.add_request(spec(4, 100, 1), nanoseconds{0}));
    step(sch, s);
    CHECK(sch.stats().prefix_cache_hits == 96);
}

TEST_CASE("Scheduler.abort.frees_blocks_for_the_next_step") {
    EngineConfig c = config(5); // 4 usable blocks = 64 tokens
    c.max_model_len = 64;
    Scheduler sch(c);
    REQUIRE(sch.add_request(spec(1, 48, 10), nanoseconds{0}));
    REQUIRE(sch.add_request(spec(2, 40, 10), nanoseconds{0}));
    ScheduledStep s;
    step(sch, s);
    CHECK(ids_of(s) == std::vector<RequestId>{1}); // 2 needs 3 blocks, 1 free: strict FCFS wait
    CHECK(sch.kv_cache().num_free_blocks() == 1);
    CHECK(sch.abort(1, nanoseconds{3}));
    CHECK_FALSE(sch.abort(1, nanoseconds{3}));
    CHECK(sch.kv_cache().num_free_blocks() == 4);
    sch.schedule(s, nanoseconds{4});
    CHECK(ids_of(s) == std::vector<RequestId>{2});
    const auto& rec = sch.finished_records().back();
    CHECK(rec.reason == FinishReason::abort);
    CHECK(rec.output_len == 1);
    CHECK(rec.finish == nanoseconds{3});
    // The in-flight output of an aborted request is discarded.
    CHECK(sch.abort(2, nanoseconds{5}));
    sch.update_from_output(s, output_for(s), nanoseconds{6});
    CHECK(sch.stats().discarded_tokens == 1);
    CHECK(sch.stats().num_finished(FinishReason::abort) == 2);
    CHECK_FALSE(sch.has_unfinished());
}

TEST_CASE("Scheduler.async.placeholders_and_max_tokens_lookahead") {
    EngineConfig c = config();
    c.async_scheduling = true;
    Scheduler sch(c);
    REQUIRE(sch.add_request(spec(1, 10, 3), nanoseconds{0}));
    ScheduledStep s0;
    ScheduledStep s1;
    ScheduledStep s2;
    sch.schedule(s0, nanoseconds{0}); // prefill, token 1 in flight
    sch.schedule(s1, nanoseconds{0}); // decode of token 2, assuming token 1
    CHECK(tokens_of(s1, 1) == 1);
    CHECK(s1.batch.requests[0].num_output_tokens == 1);
    CHECK(sch.find(1)->num_output_placeholders == 2);
    sch.update_from_output(s0, output_for(s0), nanoseconds{1});
    sch.schedule(s2, nanoseconds{1}); // token 3
    CHECK(tokens_of(s2, 1) == 1);
    sch.update_from_output(s1, output_for(s1), nanoseconds{2});
    // Token 3 (the last) is in flight: nothing more is scheduled.
    sch.schedule(s0, nanoseconds{2});
    CHECK(s0.empty());
    sch.update_from_output(s2, output_for(s2), nanoseconds{3});
    CHECK(sch.finished_records().back().output_len == 3);
    CHECK(sch.stats().discarded_tokens == 0);

    // EOS while the next step is in flight: that slot is wasted and discarded.
    RequestSpec e = spec(2, 10, 10);
    e.ignore_eos = false;
    REQUIRE(sch.add_request(e, nanoseconds{3}));
    sch.schedule(s0, nanoseconds{3});
    sch.schedule(s1, nanoseconds{3});
    sch.update_from_output(s0, output_for(s0, {2}), nanoseconds{4});
    CHECK(sch.finished_records().back().reason == FinishReason::stop);
    sch.update_from_output(s1, output_for(s1), nanoseconds{5});
    CHECK(sch.stats().discarded_tokens == 1);
    CHECK(sch.kv_cache().num_free_blocks() == sch.kv_cache().num_usable_blocks());
}

TEST_CASE("Scheduler.output.mismatched_executor_output_throws") {
    Scheduler sch(config());
    REQUIRE(sch.add_request(spec(1, 10, 3), nanoseconds{0}));
    ScheduledStep s;
    sch.schedule(s, nanoseconds{0});
    StepOutput bad;
    CHECK_THROWS_AS(sch.update_from_output(s, bad, nanoseconds{0}), error);
}

// ---- ports of vLLM 0.19-era tests (tests/v1/core/test_scheduler.py) ----

TEST_CASE("Scheduler.vllm.prefix_cache_stats_counted_once_for_retried_then_scheduled_request") {
    // vLLM's test_prefix_cache_stats_counted_once_for_retried_then_scheduled_request: a
    // request whose allocation fails is counted when it is finally admitted, not on every
    // attempt. 6 usable blocks of 16.
    EngineConfig c = config(7);
    c.max_model_len = 64;
    Scheduler sch(c);
    RequestSpec seed = spec(1, 0, 1);
    for (int i = 0; i < 32; ++i) seed.prompt_tokens.push_back(i);
    REQUIRE(sch.add_request(seed, nanoseconds{0}));
    ScheduledStep s;
    step(sch, s); // seed runs to completion; its 2 full blocks stay cached
    CHECK(sch.stats().prefix_cache_queries == 32);
    CHECK(sch.stats().prefix_cache_hits == 0);
    REQUIRE(sch.add_request(spec(2, 56, 8), nanoseconds{0})); // holds the 4 fresh blocks
    step(sch, s);
    CHECK(sch.stats().prefix_cache_queries == 32 + 56);
    RequestSpec retried = seed;
    retried.id = 3;
    for (int i = 0; i < 16; ++i) retried.prompt_tokens.push_back(100 + i);
    REQUIRE(sch.add_request(retried, nanoseconds{0})); // 2 hits + 1 block > the 2 free
    std::uint64_t attempts = 0;
    while (sch.find(2) != nullptr) {
        sch.schedule(s, nanoseconds{0});
        CHECK(ids_of(s) == std::vector<RequestId>{2});
        ++attempts;
        CHECK(sch.stats().prefix_cache_queries == 32 + 56); // the failed lookups are not counted
        sch.update_from_output(s, output_for(s), nanoseconds{0});
    }
    CHECK(attempts == 7);
    sch.schedule(s, nanoseconds{0});
    REQUIRE(ids_of(s) == std::vector<RequestId>{3});
    CHECK(s.batch.requests[0].num_computed_tokens == 32);
    CHECK(s.batch.requests[0].num_scheduled_tokens == 16);
    CHECK(s.batch.requests[0].is_new);
    CHECK(sch.stats().prefix_cache_queries == 32 + 56 + 48);
    CHECK(sch.stats().prefix_cache_hits == 32);
}

TEST_CASE("Scheduler.vllm.preemption_and_resumption_when_out_of_kv") {
    // vLLM's test_priority_scheduling_preemption_and_resumption_when_out_of_kv with
    // priorities: 4 usable blocks, max_num_seqs 2. low (30 tokens) decodes to 31; high
    // (32 tokens) joins; both decode; low needs a 2nd block for 32 tokens and high a 3rd
    // for 33: low is preempted. When high finishes, low resumes as a cached request with
    // its 30 + 2 tokens, hitting its own first block.
    EngineConfig c = config(5);
    c.max_model_len = 64;
    c.max_num_seqs = 2;
    c.max_num_batched_tokens = 200;
    c.policy = SchedulingPolicy::priority;
    Scheduler sch(c);
    REQUIRE(sch.add_request(spec(1, 30, 10, 1), nanoseconds{0})); // low
    ScheduledStep s;
    step(sch, s);
    CHECK(sch.find(1)->num_tokens() == 31);
    REQUIRE(sch.add_request(spec(2, 32, 2, 0), nanoseconds{0})); // high
    sch.schedule(s, nanoseconds{0});
    CHECK(s.batch.num_new() == 1);
    CHECK(s.batch.requests.size() == 2);
    CHECK(sch.kv_cache().num_free_blocks() == 0);
    sch.update_from_output(s, output_for(s), nanoseconds{0});
    sch.schedule(s, nanoseconds{0});
    CHECK(ids_of(s) == std::vector<RequestId>{2});
    CHECK(s.batch.num_new() == 0);
    CHECK(sch.find(1)->status == RequestStatus::preempted);
    CHECK(sch.num_waiting() == 1);
    CHECK(sch.num_running() == 1);
    sch.update_from_output(s, output_for(s), nanoseconds{0}); // high reaches max_tokens
    CHECK(sch.find(2) == nullptr);
    sch.schedule(s, nanoseconds{0});
    REQUIRE(ids_of(s) == std::vector<RequestId>{1});
    CHECK_FALSE(s.batch.requests[0].is_new); // resumed: vLLM's resumed_req_ids
    CHECK(s.batch.num_new() == 0);
    CHECK(sch.find(1)->num_tokens() == 32);
    CHECK(s.batch.requests[0].num_computed_tokens == 16);  // its own first block survived
    CHECK(s.batch.requests[0].num_scheduled_tokens == 16); // 32 - 16, all prompt + outputs
    CHECK(sch.num_waiting() == 0);
    CHECK(sch.stats().preemptions == 1);
    CHECK(sch.stats().preempted_prefix_cache_queries == 32);
    CHECK(sch.stats().preempted_prefix_cache_hits == 16);
}

TEST_CASE("Scheduler.vllm.preempt_during_execution_keeps_the_in_flight_token") {
    // vLLM's test_preempt_during_execution: 10 usable blocks, budget 100, two 80-token
    // prompts, caching off, outputs applied late. req0's token is in flight when req1 fills the pool;
    // req0's next step needs an 81st slot, so FCFS preempts the last running (req1), whose
    // in-flight token is still appended.
    EngineConfig c = config(11);
    c.max_num_batched_tokens = 100;
    c.max_model_len = 128;
    c.enable_prefix_caching = false;
    Scheduler sch(c);
    REQUIRE(sch.add_request(spec(0, 80, 10), nanoseconds{0}));
    ScheduledStep s0, s1, s2;
    sch.schedule(s0, nanoseconds{0});
    CHECK(ids_of(s0) == std::vector<RequestId>{0});
    REQUIRE(sch.add_request(spec(1, 80, 10), nanoseconds{0}));
    sch.schedule(s1, nanoseconds{0}); // req0 has nothing left to schedule (its token is in flight)
    CHECK(ids_of(s1) == std::vector<RequestId>{1});
    CHECK(sch.kv_cache().num_free_blocks() == 0);
    sch.update_from_output(s0, output_for(s0), nanoseconds{1});
    sch.schedule(s2, nanoseconds{1});
    CHECK(ids_of(s2) == std::vector<RequestId>{0});
    CHECK(sch.find(1)->status == RequestStatus::preempted);
    CHECK(sch.num_running() == 1);
    sch.update_from_output(s1, output_for(s1), nanoseconds{2});
    CHECK(sch.find(1)->num_output_tokens == 1); // the preempted request got its token
    CHECK(sch.find(1)->status == RequestStatus::preempted);
}
