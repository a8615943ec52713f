// vLLM's KV-cache events: what the KV cache records (BlockStored / BlockRemoved /
// AllBlocksCleared) and that replaying them rebuilds its contents; the KVEventsConfig
// parser; the msgpack wire layout; the routed backend behind --data-parallel-size and
// --replicas --router.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "llmemu/engine/kv_cache.hpp"
#include "llmemu/engine/kv_events.hpp"
#include "llmemu/engine/live_engine.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/profile/analytic.hpp"
#include "llmemu/server/kv_events_config.hpp"
#if LLMEMU_HAVE_KV_EVENTS
#include <msgpack.hpp>
#include <unistd.h>
#include <zmq.hpp>

#include "llmemu/server/kv_event_publisher.hpp"
#endif

using namespace llmemu;

namespace {
RequestKV tokens_kv(std::uint32_t n, TokenId first) {
    RequestKV r;
    for (std::uint32_t i = 0; i < n; ++i) r.tokens.push_back(first + static_cast<TokenId>(i));
    return r;
}

// What a subscriber holds after the events: stored minus removed, reset by a clear.
void replay(const KVEventLog& log, std::set<std::uint64_t>& held) {
    for (const auto& e : log) {
        switch (e.kind) {
        case KVCacheEvent::Kind::block_stored:
            for (const auto h : e.block_hashes) CHECK(held.insert(h).second); // never stored twice
            break;
        case KVCacheEvent::Kind::block_removed:
            for (const auto h : e.block_hashes) CHECK(held.erase(h) == 1); // only what was stored
            break;
        case KVCacheEvent::Kind::all_blocks_cleared:
            held.clear();
            break;
        }
    }
}

std::set<std::uint64_t> as_set(const std::vector<std::uint64_t>& v) {
    return {v.begin(), v.end()};
}
} // namespace

TEST_CASE("KVEvents.cache.stored_chain_parent_and_tokens") {
    KVCacheManager kv(9, 4, true); // 8 usable blocks of 4 tokens
    KVEventLog log;
    kv.set_event_log(&log);
    RequestKV a = tokens_kv(10, 100); // 2 full blocks + 2 tokens
    std::vector<std::uint32_t> hits;
    REQUIRE(kv.allocate_slots(a, 0, 10, {}, 10));
    REQUIRE(log.size() == 1);
    CHECK(log[0].kind == KVCacheEvent::Kind::block_stored);
    CHECK(log[0].block_size == 4);
    CHECK_FALSE(log[0].parent_block_hash.has_value()); // a prompt's first block
    REQUIRE(log[0].block_hashes.size() == 2);
    CHECK(log[0].block_hashes[0] == kv.block_key(a, 0));
    CHECK(log[0].block_hashes[1] == kv.block_key(a, 1));
    CHECK(log[0].token_ids == std::vector<TokenId>{100, 101, 102, 103, 104, 105, 106, 107});
    log.clear();
    // Two decode tokens fill block 2: one event chained on block 1.
    a.tokens.push_back(110);
    a.tokens.push_back(111);
    REQUIRE(kv.allocate_slots(a, 10, 2, {}, 12));
    REQUIRE(log.size() == 1);
    CHECK(log[0].parent_block_hash == kv.block_key(a, 1));
    CHECK(log[0].block_hashes == std::vector<std::uint64_t>{kv.block_key(a, 2)});
    CHECK(log[0].token_ids == std::vector<TokenId>{108, 109, 110, 111});
    log.clear();
    // A second request with the same first 8 tokens hits them: only its new block is stored.
    RequestKV b = tokens_kv(8, 100);
    b.tokens.push_back(500);
    b.tokens.push_back(501);
    b.tokens.push_back(502);
    b.tokens.push_back(503);
    const std::uint32_t hit = kv.find_cached_prefix(b, 12, hits);
    CHECK(hit == 8);
    REQUIRE(kv.allocate_slots(b, 0, 12 - hit, hits, 12));
    REQUIRE(log.size() == 1);
    CHECK(log[0].parent_block_hash == kv.block_key(b, 1));
    CHECK(log[0].block_hashes == std::vector<std::uint64_t>{kv.block_key(b, 2)});
    CHECK(log[0].token_ids == std::vector<TokenId>{500, 501, 502, 503});
}

