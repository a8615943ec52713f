#pragma once
/// \file kv_events.hpp
/// KV-cache events as vLLM emits them (vllm/distributed/kv_events.py): BlockStored when
/// full blocks enter the prefix cache, BlockRemoved when a cached block is evicted,
/// AllBlocksCleared when the prefix cache is reset. KVCacheManager appends them to a
/// KVEventLog when one is attached (KVCacheManager::set_event_log); LiveEngine hands each
/// step's events to a sink (the ZeroMQ publisher of `llmemu serve --kv-events-config`).

#include <cstdint>
#include <optional>
#include <vector>

#include "llmemu/engine/block_hash.hpp"

namespace llmemu {

/// One KV-cache event (vLLM's BlockStored / BlockRemoved / AllBlocksCleared).
struct KVCacheEvent {
    enum class Kind : std::uint8_t { block_stored, block_removed, all_blocks_cleared };
    Kind kind = Kind::block_stored;
    /// Stored: the newly cached blocks of one request, in order (each chained on the one
    /// before); removed: the evicted block.
    std::vector<std::uint64_t> block_hashes;
    /// Stored: the hash of the block before the first one (none for a prompt's first block).
    std::optional<std::uint64_t> parent_block_hash;
    /// Stored: the blocks' token ids (block_size per block); empty for a request without
    /// token ids (synthetic prompts, keyed by a per-request salt).
    std::vector<TokenId> token_ids;
    /// Stored: tokens per block.
    std::uint32_t block_size = 0;
};

/// The events recorded since the last take.
using KVEventLog = std::vector<KVCacheEvent>;

} // namespace llmemu
