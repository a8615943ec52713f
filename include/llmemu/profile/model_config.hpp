#pragma once
/// \file model_config.hpp
/// The model and GPU a profile pack was captured on (the pack's `model_config`, or a
/// step trace's `_header` record). The engine sizes its KV pool from it.

#include <cstdint>
#include <string>

namespace llmemu {

/// Model and GPU description. Zero / empty means "not recorded in the pack".
struct ModelConfig {
    std::string model_name;
    std::string gpu_name;
    std::uint32_t num_hidden_layers = 0;
    std::uint32_t hidden_size = 0;
    std::uint32_t num_attention_heads = 0;
    std::uint32_t num_key_value_heads = 0;
    std::uint32_t vocab_size = 0;
    std::uint32_t intermediate_size = 0;
    std::uint32_t head_dim = 0;
    std::uint32_t max_model_len = 0;
    std::uint32_t block_size = 0;
    std::uint64_t gpu_memory_bytes = 0;
    std::uint32_t gpu_sm_count = 0;
    std::uint32_t gpu_count = 0;
    std::uint32_t compute_capability_major = 0;
    std::uint32_t compute_capability_minor = 0;
    /// Bytes per KV-cache element (2 for fp16/bf16, the vLLM default).
    std::uint32_t kv_dtype_bytes = 2;

    friend bool operator==(const ModelConfig&, const ModelConfig&) = default;
};

} // namespace llmemu
