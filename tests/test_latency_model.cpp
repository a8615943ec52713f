// The LatencyModel concept over StepShape and StepBatch models: sample_latency(),
// AnyLatencyModel and EmulatedExecutor with both kinds (the step vocabulary itself,
// core/step.hpp, is tested in test_core.cpp).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmemu/core/step.hpp"
#include "llmemu/engine/engine.hpp"
#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/oracle/analytic.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/time/virtual_clock.hpp"
#include "llmemu/time/wall_clock.hpp"
#include "llmemu/tokens/emitters.hpp"

using llmemu::Phase;
using llmemu::Rng;
using llmemu::ScheduledRequest;
using llmemu::StepBatch;
using llmemu::StepShape;

namespace {

// A model of the whole batch: 10 us per prompt token, 1 us per context token of each
// decode, 100 us per sampled token. Records the batches it saw.
struct BatchOnlyModel {
    std::vector<StepBatch> seen;
    double sample(const StepBatch& b, Rng& /*rng*/) {
        seen.push_back(b);
        double us = 0;
        for (const ScheduledRequest& r : b.requests) {
            if (r.is_prefill()) us += 10.0 * r.num_scheduled_tokens;
            if (r.is_decode()) us += 1.0 * r.num_computed_tokens;
            if (r.samples_token) us += 100.0;
        }
        return us;
    }
};
// Both kinds: the batch overload must win.
struct BothModel {
    double sample(const StepShape& /*s*/, Rng& /*rng*/) { return 1.0; }
    double sample(const StepBatch& /*b*/, Rng& /*rng*/) { return 2.0; }
};
// Returns a LatencySample saying how it answered.
struct SaysOutOfRange {
    llmemu::LatencySample sample(const StepShape& s, Rng& /*rng*/) const {
        return {static_cast<double>(s.total_tokens), llmemu::CoverageKind::out_of_range};
    }
};
// Traps: the Rng taken by value (frozen randomness), and no sample at all.
struct RngByValue {
    double sample(const StepShape& /*s*/, Rng rng) { return static_cast<double>(rng() % 1000); }
};
struct BatchRngByValue {
    double sample(const StepBatch& /*b*/, Rng rng) { return static_cast<double>(rng() % 1000); }
};
struct RngByConstRef {
    double sample(const StepShape& /*s*/, const Rng& /*rng*/) { return 1.0; }
};
struct NoSample {
    double draw(const StepShape& /*s*/, Rng& /*rng*/) { return 1.0; }
};
struct WrongReturn {
    std::string sample(const StepShape& /*s*/, Rng& /*rng*/) { return {}; }
};

} // namespace

// Shape models satisfy it unchanged, batch-only models too, broken ones do not.
static_assert(llmemu::ShapeLatencyModel<llmemu::ConstantProfile> && llmemu::LatencyModel<llmemu::ConstantProfile>);
static_assert(llmemu::ShapeLatencyModel<llmemu::AffineProfile> && llmemu::LatencyModel<llmemu::AffineProfile>);
static_assert(llmemu::ShapeLatencyModel<llmemu::LatencyOracle<>> && llmemu::LatencyModel<llmemu::LatencyOracle<>>);
static_assert(!llmemu::BatchLatencyModel<llmemu::LatencyOracle<>>);
static_assert(llmemu::BatchLatencyModel<BatchOnlyModel> && llmemu::LatencyModel<BatchOnlyModel>);
static_assert(!llmemu::ShapeLatencyModel<BatchOnlyModel>);
static_assert(llmemu::LatencyModel<BothModel> && llmemu::LatencyModel<SaysOutOfRange>);
static_assert(!llmemu::LatencyModel<NoSample>);
static_assert(!llmemu::LatencyModel<WrongReturn>);
static_assert(!llmemu::LatencyModel<int>);
static_assert(!llmemu::LatencyModel<RngByValue>, "an Rng taken by value freezes randomness");
static_assert(!llmemu::LatencyModel<BatchRngByValue>);
static_assert(!llmemu::LatencyModel<RngByConstRef>);
static_assert(llmemu::LatencyModel<llmemu::AnyLatencyModel>);

