// libFuzzer target for the learned-model reader: any byte string either parses into a
// model or raises llmemu::profile_error — never a crash, hang, other exception or
// sanitizer report. A model that parses must survive write -> read unchanged and must
// answer every shape (inside, between and far outside its range) with a finite latency.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/oracle/learned_model.hpp"
#include "llmemu/random.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::optional<llmemu::LearnedLatencyModel> model;
    try {
        model.emplace(llmemu::LearnedLatencyModel::parse(text, "fuzz.json"));
    } catch (const llmemu::profile_error&) {
        return 0; // rejected with a message: fine
    }
    const std::string again = model->to_json();
    if (llmemu::LearnedLatencyModel::parse(again, "fuzz-roundtrip.json").to_json() != again) std::abort();
    llmemu::Rng rng(size);
    const std::uint32_t probes[] = {0, 1, 2, 7, 64, 255, 256, 2048, 4096, 0xFFFFFFFFU};
    for (std::uint32_t tt : probes) {
        for (std::uint32_t conc : probes) {
            for (llmemu::Phase p : {llmemu::Phase::decode, llmemu::Phase::prefill}) {
                const double v = model->sample({p, tt, conc, 0}, rng);
                if (!(v >= 0.0) || std::isnan(v)) std::abort(); // never negative or NaN
                const double q = model->quantile({p, tt, conc, 0}, 0.9);
                if (!(q >= 0.0)) std::abort();
            }
        }
    }
    const llmemu::Coverage c = model->coverage();
    if (c.exact + c.interpolated + c.out_of_range != c.total || c.learned != c.total) std::abort();
    return 0;
}
