// Pack reader / writer: the bundled real A40 subset, round trips and every bad input;
// bootstrap resamples of a pack.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/bootstrap.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/samples_csv.hpp"
#include "llmemu/profile/store.hpp"

namespace {

const std::filesystem::path bundled_pack =
    std::filesystem::path(LLMEMU_SOURCE_DIR) / "data" / "llm-emu-A40-Qwen3-8B-subset.json";

std::string tiny_pack(std::string_view tables,
                      std::string_view bucketing = R"({"tt_bucket_width": 1, "conc_bucket_width": 5})",
                      std::string_view version = "2.0", std::string_view type = "serving_step_cycle_2d") {
    return std::string(R"({"version": ")") + std::string(version) + R"(", "profile_type": ")" + std::string(type) +
           R"(", "bucketing": )" + std::string(bucketing) + (tables.empty() ? "" : ", ") + std::string(tables) + "}";
}

std::string error_of(const std::string& json) {
    try {
        (void)llmemu::parse_llm_emu_pack(json, "bad.json");
    } catch (const llmemu::profile_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("ProfilePack.load.bundled_a40_subset") {
    const llmemu::ProfileStore s = llmemu::load_llm_emu_pack(bundled_pack);
    REQUIRE(s.num_tables() == 3);
    const auto* prefill = s.table(llmemu::TableKind::prefill);
    const auto* decode = s.table(llmemu::TableKind::decode);
    const auto* cycle = s.table(llmemu::TableKind::step_cycle);
    REQUIRE(prefill);
    REQUIRE(decode);
    REQUIRE(cycle);
    CHECK(prefill->size() == 1847);
    CHECK(prefill->num_samples() == 10357);
    CHECK(decode->size() == 145);
    CHECK(decode->num_samples() == 16760);
    CHECK(cycle->size() == 1881);
    CHECK(cycle->num_samples() == 12540);
    CHECK(s.bucketing() == llmemu::Bucketing{1, 5});
    CHECK(s.model_config().model_name == "Qwen/Qwen3-8B");
    CHECK(s.model_config().gpu_name == "NVIDIA A40");
    CHECK(s.model_config().num_hidden_layers == 36);
    CHECK(s.model_config().gpu_memory_bytes == 47709159424ULL);
    CHECK(s.model_config().compute_capability_major == 8);
    CHECK(s.model_config().compute_capability_minor == 6);
    CHECK(s.gpu_model() == "A40");
    // decode (1, 2) holds 3211 samples; the first is the ~2.2-2.6 ms start-up sample.
    const auto i = decode->find(1, 2);
    REQUIRE(i != llmemu::ProfileTable::npos);
    CHECK(decode->count(i) == 3211);
    CHECK(decode->find_raw(1, 4) == i);
    CHECK(decode->find_raw(1, 5) != i);
    CHECK(prefill->tt_min() == 6);
    CHECK(prefill->tt_max() == 2048);
    CHECK(prefill->conc_max() == 257);
    // Samples are stored once, as floats.
    CHECK(s.sample_bytes() == s.total_samples() * sizeof(float));
}

TEST_CASE("ProfilePack.roundtrip.bundled_read_write_read_is_identical") {
    const llmemu::ProfileStore a = llmemu::load_llm_emu_pack(bundled_pack);
    const auto tmp = std::filesystem::temp_directory_path() / "llmemu_test_roundtrip_pack.json";
    llmemu::write_llm_emu_pack(a, tmp);
    const llmemu::ProfileStore b = llmemu::load_llm_emu_pack(tmp);
    std::filesystem::remove(tmp);
    CHECK(a == b);
    CHECK(b.extra_fields().size() == 1); // subset_note survives
    CHECK(b.extra_fields()[0].first == "subset_note");
    // And the text is stable: write(read(write(x))) == write(x).
    CHECK(llmemu::to_llm_emu_json(a) == llmemu::to_llm_emu_json(b));
}

TEST_CASE("ProfilePack.roundtrip.any_subset_of_tables") {
    const std::string only_decode =
        tiny_pack(R"("decode_2d_distribution": [{"tt": 3, "conc": 2, "num_samples": 2, "samples": [10.5, 11]}])");
    const auto s = llmemu::parse_llm_emu_pack(only_decode, "decode-only.json");
    CHECK(s.num_tables() == 1);
    CHECK(s.has_table(llmemu::TableKind::decode));
    CHECK_FALSE(s.has_table(llmemu::TableKind::prefill));
    const auto again = llmemu::parse_llm_emu_pack(llmemu::to_llm_emu_json(s), "again.json");
    CHECK(s == again);
    CHECK(again.table(llmemu::TableKind::decode)->samples(0)[1] == 11.0F);
}

TEST_CASE("ProfilePack.load.buckets_are_sorted_and_found") {
    const auto s = llmemu::parse_llm_emu_pack(tiny_pack(R"("prefill_2d_distribution": [
        {"tt": 9, "conc": 7, "num_samples": 1, "samples": [3]},
        {"tt": 4, "conc": 12, "num_samples": 1, "samples": [2]},
        {"tt": 4, "conc": 2, "num_samples": 1, "samples": [1]}])"));
    const auto* t = s.table(llmemu::TableKind::prefill);
    REQUIRE(t);
    CHECK(t->key(0) == llmemu::BucketKey{4, 2});
    CHECK(t->key(1) == llmemu::BucketKey{4, 12});
    CHECK(t->key(2) == llmemu::BucketKey{9, 7});
    CHECK(t->samples(2)[0] == 3.0F);
    CHECK(t->find(9, 7) == 2);
    CHECK(t->find(9, 2) == llmemu::ProfileTable::npos);
    CHECK(t->find(1000, 7) == llmemu::ProfileTable::npos);
}

TEST_CASE("ProfilePack.bad_input.each_case_names_file_bucket_and_fix") {
    struct Case {
        const char* what;
        std::string json;
        std::vector<std::string> expect;
    };
    const std::string ok_bucket = R"({"tt": 3, "conc": 2, "num_samples": 1, "samples": [10]})";
    const std::vector<Case> cases{
        {"malformed json", R"({"version": "2.0", )", {"bad.json", "not valid JSON"}},
        {"not an object", "[1, 2]", {"bad.json", "JSON object"}},
        {"wrong version",
         tiny_pack(R"("decode_2d_distribution": [)" + ok_bucket + "]",
                   R"({"tt_bucket_width": 1, "conc_bucket_width": 5})", "1.0"),
         {"bad.json", "version is \"1.0\"", "2.0"}},
        {"wrong profile type",
         tiny_pack(R"("decode_2d_distribution": [)" + ok_bucket + "]",
                   R"({"tt_bucket_width": 1, "conc_bucket_width": 5})", "2.0", "kernel"),
         {"bad.json", "profile_type", "serving_step_cycle_2d"}},
        {"num_samples disagrees",
         tiny_pack(R"("decode_2d_distribution": [{"tt": 5, "conc": 7, "num_samples": 3, "samples": [1, 2]}])"),
         {"bad.json", "decode_2d_distribution bucket 0 (tt=5, conc=7)", "num_samples=3 but 2 samples"}},
        {"negative sample",
         tiny_pack(R"("prefill_2d_distribution": [)" + ok_bucket +
                   R"(, {"tt": 4, "conc": 2, "num_samples": 2, "samples": [1, -2]}])"),
         {"bad.json", "prefill_2d_distribution bucket 1 (tt=4, conc=2)", "sample 1", "non-negative"}},
        {"infinite sample (float overflow)",
         tiny_pack(R"("prefill_2d_distribution": [{"tt": 4, "conc": 2, "num_samples": 1, "samples": [1e300]}])"),
         {"bad.json", "bucket 0 (tt=4, conc=2)", "finite"}},
        {"non-number sample",
         tiny_pack(R"("prefill_2d_distribution": [{"tt": 4, "conc": 2, "num_samples": 1, "samples": ["NaN"]}])"),
         {"bad.json", "bucket 0 (tt=4, conc=2)", "a string"}},
        {"NaN literal",
         tiny_pack(R"("prefill_2d_distribution": [{"tt": 4, "conc": 2, "num_samples": 1, "samples": [NaN]}])"),
         {"bad.json", "not valid JSON"}},
        {"empty table",
         tiny_pack(R"("decode_2d_distribution": [])"),
         {"bad.json", "decode_2d_distribution is empty", "remove the key"}},
        {"no table at all", tiny_pack(""), {"bad.json", "no table"}},
        {"duplicate bucket",
         tiny_pack(R"("decode_2d_distribution": [)" + ok_bucket + ", " + ok_bucket + "]"),
         {"bad.json", "buckets 0 and 1", "(tt=3, conc=2)", "merge"}},
        {"zero width",
         tiny_pack(R"("decode_2d_distribution": [)" + ok_bucket + "]",
                   R"({"tt_bucket_width": 0, "conc_bucket_width": 5})"),
         {"bad.json", "bucketing.tt_bucket_width is 0", "positive"}},
        {"negative width",
         tiny_pack(R"("decode_2d_distribution": [)" + ok_bucket + "]",
                   R"({"tt_bucket_width": 1, "conc_bucket_width": -5})"),
         {"bad.json", "bucketing.conc_bucket_width is -5", "positive"}},
        {"missing bucketing",
         R"({"version": "2.0", "profile_type": "serving_step_cycle_2d", "decode_2d_distribution": [)" + ok_bucket +
             "]}",
         {"bad.json", "no \"bucketing\""}},
        {"conc not a centre",
         tiny_pack(R"("decode_2d_distribution": [{"tt": 3, "conc": 3, "num_samples": 1, "samples": [10]}])"),
         {"bad.json", "bucket 0 (tt=3, conc=3)", "not a bucket centre", "expected 2"}},
        {"negative tt",
         tiny_pack(R"("decode_2d_distribution": [{"tt": -3, "conc": 2, "num_samples": 1, "samples": [10]}])"),
         {"bad.json", "decode_2d_distribution bucket 0: tt is -3", "non-negative integer"}},
        {"missing samples key",
         tiny_pack(R"("decode_2d_distribution": [{"tt": 3, "conc": 2, "num_samples": 1}])"),
         {"bad.json", "bucket 0", "no \"samples\""}},
        {"empty bucket",
         tiny_pack(R"("decode_2d_distribution": [{"tt": 3, "conc": 2, "num_samples": 0, "samples": []}])"),
         {"bad.json", "bucket 0 (tt=3, conc=2) has no samples", "drop the bucket"}},
        {"duplicate top-level key",
         tiny_pack(R"("decode_2d_distribution": [)" + ok_bucket + R"(], "decode_2d_distribution": [)" + ok_bucket +
                   "]"),
         {"bad.json", "appears twice"}},
        {"table not an array",
         tiny_pack(R"("prefill_2d_distribution": {"tt": 1})"),
         {"bad.json", "prefill_2d_distribution is an object", "array"}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        const std::string msg = error_of(c.json);
        CAPTURE(msg);
        REQUIRE_FALSE(msg.empty());
        for (const auto& part : c.expect) CHECK(msg.find(part) != std::string::npos);
    }
}

TEST_CASE("ProfilePack.bad_input.unreadable_file") {
    const auto missing = std::filesystem::temp_directory_path() / "llmemu_no_such_pack_42.json";
    try {
        (void)llmemu::load_llm_emu_pack(missing);
        FAIL("expected profile_error");
    } catch (const llmemu::profile_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find(missing.string()) != std::string::npos);
        CHECK(msg.find("cannot read") != std::string::npos);
    }
    CHECK_THROWS_AS(
        llmemu::write_llm_emu_pack(llmemu::load_llm_emu_pack(bundled_pack), "/nonexistent-dir-llmemu/x.json"),
        llmemu::profile_error);
}

TEST_CASE("ProfilePack.bom_accepted_zero_samples_refused") {
    // A BOM is skipped, as the trace reader does (issue 18: one was refused, the other read).
    const std::string ok =
        tiny_pack(R"("decode_2d_distribution": [{"tt": 3, "conc": 2, "num_samples": 2, "samples": [10.5, 11]}])");
    CHECK(error_of("\xEF\xBB\xBF" + ok).empty());
    // A 0 us step would let simulated time stand still (2e10 req/s): refused, naming the bucket.
    const std::string zero =
        error_of(tiny_pack(R"("decode_2d_distribution": [{"tt": 3, "conc": 2, "num_samples": 2, "samples": [0, 0]}])"));
    CHECK(zero.find("bucket 0 (tt=3, conc=2): sample 0 is 0.0") != std::string::npos);
    CHECK(zero.find("non-zero") != std::string::npos);
}

TEST_CASE("ProfileStore.memory_is_raw_floats_plus_small_index") {
    const llmemu::ProfileStore store = llmemu::load_llm_emu_pack(bundled_pack);
    // Samples are held once, as 4-byte floats, in one array per table.
    CHECK(store.sample_bytes() == store.total_samples() * sizeof(float));
    CHECK(store.sample_bytes() <= store.total_samples() * sizeof(float) * 3 / 2);
    for (llmemu::TableKind t : llmemu::all_table_kinds) {
        const auto* table = store.table(t);
        CHECK(table->all_samples().size() == table->num_samples());
        CHECK(table->dense_index());
        CHECK(table->offsets().back() == table->num_samples());
    }
}

TEST_CASE("ProfilePack.samples_csv.bundled_pack_round_trips_and_bad_lines_name_the_fix") {
    const llmemu::ProfileStore a = llmemu::load_llm_emu_pack(bundled_pack);
    std::ostringstream csv;
    llmemu::write_samples_csv(csv, a);
    CHECK(csv.str().rfind("table,tt,conc,sample_us\n", 0) == 0);
    const llmemu::ProfileStore b = llmemu::parse_samples_csv(csv.str(), a.bucketing(), "a.csv");
    REQUIRE(b.num_tables() == a.num_tables());
    CHECK(b.total_samples() == a.total_samples());
    for (llmemu::TableKind t : llmemu::all_table_kinds) {
        const llmemu::ProfileTable* x = a.table(t);
        const llmemu::ProfileTable* y = b.table(t);
        REQUIRE((x == nullptr) == (y == nullptr));
        if (x == nullptr) continue;
        REQUIRE(x->size() == y->size());
        for (std::size_t i = 0; i < x->size(); ++i) {
            CHECK(x->tt(i) == y->tt(i));
            CHECK(x->conc(i) == y->conc(i));
            const auto xs = x->samples(i);
            const auto ys = y->samples(i);
            CHECK(std::equal(xs.begin(), xs.end(), ys.begin(), ys.end())); // floats written exactly
        }
    }
    std::ostringstream again;
    llmemu::write_samples_csv(again, b);
    CHECK(again.str() == csv.str());

    // Comments, blank lines and CRLF are fine; lines out of order are bucketed.
    const llmemu::ProfileStore small = llmemu::parse_samples_csv(
        "table,tt,conc,sample_us\r\n# note\n\ndecode,1,2,30\nprefill,64,7,900\ndecode,1,2,10\n", {1, 5}, "s.csv");
    REQUIRE(small.table(llmemu::TableKind::decode) != nullptr);
    CHECK(small.table(llmemu::TableKind::decode)->samples(0).size() == 2);
    CHECK(small.total_samples() == 3);
    auto error = [](const char* text) {
        try {
            (void)llmemu::parse_samples_csv(text, {1, 5}, "bad.csv");
        } catch (const llmemu::profile_error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(error("decode,1,2\n").find("samples CSV 'bad.csv' line 1: expected table,tt,conc,sample_us") !=
          std::string::npos);
    CHECK(error("table,tt,conc,sample_us\nwarp,1,2,3\n").find("line 2: unknown table 'warp'") != std::string::npos);
    CHECK(error("decode,1,2,-3\n").find("finite and non-negative") != std::string::npos);
    CHECK(error("decode,1,2,3ms\n").find("sample_us '3ms' is not a finite number") != std::string::npos);
    CHECK(error("decode,1,2,inf\n").find("sample_us 'inf' is not a finite number") != std::string::npos);
    CHECK(error("decode,-1,2,3\n").find("tt '-1' is not a whole number") != std::string::npos); // no wrap-around
    CHECK(error("decode,1,x,3\n").find("conc 'x' is not a whole number") != std::string::npos);
    CHECK(error("decode,1,3,3\n").find("not a bucket centre for widths 1/5; pass --tt-bucket-width") !=
          std::string::npos);
    CHECK(error("# only a comment\n").find("no samples") != std::string::npos);
    CHECK_THROWS_AS((void)llmemu::read_samples_csv("/nonexistent/pack.csv", {1, 5}), llmemu::profile_error);
}

// Bootstrap resamples of a pack and the models over them (oracle/bootstrap.hpp).
namespace profile_bootstrap_test {
using namespace llmemu;

TEST_CASE("ProfileBootstrap.keeps_keys_and_counts_and_is_deterministic_per_seed") {
    const ProfileStore pack = load_llm_emu_pack(bundled_pack);
    const ProfileStore a = bootstrap_resample(pack, 3);
    const ProfileStore again = bootstrap_resample(pack, 3);
    const ProfileStore b = bootstrap_resample(pack, 4);
    CHECK(a == again);
    CHECK_FALSE(a == pack);
    CHECK_FALSE(a == b);
    CHECK(a.model_config() == pack.model_config());
    CHECK(a.gpu_model() == pack.gpu_model());
    std::size_t changed = 0;
    for (TableKind k : all_table_kinds) {
        const ProfileTable* t = pack.table(k);
        REQUIRE((t == nullptr) == (a.table(k) == nullptr));
        if (t == nullptr) continue;
        const ProfileTable& r = *a.table(k);
        REQUIRE(r.size() == t->size());
        for (std::size_t i = 0; i < t->size(); ++i) {
            CHECK(r.key(i) == t->key(i));
            CHECK(r.count(i) == t->count(i));
            const auto orig = t->samples(i);
            const auto res = r.samples(i);
            for (float v : res) CHECK(std::find(orig.begin(), orig.end(), v) != orig.end()); // drawn from the bucket
            if (!std::equal(orig.begin(), orig.end(), res.begin())) ++changed;
        }
    }
    CHECK(changed > 10);
}

TEST_CASE("ProfileBootstrap.models_over_a_resample_and_refusals") {
    auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(bundled_pack));
    OracleOptions opts;
    opts.min_exact_samples = 7;
    const AnyLatencyModel oracle = AnyLatencyModel::from_store(store, opts);
    REQUIRE(bootstrappable(oracle));
    const AnyLatencyModel m = bootstrap_model(oracle, 5);
    REQUIRE(m.store() != nullptr);
    CHECK(*m.store() == bootstrap_resample(*store, 5));
    REQUIRE(m.target<AnyLatencyModel::Oracle>() != nullptr);
    CHECK(m.target<AnyLatencyModel::Oracle>()->options().min_exact_samples == 7);
    // Models without a pack are refused, naming the model and the fix.
    for (const char* spec : {"const:30ms", "affine:2ms,25us,40us"}) {
        const AnyLatencyModel c = AnyLatencyModel::from_spec(spec);
        CHECK_FALSE(bootstrappable(c));
        CHECK_THROWS_WITH_AS((void)bootstrap_model(c, 1), doctest::Contains("--profile PACK.json"), config_error);
    }
}

} // namespace profile_bootstrap_test
