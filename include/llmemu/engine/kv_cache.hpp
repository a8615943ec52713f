#pragma once
/// \file kv_cache.hpp
/// The paged KV cache of the reference engine, after vLLM v1's BlockPool and
/// KVCacheManager: a pool of fixed-size blocks with reference counts, one LRU queue of
/// free blocks (allocation pops the head, a freed request's blocks go to the tail, last
/// block first), and prefix caching: every full block of known tokens is registered under
/// its chained hash, and a free block keeps its hash (it stays a cache hit) until it is
/// reused. All bookkeeping is O(1) per block (amortised); nothing allocates after
/// construction except a request's own block list.
///
/// The free queue is a ring of block ids, not vLLM's doubly linked list: a block taken
/// from the middle (a prefix hit) leaves a tombstone, skipped when the head reaches it,
/// and the ring is compacted in order when it fills. The order is the linked list's, so
/// results are the same; but the next blocks to allocate are known without reading each
/// block in turn (a fleet's pools are far larger than the CPU caches, and following the
/// list was one cache miss per allocated block).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/detail/engine_hash_map.hpp"
#include "llmemu/engine/block_hash.hpp"
#include "llmemu/engine/kv_events.hpp"
#include "llmemu/error.hpp"
#include "llmemu/executor/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// A request's view of the KV cache: its blocks, how many of them are registered in the
/// prefix cache, and what identifies its tokens.
struct RequestKV {
    // What every step reads comes first (SchedulerRequest keeps it in its hot cache lines).
    /// Block ids holding the request's tokens, in order.
    std::vector<std::uint32_t> blocks;
    /// Non-zero: the request's tokens are synthetic and unique to it; block i is keyed
    /// hash_synthetic_block(salt, i). Zero: keys are chained hashes of `tokens`.
    std::uint64_t salt = 0;
    /// Leading blocks of `blocks` whose hash is registered in the prefix cache.
    std::uint32_t num_cached_blocks = 0;
    /// Token ids known so far (prompt, then output) when salt == 0.
    std::vector<TokenId> tokens;
    /// Chained block hashes computed so far (salt == 0 only).
    std::vector<std::uint64_t> hashes;
    /// Synthetic requests only: the blocks it held when last freed (preempted). Only the
    /// request itself can hit them, so they are checked here instead of in the shared map.
    std::vector<std::uint32_t> freed;

    /// Forget the blocks (after KVCacheManager::free) but keep the identity.
    void clear_blocks() noexcept {
        blocks.clear();
        num_cached_blocks = 0;
    }
};

/// Block pool + prefix cache + per-request allocation (vLLM's KVCacheManager for one
/// full-attention group).
class KVCacheManager {
public:
    static constexpr std::uint32_t nil = 0xFFFFFFFFU;
    /// The largest pool (2^30 blocks: the free ring's indices stay 32-bit).
    static constexpr std::uint32_t max_gpu_blocks = 1U << 30;

    KVCacheManager() : KVCacheManager(2, 16, true) {}

    /// `num_gpu_blocks` counted as vLLM does: block 0 is the reserved null block, so
    /// num_gpu_blocks - 1 blocks hold tokens.
    KVCacheManager(std::uint32_t num_gpu_blocks, std::uint32_t block_size, bool enable_caching)
        : m_block_size(block_size), m_num_blocks(num_gpu_blocks), m_caching(enable_caching) {
        if (num_gpu_blocks < 2)
            detail::throw_error<config_error>("KV cache: num_gpu_blocks=" + std::to_string(num_gpu_blocks) +
                                              " leaves no usable block; use >= 2");
        if (block_size == 0) detail::throw_error<config_error>("KV cache: block_size must be >= 1");
        if (num_gpu_blocks > max_gpu_blocks)
            detail::throw_error<config_error>("KV cache: num_gpu_blocks=" + std::to_string(num_gpu_blocks) +
                                              " is more than the " + std::to_string(max_gpu_blocks) +
                                              " blocks one pool can hold; use fewer (or larger) blocks");
        m_blocks.assign(num_gpu_blocks, Block{});
        // At least twice the blocks: a compaction then drops at least half the ring.
        std::size_t ring = 4;
        while (ring < 2 * std::size_t{num_gpu_blocks}) ring *= 2;
        m_ring.assign(ring, nil);
        m_ring_mask = static_cast<std::uint32_t>(ring - 1);
        m_map.reset(enable_caching ? num_gpu_blocks : 1);
        for (std::uint32_t b = 1; b < num_gpu_blocks; ++b) push_back(b);
        m_blocks[0].ref = 1; // the null block is never free
    }

