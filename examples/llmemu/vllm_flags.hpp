#pragma once
// vLLM's command-line flags as `llmemu serve` and `llmemu bench` take them: ONE table per
// command that classifies every flag of `vllm serve --help` / `vllm bench serve --help`
// (vLLM 0.11 .. 0.19: vllm/engine/arg_utils.py's config dataclasses and
// vllm/entrypoints/openai/cli_args.py; vllm/benchmarks/serve.py) as
//  - implemented: the command registers the flag itself, with vLLM's meaning;
//  - no effect:   accepted, and one startup line names every such flag given (an emulated
//                 GPU has no dtype, no CUDA graphs, no weights to download ...);
//  - refused:     exit 2 with the reason and the fix.
// No vLLM flag is accepted silently. docs/server.md's tables are this data
// (`llmemu serve --vllm-flags-markdown`; a ctest keeps them equal).

#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.hpp"

namespace llmemu::cli {

/// How llmemu treats one vLLM flag.
enum class VllmFlagClass { implemented, no_effect, refused };

/// What follows the flag on vLLM's command line.
enum class VllmFlagArity {
    none,    ///< a switch (store_true)
    boolean, ///< --x and --no-x (argparse BooleanOptionalAction)
    value,   ///< one value
    values   ///< one or more values (nargs="+")
};

/// One row of the table. `names` are comma separated as CLI11 takes them ("--foo,-f");
/// `allowed` (value flags of class no_effect only) lists, comma separated, the values that
/// have no effect here; any other value is refused with `note` as the reason.
struct VllmFlag {
    std::string_view names;
    VllmFlagArity arity;
    VllmFlagClass cls;
    std::string_view note;
    std::string_view allowed = {};
};

inline constexpr std::string_view vllm_no_effect_gpu = "no emulated GPU kernel, memory or process to apply it to";
inline constexpr std::string_view vllm_no_effect_text = "prompts and outputs are synthetic token ids, not text";
inline constexpr std::string_view vllm_refused_lora = "LoRA adapters are not emulated; serve the base model";
inline constexpr std::string_view vllm_refused_mn_dp =
    "multi-node data parallelism is not emulated; --data-parallel-size N runs N engines in one process (or "
    "--replicas N, one port each)";

/// Every flag of `vllm serve --help` (vLLM 0.11 .. 0.19) and what llmemu serve does with it.
inline constexpr VllmFlag vllm_serve_flags[] = {
    // ---- serve itself and the frontend (cli_args.py) ----
    {"model_tag (positional)", VllmFlagArity::value, VllmFlagClass::implemented,
     "the model name served (as vLLM; --served-model-name overrides it)"},
    {"--model", VllmFlagArity::value, VllmFlagClass::implemented, "the same as the positional MODEL"},
    {"--served-model-name", VllmFlagArity::values, VllmFlagClass::implemented,
     "names clients may send; the first is /v1/models' id and the metrics' model_name"},
    {"--host", VllmFlagArity::value, VllmFlagClass::implemented, "address to bind (localhost = 127.0.0.1)"},
    {"--port", VllmFlagArity::value, VllmFlagClass::implemented, "TCP port"},
    {"--api-key", VllmFlagArity::value, VllmFlagClass::implemented,
     "Bearer key required on /v1 routes (also VLLM_API_KEY)"},
    {"--enable-request-id-headers", VllmFlagArity::none, VllmFlagClass::implemented,
     "X-Request-Id on every generation response (the client's, else the request id)"},
    {"--enable-server-load-tracking", VllmFlagArity::boolean, VllmFlagClass::implemented,
     "/load reports the requests in flight (llmemu always tracks them)"},
    {"--enable-force-include-usage", VllmFlagArity::boolean, VllmFlagClass::implemented,
     "every stream ends with a usage chunk, as if stream_options.include_usage were set"},
    {"--max-logprobs", VllmFlagArity::value, VllmFlagClass::implemented,
     "most logprobs / top_logprobs a request may ask for (default 20)"},
    {"--headless", VllmFlagArity::none, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--api-server-count,-asc", VllmFlagArity::value, VllmFlagClass::no_effect,
     "one event loop serves every connection"},
    {"--config", VllmFlagArity::value, VllmFlagClass::refused,
     "YAML config files are not read; give the flags on the command line"},
    {"--uds", VllmFlagArity::value, VllmFlagClass::refused, "Unix sockets are not served; use --host/--port"},
    {"--uvicorn-log-level", VllmFlagArity::value, VllmFlagClass::no_effect, "there is no uvicorn"},
    {"--disable-uvicorn-access-log", VllmFlagArity::boolean, VllmFlagClass::no_effect, "llmemu writes no access log"},
    {"--disable-access-log-for-endpoints", VllmFlagArity::value, VllmFlagClass::no_effect,
     "llmemu writes no access log"},
    {"--allow-credentials", VllmFlagArity::boolean, VllmFlagClass::no_effect,
     "no CORS headers are sent (browser pages on other origins cannot call the server)"},
    {"--allowed-origins", VllmFlagArity::value, VllmFlagClass::no_effect, "no CORS headers are sent"},
    {"--allowed-methods", VllmFlagArity::value, VllmFlagClass::no_effect, "no CORS headers are sent"},
    {"--allowed-headers", VllmFlagArity::value, VllmFlagClass::no_effect, "no CORS headers are sent"},
    {"--lora-modules", VllmFlagArity::values, VllmFlagClass::refused, vllm_refused_lora},
    {"--chat-template", VllmFlagArity::value, VllmFlagClass::no_effect,
     "chat prompts are counted with llmemu's fixed ChatML-like template (docs/server.md)"},
    {"--chat-template-content-format", VllmFlagArity::value, VllmFlagClass::no_effect,
     "chat prompts are counted with llmemu's fixed template"},
    {"--trust-request-chat-template", VllmFlagArity::boolean, VllmFlagClass::no_effect,
     "chat prompts are counted with llmemu's fixed template"},
    {"--default-chat-template-kwargs", VllmFlagArity::value, VllmFlagClass::no_effect,
     "chat prompts are counted with llmemu's fixed template"},
    {"--response-role", VllmFlagArity::value, VllmFlagClass::refused,
     "replies always have role 'assistant'; drop the flag"},
    {"--ssl-keyfile", VllmFlagArity::value, VllmFlagClass::refused,
     "llmemu serves plain HTTP; put a TLS proxy in front"},
    {"--ssl-certfile", VllmFlagArity::value, VllmFlagClass::refused,
     "llmemu serves plain HTTP; put a TLS proxy in front"},
    {"--ssl-ca-certs", VllmFlagArity::value, VllmFlagClass::refused,
     "llmemu serves plain HTTP; put a TLS proxy in front"},
    {"--enable-ssl-refresh", VllmFlagArity::boolean, VllmFlagClass::refused,
     "llmemu serves plain HTTP; put a TLS proxy in front"},
    {"--ssl-cert-reqs", VllmFlagArity::value, VllmFlagClass::refused,
     "llmemu serves plain HTTP; put a TLS proxy in front"},
    {"--ssl-ciphers", VllmFlagArity::value, VllmFlagClass::refused,
     "llmemu serves plain HTTP; put a TLS proxy in front"},
    {"--root-path", VllmFlagArity::value, VllmFlagClass::refused,
     "routes are served at /; strip the prefix in the proxy"},
    {"--middleware", VllmFlagArity::value, VllmFlagClass::refused, "no Python ASGI middleware can be loaded"},
    {"--return-tokens-as-token-ids", VllmFlagArity::boolean, VllmFlagClass::refused,
     "logprobs tokens are always synthetic words; drop the flag"},
    {"--disable-frontend-multiprocessing", VllmFlagArity::boolean, VllmFlagClass::no_effect,
     "the front end and the engine are one process"},
    {"--enable-auto-tool-choice", VllmFlagArity::boolean, VllmFlagClass::implemented,
     "serve tool_choice auto (the default with tools): synthetic tool calls; needs --tool-call-parser"},
    {"--exclude-tools-when-tool-choice-none", VllmFlagArity::boolean, VllmFlagClass::implemented,
     "tool_choice none leaves the tools out of the prompt's tokens"},
    {"--tool-call-parser", VllmFlagArity::value, VllmFlagClass::implemented,
     "any parser name: tool calls are streamed in OpenAI's tool_calls shape whatever the model's format"},
    {"--tool-parser-plugin", VllmFlagArity::value, VllmFlagClass::refused,
     "no Python tool-parser plugins can be loaded"},
    {"--tool-server", VllmFlagArity::value, VllmFlagClass::refused,
     "built-in tool servers (Responses API) are not emulated"},
    {"--log-config-file", VllmFlagArity::value, VllmFlagClass::no_effect, "llmemu logs plain lines to stdout"},
    {"--max-log-len", VllmFlagArity::value, VllmFlagClass::no_effect, "request logs never print prompts"},
    {"--disable-fastapi-docs", VllmFlagArity::boolean, VllmFlagClass::no_effect, "there are no /docs routes"},
    {"--enable-offline-docs", VllmFlagArity::boolean, VllmFlagClass::no_effect, "there are no /docs routes"},
    {"--enable-prompt-tokens-details", VllmFlagArity::boolean, VllmFlagClass::refused,
     "usage.prompt_tokens_details is not reported yet; drop the flag"},
    {"--enable-tokenizer-info-endpoint", VllmFlagArity::boolean, VllmFlagClass::refused,
     "there is no tokenizer to describe"},
    {"--enable-log-outputs", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_text},
    {"--log-error-stack", VllmFlagArity::boolean, VllmFlagClass::no_effect, "errors are one line"},
    {"--h11-max-incomplete-event-size", VllmFlagArity::value, VllmFlagClass::no_effect,
     "llmemu's limits are --max-body-bytes and 64 KiB of headers"},
    {"--h11-max-header-count", VllmFlagArity::value, VllmFlagClass::no_effect,
     "llmemu's limits are --max-body-bytes and 64 KiB of headers"},
    {"--tokens-only", VllmFlagArity::boolean, VllmFlagClass::refused, "the Tokens In/Out endpoint is not served"},
    // ---- AsyncEngineArgs ----
    {"--enable-log-requests", VllmFlagArity::boolean, VllmFlagClass::implemented,
     "one line per request received and finished"},
    {"--disable-log-requests", VllmFlagArity::none, VllmFlagClass::implemented,
     "no request lines (the default, as in vLLM 0.10+)"},
    {"--disable-log-stats", VllmFlagArity::none, VllmFlagClass::implemented,
     "no periodic stats line (default: one every VLLM_LOG_STATS_INTERVAL = 10 s)"},
    {"--aggregate-engine-logging", VllmFlagArity::boolean, VllmFlagClass::no_effect, "there is one engine"},
    // ---- ModelConfig ----
    {"--runner", VllmFlagArity::value, VllmFlagClass::no_effect,
     "llmemu emulates text generation only (runner generate)", "auto,generate"},
    {"--convert", VllmFlagArity::value, VllmFlagClass::no_effect, "llmemu emulates text generation only", "auto,none"},
    {"--task", VllmFlagArity::value, VllmFlagClass::no_effect, "llmemu emulates text generation only", "auto,generate"},
    {"--tokenizer", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_text},
    {"--tokenizer-mode", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_text},
    {"--skip-tokenizer-init", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_text},
    {"--trust-remote-code", VllmFlagArity::boolean, VllmFlagClass::no_effect, "no model code is loaded"},
    {"--dtype", VllmFlagArity::value, VllmFlagClass::no_effect,
     "step times come from the profile, measured at its own precision"},
    {"--hf-config-path", VllmFlagArity::value, VllmFlagClass::no_effect,
     "the model comes from the profile (or --model-config)"},
    {"--allowed-local-media-path", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--allowed-media-domains", VllmFlagArity::values, VllmFlagClass::no_effect, "text only"},
    {"--revision", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are downloaded"},
    {"--code-revision", VllmFlagArity::value, VllmFlagClass::no_effect, "no model code is loaded"},
    {"--tokenizer-revision", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_text},
    {"--rope-scaling", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--rope-theta", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--quantization,-q", VllmFlagArity::value, VllmFlagClass::refused,
     "step times come from the profile; a quantized model needs a profile of its own (llmemu profile)"},
    {"--enforce-eager", VllmFlagArity::boolean, VllmFlagClass::no_effect,
     "step times come from the profile (measured with its own CUDA-graph setting)"},
    {"--max-seq-len-to-capture", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--logprobs-mode", VllmFlagArity::value, VllmFlagClass::no_effect, "logprobs are synthetic"},
    {"--disable-sliding-window", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--disable-cascade-attn", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--enable-prompt-embeds", VllmFlagArity::boolean, VllmFlagClass::refused,
     "prompt embeddings are not accepted; send text or token ids"},
    {"--config-format", VllmFlagArity::value, VllmFlagClass::no_effect, "no model config is loaded from the hub"},
    {"--hf-token", VllmFlagArity::value, VllmFlagClass::no_effect, "nothing is downloaded"},
    {"--hf-overrides", VllmFlagArity::value, VllmFlagClass::no_effect,
     "the model comes from the profile (or --model-config)"},
    {"--pooler-config", VllmFlagArity::value, VllmFlagClass::refused, "pooling models are not emulated"},
    {"--override-pooler-config", VllmFlagArity::value, VllmFlagClass::refused, "pooling models are not emulated"},
    {"--logits-processor-pattern", VllmFlagArity::value, VllmFlagClass::no_effect, "no logits are computed"},
    {"--logits-processors", VllmFlagArity::values, VllmFlagClass::no_effect, "no logits are computed"},
    {"--generation-config", VllmFlagArity::value, VllmFlagClass::no_effect,
     "sampling parameters do not change synthetic tokens"},
    {"--override-generation-config", VllmFlagArity::value, VllmFlagClass::no_effect,
     "sampling parameters do not change synthetic tokens"},
    {"--enable-sleep-mode", VllmFlagArity::boolean, VllmFlagClass::refused, "/sleep and /wake_up are not emulated"},
    {"--model-impl", VllmFlagArity::value, VllmFlagClass::no_effect, "no model code is loaded"},
    {"--override-attention-dtype", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--io-processor-plugin", VllmFlagArity::value, VllmFlagClass::refused, "no Python plugins can be loaded"},
    // ---- LoadConfig ----
    {"--load-format", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are loaded"},
    {"--download-dir", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are downloaded"},
    {"--safetensors-load-strategy", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are loaded"},
    {"--model-loader-extra-config", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are loaded"},
    {"--ignore-patterns", VllmFlagArity::values, VllmFlagClass::no_effect, "no weights are downloaded"},
    {"--use-tqdm-on-load", VllmFlagArity::boolean, VllmFlagClass::no_effect, "no weights are loaded"},
    {"--pt-load-map-location", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are loaded"},
    // ---- StructuredOutputsConfig ----
    {"--structured-outputs-config", VllmFlagArity::value, VllmFlagClass::no_effect,
     "structured outputs are written by llmemu's JSON-schema instance generator, not a decoding backend"},
    {"--guided-decoding-backend", VllmFlagArity::value, VllmFlagClass::no_effect,
     "structured outputs are written by llmemu's JSON-schema instance generator, not a decoding backend"},
    {"--reasoning-parser", VllmFlagArity::value, VllmFlagClass::no_effect,
     "synthetic outputs have no reasoning section"},
    // ---- ParallelConfig ----
    {"--distributed-executor-backend", VllmFlagArity::value, VllmFlagClass::no_effect, "there are no worker processes"},
    {"--pipeline-parallel-size,-pp", VllmFlagArity::value, VllmFlagClass::no_effect,
     "pipeline parallelism is not emulated: only 1 is accepted", "1"},
    {"--tensor-parallel-size,-tp", VllmFlagArity::value, VllmFlagClass::implemented,
     "must match the profile: a layer-wise folder's tp<N>/, a pack's measured TP, 1 for const:/affine:"},
    {"--decode-context-parallel-size,-dcp", VllmFlagArity::value, VllmFlagClass::no_effect,
     "context parallelism is not emulated: only 1 is accepted", "1"},
    {"--data-parallel-size,-dp", VllmFlagArity::value, VllmFlagClass::implemented,
     "N engines on one port behind vLLM's internal DP load balancer (lowest 4 x waiting + running)"},
    {"--data-parallel-rank,-dpn", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-start-rank,-dpr", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-size-local,-dpl", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-address,-dpa", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-rpc-port,-dpp", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-backend,-dpb", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-hybrid-lb", VllmFlagArity::boolean, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--data-parallel-external-lb", VllmFlagArity::boolean, VllmFlagClass::refused, vllm_refused_mn_dp},
    {"--enable-expert-parallel", VllmFlagArity::boolean, VllmFlagClass::no_effect,
     "the profile's own parallel layout applies"},
    {"--enable-eplb", VllmFlagArity::boolean, VllmFlagClass::no_effect, "the profile's own parallel layout applies"},
    {"--eplb-config", VllmFlagArity::value, VllmFlagClass::no_effect, "the profile's own parallel layout applies"},
    {"--num-redundant-experts", VllmFlagArity::value, VllmFlagClass::no_effect,
     "the profile's own parallel layout applies"},
    {"--expert-placement-strategy", VllmFlagArity::value, VllmFlagClass::no_effect,
     "the profile's own parallel layout applies"},
    {"--all2all-backend", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--enable-dbo", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--dbo-decode-token-threshold", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--dbo-prefill-token-threshold", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--disable-custom-all-reduce", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--max-parallel-loading-workers", VllmFlagArity::value, VllmFlagClass::no_effect, "no weights are loaded"},
    {"--ray-workers-use-nsight", VllmFlagArity::boolean, VllmFlagClass::no_effect, "there are no Ray workers"},
    {"--worker-cls", VllmFlagArity::value, VllmFlagClass::refused, "no Python worker classes can be loaded"},
    {"--worker-extension-cls", VllmFlagArity::value, VllmFlagClass::refused, "no Python worker classes can be loaded"},
    {"--enable-multimodal-encoder-data-parallel", VllmFlagArity::boolean, VllmFlagClass::no_effect, "text only"},
    // ---- CacheConfig ----
    {"--block-size", VllmFlagArity::value, VllmFlagClass::implemented, "tokens per KV block"},
    {"--gpu-memory-utilization", VllmFlagArity::value, VllmFlagClass::implemented,
     "share of GPU memory for weights + KV when sizing the pool"},
    {"--num-gpu-blocks-override", VllmFlagArity::value, VllmFlagClass::implemented, "KV blocks in the pool"},
    {"--enable-prefix-caching", VllmFlagArity::boolean, VllmFlagClass::implemented, "automatic prefix caching"},
    {"--kv-cache-memory-bytes", VllmFlagArity::value, VllmFlagClass::refused,
     "size the KV pool with --num-gpu-blocks-override (blocks) instead"},
    {"--kv-cache-dtype", VllmFlagArity::value, VllmFlagClass::no_effect,
     "the pool is sized at the profile's KV precision; set --num-gpu-blocks-override for another", "auto"},
    {"--swap-space", VllmFlagArity::value, VllmFlagClass::no_effect, "preempted requests are recomputed (vLLM v1)"},
    {"--cpu-offload-gb", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--prefix-caching-hash-algo", VllmFlagArity::value, VllmFlagClass::no_effect,
     "any hash finds the same shared blocks"},
    {"--calculate-kv-scales", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--kv-sharing-fast-prefill", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--mamba-cache-dtype", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--mamba-ssm-cache-dtype", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--kv-offloading-size", VllmFlagArity::value, VllmFlagClass::refused, "KV offloading is not emulated"},
    {"--kv-offloading-backend", VllmFlagArity::value, VllmFlagClass::refused, "KV offloading is not emulated"},
    // ---- MultiModalConfig ----
    {"--limit-mm-per-prompt", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--media-io-kwargs", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--mm-processor-kwargs", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--mm-processor-cache-gb", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--mm-processor-cache-type", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--disable-mm-preprocessor-cache", VllmFlagArity::boolean, VllmFlagClass::no_effect, "text only"},
    {"--mm-shm-cache-max-object-size-mb", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--mm-encoder-tp-mode", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--mm-encoder-attn-backend", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    {"--interleave-mm-strings", VllmFlagArity::boolean, VllmFlagClass::no_effect, "text only"},
    {"--skip-mm-profiling", VllmFlagArity::boolean, VllmFlagClass::no_effect, "text only"},
    {"--video-pruning-rate", VllmFlagArity::value, VllmFlagClass::no_effect, "text only"},
    // ---- LoRAConfig ----
    {"--enable-lora", VllmFlagArity::boolean, VllmFlagClass::refused, vllm_refused_lora},
    {"--enable-lora-bias", VllmFlagArity::boolean, VllmFlagClass::refused, vllm_refused_lora},
    {"--max-loras", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_lora},
    {"--max-lora-rank", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_lora},
    {"--lora-extra-vocab-size", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_lora},
    {"--lora-dtype", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_lora},
    {"--max-cpu-loras", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_lora},
    {"--fully-sharded-loras", VllmFlagArity::boolean, VllmFlagClass::refused, vllm_refused_lora},
    {"--default-mm-loras", VllmFlagArity::value, VllmFlagClass::refused, vllm_refused_lora},
    // ---- ObservabilityConfig ----
    {"--show-hidden-metrics-for-version", VllmFlagArity::value, VllmFlagClass::no_effect,
     "/metrics always shows vLLM 0.11's set, time_per_output_token_seconds included"},
    {"--otlp-traces-endpoint", VllmFlagArity::value, VllmFlagClass::refused, "OpenTelemetry tracing is not emulated"},
    {"--collect-detailed-traces", VllmFlagArity::value, VllmFlagClass::refused,
     "OpenTelemetry tracing is not emulated"},
    {"--kv-cache-metrics", VllmFlagArity::boolean, VllmFlagClass::refused,
     "the vllm:kv_block_* histograms are not emulated yet"},
    {"--cudagraph-metrics", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--enable-layerwise-nvtx-tracing", VllmFlagArity::boolean, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    // ---- SchedulerConfig ----
    {"--max-num-batched-tokens", VllmFlagArity::value, VllmFlagClass::implemented, "token budget of one step"},
    {"--max-num-seqs", VllmFlagArity::value, VllmFlagClass::implemented, "most running requests"},
    {"--long-prefill-token-threshold", VllmFlagArity::value, VllmFlagClass::implemented,
     "cap on one request's prefill chunk"},
    {"--max-num-partial-prefills", VllmFlagArity::value, VllmFlagClass::no_effect,
     "vLLM v0's setting; the v1 scheduler emulated ignores it too"},
    {"--max-long-partial-prefills", VllmFlagArity::value, VllmFlagClass::no_effect,
     "vLLM v0's setting; the v1 scheduler emulated ignores it too"},
    {"--num-lookahead-slots", VllmFlagArity::value, VllmFlagClass::no_effect, "speculative decoding is not emulated"},
    {"--scheduling-policy", VllmFlagArity::value, VllmFlagClass::implemented,
     "fcfs, or priority: the request's 'priority' orders the waiting queue and picks preemption victims"},
    {"--enable-chunked-prefill", VllmFlagArity::none, VllmFlagClass::implemented, "always on (vLLM v1's default)"},
    {"--no-enable-chunked-prefill", VllmFlagArity::none, VllmFlagClass::refused,
     "the emulated v1 scheduler always chunks prefills; drop the flag"},
    {"--disable-chunked-mm-input", VllmFlagArity::boolean, VllmFlagClass::no_effect, "text only"},
    {"--cuda-graph-sizes", VllmFlagArity::values, VllmFlagClass::no_effect,
     "step times come from the profile (measured with its own CUDA graphs)"},
    {"--scheduler-cls", VllmFlagArity::value, VllmFlagClass::refused, "no Python scheduler classes can be loaded"},
    {"--disable-hybrid-kv-cache-manager", VllmFlagArity::boolean, VllmFlagClass::no_effect, "one KV pool is emulated"},
    {"--async-scheduling", VllmFlagArity::none, VllmFlagClass::implemented,
     "on by default (vLLM 0.18); --no-async-scheduling turns it off"},
    {"--no-async-scheduling", VllmFlagArity::none, VllmFlagClass::implemented, "schedule after each step ends"},
    {"--stream-interval", VllmFlagArity::value, VllmFlagClass::no_effect,
     "every token is streamed as it is made: only 1 is accepted", "1"},
    // ---- VllmConfig ----
    {"--speculative-config", VllmFlagArity::value, VllmFlagClass::refused, "speculative decoding is not emulated"},
    {"--kv-transfer-config", VllmFlagArity::value, VllmFlagClass::refused,
     "KV transfer (disaggregated prefill) is not emulated"},
    {"--kv-events-config", VllmFlagArity::value, VllmFlagClass::implemented,
     "vLLM's KVEventsConfig JSON: BlockStored/BlockRemoved/AllBlocksCleared as msgpack over ZeroMQ PUB"},
    {"--ec-transfer-config", VllmFlagArity::value, VllmFlagClass::refused, "encoder-cache transfer is not emulated"},
    {"--compilation-config,-O", VllmFlagArity::value, VllmFlagClass::no_effect,
     "step times come from the profile (measured with its own compilation)"},
    {"--attention-backend", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--attention-config", VllmFlagArity::value, VllmFlagClass::no_effect, vllm_no_effect_gpu},
    {"--additional-config", VllmFlagArity::value, VllmFlagClass::no_effect, "platform plugins are not loaded"},
    {"--profiler-config", VllmFlagArity::value, VllmFlagClass::refused,
     "/start_profile is not emulated; use llmemu simulate --trace-out"},
};

/// The client-side flags of `vllm bench serve --help` (vLLM 0.11 .. 0.19) and what llmemu
/// bench does with them. The dataset and arrival flags (--dataset-name, --random-*,
/// --request-rate, --ramp-up-*, ...) are the workload flags llmemu simulate shares.
inline constexpr VllmFlag vllm_bench_flags[] = {
    {"--backend", VllmFlagArity::value, VllmFlagClass::implemented,
     "openai and vllm (completions), openai-chat (chat completions); the result's backend and file name"},
    {"--base-url", VllmFlagArity::value, VllmFlagClass::implemented, "server to benchmark"},
    {"--host", VllmFlagArity::value, VllmFlagClass::implemented, "server host when --base-url is not given"},
    {"--port", VllmFlagArity::value, VllmFlagClass::implemented, "server port when --base-url is not given"},
    {"--endpoint", VllmFlagArity::value, VllmFlagClass::implemented, "/v1/completions or /v1/chat/completions"},
    {"--model", VllmFlagArity::value, VllmFlagClass::implemented, "model id (default: /v1/models' first)"},
    {"--served-model-name", VllmFlagArity::value, VllmFlagClass::implemented,
     "the model name sent in requests (default: --model)"},
    {"--max-concurrency", VllmFlagArity::value, VllmFlagClass::implemented, "requests in flight at most"},
    {"--seed", VllmFlagArity::value, VllmFlagClass::implemented, "seed of arrivals, lengths and prompts"},
    {"--ignore-eos", VllmFlagArity::none, VllmFlagClass::implemented, "send ignore_eos (llmemu's default)"},
    {"--logprobs", VllmFlagArity::value, VllmFlagClass::implemented, "logprobs asked for per token"},
    {"--percentile-metrics", VllmFlagArity::value, VllmFlagClass::implemented,
     "ttft,tpot,itl,e2el: only these get result keys and summary rows (llmemu's default: all four)"},
    {"--metric-percentiles", VllmFlagArity::value, VllmFlagClass::implemented, "percentiles, e.g. 25,50,99"},
    {"--goodput", VllmFlagArity::values, VllmFlagClass::implemented, "SLOs as KEY:MS pairs (ttft, tpot, e2el)"},
    {"--save-result", VllmFlagArity::none, VllmFlagClass::implemented,
     "write the result JSON under vLLM's file name in --result-dir"},
    {"--save-detailed", VllmFlagArity::none, VllmFlagClass::implemented,
     "keep the per-request lists in a --save-result file"},
    {"--append-result", VllmFlagArity::none, VllmFlagClass::implemented,
     "append the result to the file (a newline, then the JSON)"},
    {"--result-dir", VllmFlagArity::value, VllmFlagClass::implemented, "folder of --save-result (created)"},
    {"--result-filename", VllmFlagArity::value, VllmFlagClass::implemented, "file name of --save-result"},
    {"--metadata", VllmFlagArity::values, VllmFlagClass::implemented, "KEY=VALUE pairs written into the result"},
    {"--label", VllmFlagArity::value, VllmFlagClass::implemented, "result label (and file-name prefix)"},
    {"--request-id-prefix", VllmFlagArity::value, VllmFlagClass::implemented,
     "x-request-id of request i is PREFIX + i"},
    {"--num-warmups", VllmFlagArity::value, VllmFlagClass::implemented, "requests sent and dropped before the run"},
    {"--disable-tqdm", VllmFlagArity::none, VllmFlagClass::implemented, "no progress bar"},
    {"--ready-check-timeout-sec", VllmFlagArity::value, VllmFlagClass::implemented,
     "wait up to this long for the server to answer /v1/models (0 = no wait)"},
    {"--header", VllmFlagArity::values, VllmFlagClass::implemented, "KEY=VALUE headers sent with every request"},
    {"--tokenizer", VllmFlagArity::value, VllmFlagClass::no_effect,
     "lengths are counted in tokens by the server's usage; no tokenizer is loaded"},
    {"--tokenizer-mode", VllmFlagArity::value, VllmFlagClass::no_effect, "no tokenizer is loaded"},
    {"--trust-remote-code", VllmFlagArity::none, VllmFlagClass::no_effect, "no tokenizer is loaded"},
    {"--skip-tokenizer-init", VllmFlagArity::none, VllmFlagClass::no_effect, "no tokenizer is loaded"},
    {"--skip-chat-template", VllmFlagArity::none, VllmFlagClass::no_effect,
     "chat prompts are sent as one user message"},
    {"--chat-template-kwargs", VllmFlagArity::value, VllmFlagClass::no_effect, "no chat template is applied"},
    {"--temperature", VllmFlagArity::value, VllmFlagClass::no_effect,
     "sampling parameters do not change an emulated server's tokens (temperature 0 is sent)"},
    {"--top-p", VllmFlagArity::value, VllmFlagClass::no_effect, "sampling parameters are not sent"},
    {"--top-k", VllmFlagArity::value, VllmFlagClass::no_effect, "sampling parameters are not sent"},
    {"--min-p", VllmFlagArity::value, VllmFlagClass::no_effect, "sampling parameters are not sent"},
    {"--frequency-penalty", VllmFlagArity::value, VllmFlagClass::no_effect, "sampling parameters are not sent"},
    {"--presence-penalty", VllmFlagArity::value, VllmFlagClass::no_effect, "sampling parameters are not sent"},
    {"--repetition-penalty", VllmFlagArity::value, VllmFlagClass::no_effect, "sampling parameters are not sent"},
    {"--insecure", VllmFlagArity::none, VllmFlagClass::no_effect, "llmemu bench speaks plain HTTP only"},
    {"--plot-timeline", VllmFlagArity::none, VllmFlagClass::no_effect, "no plots are drawn (llmemu report draws them)"},
    {"--timeline-itl-thresholds", VllmFlagArity::value, VllmFlagClass::no_effect, "no plots are drawn"},
    {"--plot-dataset-stats", VllmFlagArity::none, VllmFlagClass::no_effect, "no plots are drawn"},
    {"--profile", VllmFlagArity::none, VllmFlagClass::refused,
     "the server's torch profiler is not emulated; use llmemu simulate --trace-out"},
    {"--use-beam-search", VllmFlagArity::none, VllmFlagClass::refused, "beam search is not emulated"},
    {"--lora-modules", VllmFlagArity::values, VllmFlagClass::refused, "LoRA adapters are not emulated"},
    {"--lora-assignment", VllmFlagArity::value, VllmFlagClass::refused, "LoRA adapters are not emulated"},
    {"--extra-body", VllmFlagArity::value, VllmFlagClass::refused, "extra request fields are not sent; drop the flag"},
    {"--no-stream", VllmFlagArity::none, VllmFlagClass::refused, "llmemu bench times streamed requests only"},
    {"--self-timed", VllmFlagArity::none, VllmFlagClass::refused, "server-side timing is not read"},
    {"--probe-request-rate", VllmFlagArity::none, VllmFlagClass::refused, "the rate probe is not implemented"},
};

/// Registers the table's no-effect and refused flags on `app`; check() then throws
/// usage_error for a refused one given, and lists the no-effect ones given.
class VllmFlagSet {
public:
    VllmFlagSet(CLI::App& app, std::span<const VllmFlag> table, std::string group) : m_table(table) {
        m_options.reserve(table.size());
        m_values.resize(table.size());
        for (std::size_t i = 0; i < table.size(); ++i) {
            const VllmFlag& f = table[i];
            if (f.cls == VllmFlagClass::implemented) {
                m_options.push_back(nullptr);
                continue;
            }
            const std::string names = cli11_names(f);
            const std::string help = std::string(f.cls == VllmFlagClass::no_effect ? "vLLM's; no effect: "
                                                                                   : "vLLM's; "
                                                                                     "refused: ") +
                                     std::string(f.note);
            CLI::Option* o = nullptr;
            if (f.arity == VllmFlagArity::none || f.arity == VllmFlagArity::boolean) {
                o = app.add_flag(names, help);
            } else {
                o = app.add_option(names, m_values[i], help);
                if (f.arity == VllmFlagArity::values)
                    o->expected(1, CLI::detail::expected_max_vector_size);
                else
                    o->expected(1);
            }
            o->group(group);
            m_options.push_back(o);
        }
    }

    /// Every implemented row must name an option the command registered (so the table
    /// cannot promise what the command lacks). Throws std::logic_error otherwise.
    void verify_implemented(const CLI::App& app) const {
        for (const VllmFlag& f : m_table) {
            if (f.cls != VllmFlagClass::implemented || !f.names.starts_with("-")) continue;
            const std::string first(f.names.substr(0, f.names.find(',')));
            if (app.get_option_no_throw(first) == nullptr)
                throw std::logic_error("vLLM flag table: " + first + " is marked implemented but not registered");
        }
    }

    /// Throws usage_error for the first refused flag given (or a no-effect flag given a
    /// value outside its `allowed` list); returns "--flag value" of each no-effect flag given.
    [[nodiscard]] std::vector<std::string> check() const {
        std::vector<std::string> given;
        for (std::size_t i = 0; i < m_table.size(); ++i) {
            const CLI::Option* o = m_options[i];
            if (o == nullptr || o->count() == 0) continue;
            const VllmFlag& f = m_table[i];
            std::string shown = o->get_name();
            for (const auto& r : o->results())
                if (f.arity == VllmFlagArity::value || f.arity == VllmFlagArity::values) shown += " " + r;
            if (f.cls == VllmFlagClass::refused)
                throw usage_error("vLLM's " + o->get_name() + " is not supported: " + std::string(f.note));
            if (!f.allowed.empty()) {
                for (const auto& v : m_values[i]) {
                    bool ok = false;
                    std::string_view rest = f.allowed;
                    while (!rest.empty()) {
                        const auto comma = std::min(rest.find(','), rest.size());
                        ok = ok || rest.substr(0, comma) == v;
                        rest.remove_prefix(std::min(comma + 1, rest.size()));
                    }
                    if (!ok)
                        throw usage_error("vLLM's " + o->get_name() + " " + v + " is not supported: " +
                                          std::string(f.note) + " (accepted: " + std::string(f.allowed) + ")");
                }
            }
            given.push_back(shown);
        }
        return given;
    }

    /// The names CLI11 registers: vLLM's multi-letter single-dash aliases (-tp, -dp, -asc)
    /// are left out (CLI11 takes one letter after a single dash; main.cpp rewrites them to
    /// the long name), and a boolean flag gets its --no- form.
    [[nodiscard]] static std::string cli11_names(const VllmFlag& f) {
        std::string out;
        std::string_view rest = f.names;
        while (!rest.empty()) {
            const auto comma = std::min(rest.find(','), rest.size());
            const std::string_view n = rest.substr(0, comma);
            rest.remove_prefix(std::min(comma + 1, rest.size()));
            if (!n.starts_with("--") && n.size() > 2) continue;
            if (!out.empty()) out += ',';
            out += n;
        }
        if (f.arity == VllmFlagArity::boolean) out += ",--no-" + std::string(f.names.substr(2, f.names.find(',') - 2));
        return out;
    }

private:
    std::span<const VllmFlag> m_table;
    std::vector<CLI::Option*> m_options;
    std::vector<std::vector<std::string>> m_values;
};

/// vLLM's multi-letter single-dash aliases in `table` ("-tp" -> "--tensor-parallel-size"),
/// rewritten in place in `args` (CLI11 cannot register them); "-tp=2" keeps its value.
inline void expand_vllm_short_flags(std::vector<std::string>& args, std::span<const VllmFlag> table) {
    for (std::string& a : args) {
        if (a.size() < 3 || a[0] != '-' || a[1] == '-') continue;
        const auto eq = a.find('=');
        const std::string_view key = std::string_view(a).substr(0, eq);
        for (const VllmFlag& f : table) {
            std::string_view rest = f.names;
            bool hit = false;
            while (!rest.empty() && !hit) {
                const auto comma = std::min(rest.find(','), rest.size());
                hit = rest.substr(0, comma) == key && key.size() > 2;
                rest.remove_prefix(std::min(comma + 1, rest.size()));
            }
            if (hit) {
                a = std::string(f.names.substr(0, f.names.find(','))) + (eq == std::string::npos ? "" : a.substr(eq));
                break;
            }
        }
    }
}

/// The table as markdown (docs/server.md carries this text).
[[nodiscard]] inline std::string vllm_flags_markdown(std::span<const VllmFlag> table) {
    std::string out = "| vLLM flag | takes | llmemu | meaning or reason |\n|---|---|---|---|\n";
    for (const VllmFlag& f : table) {
        std::string names; // "--a, -b" (and ", --no-a" for a boolean flag)
        for (const char c : f.names) {
            names.push_back(c);
            if (c == ',') names.push_back(' ');
        }
        if (f.arity == VllmFlagArity::boolean) names.append(", --no-").append(f.names.substr(2, f.names.find(',') - 2));
        out += "| `" + names + "` | ";
        out += f.arity == VllmFlagArity::none      ? "-"
               : f.arity == VllmFlagArity::boolean ? "switch"
               : f.arity == VllmFlagArity::value   ? "value"
                                                   : "values";
        out += " | ";
        out += f.cls == VllmFlagClass::implemented ? "implemented"
               : f.cls == VllmFlagClass::no_effect ? "no effect"
                                                   : "refused";
        out += " | ";
        out += f.note;
        if (!f.allowed.empty()) out += " (accepted values: " + std::string(f.allowed) + ")";
        out += " |\n";
    }
    return out;
}

} // namespace llmemu::cli
