// libFuzzer target for the HTML report's input reader and builder: any byte string either
// becomes an input (result JSON, sweep / validation / time series CSV, recognised by
// content) that builds and renders a report, or raises llmemu::report_error — never a
// crash, hang, other exception or sanitizer report. A rendered page must stay one
// self-contained document.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/error.hpp"
#include "llmemu/report/html_report.hpp"
#include "llmemu/report/inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<llmemu::report::ReportInput> inputs;
    try {
        inputs.push_back(llmemu::report::parse_report_input(text, "fuzz.input"));
    } catch (const llmemu::report_error&) {
        return 0; // rejected with a message: fine
    }
    llmemu::report::ReportOptions opt;
    opt.max_points = 64;
    opt.slo_ttft_ms = 100.0;
    std::string html;
    try {
        html = llmemu::report::render_html(llmemu::report::build_report(inputs, opt));
    } catch (const llmemu::report_error&) {
        return 0; // nothing drawable, or inconsistent sections: refused with a message
    }
    if (html.rfind("<!DOCTYPE html>", 0) != 0) std::abort();
    if (html.find("</html>") == std::string::npos) std::abort();
    return 0;
}
