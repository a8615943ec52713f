// The layer-wise latency model: table readers (every malformed file a profile_error naming
// file, line and fix), interpolation (exact at grid points, monotone between), composition
// on a hand-made two-layer profile with known totals, TP, MoE, skew, the StepShape rule,
// and every bundled GPU/model/TP folder.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "llmemu/engine/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/latency_model.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/profile/hf_config.hpp"
#include "llmemu/profile/layerwise_profile.hpp"
#include "llmemu/random.hpp"

using namespace llmemu;

namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

// Every table is linear (multilinear for attention) in its keys, so linear interpolation
// is exact everywhere inside the grid and the totals are known in closed form.
//   layernorm(x) = 1 + x/2, qkv_proj(x) = 9 + x, embedding(x) = 2x, final_layernorm(x) = x
//   lm_head(s) = 90 + 10 s, sampler(s) = 4 + s
//   attention = 2 + pc/2 + nd * kvd / 64 + pc * kp / 128
std::string dense_csv() {
    std::string s = "layer,tokens,time_us\n";
    for (int x : {1, 16, 64}) {
        s += "embedding," + std::to_string(x) + "," + std::to_string(2.0 * x) + "\n";
        s += "layernorm," + std::to_string(x) + "," + std::to_string(1.0 + x / 2.0) + "\n";
        s += "qkv_proj," + std::to_string(x) + "," + std::to_string(9.0 + x) + "\n";
        s += "final_layernorm," + std::to_string(x) + "," + std::to_string(1.0 * x) + "\n";
    }
    return s;
}
std::string per_sequence_csv() {
    std::string s = "layer,sequences,time_us\n";
    for (int x : {1, 8}) {
        s += "lm_head," + std::to_string(x) + "," + std::to_string(90.0 + 10.0 * x) + "\n";
        s += "sampler," + std::to_string(x) + "," + std::to_string(4.0 + x) + "\n";
    }
    return s;
}
double attn_fn(double pc, double kp, double nd, double kvd) {
    return 2 + pc / 2 + nd * kvd / 64 + pc * kp / 128;
}
std::string attention_csv() {
    std::string s = "prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n";
    for (int pc : {0, 16}) {
        for (int kp : {0, 16}) {
            if (pc == 0 && kp != 0) continue;
            for (int nd : {0, 1, 2}) {
                for (int kvd : {0, 16, 32}) {
                    if (pc == 0 && nd == 0) continue;
                    if ((nd == 0) != (kvd == 0)) continue;
                    s += std::to_string(pc) + "," + std::to_string(kp) + "," + std::to_string(nd) + "," +
                         std::to_string(kvd) + "," + std::to_string(attn_fn(pc, kp, nd, kvd)) + "\n";
                }
            }
        }
    }
    return s;
}
const char* meta_yaml = "profiler_version: 1.0.0\n"
                        "gpu: Test GPU  # a comment\n"
                        "hardware: TESTGPU\n"
                        "model: test/Two-Layer\n"
                        "tp_degrees: [1, 2]\n"
                        "engine_effective:\n"
                        "  max_num_batched_tokens: 64\n"
                        "  max_num_seqs: 8\n"
                        "skew_fit:\n"
                        "  enabled: true\n"
                        "  per_tp:\n"
                        "    1:\n"
                        "      alpha_default: 0.25\n";
const char* config_json = R"({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
  "num_key_value_heads": 2, "vocab_size": 1000, "intermediate_size": 128, "torch_dtype": "bfloat16"})";