    [[nodiscard]] std::uint32_t block_size() const noexcept { return m_block_size; }
    /// vLLM's num_gpu_blocks (the null block included).
    [[nodiscard]] std::uint32_t num_gpu_blocks() const noexcept { return m_num_blocks; }
    /// Blocks that can hold tokens (num_gpu_blocks - 1).
    [[nodiscard]] std::uint32_t num_usable_blocks() const noexcept { return m_num_blocks - 1; }
    /// Free blocks, evictable cached blocks included.
    [[nodiscard]] std::uint32_t num_free_blocks() const noexcept { return m_num_free; }
    /// Blocks (in use or free) that carry a prefix-cache hash.
    [[nodiscard]] std::size_t num_cached_blocks() const noexcept { return m_num_hashed; }
    [[nodiscard]] bool caching_enabled() const noexcept { return m_caching; }
    /// 1 - free / usable, in [0, 1] (vllm:kv_cache_usage_perc).
    [[nodiscard]] double usage() const noexcept {
        return 1.0 - static_cast<double>(m_num_free) / static_cast<double>(m_num_blocks - 1);
    }
    /// Reference count of a block (tests and assertions).
    [[nodiscard]] std::uint32_t ref_count(std::uint32_t block) const noexcept { return m_blocks[block].ref; }
    /// Whether a block is registered in the prefix cache.
    [[nodiscard]] bool is_cached(std::uint32_t block) const noexcept { return m_blocks[block].hash != 0; }
    /// The free blocks in LRU order, the next to be allocated first (tests, assertions;
    /// O(free blocks)).
    [[nodiscard]] std::vector<std::uint32_t> free_queue() const {
        std::vector<std::uint32_t> out;
        out.reserve(m_num_free);
        for (std::uint32_t i = 0; i < m_ring_len; ++i) {
            const std::uint32_t b = m_ring[(m_ring_head + i) & m_ring_mask];
            if (b != nil) out.push_back(b);
        }
        return out;
    }
    /// The hashes of every block in the prefix cache (in use or free), in block order:
    /// what a consumer of the KV-cache events holds after replaying them.
    [[nodiscard]] std::vector<std::uint64_t> cached_block_hashes() const {
        std::vector<std::uint64_t> out;
        out.reserve(m_num_hashed);
        for (const Block& b : m_blocks)
            if (b.hash != 0) out.push_back(b.hash);
        return out;
    }
    /// Records vLLM's KV-cache events into `log` from now on (nullptr: stop). BlockStored
    /// when full blocks are registered (one event per run of consecutive new blocks of a
    /// request), BlockRemoved when a cached block is evicted for reuse, AllBlocksCleared on
    /// reset_prefix_cache. The caller takes the events out of `log` (e.g. once per step).
    void set_event_log(KVEventLog* log) noexcept { m_events = log; }

    /// Key of block `index` of the request (computing chained hashes as needed; the
    /// block's tokens must be known).
    [[nodiscard]] std::uint64_t block_key(RequestKV& r, std::uint32_t index) const {
        if (r.salt != 0) return hash_synthetic_block(r.salt, index);
        while (r.hashes.size() <= index) {
            const std::size_t i = r.hashes.size();
            const std::uint64_t parent = i == 0 ? root_block_hash : r.hashes[i - 1];
            r.hashes.push_back(
                hash_block_tokens(parent, std::span<const TokenId>(r.tokens.data() + i * m_block_size, m_block_size)));
        }
        return r.hashes[index];
    }

    /// The longest cached prefix of a request's first `num_tokens` tokens: full blocks
    /// only, at most num_tokens - 1 tokens (one token must be computed to sample). Fills
    /// `hits` with the blocks (not yet claimed) and returns the hit tokens; 0 when caching
    /// is off.
    std::uint32_t find_cached_prefix(RequestKV& r, std::uint32_t num_tokens, std::vector<std::uint32_t>& hits) const {
        hits.clear();
        if (!m_caching || num_tokens == 0) return 0;
        const std::uint32_t max_blocks = (num_tokens - 1) / m_block_size;
        if (r.salt != 0) {
            // A synthetic sequence can only hit its own blocks, freed by a preemption and
            // not reused since (their hash is still this request's key).
            for (std::uint32_t i = 0; i < max_blocks && i < r.freed.size(); ++i) {
                const std::uint32_t b = r.freed[i];
                if (m_blocks[b].hash != hash_synthetic_block(r.salt, i)) break;
                hits.push_back(b);
            }
            return static_cast<std::uint32_t>(hits.size()) * m_block_size;
        }
        for (std::uint32_t i = 0; i < max_blocks; ++i) {
            const std::uint32_t b = m_map.find(block_key(r, i));
            if (b == detail::EngineHashMap::npos) break;
            hits.push_back(b);
        }
        return static_cast<std::uint32_t>(hits.size()) * m_block_size;
    }

