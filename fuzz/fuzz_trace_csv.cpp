// libFuzzer target for the trace CSV reader: any byte string either reads into requests
// or raises llmemu::workload_error — never a crash, another exception or a sanitizer
// report. What it accepts is checked against an independent reading of the same bytes:
// the header is the first line and names the three columns once each, every accepted
// line has exactly the header's number of fields, token counts are >= 1 and arrivals
// finite, non-negative and sorted. (A blank line before the header, extra fields or a
// duplicate column accepted by the reader all break one of these.)
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/workload/trace.hpp"

namespace {
std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t nl = std::min(text.find('\n', pos), text.size());
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}
bool blank(std::string_view s) {
    return s.find_first_not_of(" \t\r") == std::string_view::npos;
}
std::size_t count_of(std::string_view s, char c) {
    std::size_t n = 0;
    for (const char x : s) n += x == c ? 1 : 0;
    return n;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    for (const bool require_arrivals : {true, false}) {
        std::istringstream in(text);
        llmemu::Trace trace;
        try {
            trace = llmemu::parse_trace_csv(in, "fuzz.csv", require_arrivals);
        } catch (const llmemu::workload_error& e) {
            if (std::string_view(e.what()).size() > 1024) std::abort(); // echoed input must be cut
            continue;
        }
        std::vector<std::string_view> lines = lines_of(text);
        if (lines.empty() || blank(lines[0])) std::abort(); // the header is the first line
        std::string_view header = lines[0];
        if (header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3);
        for (const char* col : {"num_prefill_tokens", "num_decode_tokens"})
            if (header.find(col) == std::string_view::npos) std::abort();
        const std::size_t commas = count_of(header, ',');
        std::size_t data_lines = 0;
        for (std::size_t i = 1; i < lines.size(); ++i) {
            if (blank(lines[i])) continue;
            ++data_lines;
            if (count_of(lines[i], ',') != commas) std::abort(); // every line has the header's fields
        }
        if (data_lines != trace.requests.size()) std::abort();
        double last = 0.0;
        for (const auto& r : trace.requests) {
            if (r.prompt_len == 0 || r.output_len == 0) std::abort();
            if (!std::isfinite(r.arrived_at) || r.arrived_at < 0.0 || r.arrived_at < last) std::abort();
            last = r.arrived_at;
        }
    }
    return 0;
}