fs::path make_profile(const std::string& name, bool with_moe = false) {
    const fs::path dir = fs::temp_directory_path() / ("llmemu-layerwise-" + name);
    fs::remove_all(dir);
    write(dir / "meta.yaml", meta_yaml);
    for (const char* tp : {"tp1", "tp2"}) {
        write(dir / tp / "dense.csv", dense_csv());
        write(dir / tp / "per_sequence.csv", per_sequence_csv());
        write(dir / tp / "attention.csv", attention_csv());
    }
    write(dir / "tp1" / "skew_fit.csv", "pc,n_label,skew_rate_label,kv_big_label,kp_label,alpha,n_samples\n"
                                        "16,n<=2,sr<=70%,kvB<=1k,kp<=512,0.5,4\n"
                                        "0,n<=2,sr<=70%,kvB<=1k,kp=0,0.125,4\n"
                                        "0,n>2,sr<=70%,kvB<=1k,kp=0,0.75,4\n");
    if (with_moe) {
        std::string moe = "tokens,activated_experts,time_us\n";
        for (int t : {1, 16, 64})
            for (int ae : {2, 4})
                moe += std::to_string(t) + "," + std::to_string(ae) + "," + std::to_string(10.0 * ae + t) + "\n";
        write(dir / "tp1" / "moe.csv", moe);
        write(dir / "config.json", R"({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
          "num_key_value_heads": 2, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32})");
    } else {
        write(dir / "config.json", config_json);
    }
    return dir;
}

// A decode (1 token) or a prefill chunk that completes its prompt, on `computed` tokens of context.
ScheduledRequest req(std::uint32_t scheduled, std::uint32_t computed) {
    static RequestId next = 1;
    return scheduled == 1 ? ScheduledRequest::decode(next++, computed, 1)
                          : ScheduledRequest::prefill_chunk(next++, scheduled, computed, computed + scheduled);
}

// One prefill chunk of 16 tokens with 8 already computed, two decodes at contexts 16 and 32.
StepBatch mixed_batch() {
    StepBatch b;
    b.requests = {req(16, 8), req(1, 16), req(1, 32)};
    b.requests[0].is_new = true;
    return b;
}

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const profile_error& e) {
        return e.what();
    }
    return "(no profile_error)";
}

} // namespace

static_assert(LatencyModel<LayerwiseModel>);
static_assert(BatchLatencyModel<LayerwiseModel> && ShapeLatencyModel<LayerwiseModel>);

TEST_CASE("Layerwise.compose.two_layer_known_totals") {
    const fs::path dir = make_profile("known");
    LayerwiseOptions o;
    o.skew = false;
    LayerwiseModel m = LayerwiseModel::load(dir, {}, o);
    CHECK(m.config_path() == (fs::absolute(dir).lexically_normal() / "config.json"));
    const LayerwiseStepTime t = m.compose(mixed_batch());
    // T = 18 tokens, S = 3 sequences, prefill 16 at kp 8, 2 decodes at mean 24.
    const double attn = attn_fn(16, 8, 2, 24);                     // 11.75
    const double dense = 2 * (1 + 18 / 2.0) + (9 + 18);            // 47
    const double per_step = 2 * 18 + 18 + (90 + 10 * 3) + (4 + 3); // 181
    CHECK(attn == doctest::Approx(11.75));
    CHECK(t.attention == doctest::Approx(2 * attn));
    CHECK(t.dense == doctest::Approx(2 * dense));
    CHECK(t.per_step == doctest::Approx(per_step));
    CHECK(t.moe == 0.0);
    CHECK(t.allreduce == 0.0);
    CHECK(t.total == doctest::Approx(298.5));
    CHECK(t.kind == CoverageKind::interpolated);
    Rng rng(1);
    StepBatch b = mixed_batch();
    CHECK(m.sample(b, rng) == doctest::Approx(298.5));
    CHECK(m.coverage().total == 1);
    CHECK(m.coverage().interpolated == 1);
}

TEST_CASE("Layerwise.compose.exact_at_grid_points") {
    LayerwiseOptions o;
    o.skew = false;
    LayerwiseModel m = LayerwiseModel::load(make_profile("exact"), {}, o);
    // Two decodes at context 16 (grid), tokens 2 is not a dense grid point: interpolated.
    StepBatch b;
    b.requests = {req(1, 16), req(1, 16)};
    CHECK(m.compose(b).kind == CoverageKind::interpolated);
    // One prefill of 16 at context 16, nothing else: every lookup on the grid
    // (tokens 16, sequences 1, attention (16, 16, 0, 0)).
    StepBatch p;
    p.requests = {req(16, 16)};
    const LayerwiseStepTime t = m.compose(p);
    CHECK(t.kind == CoverageKind::exact);
    CHECK(t.attention == doctest::Approx(2 * attn_fn(16, 16, 0, 0)));
    CHECK(t.total == doctest::Approx(2 * (attn_fn(16, 16, 0, 0) + 2 * 9 + 25) + 32 + 16 + 100 + 5));
}