    /// Reserves KV slots so that the request holds num_computed + hits + num_new_tokens
    /// tokens: claims the prefix-cache `hits` (from find_cached_prefix, only for a request
    /// without blocks) and allocates fresh blocks from the LRU head (evicting their cached
    /// hash). Fails, changing nothing, when that needs more than the free blocks (free
    /// cached hits count against them). Then registers every full block among the first
    /// min(total, num_known_tokens) tokens in the prefix cache.
    bool allocate_slots(RequestKV& r, std::uint32_t num_computed, std::uint32_t num_new_tokens,
                        std::span<const std::uint32_t> hits, std::uint32_t num_known_tokens) {
        const std::uint32_t total =
            num_computed + static_cast<std::uint32_t>(hits.size()) * m_block_size + num_new_tokens;
        // Fast path (almost every step of a running request): its blocks already hold the
        // new tokens; no hit to claim, nothing to allocate (the rule below gives the same).
        if (hits.empty() && total <= std::uint64_t{r.blocks.size()} * m_block_size) {
            cache_blocks(r, total < num_known_tokens ? total : num_known_tokens);
            return true;
        }
        const std::uint32_t required = (total + m_block_size - 1) / m_block_size;
        const std::uint32_t have = static_cast<std::uint32_t>(r.blocks.size() + hits.size());
        const std::uint32_t to_allocate = required > have ? required - have : 0;
        std::uint32_t evictable_hits = 0;
        for (const std::uint32_t b : hits) evictable_hits += m_blocks[b].ref == 0 ? 1U : 0U;
        if (to_allocate + evictable_hits > m_num_free) return false;
        for (const std::uint32_t b : hits) {
            if (m_blocks[b].ref++ == 0) unlink(b);
            r.blocks.push_back(b);
        }
        if (!hits.empty() && r.num_cached_blocks == 0) r.num_cached_blocks = static_cast<std::uint32_t>(hits.size());
        for (std::uint32_t k = 0; k < to_allocate; ++k) {
            const std::uint32_t b = pop_front();
            if (m_blocks[b].hash != 0) evict(b);
            m_blocks[b].ref = 1;
            r.blocks.push_back(b);
        }
        cache_blocks(r, total < num_known_tokens ? total : num_known_tokens);
        return true;
    }

    /// Registers the request's full blocks among its first `num_tokens` tokens in the
    /// prefix cache (a key already held by another block is left to that block).
    void cache_blocks(RequestKV& r, std::uint32_t num_tokens) {
        // Fast path (almost every decode step): no block became full.
        // (num_tokens / block_size <= num_cached_blocks, without a division per step)
        if (!m_caching || num_tokens < (std::uint64_t{r.num_cached_blocks} + 1) * m_block_size) return;
        register_full_blocks(r, num_tokens);
    }

