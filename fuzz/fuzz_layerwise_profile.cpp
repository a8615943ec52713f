// libFuzzer target for the layer-wise profile readers (dense.csv / per_sequence.csv,
// attention.csv, moe.csv, skew_fit.csv, meta.yaml) and the Hugging Face config.json reader.
// The first byte picks the reader, the rest is the file. Any input either parses or raises
// llmemu::profile_error — never a crash, hang, other exception or sanitizer report. A
// table that parses is put into a small valid profile and must drive LayerwiseModel to
// finite, non-negative step times for decode, prefill, mixed, skewed and out-of-range
// batches, in both interpolation modes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/profile/hf_config.hpp"
#include "llmemu/profile/layerwise_profile.hpp"
#include "llmemu/random.hpp"

namespace {

using namespace llmemu;

LayerwiseProfile base_profile() {
    LayerwiseProfile p;
    p.meta.skew_fit_enabled = true;
    LayerwiseTables t;
    t.dense = parse_layerwise_ops_csv("layer,tokens,time_us\nqkv_proj,1,10\nqkv_proj,64,70\nlayernorm,1,1\n"
                                      "embedding,1,2\nembedding,64,9\n",
                                      "base-dense.csv", "tokens");
    t.per_sequence =
        parse_layerwise_ops_csv("layer,sequences,time_us\nlm_head,1,100\nlm_head,8,170\n", "base-seq.csv", "sequences");
    t.attention = parse_layerwise_attention_csv("prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n"
                                                "0,0,1,16,3\n0,0,2,16,4\n16,0,0,0,9\n16,16,1,16,12\n",
                                                "base-attention.csv");
    t.moe = parse_layerwise_moe_csv("tokens,activated_experts,time_us\n1,2,20\n16,4,60\n", "base-moe.csv");
    t.skew = parse_layerwise_skew_fit_csv("pc,n_label,skew_rate_label,kv_big_label,kp_label,alpha,n_samples\n"
                                          "0,n<=2,sr<=70%,kvB<=1k,kp=0,0.5,3\n",
                                          "base-skew.csv");
    p.tp.push_back(t);
    t.tensor_parallel_size = 2;
    t.moe.reset();
    p.tp.push_back(t);
    return p;
}

ModelConfig base_config(bool moe) {
    ModelConfig m;
    m.model_name = "fuzz";
    m.num_hidden_layers = 3;
    m.hidden_size = 64;
    m.num_attention_heads = 4;
    m.num_key_value_heads = 2;
    m.head_dim = 16;
    if (moe) {
        m.num_experts = 8;
        m.num_experts_per_tok = 2;
    }
    return m;
}

void drive(const LayerwiseProfile& prof, bool moe) {
    auto shared = std::make_shared<const LayerwiseProfile>(prof);
    for (const std::uint32_t tp : {1U, 2U}) {
        for (const auto interp : {LayerwiseInterp::linear, LayerwiseInterp::loglog}) {
            LayerwiseOptions o;
            o.tensor_parallel_size = tp;
            o.interp = interp;
            LayerwiseModel m(shared, base_config(moe), o);
            Rng rng(7);
            const std::uint32_t contexts[] = {0, 1, 15, 16, 17, 1000, 70000, 0xFFFFFFFEU};
            for (const std::uint32_t ctx : contexts) {
                StepBatch b;
                b.requests.push_back(ScheduledRequest::decode(1, ctx, 1));
                b.requests.push_back(ScheduledRequest::decode(2, ctx / 3, 1));
                const double d = m.sample(b, rng);
                b.requests.push_back(ScheduledRequest::prefill_chunk(3, 700, ctx / 2, ctx));
                const double x = m.sample(b, rng);
                const double s = m.sample(StepShape{Phase::prefill, ctx, 3, std::uint64_t{ctx} * 5}, rng);
                for (const double v : {d, x, s})
                    if (!(v >= 0.0) || !std::isfinite(v)) std::abort();
            }
            const Coverage c = m.coverage();
            if (c.exact + c.interpolated + c.out_of_range != c.total) std::abort();
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    static const LayerwiseProfile base = base_profile();
    try {
        LayerwiseProfile prof = base;
        bool moe = true;
        switch (data[0] % 7) {
        case 0:
            prof.tp[0].dense = parse_layerwise_ops_csv(text, "fuzz-dense.csv", "tokens");
            break;
        case 1:
            prof.tp[0].per_sequence = parse_layerwise_ops_csv(text, "fuzz-per_sequence.csv", "sequences");
            break;
        case 2:
            prof.tp[0].attention = parse_layerwise_attention_csv(text, "fuzz-attention.csv");
            prof.tp[1].attention = prof.tp[0].attention;
            break;
        case 3:
            prof.tp[0].moe = parse_layerwise_moe_csv(text, "fuzz-moe.csv");
            break;
        case 4:
            prof.tp[0].skew = parse_layerwise_skew_fit_csv(text, "fuzz-skew_fit.csv");
            prof.tp[1].skew = prof.tp[0].skew;
            break;
        case 5:
            prof.meta = parse_layerwise_meta(text, "fuzz-meta.yaml");
            moe = false;
            prof.tp[0].moe.reset();
            break;
        default: {
            const ModelConfig m = parse_hf_config(text, "fuzz-config.json");
            if (m.num_hidden_layers == 0 || m.hidden_size == 0 || m.num_attention_heads == 0 ||
                m.num_key_value_heads == 0 || m.head_dim == 0)
                std::abort(); // the reader promised these
            return 0;
        }
        }
        drive(prof, moe);
    } catch (const profile_error&) {
        return 0; // rejected with a message: fine
    }
    return 0;
}