TEST_CASE("KVEvents.cache.evictions_and_reset") {
    KVCacheManager kv(4, 4, true); // 3 usable blocks
    KVEventLog log;
    kv.set_event_log(&log);
    RequestKV a = tokens_kv(12, 1);
    REQUIRE(kv.allocate_slots(a, 0, 12, {}, 12));
    const std::vector<std::uint64_t> a_hashes{kv.block_key(a, 0), kv.block_key(a, 1), kv.block_key(a, 2)};
    kv.free(a);
    log.clear();
    // A different request needs two blocks: two cached blocks are evicted (LRU head).
    RequestKV b = tokens_kv(8, 900);
    REQUIRE(kv.allocate_slots(b, 0, 8, {}, 8));
    std::size_t removed = 0;
    for (const auto& e : log) {
        if (e.kind != KVCacheEvent::Kind::block_removed) continue;
        REQUIRE(e.block_hashes.size() == 1);
        CHECK(std::find(a_hashes.begin(), a_hashes.end(), e.block_hashes[0]) != a_hashes.end());
        ++removed;
    }
    CHECK(removed == 2);
    kv.free(b);
    log.clear();
    REQUIRE(kv.reset_prefix_cache());
    REQUIRE(log.size() == 1);
    CHECK(log[0].kind == KVCacheEvent::Kind::all_blocks_cleared);
    CHECK(kv.cached_block_hashes().empty());
    // Detached: nothing more is recorded.
    kv.set_event_log(nullptr);
    RequestKV c = tokens_kv(8, 7);
    REQUIRE(kv.allocate_slots(c, 0, 8, {}, 8));
    CHECK(log.size() == 1);
}

