// The paged KV cache: block pool accounting, LRU free queue, prefix caching by chained
// block hashes, pool sizing from a model config.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "llmemu/detail/engine_hash_map.hpp"
#include "llmemu/engine/config.hpp"
#include "llmemu/engine/kv_cache.hpp"

using namespace llmemu;

namespace {
RequestKV explicit_tokens(std::uint32_t n, TokenId first = 1000) {
    RequestKV r;
    for (std::uint32_t i = 0; i < n; ++i) r.tokens.push_back(first + static_cast<TokenId>(i));
    return r;
}
} // namespace

TEST_CASE("KVCache.pool.null_block_and_usage") {
    KVCacheManager kv(11, 16, true);
    CHECK(kv.num_gpu_blocks() == 11);
    CHECK(kv.num_usable_blocks() == 10);
    CHECK(kv.num_free_blocks() == 10);
    CHECK(kv.usage() == doctest::Approx(0.0));
    RequestKV r = explicit_tokens(40);
    // 40 tokens need ceil(40/16) = 3 blocks.
    REQUIRE(kv.allocate_slots(r, 0, 40, {}, 40));
    CHECK(r.blocks.size() == 3);
    CHECK(kv.num_free_blocks() == 7);
    CHECK(kv.usage() == doctest::Approx(0.3));
    for (auto b : r.blocks) CHECK(b != 0); // the null block is never handed out
    // One more token fits in block 3; the 49th token needs a fourth block.
    REQUIRE(kv.allocate_slots(r, 40, 8, {}, 48));
    CHECK(r.blocks.size() == 3);
    REQUIRE(kv.allocate_slots(r, 48, 1, {}, 48));
    CHECK(r.blocks.size() == 4);
    kv.free(r);
    CHECK(r.blocks.empty());
    CHECK(kv.num_free_blocks() == 10);
    CHECK(kv.usage() == doctest::Approx(0.0));
}

TEST_CASE("KVCache.pool.failed_allocation_changes_nothing") {
    KVCacheManager kv(5, 16, true); // 4 usable blocks
    RequestKV a = explicit_tokens(48);
    REQUIRE(kv.allocate_slots(a, 0, 48, {}, 48));
    RequestKV b = explicit_tokens(32, 5000);
    CHECK_FALSE(kv.allocate_slots(b, 0, 32, {}, 32));
    CHECK(b.blocks.empty());
    CHECK(kv.num_free_blocks() == 1);
    CHECK(kv.allocate_slots(b, 0, 16, {}, 32));
    CHECK(kv.num_free_blocks() == 0);
}

TEST_CASE("KVCache.prefix.full_blocks_only_and_last_token_computed") {
    KVCacheManager kv(20, 16, true);
    RequestKV a = explicit_tokens(40);
    REQUIRE(kv.allocate_slots(a, 0, 40, {}, 40));
    // Two full blocks (32 tokens) are registered; the partial third is not.
    CHECK(kv.is_cached(a.blocks[0]));
    CHECK(kv.is_cached(a.blocks[1]));
    CHECK_FALSE(kv.is_cached(a.blocks[2]));
    std::vector<std::uint32_t> hits;
    RequestKV b = explicit_tokens(40);
    CHECK(kv.find_cached_prefix(b, 40, hits) == 32);
    CHECK(hits == std::vector<std::uint32_t>{a.blocks[0], a.blocks[1]});
    // A 32-token prompt equal to the first two blocks hits only 16: one token must be computed.
    RequestKV c = explicit_tokens(32);
    CHECK(kv.find_cached_prefix(c, 32, hits) == 16);
    // A different first token shares nothing, even with an equal second block.
    RequestKV d = explicit_tokens(40);
    d.tokens[0] = 7;
    CHECK(kv.find_cached_prefix(d, 40, hits) == 0);
    // Synthetic sequences never hit another request's blocks.
    RequestKV e;
    e.salt = 12345;
    CHECK(kv.find_cached_prefix(e, 40, hits) == 0);
}

TEST_CASE("KVCache.prefix.shared_blocks_are_reference_counted") {
    KVCacheManager kv(20, 16, true);
    RequestKV a = explicit_tokens(64);
    REQUIRE(kv.allocate_slots(a, 0, 64, {}, 64));
    CHECK(kv.num_free_blocks() == 15);
    RequestKV b = explicit_tokens(64);
    std::vector<std::uint32_t> hits;
    REQUIRE(kv.find_cached_prefix(b, 64, hits) == 48);
    REQUIRE(kv.allocate_slots(b, 0, 16, hits, 64));
    CHECK(b.blocks.size() == 4);
    CHECK(kv.num_free_blocks() == 14); // 3 shared + 1 new
    CHECK(kv.ref_count(a.blocks[0]) == 2);
    kv.free(a);
    CHECK(kv.ref_count(b.blocks[0]) == 1);
    CHECK(kv.num_free_blocks() == 15); // a's last block only
    kv.free(b);
    CHECK(kv.num_free_blocks() == 19);
}

