// libFuzzer target for the analytic profile specs (`const:<time>`,
// `affine:<base>,<per_token>,<per_request>` with units us, ms, s): any string either builds
// a model or raises llmemu::profile_error whose message stays short (the echoed spec is
// truncated) — never a crash, another exception or a sanitizer report. A model that
// builds answers every shape with a latency >= 0 (never NaN) that grows with the step.
// The same text goes through the number parse of named inputs (core/csv.hpp's
// parse_input_number, what the CLI's flags and spec items use): a finite value that
// prints back to itself, or config_error "name 'text': fix" with the text echoed short.
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/random.hpp"

namespace {
template <class T>
void check_input_number(std::string_view text) {
    try {
        const T v = llmemu::parse_input_number<T>(text, "--flag", "give a number");
        if constexpr (std::is_floating_point_v<T>) {
            if (!std::isfinite(v)) std::abort();
        }
        char buf[64];
        const auto res = std::to_chars(buf, buf + sizeof buf, v);
        if (res.ec != std::errc() || llmemu::parse_number<T>(std::string_view(buf, res.ptr - buf)) != v) std::abort();
    } catch (const llmemu::config_error& e) {
        const std::string_view what = e.what();
        if (what.substr(0, 8) != "--flag '" || !what.ends_with("': give a number") || what.size() > 200) std::abort();
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    check_input_number<double>(raw);
    check_input_number<std::uint32_t>(raw);
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