TEST_CASE("KVEvents.cache.replay_rebuilds_contents") {
    // Random requests with shared prefixes, synthetic ones, preemption-like frees and
    // decode growth on a small pool: after every operation the replayed events hold
    // exactly the cache's hashes.
    std::mt19937_64 rng(7);
    KVCacheManager kv(40, 4, true);
    KVEventLog log;
    kv.set_event_log(&log);
    std::set<std::uint64_t> held;
    std::vector<RequestKV> live;
    std::vector<std::uint32_t> hits;
    std::size_t stored = 0, removed = 0;
    for (int op = 0; op < 3000; ++op) {
        const auto roll = rng() % 10;
        if (roll < 4 || live.empty()) {
            RequestKV r;
            const std::uint32_t n = 1 + static_cast<std::uint32_t>(rng() % 30);
            if (rng() % 5 == 0) {
                r.salt = rng() | 1U;
            } else {
                const TokenId family = static_cast<TokenId>(rng() % 6) * 1000; // shared prefixes
                for (std::uint32_t i = 0; i < n; ++i)
                    r.tokens.push_back(i < 12 ? family + static_cast<TokenId>(i) : static_cast<TokenId>(rng() % 50));
            }
            const std::uint32_t hit = kv.find_cached_prefix(r, n, hits);
            if (kv.allocate_slots(r, 0, n - hit, hits, n)) live.push_back(std::move(r));
        } else if (roll < 7) {
            auto& r = live[rng() % live.size()];
            const auto have = static_cast<std::uint32_t>(r.blocks.size()) * 4U;
            const std::uint32_t known = r.salt != 0 ? have + 1 : static_cast<std::uint32_t>(r.tokens.size());
            if (r.salt == 0) r.tokens.push_back(static_cast<TokenId>(rng() % 50));
            (void)kv.allocate_slots(r, known, 1, {}, known + 1);
        } else {
            const std::size_t i = rng() % live.size();
            kv.free(live[i]);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
        for (const auto& e : log) {
            stored += e.kind == KVCacheEvent::Kind::block_stored ? e.block_hashes.size() : 0;
            removed += e.kind == KVCacheEvent::Kind::block_removed ? 1 : 0;
        }
        replay(log, held);
        log.clear();
        REQUIRE(held == as_set(kv.cached_block_hashes()));
    }
    CHECK(stored > 100); // the run did exercise both kinds
    CHECK(removed > 50);
}

TEST_CASE("LiveEngine.kv_events.sink_and_inspect" * doctest::timeout(20)) {
    // The engine's events, one batch per step on its thread, replayed, equal its prefix
    // cache as inspect() reads it between steps; a pool of 24 blocks makes it evict.
    using Exec = EmulatedExecutor<ConstantProfile, WallClock>;
    WallClock clock;
    EngineConfig config;
    config.num_gpu_blocks = 24;
    config.block_size = 16;
    config.max_model_len = 256;
    config.max_num_seqs = 3;
    LiveEngine<Exec> engine(Exec(ConstantProfile{0.5}, clock), clock, config);
    std::mutex mu;
    std::set<std::uint64_t> held;
    std::size_t batches = 0, removed = 0;
    engine.set_kv_event_sink([&](KVEventLog& log) {
        std::lock_guard lock(mu);
        CHECK_FALSE(log.empty());
        ++batches;
        for (const auto& e : log) removed += e.kind == KVCacheEvent::Kind::block_removed ? 1 : 0;
        replay(log, held);
    });
    std::atomic<int> done{0};
    std::mt19937 rng(3);
    for (int i = 0; i < 24; ++i) {
        RequestSpec s;
        for (int t = 0; t < 40 + i % 5 * 7; ++t)
            s.prompt_tokens.push_back(t < 32 ? (i % 3) * 100 + t : static_cast<TokenId>(rng() % 1000));
        s.prompt_len = static_cast<std::uint32_t>(s.prompt_tokens.size());
        s.max_tokens = 20;
        s.ignore_eos = true;
        (void)engine.submit(std::move(s), [&](const TokenEvent& e) {
            if (e.finished) ++done;
        });
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (done.load() < 24 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    REQUIRE(done.load() == 24);
    const auto hashes = engine.inspect(
        [](const LiveEngine<Exec>::engine_type& e) { return e.scheduler().kv_cache().cached_block_hashes(); });
    std::lock_guard lock(mu);
    CHECK(held == as_set(hashes));
    CHECK(batches > 5);
    CHECK(removed > 0);
    engine.shutdown();
    // After the engine thread ended, inspect runs on the caller.
    CHECK(engine.inspect([](const LiveEngine<Exec>::engine_type& e) {
        return e.scheduler().kv_cache().cached_block_hashes().size();
    }) == hashes.size());
}

TEST_CASE("KVEvents.config.parse") {
    using server::parse_kv_events_config;
    const auto d = parse_kv_events_config("{}");
    CHECK_FALSE(d.enable_kv_cache_events);
    CHECK(d.publisher == "null");
    CHECK_FALSE(d.publishes());
    CHECK(d.endpoint == "tcp://*:5557");
    CHECK(d.buffer_steps == 10000);
    CHECK(d.hwm == 100000);
    const auto on = parse_kv_events_config(
        R"({"enable_kv_cache_events": true, "endpoint": "tcp://*:18660", "replay_endpoint": "tcp://*:18661",
            "buffer_steps": 5, "hwm": 0, "max_queue_size": 3, "topic": "kv"})");
    CHECK(on.publisher == "zmq"); // vLLM's default once events are on
    CHECK(on.publishes());
    CHECK(on.replay_endpoint == std::optional<std::string>("tcp://*:18661"));
    CHECK(on.buffer_steps == 5);
    CHECK(on.topic == "kv");
    CHECK_FALSE(parse_kv_events_config(R"({"enable_kv_cache_events": true, "publisher": "null"})").publishes());
    auto refused = [](const char* text, const char* needle) {
        try {
            (void)server::parse_kv_events_config(text);
            FAIL("accepted: " << text);
        } catch (const config_error& e) {
            CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
        }
    };
    refused(R"({"enable_kv_cache_events": true, "endpont": "x"})", "unknown key 'endpont'");
    refused(R"({"enable_kv_cache_events": "yes"})", "'enable_kv_cache_events' must be true or false");
    refused(R"({"publisher": "kafka"})", "'publisher' must be \"zmq\" or \"null\"");
    refused(R"({"buffer_steps": -1})", "'buffer_steps' must be a whole number");
    refused(R"({"hwm": 1.5})", "'hwm' must be a whole number");
    refused(R"({"max_queue_size": 0})", "'max_queue_size' must be a whole number in [1,");
    refused(R"({"topic": 3})", "'topic' must be a string");
    refused(R"([1])", "give a JSON object");
    refused(R"({"enable_kv_cache_events": true,)", "not JSON");
    refused(R"({"hwm": 1E1111})", "not JSON"); // nlohmann's out_of_range (fuzz find)
    refused(R"({"enable_kv_cache_events": true, "endpoint": "udp://x:1"})", "tcp://, ipc:// or inproc://");

    CHECK(server::offset_endpoint_port("tcp://*:5557", 0) == "tcp://*:5557");
    CHECK(server::offset_endpoint_port("tcp://*:5557", 3) == "tcp://*:5560");
    CHECK(server::offset_endpoint_port("tcp://[::1]:5557", 1) == "tcp://[::1]:5558");
    CHECK(server::offset_endpoint_port("inproc://kv", 2) == "inproc://kv_dp2");
    CHECK_THROWS_AS((void)server::offset_endpoint_port("tcp://*:65535", 1), config_error);
    CHECK_THROWS_AS((void)server::offset_endpoint_port("ipc:///tmp/kv", 1), config_error);
}

#if LLMEMU_HAVE_KV_EVENTS
TEST_CASE("KVEvents.wire.msgpack_layout") {
    KVEventLog log(3);
    log[0].kind = KVCacheEvent::Kind::block_stored;
    log[0].block_hashes = {0xFFFFFFFFFFFFFFF0ULL, 7};
    log[0].parent_block_hash = 42;
    log[0].token_ids = {1, 2, 3, 4, 5, 6, 7, 8};
    log[0].block_size = 4;
    log[1].kind = KVCacheEvent::Kind::block_removed;
    log[1].block_hashes = {9};
    log[2].kind = KVCacheEvent::Kind::all_blocks_cleared;
    const std::string bytes = server::encode_kv_event_batch(1700000000.25, log, 2);
    const msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size());
    const auto& batch = oh.get();
    REQUIRE(batch.type == msgpack::type::ARRAY);
    REQUIRE(batch.via.array.size == 3); // [ts, events, data_parallel_rank]
    CHECK(batch.via.array.ptr[0].as<double>() == 1700000000.25);
    CHECK(batch.via.array.ptr[2].as<unsigned>() == 2);
    const auto& events = batch.via.array.ptr[1];
    REQUIRE(events.via.array.size == 3);
    const auto& stored = events.via.array.ptr[0];
    REQUIRE(stored.via.array.size == 8);
    CHECK(stored.via.array.ptr[0].as<std::string>() == "BlockStored");
    CHECK(stored.via.array.ptr[1].as<std::vector<std::uint64_t>>() ==
          std::vector<std::uint64_t>{0xFFFFFFFFFFFFFFF0ULL, 7});
    CHECK(stored.via.array.ptr[2].as<std::uint64_t>() == 42);
    CHECK(stored.via.array.ptr[3].as<std::vector<int>>() == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(stored.via.array.ptr[4].as<unsigned>() == 4);
    CHECK(stored.via.array.ptr[5].is_nil()); // lora_id
    CHECK(stored.via.array.ptr[6].as<std::string>() == "GPU");
    CHECK(stored.via.array.ptr[7].is_nil()); // lora_name
    const auto& removed = events.via.array.ptr[1];
    REQUIRE(removed.via.array.size == 3);
    CHECK(removed.via.array.ptr[0].as<std::string>() == "BlockRemoved");
    CHECK(removed.via.array.ptr[1].as<std::vector<std::uint64_t>>() == std::vector<std::uint64_t>{9});
    const auto& cleared = events.via.array.ptr[2];
    REQUIRE(cleared.via.array.size == 1);
    CHECK(cleared.via.array.ptr[0].as<std::string>() == "AllBlocksCleared");
    // A first block has no parent: nil.
    log.resize(1);
    log[0].parent_block_hash.reset();
    const std::string b2 = server::encode_kv_event_batch(1.0, log, std::nullopt);
    const msgpack::object_handle oh2 = msgpack::unpack(b2.data(), b2.size());
    CHECK(oh2.get().via.array.size == 2);
    CHECK(oh2.get().via.array.ptr[1].via.array.ptr[0].via.array.ptr[2].is_nil());
}

TEST_CASE("KVEvents.publisher.pub_and_replay" * doctest::timeout(20)) {
    // ipc:// endpoints are bound (vLLM's rule) and reach nothing beyond this machine.
    const std::string base = "ipc:///tmp/llmemu-kv-test-" + std::to_string(::getpid());
    server::KVEventsConfig c;
    c.enable_kv_cache_events = true;
    c.publisher = "zmq";
    c.endpoint = base + "-pub";
    c.replay_endpoint = base + "-replay";
    c.topic = "kv";
    c.buffer_steps = 2;
    server::KVEventPublisher pub(c, 0, 0);
    zmq::context_t ctx(1);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::subscribe, "kv");
    sub.set(zmq::sockopt::rcvtimeo, 5000);
    sub.connect(c.endpoint);
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // PUB/SUB joins late
    for (std::uint32_t k = 0; k < 3; ++k) {
        KVEventLog log(1);
        log[0].kind = KVCacheEvent::Kind::block_removed;
        log[0].block_hashes = {100 + k};
        pub.publish(log);
        CHECK(log.empty());
    }
    auto seq_of = [](const zmq::message_t& m) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < m.size(); ++i) v = (v << 8U) | m.data<std::uint8_t>()[i];
        return v;
    };
    for (std::uint64_t k = 0; k < 3; ++k) {
        zmq::message_t topic, seq, payload;
        REQUIRE(sub.recv(topic));
        REQUIRE(sub.recv(seq));
        REQUIRE(sub.recv(payload));
        CHECK(topic.to_string() == "kv");
        CHECK(seq.size() == 8);
        CHECK(seq_of(seq) == k);
        const msgpack::object_handle oh = msgpack::unpack(payload.data<char>(), payload.size());
        CHECK(oh.get().via.array.ptr[1].via.array.ptr[0].via.array.ptr[1].as<std::vector<std::uint64_t>>() ==
              std::vector<std::uint64_t>{100 + k});
        CHECK(oh.get().via.array.ptr[2].as<unsigned>() == 0); // data_parallel_rank
    }
    // Replay from seq 0: the buffer kept the last two batches, then the end marker.
    // A DEALER (a REQ socket takes one reply only): [empty, start seq] out, [empty, seq,
    // payload] per batch back.
    zmq::socket_t req(ctx, zmq::socket_type::dealer);
    req.set(zmq::sockopt::rcvtimeo, 5000);
    req.connect(*c.replay_endpoint);
    const std::string start(8, '\0');
    req.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::sndmore);
    req.send(zmq::buffer(start), zmq::send_flags::none);
    std::vector<std::uint64_t> seqs;
    for (;;) {
        zmq::message_t empty, seq, payload;
        REQUIRE(req.recv(empty));
        CHECK(empty.size() == 0);
        REQUIRE(req.recv(seq));
        REQUIRE(req.recv(payload));
        if (payload.size() == 0) {
            CHECK(seq.to_string() == std::string(8, '\xff')); // -1, big endian
            break;
        }
        seqs.push_back(seq_of(seq));
    }
    CHECK(seqs == std::vector<std::uint64_t>{1, 2});
    pub.shutdown();
    CHECK(pub.stats().batches == 3);
    CHECK(pub.stats().replays == 1);
    CHECK(pub.stats().dropped == 0);
}
#endif