TEST_CASE("LatencyModel.sample_latency_gives_each_kind_what_it_reads") {
    Rng rng(1);
    const StepBatch b{1,
                      {ScheduledRequest::prefill_chunk(1, 100, 0, 300).admitted(), ScheduledRequest::decode(2, 50, 3),
                       ScheduledRequest::decode(3, 70, 9)}};
    BatchOnlyModel batch_model;
    const llmemu::LatencySample s = llmemu::sample_latency(batch_model, b, rng);
    CHECK(s.us == doctest::Approx(1000.0 + 50.0 + 70.0 + 200.0));
    CHECK(s.coverage == llmemu::CoverageKind::exact);
    REQUIRE(batch_model.seen.size() == 1);
    CHECK(batch_model.seen[0].requests == b.requests);

    llmemu::AffineProfile affine{1.0, 2.0, 3.0};
    CHECK(llmemu::sample_latency(affine, b, rng).us == doctest::Approx(1000.0 + 2.0 * 102 + 3.0 * 3));
    BothModel both;
    CHECK(llmemu::sample_latency(both, b, rng).us == 2.0);
    SaysOutOfRange oor;
    const auto o = llmemu::sample_latency(oor, b, rng);
    CHECK(o.us == 102.0);
    CHECK(o.coverage == llmemu::CoverageKind::out_of_range);
    CHECK(o.duration().count() == 102.0);
    // The same sample as a std::chrono duration, implicitly, with arithmetic on doubles intact.
    const std::chrono::duration<double, std::micro> d = o;
    CHECK(d.count() == 102.0);
    CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(d) == std::chrono::nanoseconds(102000));
    CHECK(o * 2 == 204.0);
    CHECK(o < llmemu::LatencySample{103.0});
}

TEST_CASE("LatencyModel.any_latency_model_forwards_the_batch") {
    Rng rng(2);
    const StepBatch b{1,
                      {ScheduledRequest::decode(2, 50, 3), ScheduledRequest::prefill_chunk(4, 10, 0, 10).admitted()}};
    llmemu::AnyLatencyModel m = BatchOnlyModel{};
    CHECK(m.sees_batch());
    CHECK(m.sample(b, rng).us == doctest::Approx(50.0 + 100.0 + 10.0 * 10 + 100.0));
    CHECK(llmemu::sample_latency(m, b, rng).us == doctest::Approx(350.0));
    // A batch-only model cannot answer from a shape: a clear error, not a guess.
    CHECK_THROWS_WITH_AS((void)m.sample(b.shape(), rng), doctest::Contains("needs the whole step"),
                         llmemu::config_error);
    CHECK(m.coverage() == llmemu::Coverage{2, 0, 0, 2});

    // Shape models answer both overloads the same way.
    llmemu::AnyLatencyModel a = llmemu::AffineProfile{1.0, 2.0, 3.0};
    CHECK_FALSE(a.sees_batch());
    CHECK(a.sample(b, rng).us == a.sample(b.shape(), rng).us);
    // Models saying out_of_range are counted so by the wrapper.
    llmemu::AnyLatencyModel s = SaysOutOfRange{};
    (void)s.sample(b, rng);
    CHECK(s.coverage() == llmemu::Coverage{0, 0, 1, 1});
}

TEST_CASE("LatencyModel.executor_passes_the_batch_and_reports_latency_and_coverage") {
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<BatchOnlyModel, llmemu::VirtualClock> exec(BatchOnlyModel{}, clock);
    const StepBatch b{1,
                      {ScheduledRequest::prefill_chunk(1, 100, 0, 300).admitted(), ScheduledRequest::decode(2, 50, 3)}};
    const llmemu::StepOutput out = exec.execute(b).get();
    REQUIRE(exec.model().seen.size() == 1);
    CHECK(exec.model().seen[0].requests == b.requests);
    CHECK(out.latency == std::chrono::nanoseconds(std::llround((1000.0 + 50.0 + 100.0) * 1000.0)));
    CHECK(out.end - out.start == out.latency);
    CHECK(out.coverage == llmemu::CoverageKind::exact);
    CHECK_FALSE(out.outputs[0].token.has_value());
    CHECK(out.outputs[1].token.has_value());

    llmemu::EmulatedExecutor<SaysOutOfRange, llmemu::VirtualClock> e2(SaysOutOfRange{}, clock);
    CHECK(e2.execute(b).get().coverage == llmemu::CoverageKind::out_of_range);
}