TEST_CASE("Layerwise.interp.monotone_and_extrapolation") {
    for (const char* mode : {"interp=linear", "interp=loglog"}) {
        LayerwiseOptions o;
        o.skew = false;
        parse_layerwise_options(mode, o);
        LayerwiseModel m = LayerwiseModel::load(make_profile("mono"), {}, o);
        double prev = 0;
        for (std::uint32_t n = 1; n <= 64; ++n) {
            StepShape s{Phase::prefill, n, 1, 0};
            const double v = m.compose(s).total;
            CHECK(v >= prev); // non-decreasing in tokens
            prev = v;
        }
        // Grid points are exact in both modes.
        const LayerwiseStepTime g = m.compose(StepShape{Phase::prefill, 16, 1, 0});
        CHECK(g.total == doctest::Approx(2 * (attn_fn(16, 0, 0, 0) + 2 * 9 + 25) + 32 + 16 + 100 + 5));
        // Beyond the grid: the last segment continues and the step counts as out of range.
        const LayerwiseStepTime far = m.compose(StepShape{Phase::prefill, 100, 1, 0});
        CHECK(far.kind == CoverageKind::out_of_range);
        CHECK(far.dense == doctest::Approx(2 * (2 * (1 + 50) + (9 + 100))));
    }
    // Between two grid points log-log lies on the power law through them.
    LayerwiseOptions o;
    o.skew = false;
    o.interp = LayerwiseInterp::loglog;
    LayerwiseModel m = LayerwiseModel::load(make_profile("loglog"), {}, o);
    const LayerwiseStepTime t = m.compose(StepShape{Phase::prefill, 32, 1, 0});
    const double qkv = std::exp(std::log(25.0) + std::log(2.0) / std::log(4.0) * (std::log(73.0) - std::log(25.0)));
    const double ln = std::exp(std::log(9.0) + 0.5 * (std::log(33.0) - std::log(9.0)));
    CHECK(t.dense == doctest::Approx(2 * (qkv + 2 * ln)));
}

TEST_CASE("Layerwise.compose.skew_correction") {
    const fs::path dir = make_profile("skew");
    LayerwiseModel m = LayerwiseModel::load(dir);
    CHECK(m.skew_active()); // meta.yaml: skew_fit enabled
    // kv 16 and 32: mean 24, rate 0.5 -> sr<=70%, kv_big 32 -> kvB<=1k, kp 8 -> kp<=512: alpha 0.5.
    const double t_mean = attn_fn(16, 8, 2, 24);
    const double t_max = attn_fn(16, 8, 2, 32);
    CHECK(m.compose(mixed_batch()).attention == doctest::Approx(2 * (t_mean + 0.5 * (t_max - t_mean))));
    // An unfitted bucket takes meta.yaml's alpha_default (0.25): prefill chunk 0, kp 0 has
    // n<=2 fitted (0.125); a 3-decode batch falls in n>2 (0.75).
    StepBatch d;
    d.requests = {req(1, 16), req(1, 32)};
    CHECK(m.compose(d).attention ==
          doctest::Approx(2 * (attn_fn(0, 0, 2, 24) + 0.125 * (attn_fn(0, 0, 2, 32) - attn_fn(0, 0, 2, 24)))));
    StepBatch wide;
    wide.requests = {req(1, 4000), req(1, 16), req(1, 16)}; // kv_big 4000 -> kvB<=4k: not fitted
    const LayerwiseStepTime w = m.compose(wide);
    const double mean = (4000.0 + 32.0) / 3.0;
    CHECK(w.kind == CoverageKind::out_of_range); // kv 4000 beyond the grid's 32
    CHECK(mean > 32.0);
    LayerwiseOptions off;
    parse_layerwise_options("skew=off", off);
    LayerwiseModel plain = LayerwiseModel::load(dir, {}, off);
    CHECK_FALSE(plain.skew_active());
    CHECK(plain.compose(mixed_batch()).attention == doctest::Approx(2 * t_mean));
    CHECK(w.attention > plain.compose(wide).attention); // alpha_default 0.25 > 0 raises it
}