    /// Releases the request's blocks: last block first to the LRU tail, so that a
    /// sequence's tail is evicted before its shared prefix. Cached blocks stay hits.
    void free(RequestKV& r) noexcept {
        const std::size_t n = r.blocks.size();
        for (std::size_t k = n; k-- > 0;) {
            if (k >= prefetch_distance) prefetch(r.blocks[k - prefetch_distance]);
            const std::uint32_t b = r.blocks[k];
            if (--m_blocks[b].ref == 0) push_back(b);
        }
        if (r.salt != 0 && m_caching) r.freed.swap(r.blocks);
        r.clear_blocks();
    }

private:
    [[gnu::noinline]] void register_full_blocks(RequestKV& r, std::uint32_t num_tokens) {
        std::uint32_t full = num_tokens / m_block_size;
        if (full > r.blocks.size()) full = static_cast<std::uint32_t>(r.blocks.size());
        KVCacheEvent* run = nullptr; // the BlockStored event the next new block extends
        for (std::uint32_t i = r.num_cached_blocks; i < full; ++i) {
            const std::uint32_t b = r.blocks[i];
            bool stored = false;
            if (m_blocks[b].hash == 0) {
                const std::uint64_t key = block_key(r, i);
                if (r.salt != 0) {
                    m_blocks[b].hash = key; // unique to the request: no shared map entry
                    ++m_num_hashed;
                    stored = true;
                } else if (m_map.insert(key, b)) {
                    m_blocks[b].hash = key;
                    m_blocks[b].in_map = 1;
                    ++m_num_hashed;
                    stored = true;
                }
            }
            if (m_events == nullptr) continue;
            if (!stored) {
                run = nullptr; // a key another block holds (or a hit): the next new block starts a run
                continue;
            }
            if (run == nullptr) {
                run = &m_events->emplace_back();
                run->kind = KVCacheEvent::Kind::block_stored;
                run->block_size = m_block_size;
                if (i > 0) run->parent_block_hash = block_key(r, i - 1);
            }
            run->block_hashes.push_back(m_blocks[b].hash);
            if (r.salt == 0)
                run->token_ids.insert(run->token_ids.end(), r.tokens.begin() + std::ptrdiff_t{i} * m_block_size,
                                      r.tokens.begin() + std::ptrdiff_t{i + 1} * m_block_size);
        }
        if (full > r.num_cached_blocks) r.num_cached_blocks = full;
    }

public:
    /// Drops every cached hash (vLLM reset_prefix_cache); only when no block is in use.
    bool reset_prefix_cache() {
        if (m_num_free != m_num_blocks - 1) return false;
        m_map.clear();
        for (Block& b : m_blocks) {
            b.hash = 0;
            b.in_map = 0;
        }
        m_num_hashed = 0;
        if (m_events != nullptr) m_events->push_back({KVCacheEvent::Kind::all_blocks_cleared, {}, {}, {}, 0});
        return true;
    }

private:
    void evict(std::uint32_t b) {
        if (m_events != nullptr)
            m_events->push_back({KVCacheEvent::Kind::block_removed, {m_blocks[b].hash}, {}, {}, 0});
        if (m_blocks[b].in_map != 0) {
            m_map.erase(m_blocks[b].hash, b);
            m_blocks[b].in_map = 0;
        }
        m_blocks[b].hash = 0;
        --m_num_hashed;
    }
    void push_back(std::uint32_t b) noexcept {
        if (m_ring_len == m_ring.size()) compact();
        const std::uint32_t slot = (m_ring_head + m_ring_len) & m_ring_mask;
        m_ring[slot] = b;
        m_blocks[b].slot = slot;
        ++m_ring_len;
        ++m_num_free;
    }
    /// Takes a free block out of the middle of the queue (a prefix hit): a tombstone.
    void unlink(std::uint32_t b) noexcept {
        m_ring[m_blocks[b].slot] = nil;
        m_blocks[b].slot = nil;
        --m_num_free;
    }
    /// The LRU head (there must be a free block).
    std::uint32_t pop_front() noexcept {
        while (m_ring[m_ring_head] == nil) advance_head();
        const std::uint32_t b = m_ring[m_ring_head];
        advance_head();
        m_blocks[b].slot = nil;
        --m_num_free;
        // The next allocations read these blocks: start loading one a few entries ahead
        // (a tombstone there loads nothing).
        if (m_ring_len > prefetch_distance) {
            const std::uint32_t ahead = m_ring[(m_ring_head + prefetch_distance) & m_ring_mask];
            if (ahead != nil) prefetch(ahead);
        }
        return b;
    }
    void advance_head() noexcept {
        m_ring_head = (m_ring_head + 1) & m_ring_mask;
        --m_ring_len;
    }
    /// Drops the tombstones, keeping the order (the ring is full: more than half of it
    /// is tombstones, since it holds at least twice the blocks).
    void compact() noexcept {
        std::uint32_t kept = 0;
        for (std::uint32_t i = 0; i < m_ring_len; ++i) {
            const std::uint32_t b = m_ring[(m_ring_head + i) & m_ring_mask];
            if (b == nil) continue;
            const std::uint32_t slot = (m_ring_head + kept) & m_ring_mask;
            m_ring[slot] = b; // slot is at or behind the one read: nothing unread is overwritten
            m_blocks[b].slot = slot;
            ++kept;
        }
        m_ring_len = kept; // (slots past the queue are never read before written)
    }
    /// Blocks ahead of the one a loop over a request's blocks works on whose line it asks
    /// the CPU for (they lie anywhere in the pool).
    static constexpr std::size_t prefetch_distance = 4;
    /// Starts loading a block's bookkeeping (a hint; no effect on results).
    void prefetch(std::uint32_t b) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(m_blocks.data() + b);
#else
        (void)b;
#endif
    }

    std::uint32_t m_block_size;
    std::uint32_t m_num_blocks;
    bool m_caching;
    /// One block's bookkeeping, together: allocating, caching or freeing a block touches
    /// one cache line of it (and one free-ring entry), not one per array (a fleet of
    /// engines keeps far more blocks than the caches hold).
    struct Block {
        std::uint64_t hash = 0;     // prefix-cache key, 0 = not cached
        std::uint32_t slot = nil;   // its place in the free ring, nil = in use
        std::uint32_t ref : 31 = 0; // requests holding it
        std::uint32_t in_map : 1 = 0; // its hash is in the shared map (token-id blocks)
    };
    std::vector<Block> m_blocks;
    std::size_t m_num_hashed = 0;
    /// The free queue: block ids from m_ring_head on, m_ring_len entries (nil = tombstone).
    std::vector<std::uint32_t> m_ring;
    std::uint32_t m_ring_mask = 0;
    std::uint32_t m_ring_head = 0;
    std::uint32_t m_ring_len = 0;
    std::uint32_t m_num_free = 0;
    detail::EngineHashMap m_map;
    KVEventLog* m_events = nullptr;
};

LLMEMU_END_NAMESPACE
