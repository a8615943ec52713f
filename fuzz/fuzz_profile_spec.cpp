// libFuzzer target for the analytic profile specs (`const:<time>`,
// `affine:<base>,<per_token>,<per_request>` with units us, ms, s): any string either builds
// a model or raises llmemu::profile_error whose message stays short (the echoed spec is
// truncated) — never a crash, another exception or a sanitizer report. A model that
// builds answers every shape with a latency >= 0 (never NaN) that grows with the step.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/random.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    // Only the analytic forms: anything else is a path, and the fuzzer must not read files.
    std::string spec(raw.substr(0, 1) == "a" ? "affine:" : "const:");
    spec.append(raw.substr(raw.empty() ? 0 : 1));
    try {
        llmemu::AnyLatencyModel m = llmemu::AnyLatencyModel::from_spec(spec);
        llmemu::Rng rng(size);
        double last = -1.0;
        for (std::uint32_t n : {0U, 1U, 7U, 4096U, 0xFFFFFFFFU}) {
            const double v = m.sample(llmemu::StepShape{llmemu::Phase::prefill, n, n, 0}, rng);
            if (!(v >= 0.0) || std::isnan(v) || v < last) std::abort();
            last = v;
        }
        if (m.describe().empty()) std::abort();
    } catch (const llmemu::profile_error& e) {
        if (std::string_view(e.what()).size() > 1024) std::abort(); // the echoed input is truncated
    }
    return 0;
}