TEST_CASE("KVCache.prefix.free_cached_blocks_stay_hits_until_evicted_lru") {
    KVCacheManager kv(5, 16, true); // 4 usable
    RequestKV a = explicit_tokens(48);
    REQUIRE(kv.allocate_slots(a, 0, 48, {}, 48));
    const auto a_blocks = a.blocks;
    kv.free(a);
    CHECK(kv.num_free_blocks() == 4);
    CHECK(kv.num_cached_blocks() == 3);
    std::vector<std::uint32_t> hits;
    RequestKV again = explicit_tokens(49);
    CHECK(kv.find_cached_prefix(again, 49, hits) == 48);
    // A new request takes one block from the LRU head: the never-used block goes first,
    // then a's blocks from its tail (the last block is evicted before the prefix).
    RequestKV x = explicit_tokens(16, 9000);
    REQUIRE(kv.allocate_slots(x, 0, 16, {}, 16));
    CHECK(kv.find_cached_prefix(again, 49, hits) == 48);
    RequestKV y = explicit_tokens(16, 9100);
    REQUIRE(kv.allocate_slots(y, 0, 16, {}, 16));
    CHECK(y.blocks[0] == a_blocks[2]);
    CHECK(kv.find_cached_prefix(again, 49, hits) == 32);
    // Claiming free cached hits counts them against the free blocks.
    RequestKV z = explicit_tokens(49);
    REQUIRE(kv.find_cached_prefix(z, 49, hits) == 32);
    CHECK_FALSE(kv.allocate_slots(z, 0, 17, hits, 49)); // 2 hits + 2 new > 2 free
    CHECK(kv.allocate_slots(z, 0, 0, hits, 49));        // the hits alone fit
    CHECK(kv.num_free_blocks() == 0);
}

namespace {
// The free queue's order as vLLM's linked list keeps it, followed alongside the manager:
// claimed free hits leave from anywhere, fresh blocks from the head, freed blocks join
// the tail last block first.
struct LruModel {
    std::vector<std::uint32_t> queue;
    void take(std::uint32_t b) {
        const auto it = std::find(queue.begin(), queue.end(), b);
        REQUIRE(it != queue.end());
        queue.erase(it);
    }
};

// allocate_slots, checking against the model which blocks leave the free queue.
bool allocate_checked(KVCacheManager& kv, LruModel& m, RequestKV& r, std::uint32_t num_computed,
                      std::uint32_t num_new, const std::vector<std::uint32_t>& hits, std::uint32_t known) {
    const std::size_t before = r.blocks.size();
    std::vector<bool> was_free;
    for (const std::uint32_t b : hits) was_free.push_back(kv.ref_count(b) == 0);
    if (!kv.allocate_slots(r, num_computed, num_new, hits, known)) return false;
    for (std::size_t i = 0; i < hits.size(); ++i)
        if (was_free[i]) m.take(hits[i]);
    for (std::size_t i = before + hits.size(); i < r.blocks.size(); ++i) {
        REQUIRE_FALSE(m.queue.empty());
        CHECK(r.blocks[i] == m.queue.front()); // fresh blocks come from the LRU head
        m.queue.erase(m.queue.begin());
    }
    return true;
}

void free_checked(KVCacheManager& kv, LruModel& m, RequestKV& r) {
    for (std::size_t k = r.blocks.size(); k-- > 0;)
        if (kv.ref_count(r.blocks[k]) == 1) m.queue.push_back(r.blocks[k]);
    kv.free(r);
}
} // namespace