TEST_CASE("PhaseRule.hand_worked_5000_token_prompt_chunked_at_2048_draws_every_chunk_from_prefill") {
    // Prefill table: (2048, 1) -> 50 ms, (904, 1) -> 40 ms; decode table: (1, 1) -> 20 ms.
    // One 5,000-token prompt, budget 2,048, no other request: chunks of 2048, 2048 and 904
    // tokens, all prompt work, so all three are prefill steps (the later chunks too: only
    // the first is newly admitted) and the first token comes at 50 + 50 + 40 = 140 ms; the
    // two decodes that follow are pure decode steps at 20 ms each.
    llmemu::ProfileStore store;
    store.set_bucketing({1, 1});
    store.set_table(llmemu::TableKind::prefill, llmemu::ProfileTable({1, 1}, {{904, 1}, {2048, 1}}, {3, 3},
                                                                     {40000, 40000, 40000, 50000, 50000, 50000}));
    store.set_table(llmemu::TableKind::decode, llmemu::ProfileTable({1, 1}, {{1, 1}}, {3}, {20000, 20000, 20000}));
    for (const bool async : {false, true}) {
        CAPTURE(async);
        llmemu::VirtualClock clock;
        using Exec = llmemu::EmulatedExecutor<llmemu::LatencyOracle<>, llmemu::VirtualClock>;
        llmemu::EngineConfig c;
        c.num_gpu_blocks = 1000;
        c.max_num_batched_tokens = 2048;
        c.max_model_len = 8192;
        c.async_scheduling = async;
        llmemu::Engine<Exec, llmemu::VirtualClock> engine(Exec(llmemu::LatencyOracle<>(store), clock), clock, c);
        llmemu::RequestSpec spec;
        spec.id = 1;
        spec.prompt_len = 5000;
        spec.max_tokens = 3;
        spec.ignore_eos = true;
        const auto res = llmemu::run_simulation(engine, {llmemu::TimedRequest{std::chrono::nanoseconds{0}, spec}});
        REQUIRE(res.records.size() == 1);
        const auto& r = res.records[0];
        REQUIRE(r.token_times.size() == 3);
        CHECK(r.token_times[0] == std::chrono::milliseconds(140));
        CHECK(r.token_times[1] == std::chrono::milliseconds(160));
        CHECK(r.token_times[2] == std::chrono::milliseconds(180));
        CHECK(res.stats.prefill_steps == 3);
        CHECK(res.stats.decode_steps == 2);
        // Every draw from an exact bucket of its own table: nothing clamped.
        CHECK(engine.executor().model().coverage() == llmemu::Coverage{5, 0, 0, 5});
    }
}

TEST_CASE("PhaseRule.shape_is_prefill_for_any_prompt_work_and_decode_only_for_pure_decodes") {
    const StepBatch later_chunk{1, {ScheduledRequest::prefill_chunk(1, 2048, 2048, 5000)}};
    CHECK(later_chunk.num_new() == 0);
    CHECK(later_chunk.has_prefill());
    CHECK(later_chunk.shape().phase == Phase::prefill);
    const StepBatch mixed{2, {ScheduledRequest::decode(2, 10, 1), ScheduledRequest::prefill_chunk(1, 100, 4096, 5000)}};
    CHECK(mixed.shape().phase == Phase::prefill);
    const StepBatch decodes{3, {ScheduledRequest::decode(2, 10, 1), ScheduledRequest::decode(3, 20, 2)}};
    CHECK(decodes.shape().phase == Phase::decode);
    CHECK_FALSE(decodes.has_prefill());
}

namespace {
const std::filesystem::path bundled_pack_path =
    std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";

// Random shapes over and beyond the bundled pack: exact, sparse (memo) and out-of-range.
std::vector<StepShape> random_shapes(std::size_t n, std::uint64_t seed) {
    Rng g(seed);
    std::vector<StepShape> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const bool prefill = llmemu::uniform_index(g, 2) == 0;
        const auto conc = static_cast<std::uint32_t>(1 + llmemu::uniform_index(g, 300));
        const auto tt = prefill ? static_cast<std::uint32_t>(1 + llmemu::uniform_index(g, 3000)) : conc;
        v.push_back({prefill ? Phase::prefill : Phase::decode, tt, conc, 0});
    }
    return v;
}

struct EmitterByValue {
    llmemu::EmittedToken emit(const ScheduledRequest& /*r*/, Rng rng) {
        return {static_cast<llmemu::TokenId>(rng()), false};
    }
};
} // namespace

static_assert(!llmemu::TokenEmitter<EmitterByValue>, "an Rng taken by value freezes the tokens");
static_assert(llmemu::TokenEmitter<llmemu::UniformVocabEmitter> && llmemu::TokenEmitter<llmemu::EosAtLengthEmitter>);

