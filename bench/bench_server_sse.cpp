// The server's per-token hot path: formatting one SSE chunk with ResponseWriter (fixed
// prefix/suffix around the token text) against building the same chunk with nlohmann::json
// (the baseline), and the request validator on a typical benchmark request.
// Read the ratio ResponseWriter / nlohmann; absolute times depend on the machine.
#include <benchmark/benchmark.h>

#include <string>

#include <nlohmann/json.hpp>

#include "llmemu/server/openai.hpp"
#include "llmemu/server/vocabulary.hpp"

using namespace llmemu;
using namespace llmemu::server;

static void BM_chunk_response_writer(benchmark::State& state) {
    const ResponseWriter w(Endpoint::completions, "cmpl-0123456789abcdef", "Qwen/Qwen3-8B", 1700000000);
    std::string out;
    TokenId id = 0;
    for (auto _ : state) {
        out.clear();
        w.append_token_event(out, SyntheticVocabulary::token_text(id++), nullptr, false);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_chunk_response_writer);

// Baseline: the same event built as a JSON document and serialised.
static void BM_chunk_nlohmann_baseline(benchmark::State& state) {
    std::string out;
    TokenId id = 0;
    for (auto _ : state) {
        nlohmann::json j{{"id", "cmpl-0123456789abcdef"},
                         {"object", "text_completion"},
                         {"created", 1700000000},
                         {"model", "Qwen/Qwen3-8B"},
                         {"choices", nlohmann::json::array({{{"index", 0},
                                                             {"text", SyntheticVocabulary::token_text(id++)},
                                                             {"logprobs", nullptr},
                                                             {"finish_reason", nullptr},
                                                             {"stop_reason", nullptr}}})}};
        out = "data: " + j.dump() + "\n\n";
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_chunk_nlohmann_baseline);

static void BM_parse_benchmark_request(benchmark::State& state) {
    nlohmann::json body{
        {"model", "emu"},    {"prompt", std::vector<int>(static_cast<std::size_t>(state.range(0)), 1234)},
        {"max_tokens", 128}, {"temperature", 0.0},
        {"stream", true},    {"stream_options", {{"include_usage", true}}},
        {"ignore_eos", true}};
    const std::string text = body.dump();
    ValidationLimits limits;
    limits.served_models = {"emu"};
    limits.max_model_len = 1U << 20U;
    for (auto _ : state) {
        auto r = parse_generation_request(text, Endpoint::completions, limits);
        benchmark::DoNotOptimize(r.prompt_len);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_benchmark_request)->Arg(128)->Arg(4096);

static void BM_count_text_prompt(benchmark::State& state) {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "The quick brown fox, jumping over 12 lazy dogs! ";
    for (auto _ : state) benchmark::DoNotOptimize(SyntheticVocabulary::tokenize(text).size());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_count_text_prompt);

BENCHMARK_MAIN();