TEST_CASE("KVCache.pool.free_queue_keeps_lru_order_through_tombstones_and_compaction") {
    SUBCASE("free prefixes claimed and freed again fill the ring with tombstones") {
        // 16 usable blocks, all cached and free: two prompts of 8 blocks each. Each round
        // claims one prompt's 8 blocks as hits (8 tombstones) and frees them again (8 new
        // entries at the tail), allocating nothing: the 64-entry ring fills every few
        // rounds and is compacted while the other prompt's blocks sit in it, which the
        // next round then takes out of the middle. The order must stay the linked list's.
        KVCacheManager kv(17, 4, true);
        LruModel m;
        m.queue = kv.free_queue();
        REQUIRE(m.queue.size() == 16);
        for (const TokenId family : {1000, 5000}) {
            RequestKV a = explicit_tokens(32, family);
            REQUIRE(allocate_checked(kv, m, a, 0, 32, {}, 32));
            free_checked(kv, m, a);
        }
        CHECK(kv.free_queue() == m.queue);
        for (int round = 0; round < 60; ++round) {
            RequestKV b = explicit_tokens(33, round % 2 == 0 ? 1000 : 5000);
            std::vector<std::uint32_t> hits;
            REQUIRE(kv.find_cached_prefix(b, 33, hits) == 32);
            REQUIRE(allocate_checked(kv, m, b, 0, 0, hits, 33));
            CHECK(kv.free_queue() == m.queue);
            free_checked(kv, m, b);
            REQUIRE(kv.free_queue() == m.queue);
            CHECK(kv.num_free_blocks() == 16);
            CHECK(kv.num_cached_blocks() == 16);
        }
    }
    SUBCASE("random requests sharing prefixes, allocated, grown and freed") {
        KVCacheManager kv(41, 4, true);
        LruModel m;
        m.queue = kv.free_queue();
        std::mt19937_64 rng(7);
        std::vector<RequestKV> live;
        std::vector<std::uint32_t> lens;
        int claimed_free_hits = 0;
        for (int op = 0; op < 4000; ++op) {
            const bool add = live.empty() || (live.size() < 6 && rng() % 3 != 0);
            if (add) {
                // One of three families of prompts: requests of a family share prefixes.
                const std::uint32_t len = 1 + static_cast<std::uint32_t>(rng() % 40);
                RequestKV r = explicit_tokens(len, static_cast<TokenId>(1000 * (1 + rng() % 3)));
                std::vector<std::uint32_t> hits;
                const std::uint32_t hit = kv.find_cached_prefix(r, len, hits);
                for (const std::uint32_t b : hits) claimed_free_hits += kv.ref_count(b) == 0 ? 1 : 0;
                if (allocate_checked(kv, m, r, 0, len - hit, hits, len)) {
                    live.push_back(std::move(r));
                    lens.push_back(len);
                }
            } else if (rng() % 2 == 0) {
                // A decode step: one more token (known), maybe a new block.
                const std::size_t i = rng() % live.size();
                live[i].tokens.push_back(static_cast<TokenId>(50000 + op));
                if (allocate_checked(kv, m, live[i], lens[i], 1, {}, lens[i] + 1)) ++lens[i];
                else live[i].tokens.pop_back();
            } else {
                const std::size_t i = rng() % live.size();
                free_checked(kv, m, live[i]);
                live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
                lens.erase(lens.begin() + static_cast<std::ptrdiff_t>(i));
            }
            REQUIRE(kv.free_queue() == m.queue);
            REQUIRE(kv.num_free_blocks() == m.queue.size());
        }
        // Enough tombstones for the 128-entry ring to have been compacted many times.
        CHECK(claimed_free_hits > 1000);
    }
}

TEST_CASE("KVCache.prefix.disabled_never_hits") {
    KVCacheManager kv(20, 16, false);
    RequestKV a = explicit_tokens(64);
    REQUIRE(kv.allocate_slots(a, 0, 64, {}, 64));
    CHECK_FALSE(kv.is_cached(a.blocks[0]));
    std::vector<std::uint32_t> hits;
    RequestKV b = explicit_tokens(64);
    CHECK(kv.find_cached_prefix(b, 64, hits) == 0);
}

TEST_CASE("KVCache.prefix.reset") {
    KVCacheManager kv(8, 16, true);
    RequestKV a = explicit_tokens(32);
    REQUIRE(kv.allocate_slots(a, 0, 32, {}, 32));
    CHECK_FALSE(kv.reset_prefix_cache()); // blocks in use
    kv.free(a);
    CHECK(kv.reset_prefix_cache());
    std::vector<std::uint32_t> hits;
    RequestKV b = explicit_tokens(33);
    CHECK(kv.find_cached_prefix(b, 33, hits) == 0);
}

TEST_CASE("KVCache.hash_map.matches_unordered_map") {
    detail::EngineHashMap map(1000);
    std::unordered_map<std::uint64_t, std::uint32_t> ref;
    std::mt19937_64 g(7);
    for (int i = 0; i < 20000; ++i) {
        // Small key space so inserts, duplicates and erases collide often.
        const std::uint64_t key = (g() % 1500) * 0x10001ULL + 1;
        const auto value = static_cast<std::uint32_t>(g() % 100);
        if (g() % 3 != 0 && ref.size() < 1000) {
            const bool inserted = map.insert(key, value);
            CHECK(inserted == ref.emplace(key, value).second);
        } else {
            const auto it = ref.find(key);
            const bool expect = it != ref.end() && it->second == value;
            CHECK(map.erase(key, value) == expect);
            if (expect) ref.erase(it);
            if (it != ref.end() && !expect) CHECK(map.erase(key, it->second));
            if (it != ref.end() && !expect) ref.erase(it);
        }
        if (i % 1000 == 0) {
            for (const auto& [k, v] : ref) REQUIRE(map.find(k) == v);
        }
    }
    CHECK(map.size() == ref.size());
    for (const auto& [k, v] : ref) CHECK(map.find(k) == v);
}