TEST_CASE("LatencyModel.shared_between_threads.one_oracle_1M_samples_counts_exact" * doctest::timeout(120)) {
    // Two threads sample one LatencyOracle (and one AnyLatencyModel over the same store) with
    // random shapes: no crash, no data race (run under `make tsan`), and the coverage counts
    // are exact: how each shape is answered does not depend on the draw.
    auto store = std::make_shared<const llmemu::ProfileStore>(llmemu::load_llm_emu_pack(bundled_pack_path));
    const llmemu::LatencyOracle<> oracle(store);
    llmemu::AnyLatencyModel any = llmemu::AnyLatencyModel::from_store(store);
    CHECK(any.shareable());
    CHECK(&any.target<llmemu::LatencyOracle<>>()->store() == store.get());
    constexpr std::size_t per_thread = 250000; // x 2 threads x 2 models = 1M samples
    const std::vector<StepShape> shapes[2] = {random_shapes(4096, 1), random_shapes(4096, 2)};
    llmemu::Coverage expected;
    for (const auto& set : shapes)
        for (std::size_t i = 0; i < per_thread; ++i) {
            switch (oracle.resolve(set[i % set.size()]).kind) {
            case llmemu::CoverageKind::exact:
                ++expected.exact;
                break;
            case llmemu::CoverageKind::interpolated:
                ++expected.interpolated;
                break;
            case llmemu::CoverageKind::out_of_range:
                ++expected.out_of_range;
                break;
            }
            ++expected.total;
        }
    std::atomic<std::uint64_t> bad{0};
    auto work = [&](int t) {
        Rng g(static_cast<std::uint64_t>(100 + t));
        const auto& set = shapes[t];
        std::uint64_t local_bad = 0;
        for (std::size_t i = 0; i < per_thread; ++i) {
            const StepShape& s = set[i % set.size()];
            const llmemu::LatencySample a = oracle.sample(s, g);
            const llmemu::LatencySample b = any.sample(s, g);
            if (!(a.us > 0.0) || !(b.us > 0.0) || a.coverage != b.coverage) ++local_bad;
        }
        bad.fetch_add(local_bad);
    };
    std::thread t0(work, 0);
    std::thread t1(work, 1);
    t0.join();
    t1.join();
    CHECK(bad.load() == 0);
    CHECK(oracle.coverage() == expected);
    CHECK(any.coverage() == expected);
    CHECK(expected.exact > 0);
    CHECK(expected.interpolated > 0);
    CHECK(expected.out_of_range > 0);
}

TEST_CASE("LatencyModel.shared_between_threads.same_draws_as_a_copy_per_thread") {
    // Sharing changes nothing but speed: a thread's draws equal those of its own copy.
    auto store = std::make_shared<const llmemu::ProfileStore>(llmemu::load_llm_emu_pack(bundled_pack_path));
    const llmemu::LatencyOracle<> shared(store);
    const auto shapes = random_shapes(2000, 3);
    std::vector<double> from_shared[2];
    auto work = [&](int t) {
        Rng g(static_cast<std::uint64_t>(t));
        for (const auto& s : shapes) from_shared[t].push_back(shared.sample(s, g).us);
    };
    std::thread t0(work, 0);
    std::thread t1(work, 1);
    t0.join();
    t1.join();
    for (int t = 0; t < 2; ++t) {
        const llmemu::LatencyOracle<> copy(store);
        Rng g(static_cast<std::uint64_t>(t));
        std::vector<double> mine;
        for (const auto& s : shapes) mine.push_back(copy.sample(s, g).us);
        CHECK(mine == from_shared[t]);
    }
}

TEST_CASE("LatencyModel.executor_refuses_overlapping_dispatch") {
    // A model that calls back into its executor: the inner call overlaps the outer one and
    // is refused with a config_error future; the outer step is unaffected.
    struct Reentrant {
        std::function<void()> hook;
        double sample(const StepShape& /*s*/, Rng& /*g*/) {
            if (hook) hook();
            return 1000.0;
        }
    };
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<Reentrant, llmemu::VirtualClock> exec(Reentrant{}, clock);
    std::optional<llmemu::TimerFuture<llmemu::StepOutput, llmemu::VirtualClock>> inner;
    exec.model().hook = [&] {
        if (!inner) inner.emplace(exec.execute(StepBatch{9, {ScheduledRequest::decode(2, 5, 1)}}));
    };
    auto outer = exec.execute(StepBatch{8, {ScheduledRequest::decode(1, 5, 1)}});
    REQUIRE(inner.has_value());
    CHECK_THROWS_WITH_AS(inner->get(), doctest::Contains("step 9 was dispatched while another execute() call"),
                         llmemu::config_error);
    CHECK(outer.get().end == std::chrono::milliseconds(1));
    CHECK(exec.steps() == 1);
    exec.model().hook = {};
    CHECK(exec.execute(StepBatch{10, {ScheduledRequest::decode(1, 6, 2)}}).get().end == std::chrono::milliseconds(2));
}

