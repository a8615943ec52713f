#pragma once
/// \file model_config.hpp
/// The model and GPU a profile pack was captured on (the pack's `model_config`, or a
/// step trace's `_header` record, or a Hugging Face config.json read by hf_config.hpp).
/// The engine sizes its KV pool from it.

#include <cstdint>
#include <string>

#include "llmemu/config.hpp"

LLMEMU_BEGIN_NAMESPACE

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
    /// Bytes per weight element (config.json's torch_dtype; 2 for bf16/fp16).
    std::uint32_t weight_dtype_bytes = 2;
    /// Mixture-of-experts: routed experts per layer (0 = dense MLP), experts each token is
    /// routed to, and each expert's intermediate size (config.json num_experts or
    /// num_local_experts, num_experts_per_tok, moe_intermediate_size).
    std::uint32_t num_experts = 0;
    std::uint32_t num_experts_per_tok = 0;
    std::uint32_t moe_intermediate_size = 0;
    /// The LM head shares the embedding's weights (config.json tie_word_embeddings).
    bool tie_word_embeddings = false;
    /// GPUs one model replica is sharded over (vLLM --tensor-parallel-size); the KV pool
    /// and the weights are per GPU, so both are divided by it.
    std::uint32_t tensor_parallel_size = 1;

    friend bool operator==(const ModelConfig&, const ModelConfig&) = default;
};

LLMEMU_END_NAMESPACE
