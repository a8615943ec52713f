// libFuzzer target for the LLM-Emu pack readers (the JSON pack and its long-CSV form,
// samples_csv.hpp): any byte string either parses into a valid store or raises
// llmemu::profile_error — never a crash, hang, other exception or sanitizer report. A
// store that parses must survive write -> read unchanged; a JSON one must drive the
// oracle (exact, sparse and out-of-range shapes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string_view>

#include "llmemu/error.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/samples_csv.hpp"
#include "llmemu/random.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try { // the long CSV form (profile convert pack.csv)
        const llmemu::ProfileStore csv = llmemu::parse_samples_csv(text, {1, 5}, "fuzz.csv");
        std::ostringstream out;
        llmemu::write_samples_csv(out, csv);
        if (!(llmemu::parse_samples_csv(out.str(), {1, 5}, "fuzz-roundtrip.csv") == csv)) std::abort();
    } catch (const llmemu::profile_error&) {
        // rejected with a message: fine
    }
    llmemu::ProfileStore store;
    try {
        store = llmemu::parse_llm_emu_pack(text, "fuzz.json");
    } catch (const llmemu::profile_error&) {
        return 0; // rejected with a message: fine
    }
    // Accepted: the writer must reproduce it exactly.
    const llmemu::ProfileStore again =
        llmemu::parse_llm_emu_pack(llmemu::to_llm_emu_json(store), "fuzz-roundtrip.json");
    if (!(again == store)) std::abort();
    llmemu::LatencyOracle<> oracle(std::make_shared<const llmemu::ProfileStore>(std::move(store)));
    llmemu::Rng rng(size);
    const std::uint32_t probes[] = {0, 1, 2, 7, 64, 255, 256, 2048, 4096, 0xFFFFFFFFU};
    for (std::uint32_t tt : probes) {
        for (std::uint32_t conc : probes) {
            for (llmemu::Phase p : {llmemu::Phase::decode, llmemu::Phase::prefill}) {
                const double v = oracle.sample({p, tt, conc, 0}, rng);
                if (!(v >= 0.0)) std::abort(); // never negative or NaN
            }
        }
    }
    const llmemu::Coverage c = oracle.coverage();
    if (c.exact + c.interpolated + c.out_of_range != c.total) std::abort();
    return 0;
}