TEST_CASE("KVCache.sizing.derive_from_model_config") {
    ModelConfig m; // Qwen3-8B on an A40, as the bundled pack records it
    m.model_name = "Qwen/Qwen3-8B";
    m.num_hidden_layers = 36;
    m.hidden_size = 4096;
    m.num_attention_heads = 32;
    m.num_key_value_heads = 8;
    m.vocab_size = 151936;
    m.intermediate_size = 12288;
    m.head_dim = 128;
    m.gpu_memory_bytes = 47709159424ULL;
    CHECK(kv_block_bytes(m, 16) == 2ULL * 36 * 8 * 128 * 2 * 16);
    const double params = static_cast<double>(estimate_weight_bytes(m)) / 2.0;
    CHECK(params == doctest::Approx(8.19e9).epsilon(0.01));
    const std::uint32_t n = derive_num_gpu_blocks(m, m.gpu_memory_bytes, 0.9, 16);
    CHECK(n > 10000);
    CHECK(n < 12000);
    // Less memory, fewer blocks; too little memory is an error naming the fix.
    CHECK(derive_num_gpu_blocks(m, m.gpu_memory_bytes, 0.8, 16) < n);
    CHECK_THROWS_AS((void)derive_num_gpu_blocks(m, 16ULL << 30U, 0.9, 16), config_error);
    CHECK_THROWS_AS((void)derive_num_gpu_blocks(m, 0, 0.9, 16), config_error);
    ModelConfig empty;
    CHECK_THROWS_AS((void)kv_block_bytes(empty, 16), config_error);
    EngineConfig c;
    CHECK_THROWS_AS((void)resolve_num_gpu_blocks(c, nullptr), config_error);
    CHECK(resolve_num_gpu_blocks(c, &m) == n);
    c.num_gpu_blocks = 77;
    CHECK(resolve_num_gpu_blocks(c, nullptr) == 77);
}

TEST_CASE("KVCache.sizing.analytic_pool_and_auto_max_model_len") {
    // No GPU to size from: room for max_num_seqs requests of max_model_len, plus the null block.
    EngineConfig c;
    c.max_num_seqs = 8;
    c.max_model_len = 1000; // 63 blocks of 16 (the last one partly used)
    c.block_size = 16;
    CHECK(analytic_num_gpu_blocks(c) == 8U * 63U + 1U);
    c.max_model_len = 1008; // exactly 63 blocks
    CHECK(analytic_num_gpu_blocks(c) == 8U * 63U + 1U);
    c.max_num_seqs = 4000000;
    c.max_model_len = 1U << 28U;
    CHECK(analytic_num_gpu_blocks(c) == 4000000000U); // capped, not wrapped
    // max_model_len: the profile's or 4096, doubled until the longest request fits.
    CHECK(auto_max_model_len(nullptr) == 4096);
    CHECK(auto_max_model_len(nullptr, 4096) == 4096);
    CHECK(auto_max_model_len(nullptr, 4097) == 8192);
    CHECK(auto_max_model_len(nullptr, 20000) == 32768);
    ModelConfig m;
    m.max_model_len = 40960;
    CHECK(auto_max_model_len(&m) == 40960);
    CHECK(auto_max_model_len(&m, 50000) == 81920);
    m.max_model_len = 0; // the pack records none
    CHECK(auto_max_model_len(&m, 100) == 4096);
}

TEST_CASE("KVCache.config.validate_rejects_bad_fields") {
    EngineConfig c;
    CHECK_NOTHROW(c.validate());
    auto bad = [](auto mutate) {
        EngineConfig x;
        mutate(x);
        CHECK_THROWS_AS(x.validate(), config_error);
    };
    bad([](EngineConfig& x) { x.max_num_seqs = 0; });
    bad([](EngineConfig& x) { x.max_num_batched_tokens = 0; });
    bad([](EngineConfig& x) { x.block_size = 0; });
    bad([](EngineConfig& x) { x.max_model_len = 1; });
    bad([](EngineConfig& x) { x.num_gpu_blocks = 1; });
    bad([](EngineConfig& x) { x.gpu_memory_utilization = 0.0; });
    bad([](EngineConfig& x) { x.gpu_memory_utilization = 1.5; });
}