TEST_CASE("Layerwise.compose.step_shape_rule_and_aggregate_ablation") {
    LayerwiseOptions o;
    o.skew = false;
    LayerwiseModel m = LayerwiseModel::load(make_profile("shape"), {}, o);
    // Decode shape: 2 tokens, 2 requests, kv 48 -> two decodes at 24.
    StepBatch d;
    d.requests = {req(1, 24), req(1, 24)};
    CHECK(m.compose(StepShape{Phase::decode, 2, 2, 48}).total == doctest::Approx(m.compose(d).total));
    // Mixed shape: 18 tokens over 3 requests, kv 72 -> 2 decodes at 24 and a 16-token chunk at 24.
    StepBatch mix;
    mix.requests = {req(16, 24), req(1, 24), req(1, 24)};
    CHECK(m.compose(StepShape{Phase::prefill, 18, 3, 72}).total == doctest::Approx(m.compose(mix).total));
    // kv=aggregate makes sample(StepBatch) see only batch.shape().
    LayerwiseOptions agg = o;
    parse_layerwise_options("kv=aggregate", agg);
    LayerwiseModel a = LayerwiseModel::load(make_profile("agg"), {}, agg);
    Rng rng(3);
    StepBatch b = mixed_batch();
    CHECK(a.sample(b, rng) == doctest::Approx(m.compose(b.shape()).total));
    CHECK(a.sample(b, rng) != doctest::Approx(m.compose(b).total));
}

TEST_CASE("Layerwise.compose.tensor_parallel") {
    const fs::path dir = make_profile("tp");
    LayerwiseOptions o;
    o.skew = false;
    o.tensor_parallel_size = 2;
    LayerwiseModel m = LayerwiseModel::load(dir, {}, o);
    const LayerwiseStepTime t = m.compose(mixed_batch());
    // Two all-reduces per layer of 18 tokens * 64 hidden * 2 bytes over 16 GB/s, 20 us each.
    const double ar = 2 * (20.0 + 2.0 * 1 / 2 * (18.0 * 64 * 2) / 16e3);
    CHECK(t.allreduce == doctest::Approx(2 * ar));
    CHECK(t.total == doctest::Approx(298.5 + 2 * ar));
    CHECK(m.model_config().tensor_parallel_size == 2);
    // KV per GPU halves with TP 2 (2 KV heads over 2 GPUs).
    CHECK(kv_block_bytes(m.model_config(), 16) == 2ULL * 2 * 1 * 16 * 2 * 16);
    o.tensor_parallel_size = 4;
    try {
        (void)LayerwiseModel::load(dir, {}, o);
        FAIL("tp 4 was not profiled");
    } catch (const config_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("--tensor-parallel-size 4") != std::string::npos);
        CHECK(msg.find("tp 1, 2 only") != std::string::npos);
    }
}

TEST_CASE("Layerwise.compose.moe") {
    const fs::path dir = make_profile("moe", true);
    LayerwiseOptions o;
    o.skew = false;
    LayerwiseModel m = LayerwiseModel::load(dir, {}, o);
    StepBatch one;
    one.requests = {req(1, 16)};
    // 1 token, top-2 of 4 experts: 2 activated experts exactly; moe(1, 2) = 21.
    CHECK(m.compose(one).moe == doctest::Approx(2 * 21.0));
    // 16 tokens: 4 * (1 - (1/2)^16) experts, just under 4: between the rows 2 and 4.
    StepBatch many;
    many.requests = {req(16, 0)};
    const double act = 4 * (1 - std::pow(0.5, 16));
    const double v = 10 * 2 + 16 + (act - 2) / 2 * 20;
    CHECK(m.compose(many).moe == doctest::Approx(2 * v));
    o.tensor_parallel_size = 2; // tp2 has no moe.csv: tp1's, halved
    LayerwiseModel m2 = LayerwiseModel::load(dir, {}, o);
    CHECK(m2.compose(one).moe == doctest::Approx(21.0));
    // A dense config over a MoE profile is refused.
    write(dir / "dense.json", config_json);
    CHECK(error_of([&] { (void)LayerwiseModel::load(dir, dir / "dense.json"); }).find("moe.csv") != std::string::npos);
}

