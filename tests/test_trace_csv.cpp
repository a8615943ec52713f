// The streamed, strict trace CSV reader (issue 18): misreads that used to pass silently are
// errors naming file and line, and memory does not depend on the file's length.
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "llmemu/workload/trace.hpp"
#include "llmemu/workload/trace_shapes.hpp"

namespace {
std::string error_of(const std::string& csv, bool require_arrivals = true) {
    std::istringstream in(csv);
    try {
        (void)llmemu::parse_trace_csv(in, "t.csv", require_arrivals);
    } catch (const llmemu::workload_error& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST_CASE("Workload.trace_csv.strict_header_and_fields") {
    // A blank line before the header used to make the file look arrival-less.
    CHECK(error_of("\narrived_at,num_prefill_tokens,num_decode_tokens\n0,5,5\n").find("t.csv:1: is blank") == 0);
    // Extra fields no longer shift silently.
    CHECK(error_of("arrived_at,num_prefill_tokens,num_decode_tokens\n1,5,103,13\n")
              .find("t.csv:2: has 4 fields but the header has 3") == 0);
    CHECK(error_of("arrived_at,num_prefill_tokens,num_decode_tokens\n1,5\n").find("t.csv:2: has 2 fields") == 0);
    // A column named twice is refused (the last one used to win).
    CHECK(error_of("arrived_at,num_prefill_tokens,num_decode_tokens,num_decode_tokens\n0,1,2,3\n")
              .find("t.csv:1: the header names column 'num_decode_tokens' twice") == 0);
    // Extra named columns are fine; so are a BOM, CRLF and blank lines after the header.
    CHECK(error_of("\xEF\xBB\xBF"
                   "arrived_at,num_prefill_tokens,num_decode_tokens,note\r\n0,5,6,x\r\n\r\n1.5,7,8,y\r\n")
              .empty());
    // Echoed fields are escaped and cut.
    const std::string e =
        error_of("arrived_at,num_prefill_tokens,num_decode_tokens\n0,\xff" + std::string(100, 'x') + ",5\n");
    CHECK(e.find("'\\xffxxxx") != std::string::npos);
    CHECK(e.find("...'") != std::string::npos);
}

TEST_CASE("Workload.trace_csv.line_length_bounded") {
    // /dev/zero (no newline ever) and other non-CSV input fail at the first long line
    // instead of reading the whole input into one string.
    CHECK_THROWS_WITH_AS(llmemu::read_trace_csv("/dev/zero"),
                         doctest::Contains("/dev/zero:1: is longer than 4096 bytes"), llmemu::workload_error);
    const std::string long_line = "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5," + std::string(5000, '1');
    CHECK(error_of(long_line).find("t.csv:2: is longer than 4096 bytes") == 0);
}

TEST_CASE("Workload.trace_csv.reader_streams_requests") {
    std::istringstream in("arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,6\n\n0.5,7,8\n2,9,10");
    llmemu::TraceCsvReader reader(in, "mem", true);
    CHECK(reader.has_arrivals());
    llmemu::TraceRequest r;
    REQUIRE(reader.next(r));
    CHECK(r.prompt_len == 5);
    CHECK(r.output_len == 6);
    REQUIRE(reader.next(r));
    CHECK(r.arrived_at == 0.5);
    CHECK(reader.line() == 4);
    REQUIRE(reader.next(r)); // last line without a newline
    CHECK(r.output_len == 10);
    CHECK_FALSE(reader.next(r));
    CHECK(reader.count() == 3);
}

TEST_CASE("Workload.trace_csv.has_arrivals_by_the_same_rules") {
    const auto dir = std::filesystem::temp_directory_path();
    const auto blank_first = dir / "llmemu_trace_blank_first.csv";
    {
        std::ofstream f(blank_first);
        f << "\narrived_at,num_prefill_tokens,num_decode_tokens\n0,5,5\n";
    }
    CHECK_THROWS_WITH_AS((void)llmemu::trace_file_has_arrivals(blank_first), doctest::Contains(":1: is blank"),
                         llmemu::workload_error);
    const auto lengths = dir / "llmemu_trace_lengths_only.csv";
    {
        std::ofstream f(lengths);
        f << "num_prefill_tokens,num_decode_tokens,arrived_at_note\n5,5,x\n";
    }
    CHECK_FALSE(llmemu::trace_file_has_arrivals(lengths)); // a column *containing* arrived_at is not it
    std::filesystem::remove(blank_first);
    std::filesystem::remove(lengths);
}

TEST_CASE("TraceCsv.step_shapes.chunked_prefill_then_decode_at_the_running_count") {
    llmemu::Trace t;
    t.requests = {{0.0, 3000, 3}, {0.0, 10, 2}, {100.0, 5, 1}};
    // Budget 2048: request 0 alone (running 1) prefills in 2048 + 952, then decodes twice;
    // request 1 arrives while 0 runs (running 2): one 11-token step (10 + 1 other), one
    // decode; request 2 arrives after both ended (running 1): one step, no decode.
    const auto shapes = llmemu::trace_step_shapes(t, 1.0, 2048, 256, 1000);
    using P = llmemu::Phase;
    const std::vector<llmemu::StepShape> want = {
        {P::prefill, 2048, 1, 0}, {P::prefill, 952, 1, 0}, {P::decode, 1, 1, 0}, {P::decode, 1, 1, 0},
        {P::prefill, 11, 2, 0},   {P::decode, 2, 2, 0},    {P::prefill, 5, 1, 0}};
    REQUIRE(shapes.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        CAPTURE(i);
        CHECK(shapes[i].phase == want[i].phase);
        CHECK(shapes[i].total_tokens == want[i].total_tokens);
        CHECK(shapes[i].num_requests == want[i].num_requests);
    }
    // max_shapes thins them evenly; max_seqs caps the concurrency.
    CHECK(llmemu::trace_step_shapes(t, 1.0, 2048, 256, 3).size() < want.size());
    CHECK(llmemu::trace_step_shapes(t, 1.0, 2048, 1, 1000)[4].num_requests == 1);
    CHECK_THROWS_AS((void)llmemu::trace_step_shapes(t, 1.0, 0, 256, 10), llmemu::config_error);

    // With a model: the step time is the model's median decode step.
    struct Fixed {
        double sample(const llmemu::StepShape&, llmemu::Rng&) const { return 20000.0; } // 20 ms
    } model;
    CHECK(llmemu::trace_step_shapes(t, model, "t.csv").size() == want.size());
    CHECK_THROWS_WITH_AS((void)llmemu::trace_step_shapes(llmemu::Trace{}, model, "empty.csv"),
                         doctest::Contains("trace 'empty.csv' has no requests"), llmemu::workload_error);
}
