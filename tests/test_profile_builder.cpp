// PackBuilder: LLM-Emu's bucketing rules, markers, warm-up, outliers, CSV, bad input.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "llmemu/error.hpp"
#include "llmemu/profile/builder.hpp"
#include "llmemu/profile/llm_emu_json.hpp"

namespace {

std::string message_of(const std::string& jsonl) {
    try {
        llmemu::PackBuilder b;
        std::istringstream in(jsonl);
        b.add_jsonl(in, "trace.jsonl");
        (void)b.build();
    } catch (const llmemu::profile_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("ProfileBuilder.rules.tables_and_bucket_centres_as_llm_emu") {
    llmemu::PackBuilder b;
    std::istringstream in(
        R"({"_header": true, "model_name": "m", "gpu_name": "NVIDIA A40", "num_hidden_layers": 36, "gpu_memory_bytes": 47709159424, "gpu_compute_capability": [8, 6]}
{"step_cycle_us": 30000.04, "total_tokens": 3, "num_new_reqs": 0, "num_decode_seqs": 3}
{"step_cycle_us": 31000, "total_tokens": 3, "num_new_reqs": 0, "num_decode_seqs": 4}
{"step_cycle_us": 50000, "total_tokens": 300, "num_new_reqs": 1, "num_decode_seqs": 5}
{"step_cycle_us": 20000, "total_tokens": 0, "num_new_reqs": 0, "num_decode_seqs": 0, "sum_kv": 12}
)");
    b.add_jsonl(in, "t.jsonl");
    const llmemu::ProfileStore s = b.build();
    const auto* decode = s.table(llmemu::TableKind::decode);
    const auto* prefill = s.table(llmemu::TableKind::prefill);
    const auto* cycle = s.table(llmemu::TableKind::step_cycle);
    REQUIRE(decode);
    REQUIRE(prefill);
    REQUIRE(cycle);
    // conc 3 and 4 -> centre 2 (width 5); samples rounded to 0.1 us.
    const auto d = decode->find(3, 2);
    REQUIRE(d != llmemu::ProfileTable::npos);
    REQUIRE(decode->count(d) == 2);
    CHECK(decode->samples(d)[0] == 30000.0F);
    CHECK(decode->samples(d)[1] == 31000.0F);
    // conc = 1 + 5 = 6 -> centre 7; prefill because num_new_reqs > 0.
    CHECK(prefill->find(300, 7) != llmemu::ProfileTable::npos);
    CHECK(prefill->size() == 1);
    // conc 0 counts as 1 -> centre 2; tt 0 is a bucket.
    CHECK(decode->find(0, 2) != llmemu::ProfileTable::npos);
    // Every step is in the combined table.
    CHECK(cycle->num_samples() == 4);
    CHECK(s.model_config().model_name == "m");
    CHECK(s.model_config().num_hidden_layers == 36);
    CHECK(s.model_config().gpu_memory_bytes == 47709159424ULL);
    CHECK(s.model_config().compute_capability_minor == 6);
    // The built pack round-trips through the writer.
    CHECK(llmemu::parse_llm_emu_pack(llmemu::to_llm_emu_json(s), "built.json") == s);
}

TEST_CASE("ProfileBuilder.markers_warmup_and_outliers") {
    llmemu::BuildOptions o;
    o.warmup_steps = 1;
    llmemu::PackBuilder b(o);
    std::istringstream in(R"({"step_cycle_us": 1, "total_tokens": 1, "num_new_reqs": 0, "num_decode_seqs": 1}
{"__marker__": "profiling_start"}
{"step_cycle_us": 2, "total_tokens": 1, "num_new_reqs": 0, "num_decode_seqs": 1}
{"step_cycle_us": 3, "total_tokens": 1, "num_new_reqs": 0, "num_decode_seqs": 1}
{"__marker__": "profiling_stop"}
{"step_cycle_us": 4, "total_tokens": 1, "num_new_reqs": 0, "num_decode_seqs": 1}
)");
    b.add_jsonl(in, "t.jsonl");
    const auto s = b.build();
    const auto* decode = s.table(llmemu::TableKind::decode);
    REQUIRE(decode);
    REQUIRE(decode->num_samples() == 1); // 1 and 4 outside markers, 2 is warm-up
    CHECK(decode->samples(0)[0] == 3.0F);
    CHECK(b.stats().outside_markers == 2);
    CHECK(b.stats().warmup_dropped == 1);
    CHECK_FALSE(s.has_table(llmemu::TableKind::prefill));

    llmemu::BuildOptions f;
    f.outlier_iqr_k = 1.5;
    llmemu::PackBuilder filtered(f);
    llmemu::PackBuilder unfiltered;
    for (double v : {100.0, 101.0, 102.0, 103.0, 104.0, 5000.0}) {
        filtered.add_step({v, 8, 0, 8, {}});
        unfiltered.add_step({v, 8, 0, 8, {}});
    }
    CHECK(filtered.build().table(llmemu::TableKind::decode)->num_samples() == 5);
    CHECK(unfiltered.build().table(llmemu::TableKind::decode)->num_samples() == 6); // off by default
}

TEST_CASE("ProfileBuilder.csv_and_files") {
    const auto dir = std::filesystem::temp_directory_path();
    const auto csv = dir / "llmemu_test_steps.csv";
    {
        std::ofstream f(csv);
        f << "step_cycle_us,total_tokens,num_new_reqs,num_decode_seqs,sum_kv\n30000,4,0,4,100\n60000,512,2,3,\n";
    }
    llmemu::PackBuilder b;
    b.add_file(csv);
    const auto s = b.build();
    CHECK(s.table(llmemu::TableKind::decode)->find(4, 2) != llmemu::ProfileTable::npos);
    CHECK(s.table(llmemu::TableKind::prefill)->find(512, 7) != llmemu::ProfileTable::npos);
    {
        std::ofstream f(csv);
        f << "step_cycle_us,total_tokens,num_new_reqs\n1,2,3\n";
    }
    llmemu::PackBuilder bad;
    CHECK_THROWS_WITH_AS(bad.add_file(csv), doctest::Contains("num_decode_seqs"), llmemu::profile_error);
    std::filesystem::remove(csv);
    CHECK_THROWS_WITH_AS(bad.add_file(dir / "llmemu_no_such_steps.jsonl"), doctest::Contains("cannot read"),
                         llmemu::profile_error);
}

TEST_CASE("ProfileBuilder.bad_input_names_file_line_and_fix") {
    CHECK(message_of("{\"step_cycle_us\": -1, \"total_tokens\": 1, \"num_new_reqs\": 0, \"num_decode_seqs\": 1}\n")
              .find("trace.jsonl:1:") != std::string::npos);
    CHECK(message_of("\n{\"step_cycle_us\": 1, \"total_tokens\": 1, \"num_new_reqs\": 0}\n")
              .find(":2: missing \"num_decode_seqs\"") != std::string::npos);
    CHECK(message_of("{not json\n").find("not valid JSON") != std::string::npos);
    CHECK(message_of("{\"step_cycle_us\": 1, \"total_tokens\": -4, \"num_new_reqs\": 0, \"num_decode_seqs\": 1}\n")
              .find("non-negative integer") != std::string::npos);
    CHECK(message_of("{\"__marker__\": \"begin\"}\n").find("profiling_start") != std::string::npos);
    CHECK(message_of("").find("no step records") != std::string::npos);
    CHECK(message_of("{\"__marker__\": \"profiling_start\"}\n{\"__marker__\": \"profiling_stop\"}\n{\"step_cycle_us\": "
                     "1, \"total_tokens\": 1, \"num_new_reqs\": 0, \"num_decode_seqs\": 1}\n")
              .find("no step records") != std::string::npos);
}

TEST_CASE("ProfileBuilder.store_from_buckets.tables_in_key_order_with_an_optional_filter") {
    llmemu::BucketSamples buckets;
    auto& prefill = buckets[static_cast<std::size_t>(llmemu::TableKind::prefill)];
    prefill[{64, 2}] = {5.0F, 7.0F};
    prefill[{16, 1}] = {1.0F, 2.0F, 300.0F};
    const llmemu::Bucketing b{1, 1};
    const llmemu::ProfileStore all = llmemu::store_from_buckets(buckets, b);
    CHECK(all.num_tables() == 1); // tables without buckets are left out
    REQUIRE(all.table(llmemu::TableKind::prefill) != nullptr);
    const llmemu::ProfileTable& t = *all.table(llmemu::TableKind::prefill);
    REQUIRE(t.size() == 2);
    CHECK(t.tt(0) == 16); // key order
    CHECK(t.count(0) == 3);
    CHECK(t.samples(1)[1] == 7.0F);
    CHECK(all.bucketing() == b);
    // The filter sees each bucket with its table kind and keeps what it returns.
    const llmemu::ProfileStore small =
        llmemu::store_from_buckets(buckets, b, [](llmemu::TableKind k, const std::vector<float>& v) {
            CHECK(k == llmemu::TableKind::prefill);
            std::vector<float> kept;
            for (const float x : v)
                if (x < 100.0F) kept.push_back(x);
            return kept;
        });
    CHECK(small.table(llmemu::TableKind::prefill)->count(0) == 2);
    CHECK(small.total_samples() == 4);
    // Keys that are not the bucketing's centres are refused as in ProfileTable.
    CHECK_THROWS_AS((void)llmemu::store_from_buckets(buckets, llmemu::Bucketing{16, 5}), llmemu::profile_error);
}
