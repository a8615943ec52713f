#pragma once
/// \file hf_config.hpp
/// Reads a Hugging Face `config.json` into a ModelConfig: the shape a layer-wise latency
/// model multiplies by (layers, experts) and the KV pool is sized from (layers, KV heads,
/// head_dim, dtype). Malformed files raise profile_error naming the file, the field and
/// the fix.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/model_config.hpp"

LLMEMU_BEGIN_NAMESPACE

namespace detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void hf_fail(std::string_view source, const std::string& what) {
    throw profile_error("model config '" + std::string(source) + "': " + what);
}

/// Bytes per element of a torch_dtype string; 0 when unknown.
[[nodiscard]] inline std::uint32_t hf_dtype_bytes(std::string_view d) noexcept {
    if (d == "bfloat16" || d == "float16" || d == "half" || d == "bf16" || d == "fp16") return 2;
    if (d == "float32" || d == "float" || d == "fp32") return 4;
    if (d == "float8_e4m3fn" || d == "fp8" || d == "int8" || d == "float8_e5m2") return 1;
    return 0;
}

inline std::uint32_t hf_u32(std::string_view source, simdjson::dom::object obj, std::string_view key, bool required,
                            std::uint32_t fallback = 0) {
    simdjson::dom::element e;
    if (obj[key].get(e) != simdjson::SUCCESS || e.is_null()) {
        if (required)
            hf_fail(source, "has no \"" + std::string(key) +
                                "\"; it is needed to compose the step time and size "
                                "the KV cache (give the model's own config.json)");
        return fallback;
    }
    std::uint64_t v = 0;
    if (e.get_uint64().get(v) != simdjson::SUCCESS) {
        double d = 0;
        if (e.get_double().get(d) == simdjson::SUCCESS && d >= 0 &&
            d == static_cast<double>(static_cast<std::uint64_t>(d)))
            v = static_cast<std::uint64_t>(d);
        else
            hf_fail(source, "\"" + std::string(key) + "\" must be a non-negative integer");
    }
    if (v > std::numeric_limits<std::uint32_t>::max())
        hf_fail(source, "\"" + std::string(key) + "\" = " + std::to_string(v) + " is above 4294967295");
    return static_cast<std::uint32_t>(v);
}

} // namespace detail

/// Parses the text of a Hugging Face config.json. Required: num_hidden_layers,
/// hidden_size, num_attention_heads (all >= 1). Defaults as transformers applies them:
/// num_key_value_heads = num_attention_heads, head_dim = hidden_size / num_attention_heads,
/// torch_dtype bfloat16 (2 bytes; the KV cache uses the weight dtype, as vLLM's
/// kv_cache_dtype "auto"). Mixture of experts: num_experts (or num_local_experts),
/// num_experts_per_tok, moe_intermediate_size (default intermediate_size).
/// `source` names the input in errors.
[[nodiscard]] inline ModelConfig parse_hf_config(std::string_view json, std::string_view source = "<memory>") {
    const simdjson::padded_string padded(json);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS)
        detail::hf_fail(source, "is not valid JSON (" + std::string(simdjson::error_message(err)) +
                                    "); give the model's Hugging Face config.json");
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS)
        detail::hf_fail(source, "must be a JSON object (a Hugging Face config.json)");
    ModelConfig m;
    std::string_view name;
    if (obj["_name_or_path"].get_string().get(name) == simdjson::SUCCESS) m.model_name = std::string(name);
    m.num_hidden_layers = detail::hf_u32(source, obj, "num_hidden_layers", true);
    m.hidden_size = detail::hf_u32(source, obj, "hidden_size", true);
    m.num_attention_heads = detail::hf_u32(source, obj, "num_attention_heads", true);
    if (m.num_hidden_layers == 0 || m.hidden_size == 0 || m.num_attention_heads == 0)
        detail::hf_fail(source, "num_hidden_layers, hidden_size and num_attention_heads must be >= 1");
    m.num_key_value_heads = detail::hf_u32(source, obj, "num_key_value_heads", false, m.num_attention_heads);
    if (m.num_key_value_heads == 0 || m.num_key_value_heads > m.num_attention_heads)
        detail::hf_fail(source, "num_key_value_heads = " + std::to_string(m.num_key_value_heads) +
                                    " must be in [1, num_attention_heads = " + std::to_string(m.num_attention_heads) +
                                    "]");
    m.head_dim = detail::hf_u32(source, obj, "head_dim", false, m.hidden_size / m.num_attention_heads);
    if (m.head_dim == 0) detail::hf_fail(source, "head_dim must be >= 1");
    m.vocab_size = detail::hf_u32(source, obj, "vocab_size", false);
    m.intermediate_size = detail::hf_u32(source, obj, "intermediate_size", false);
    m.num_experts =
        detail::hf_u32(source, obj, "num_experts", false, detail::hf_u32(source, obj, "num_local_experts", false));
    m.num_experts_per_tok = detail::hf_u32(source, obj, "num_experts_per_tok", false, m.num_experts == 0 ? 0 : 1);
    m.moe_intermediate_size = detail::hf_u32(source, obj, "moe_intermediate_size", false, m.intermediate_size);
    if (m.num_experts != 0 && (m.num_experts_per_tok == 0 || m.num_experts_per_tok > m.num_experts))
        detail::hf_fail(source, "num_experts_per_tok = " + std::to_string(m.num_experts_per_tok) +
                                    " must be in [1, num_experts = " + std::to_string(m.num_experts) + "]");
    bool tied = false;
    if (obj["tie_word_embeddings"].get_bool().get(tied) == simdjson::SUCCESS) m.tie_word_embeddings = tied;
    std::string_view dtype = "bfloat16";
    simdjson::dom::element e;
    if (obj["torch_dtype"].get(e) == simdjson::SUCCESS && !e.is_null()) {
        if (e.get_string().get(dtype) != simdjson::SUCCESS)
            detail::hf_fail(source, "\"torch_dtype\" must be a string such as \"bfloat16\"");
    }
    m.weight_dtype_bytes = detail::hf_dtype_bytes(dtype);
    if (m.weight_dtype_bytes == 0)
        detail::hf_fail(source, "\"torch_dtype\" = \"" + std::string(dtype.substr(0, 40)) +
                                    "\" is not one of bfloat16, float16, float32, float8_e4m3fn, int8");
    m.kv_dtype_bytes = m.weight_dtype_bytes;
    return m;
}

/// Reads a Hugging Face config.json from a file (see parse_hf_config).
[[nodiscard]] inline ModelConfig load_hf_config(const std::filesystem::path& path) {
    simdjson::padded_string data;
    if (auto err = simdjson::padded_string::load(path.string()).get(data); err != simdjson::SUCCESS)
        detail::hf_fail(path.string(), "cannot read the file (" + std::string(simdjson::error_message(err)) +
                                           "); check the path given to --model-config");
    ModelConfig m = parse_hf_config(std::string_view(data.data(), data.size()), path.string());
    if (m.model_name.empty()) m.model_name = path.stem().string();
    return m;
}

LLMEMU_END_NAMESPACE