TEST_CASE("Layerwise.readers.malformed_files_name_file_line_and_fix") {
    auto err = [](auto&& f) { return error_of(f); };
    std::string e = err(
        [] { (void)parse_layerwise_ops_csv("layer,tokens,time_us\nqkv_proj,1,2\nqkv_proj,x,3\n", "d.csv", "tokens"); });
    CHECK(e.find("d.csv:3") != std::string::npos);
    CHECK(e.find("not a finite number") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,time_us\nqkv_proj,2\n", "d.csv", "tokens"); });
    CHECK(e.find("d.csv:1:") != std::string::npos);
    CHECK(e.find("lacks column 'tokens'") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,tokens,time_us\nqkv_proj,1,2,9\n", "d.csv", "tokens"); });
    CHECK(e.find("d.csv:2: has 4 fields") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,tokens,time_us\nq,1,2\nq,1,3\n", "d.csv", "tokens"); });
    CHECK(e.find("d.csv:3: op 'q' repeats the key 1 of line 2") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,tokens,time_us\n\nq,1,2\n", "d.csv", "tokens"); });
    CHECK(e.find("d.csv:2: blank line") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,tokens,tokens,time_us\n", "d.csv", "tokens"); });
    CHECK(e.find("appears twice") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,tokens,time_us\nq,1,-2\n", "d.csv", "tokens"); });
    CHECK(e.find(">= 0 microseconds") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("layer,tokens,time_us\nq,1.5,2\n", "d.csv", "tokens"); });
    CHECK(e.find("integer >= 0") != std::string::npos);
    e = err([] { (void)parse_layerwise_ops_csv("", "d.csv", "tokens"); });
    CHECK(e.find("is empty") != std::string::npos);
    e = err([] {
        (void)parse_layerwise_attention_csv("prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n0,0,0,0,1\n",
                                            "a.csv");
    });
    CHECK(e.find("a.csv:2") != std::string::npos);
    e = err([] {
        (void)parse_layerwise_attention_csv(
            "prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n0,0,1,16,1\n0,0,1,16,2\n", "a.csv");
    });
    CHECK(e.find("a.csv:3:") != std::string::npos);
    CHECK(e.find("repeats the key 16 of line 2") != std::string::npos);
    e = err([] { (void)parse_layerwise_moe_csv("tokens,activated_experts,time_us\n0,8,1\n", "m.csv"); });
    CHECK(e.find("m.csv:2") != std::string::npos);
    e = err([] {
        (void)parse_layerwise_skew_fit_csv("pc,n_label,skew_rate_label,kv_big_label,kp_label,alpha,n_samples\n"
                                           "0,n<=2,sr~5%,kvB<=1k,kp=0,0.1,2\n",
                                           "s.csv");
    });
    CHECK(e.find("s.csv:2: skew_rate_label 'sr~5%' is not a bucket label") != std::string::npos);
    e = err([] { (void)parse_layerwise_meta("a: 1\n\tb: 2\n", "meta.yaml"); });
    CHECK(e.find("meta.yaml:2: indents with a tab") != std::string::npos);
    e = err([] { (void)parse_layerwise_meta("tp_degrees: [1, x]\n", "meta.yaml"); });
    CHECK(e.find("meta.yaml:1: a tp_degrees entry is 'x'") != std::string::npos);
    e = err([] { (void)parse_layerwise_meta("gpu: a\ngpu: b\n", "meta.yaml"); });
    CHECK(e.find("meta.yaml:2: key 'gpu' appears twice") != std::string::npos);
    e = err([] { (void)parse_hf_config(R"({"hidden_size": 8, "num_attention_heads": 2})", "c.json"); });
    CHECK(e.find("'c.json': has no \"num_hidden_layers\"") != std::string::npos);
    e = err([] {
        (void)parse_hf_config(
            R"({"num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "torch_dtype": "q3"})", "c.json");
    });
    CHECK(e.find("torch_dtype") != std::string::npos);
    e = err([] { (void)parse_hf_config("[1]", "c.json"); });
    CHECK(e.find("must be a JSON object") != std::string::npos);
    // A folder without its tables names the missing file.
    const fs::path dir = make_profile("missing");
    fs::remove(dir / "tp2" / "per_sequence.csv");
    e = err([&] { (void)load_layerwise_profile(dir); });
    CHECK(e.find("tp2/per_sequence.csv") != std::string::npos);
    CHECK(e.find("is missing") != std::string::npos);
}

TEST_CASE("Layerwise.readers.meta_and_hf_config") {
    const LayerwiseMeta m = parse_layerwise_meta(meta_yaml, "meta.yaml");
    CHECK(m.gpu == "Test GPU");
    CHECK(m.model == "test/Two-Layer");
    CHECK(m.tp_degrees == std::vector<std::uint32_t>{1, 2});
    CHECK(m.max_num_batched_tokens == 64);
    CHECK(m.skew_fit_enabled);
    REQUIRE(m.alpha_default.size() == 1);
    CHECK(m.alpha_default[0].second == doctest::Approx(0.25));
    const ModelConfig c = parse_hf_config(R"({"num_hidden_layers": 4, "hidden_size": 512, "num_attention_heads": 8,
        "vocab_size": 10, "torch_dtype": "float32", "tie_word_embeddings": true})");
    CHECK(c.num_key_value_heads == 8); // defaults to the attention heads
    CHECK(c.head_dim == 64);           // hidden / heads
    CHECK(c.weight_dtype_bytes == 4);
    CHECK(c.kv_dtype_bytes == 4);
    CHECK(c.tie_word_embeddings);
    CHECK(c.num_experts == 0);
}

TEST_CASE("Layerwise.any_latency_model.from_spec_and_options") {
    const fs::path dir = make_profile("spec");
    CHECK(is_layerwise_profile_dir(dir));
    CHECK_FALSE(is_layerwise_profile_dir(dir / "tp1"));
    LayerwiseOptions o;
    CHECK_THROWS_AS(parse_layerwise_options("skew=maybe", o), config_error);
    CHECK_THROWS_AS(parse_layerwise_options("frobnicate=1", o), config_error);
    CHECK_THROWS_AS(parse_layerwise_options("allreduce_gbps=0", o), config_error);
    CHECK_THROWS_AS(parse_layerwise_options("skew=off,,kv=batch", o), config_error);
    parse_layerwise_options("skew=off, allreduce_gbps=25,allreduce_us=5", o);
    CHECK(o.skew == false);
    parse_layerwise_options("skew=auto", o);
    CHECK_FALSE(o.skew.has_value());
    CHECK(o.allreduce_gbps == 25.0);
    CHECK(o.allreduce_latency_us == 5.0);
}

TEST_CASE("Layerwise.bundled.every_profile_loads_and_runs") {
    const fs::path root = fs::path(LLMEMU_SHARED_DATA_DIR) / "layerwise-profiles";
    if (!fs::is_directory(root)) {
        MESSAGE("no " << root << ": skipped");
        return;
    }
    int folders = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_directory() || !is_layerwise_profile_dir(e.path())) continue;
        const LayerwiseProfile prof = load_layerwise_profile(e.path());
        for (const auto& t : prof.tp) {
            LayerwiseOptions o;
            o.tensor_parallel_size = t.tensor_parallel_size;
            LayerwiseModel m = LayerwiseModel::load(e.path(), {}, o);
            CAPTURE(m.describe());
            ++folders;
            StepBatch decode;
            for (std::uint32_t i = 0; i < 32; ++i) decode.requests.push_back(req(1, 200 + 50 * i));
            StepBatch mixed = decode;
            mixed.requests.push_back(req(512, 1024));
            const double d = m.compose(decode).total;
            const double x = m.compose(mixed).total;
            CHECK(std::isfinite(d));
            CHECK(d > 1000.0); // a decode step of a multi-billion-parameter model takes milliseconds
            CHECK(x > d);
            CHECK(kv_block_bytes(m.model_config(), 16) > 0);
            CHECK(m.model_config().gpu_memory_bytes > 0);
            // The pool derives from the config and the GPU.
            CHECK(derive_num_gpu_blocks(m.model_config(), m.model_config().gpu_memory_bytes, 0.9, 16) > 100);
        }
    }
    CHECK(folders == 7); // RTX4090 Llama TP1; RTXPRO6000 Llama, Qwen3-32B, Qwen3-30B-A3B at TP1 and TP2
}

TEST_CASE("LatencyModel.shared_between_threads.layerwise_model_counts_exact" * doctest::timeout(120)) {
    // Two threads sample one LayerwiseModel (and an AnyLatencyModel wrapping it) with random
    // shapes and batches: no crash, no data race (run under `make tsan`: the case matches
    // TSAN_CASES), every draw equals the single-threaded composition, and the coverage
    // counts are exact.
    LayerwiseOptions o;
    o.skew = false;
    const LayerwiseModel model = LayerwiseModel::load(make_profile("shared"), {}, o);
    AnyLatencyModel any(model);
    CHECK(any.shareable());
    constexpr std::size_t per_thread = 125000; // x 2 threads x (shape + batch) x 2 models = 1M samples
    std::vector<StepShape> shapes[2];
    std::vector<StepBatch> batches[2];
    Coverage expected;
    auto expect = [&](CoverageKind k) {
        ++expected.total;
        (k == CoverageKind::exact
             ? expected.exact
             : (k == CoverageKind::interpolated ? expected.interpolated : expected.out_of_range)) += 1;
    };
    for (int t = 0; t < 2; ++t) {
        Rng g(static_cast<std::uint64_t>(40 + t));
        for (int i = 0; i < 512; ++i) {
            // Half inside the toy grid (64 tokens, 8 sequences, contexts to 32), half beyond it.
            const std::uint32_t scale = i % 2 == 0 ? 1 : 16;
            const auto n = static_cast<std::uint32_t>(1 + uniform_index(g, 3 * scale));
            const auto tt = static_cast<std::uint32_t>(n + uniform_index(g, 16 * scale));
            shapes[t].push_back({uniform_index(g, 2) == 0 ? Phase::decode : Phase::prefill, tt, n,
                                 static_cast<std::uint64_t>(uniform_index(g, 32 * scale))});
            StepBatch b;
            for (std::uint32_t r = 0; r < n; ++r)
                b.requests.push_back(req(r == 0 ? static_cast<std::uint32_t>(1 + uniform_index(g, 16 * scale)) : 1,
                                         static_cast<std::uint32_t>(uniform_index(g, 32 * scale))));
            batches[t].push_back(std::move(b));
        }
        for (std::size_t i = 0; i < per_thread; ++i) {
            expect(model.compose(shapes[t][i % 512]).kind);
            expect(model.compose(batches[t][i % 512]).kind);
        }
    }
    std::atomic<std::uint64_t> bad{0};
    auto work = [&](int t) {
        Rng g(static_cast<std::uint64_t>(t));
        std::uint64_t local_bad = 0;
        for (std::size_t i = 0; i < per_thread; ++i) {
            const StepShape& s = shapes[t][i % 512];
            const StepBatch& b = batches[t][i % 512];
            const LatencySample a = model.sample(s, g);
            const LatencySample c = model.sample(b, g);
            const LatencySample as = any.sample(s, g);
            const LatencySample ab = any.sample(b, g);
            if (a.us != model.compose(s).total || c.us != model.compose(b).total || as.us != a.us || ab.us != c.us ||
                !(a.us > 0.0))
                ++local_bad;
        }
        bad.fetch_add(local_bad);
    };
    std::thread t0(work, 0);
    std::thread t1(work, 1);
    t0.join();
    t1.join();
    CHECK(bad.load() == 0);
    CHECK(model.coverage() == expected);
    CHECK(any.coverage() == expected);
    CHECK(expected.exact + expected.interpolated > 0);
    CHECK(expected.out_of_range > 0);
}