TEST_CASE("LatencyModel.executor_from_two_threads_serialised_by_the_host" * doctest::timeout(60)) {
    // Non-overlapping calls from two threads (a mutex in the host) are fine and ordered.
    llmemu::WallClock clock;
    llmemu::EmulatedExecutor<llmemu::ConstantProfile> exec(llmemu::ConstantProfile{0.0}, clock);
    std::mutex m;
    std::atomic<int> ok{0};
    auto work = [&](llmemu::RequestId id) {
        for (int i = 0; i < 200; ++i) {
            std::unique_lock lock(m);
            auto f = exec.execute(StepBatch{static_cast<std::uint64_t>(i), {ScheduledRequest::decode(id, 5, 1)}});
            lock.unlock();
            if (f.get().outputs.size() == 1) ok.fetch_add(1);
        }
    };
    std::thread a(work, 1);
    std::thread b(work, 2);
    a.join();
    b.join();
    CHECK(ok.load() == 400);
    CHECK(exec.steps() == 400);
}

TEST_CASE("LatencyModel.any_latency_model_explains_itself") {
    auto store = std::make_shared<const llmemu::ProfileStore>(llmemu::load_llm_emu_pack(bundled_pack_path));
    llmemu::AnyLatencyModel m = llmemu::AnyLatencyModel::from_store(store);
    CHECK(m.store() == store.get()); // shared, not copied
    const auto far = m.resolve({Phase::decode, 5000, 5000, 0});
    REQUIRE(far.has_value());
    CHECK(far->kind == llmemu::CoverageKind::out_of_range);
    CHECK(far->table == llmemu::TableKind::decode);
    Rng g(1);
    const auto s = m.sample(StepShape{Phase::decode, 5000, 5000, 0}, g);
    CHECK(s.coverage == llmemu::CoverageKind::out_of_range);
    CHECK(s.duration() > std::chrono::microseconds(0));
    CHECK(m.target<llmemu::AffineProfile>() == nullptr);
    llmemu::AnyLatencyModel a = llmemu::AffineProfile{1.0, 2.0, 3.0};
    CHECK_FALSE(a.resolve({Phase::decode, 1, 1, 0}).has_value());
    REQUIRE(a.target<llmemu::AffineProfile>() != nullptr);
    CHECK(a.target<llmemu::AffineProfile>()->per_token_us == 2.0);
    // The executor reports each step's coverage kind from the oracle.
    llmemu::VirtualClock clock;
    llmemu::EmulatedExecutor<llmemu::AnyLatencyModel, llmemu::VirtualClock> exec(m, clock);
    StepBatch big{1, {}};
    for (llmemu::RequestId i = 0; i < 400; ++i) big.requests.push_back(ScheduledRequest::decode(i, 100, 5));
    const auto out = exec.execute(big).get();
    CHECK(out.coverage == llmemu::CoverageKind::out_of_range);
    CHECK(out.latency == out.end - out.start);
}

TEST_CASE("LatencyModel.data_dir_finds_the_bundled_pack") {
    // Compiled from the checkout: the header's own location leads to data/ (unless the
    // compiler was given relative paths, where $LLMEMU_DATA_DIR is the way).
    ::setenv("LLMEMU_DATA_DIR", (std::filesystem::path(LLMEMU_SOURCE_DIR) / "data").c_str(), 1);
    CHECK(std::filesystem::equivalent(llmemu::bundled_pack_path(), bundled_pack_path));
    CHECK(llmemu::AnyLatencyModel::from_spec(llmemu::bundled_pack_path().string()).store() != nullptr);
    CHECK(llmemu::data_dir() == std::filesystem::path(LLMEMU_SOURCE_DIR) / "data");
    CHECK(std::filesystem::is_regular_file(llmemu::bundled_trace_path())); // simulate's default --trace
    CHECK(llmemu::bundled_trace_path().filename() == "splitwise_conv.csv");
    ::setenv("LLMEMU_DATA_DIR", "/nonexistent", 1);
    CHECK_THROWS_WITH_AS(llmemu::data_dir(), doctest::Contains("LLMEMU_DATA_DIR='/nonexistent'"), llmemu::config_error);
    CHECK_THROWS_AS((void)llmemu::bundled_trace_path(), llmemu::config_error);
    ::unsetenv("LLMEMU_DATA_DIR");
}
