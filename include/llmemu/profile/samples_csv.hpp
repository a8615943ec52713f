#pragma once
/// \file samples_csv.hpp
/// A profile pack as a long CSV, one raw step-time sample a line:
///
/// ```
/// table,tt,conc,sample_us
/// decode,1,2,10231.5
/// prefill,512,2,48811
/// ```
///
/// `table` is prefill, decode or step_cycle (or the pack's JSON key); `tt` and `conc` are
/// the bucket centres (total tokens, concurrency) for the pack's widths; `sample_us` the
/// step time in microseconds. The header line, blank lines and lines starting with '#'
/// are skipped. `llmemu profile convert` reads and writes this form (pack.json <->
/// pack.csv), so that a pack can be edited or produced by a spreadsheet or a script.
/// Standard library only.

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/store.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Parses the long CSV `text` into a store with bucketing `b` (the centres must be `b`'s).
/// `source` names the input in errors. Throws profile_error naming the source, the line
/// and the fix for a malformed line, an unknown table, a value that is not a number, a
/// negative or infinite sample, a key that is not a bucket centre, or no samples at all.
[[nodiscard]] inline ProfileStore parse_samples_csv(std::string_view text, Bucketing b, const std::string& source) {
    BucketSamples buckets;
    std::size_t lineno = 0;
    auto fail = [&](const std::string& what) {
        detail::throw_error<profile_error>("samples CSV '" + source + "' line " + std::to_string(lineno) + ": " + what);
    };
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        if (lineno == 1 && line.rfind("table", 0) == 0) continue;
        std::istringstream ls(line);
        std::string table;
        std::string tt;
        std::string conc;
        std::string us;
        if (!std::getline(ls, table, ',') || !std::getline(ls, tt, ',') || !std::getline(ls, conc, ',') ||
            !std::getline(ls, us))
            fail("expected table,tt,conc,sample_us");
        const auto t = table_from_name(table);
        if (!t) fail("unknown table '" + table + "' (prefill, decode or step_cycle)");
        const std::string_view ftt = detail::text_trim(tt), fconc = detail::text_trim(conc);
        const std::string_view fus = detail::text_trim(us);
        const std::optional<std::uint64_t> ptt = parse_number<std::uint64_t>(ftt);
        if (!ptt) fail("tt '" + detail::text_echo(ftt) + "' is not a whole number");
        const std::optional<std::uint64_t> pconc = parse_number<std::uint64_t>(fconc);
        if (!pconc) fail("conc '" + detail::text_echo(fconc) + "' is not a whole number");
        const std::optional<double> pus = parse_number<double>(fus);
        if (!pus) fail("sample_us '" + detail::text_echo(fus) + "' is not a finite number");
        const std::uint64_t vtt = *ptt, vconc = *pconc;
        const double v = *pus;
        if (v < 0 || v > 3e38) fail("sample_us must be finite and non-negative");
        if (vtt > 0xFFFFFFFFULL || vconc > 0xFFFFFFFFULL) fail("tt or conc too large");
        if (b.tt_centre(vtt) != vtt || vconc == 0 || b.conc_centre(vconc) != vconc)
            fail("(tt=" + tt + ", conc=" + conc + ") is not a bucket centre for widths " + std::to_string(b.tt_width) +
                 "/" + std::to_string(b.conc_width) + "; pass --tt-bucket-width/--conc-bucket-width");
        buckets[static_cast<std::size_t>(*t)][{static_cast<std::uint32_t>(vtt), static_cast<std::uint32_t>(vconc)}]
            .push_back(static_cast<float>(v));
    }
    ProfileStore store = store_from_buckets(buckets, b);
    if (store.num_tables() == 0) detail::throw_error<profile_error>("samples CSV '" + source + "': no samples");
    return store;
}

/// Reads the long CSV file `path` (parse_samples_csv); throws profile_error when the file
/// cannot be read.
[[nodiscard]] inline ProfileStore read_samples_csv(const std::string& path, Bucketing b) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::throw_error<profile_error>("samples CSV '" + path + "': cannot read the file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_samples_csv(text, b, path);
}

/// Writes `store` as the long CSV: the header line, then every sample of every table
/// (prefill, decode, step_cycle), bucket by bucket, each float in its shortest exact form
/// (so parse_samples_csv gives the same store back).
inline void write_samples_csv(std::ostream& out, const ProfileStore& store) {
    out << "table,tt,conc,sample_us\n";
    char buf[64];
    for (TableKind t : all_table_kinds) {
        const ProfileTable* table = store.table(t);
        if (!table) continue;
        for (std::size_t i = 0; i < table->size(); ++i) {
            for (float v : table->samples(i)) {
                auto res = std::to_chars(buf, buf + sizeof buf, v);
                out << table_name(t) << ',' << table->tt(i) << ',' << table->conc(i) << ','
                    << std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)) << '\n';
            }
        }
    }
}

LLMEMU_END_NAMESPACE
