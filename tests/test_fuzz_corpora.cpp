// Every fuzz target's seed corpus replayed as a unit test (issue 20): the libFuzzer entry
// points of fuzz/fuzz_<name>.cpp are compiled into this one translation unit, each in a
// namespace of its own with LLVMFuzzerTestOneInput renamed, and run over every file of
// fuzz/corpus_<name>/ and fuzz/corpus/<name>/. A target's own checks std::abort() on a
// broken invariant, so a regression on a seed fails here, in every build and sanitizer,
// without clang's libFuzzer. fuzz_http_request is replayed in test_server_http.cpp
// (it needs the Boost server, which this file leaves out).
//
// The headers the fuzz sources include come first, at file scope, so that their own
// #include lines inside the namespaces below are no-ops.
#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fuzz_replay.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/fleet/fleet_json.hpp"
#include "llmemu/fleet/router.hpp"
#include "llmemu/metrics/validation.hpp"
#include "llmemu/metrics/validation_requests.hpp"
#include "llmemu/metrics/validation_timeseries.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/oracle/layerwise_model.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/hf_config.hpp"
#include "llmemu/profile/layerwise_profile.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/samples_csv.hpp"
#include "llmemu/random.hpp"
#include "llmemu/report/html_report.hpp"
#include "llmemu/report/inputs.hpp"
#include "llmemu/server/json_schema.hpp"
#include "llmemu/server/kv_events_config.hpp"
#include "llmemu/server/openai.hpp"
#include "llmemu/tokens/vocabulary.hpp"
#include "llmemu/workload/datasets.hpp"
#include "llmemu/workload/length_model.hpp"
#include "llmemu/workload/mooncake.hpp"
#include "llmemu/workload/prompt.hpp"
#include "llmemu/workload/schedule.hpp"
#include "llmemu/workload/trace.hpp"
#include "llmemu/workload/workload.hpp"
#include "llmemu/workload/workload_spec.hpp"

#define LLVMFuzzerTestOneInput llmemu_fuzz_dataset_readers
namespace fz_dataset_readers {
#include "../fuzz/fuzz_dataset_readers.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_fleet_reader
namespace fz_fleet_reader {
#include "../fuzz/fuzz_fleet_reader.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_json_schema
namespace fz_json_schema {
#include "../fuzz/fuzz_json_schema.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_kv_events_config
namespace fz_kv_events_config {
#include "../fuzz/fuzz_kv_events_config.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_layerwise_profile
namespace fz_layerwise_profile {
#include "../fuzz/fuzz_layerwise_profile.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_learned_model_reader
namespace fz_learned_model_reader {
#include "../fuzz/fuzz_learned_model_reader.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_length_model_reader
namespace fz_length_model_reader {
#include "../fuzz/fuzz_length_model_reader.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_mooncake_reader
namespace fz_mooncake_reader {
#include "../fuzz/fuzz_mooncake_reader.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_openai_request
namespace fz_openai_request {
#include "../fuzz/fuzz_openai_request.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_pack_reader
namespace fz_pack_reader {
#include "../fuzz/fuzz_pack_reader.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_profile_spec
namespace fz_profile_spec {
#include "../fuzz/fuzz_profile_spec.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_report_inputs
namespace fz_report_inputs {
#include "../fuzz/fuzz_report_inputs.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_trace_csv
namespace fz_trace_csv {
#include "../fuzz/fuzz_trace_csv.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_validation_readers
namespace fz_validation_readers {
#include "../fuzz/fuzz_validation_readers.cpp"
}
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput llmemu_fuzz_workload_spec
namespace fz_workload_spec {
#include "../fuzz/fuzz_workload_spec.cpp"
}
#undef LLVMFuzzerTestOneInput

namespace {

const llmemu_test::FuzzTarget targets[] = {
    {"dataset_readers", fz_dataset_readers::llmemu_fuzz_dataset_readers},
    {"fleet_reader", fz_fleet_reader::llmemu_fuzz_fleet_reader},
    {"json_schema", fz_json_schema::llmemu_fuzz_json_schema},
    {"kv_events_config", fz_kv_events_config::llmemu_fuzz_kv_events_config},
    {"layerwise_profile", fz_layerwise_profile::llmemu_fuzz_layerwise_profile},
    {"learned_model_reader", fz_learned_model_reader::llmemu_fuzz_learned_model_reader},
    {"length_model_reader", fz_length_model_reader::llmemu_fuzz_length_model_reader},
    {"mooncake_reader", fz_mooncake_reader::llmemu_fuzz_mooncake_reader},
    {"openai_request", fz_openai_request::llmemu_fuzz_openai_request},
    {"pack_reader", fz_pack_reader::llmemu_fuzz_pack_reader},
    {"profile_spec", fz_profile_spec::llmemu_fuzz_profile_spec},
    {"report_inputs", fz_report_inputs::llmemu_fuzz_report_inputs},
    {"trace_csv", fz_trace_csv::llmemu_fuzz_trace_csv},
    {"validation_readers", fz_validation_readers::llmemu_fuzz_validation_readers},
    {"workload_spec", fz_workload_spec::llmemu_fuzz_workload_spec},
};

} // namespace

TEST_CASE("Fuzz.corpora.every_seed_through_its_target") {
    for (const auto& t : targets) {
        CAPTURE(t.name);
        CHECK(llmemu_test::replay_corpus(t) > 0); // every target has seeds
    }
}

TEST_CASE("Fuzz.corpora.every_target_is_replayed") {
    // A new fuzz/fuzz_<name>.cpp must be added above (or to test_server_http.cpp).
    std::set<std::string> replayed{"http_request"};
    for (const auto& t : targets) replayed.insert(t.name);
    std::set<std::string> sources;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(LLMEMU_SOURCE_DIR) / "fuzz")) {
        const std::string f = e.path().filename().string();
        if (f.starts_with("fuzz_") && f.ends_with(".cpp")) sources.insert(f.substr(5, f.size() - 9));
    }
    CHECK(sources == replayed);
}
