#pragma once
/// \file builder.hpp
/// Build a profile pack from engine step traces, by LLM-Emu's rules:
///
/// - JSON Lines, one object per engine step: `step_cycle_us`, `total_tokens`,
///   `num_new_reqs`, `num_decode_seqs`, optional `sum_kv`; an optional
///   `{"_header": true, ...}` record with model and GPU fields; optional
///   `{"__marker__": "profiling_start" | "profiling_stop"}` records — when a file has
///   markers, only the steps between a start and the next stop count. CSV files with a
///   header row naming the same columns work too (no markers there).
/// - concurrency = num_new_reqs + num_decode_seqs (at least 1); a step goes to the
///   prefill table when num_new_reqs > 0, else to the decode table, and every step also
///   to the step-cycle table; bucket centre = (v // w) * w + w // 2.
/// - Samples are rounded to 0.1 µs, as LLM-Emu writes them.
/// - Options: drop the first N counted steps of each file (warm-up), and per-bucket
///   Tukey outlier filtering (off by default, like LLM-Emu).

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/core/csv.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/profile/store.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One engine step as LLM-Emu's step tracer records it.
struct StepTraceRecord {
    double step_cycle_us = 0.0;
    std::uint64_t total_tokens = 0;
    std::uint32_t num_new_reqs = 0;
    std::uint32_t num_decode_seqs = 0;
    std::optional<std::uint64_t> sum_kv;
};

/// How a pack is built from step records.
struct BuildOptions {
    Bucketing bucketing{};
    /// Steps dropped at the start of each trace file (after its profiling_start marker).
    std::uint64_t warmup_steps = 0;
    /// Tukey fence factor k: in buckets with >= 4 samples drop samples outside
    /// [Q1 - k*IQR, Q3 + k*IQR]. 0 = keep everything (LLM-Emu's default).
    double outlier_iqr_k = 0.0;

    void validate() const {
        if (bucketing.tt_width == 0 || bucketing.conc_width == 0)
            detail::throw_error<config_error>(
                "profile build: bucket widths must be positive integers (LLM-Emu: 1 and 5)");
        if (!(outlier_iqr_k >= 0.0) || !std::isfinite(outlier_iqr_k))
            detail::throw_error<config_error>(
                "profile build: the outlier factor must be a finite number >= 0 (0 = off; 1.5 or 3 are usual)");
    }
};

/// What the builder did with the records it saw.
struct BuildStats {
    std::uint64_t records = 0;         ///< step records read
    std::uint64_t outside_markers = 0; ///< dropped: outside profiling_start/stop
    std::uint64_t warmup_dropped = 0;  ///< dropped: warm-up steps
    std::uint64_t outliers_dropped = 0;
    std::uint64_t steps_used = 0; ///< steps that went into the tables
};

/// Accumulates step records (from files or directly) and builds a ProfileStore.
class PackBuilder {
public:
    explicit PackBuilder(BuildOptions options = {}) : m_options(options) { m_options.validate(); }

    /// Adds one step (no warm-up or marker logic: callers feeding records directly
    /// decide what counts). Throws profile_error for a negative or non-finite time.
    void add_step(const StepTraceRecord& r) {
        if (!std::isfinite(r.step_cycle_us) || r.step_cycle_us < 0.0 || r.step_cycle_us > 3.0e38)
            detail::throw_error<profile_error>("step record: step_cycle_us=" + std::to_string(r.step_cycle_us) +
                                               " must be a finite, non-negative number of microseconds");
        const std::uint64_t conc = std::max<std::uint64_t>(1, std::uint64_t{r.num_new_reqs} + r.num_decode_seqs);
        const std::uint64_t tt = m_options.bucketing.tt_centre(r.total_tokens);
        const std::uint64_t cc = m_options.bucketing.conc_centre(conc);
        if (tt > 0xFFFFFFFFULL || cc > 0xFFFFFFFFULL)
            detail::throw_error<profile_error>("step record: total_tokens or concurrency above 2^32-1");
        const BucketKey key{static_cast<std::uint32_t>(tt), static_cast<std::uint32_t>(cc)};
        const auto v = static_cast<float>(std::round(r.step_cycle_us * 10.0) / 10.0);
        m_buckets[static_cast<std::size_t>(r.num_new_reqs > 0 ? TableKind::prefill : TableKind::decode)][key].push_back(
            v);
        m_buckets[static_cast<std::size_t>(TableKind::step_cycle)][key].push_back(v);
        ++m_stats.steps_used;
    }

    /// Reads a trace file: JSON Lines (.jsonl / .json / .ndjson) or CSV (.csv).
    void add_file(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            detail::throw_error<profile_error>("step trace '" + path.string() +
                                               "': cannot read the file; check the path and its permissions");
        std::string ext = path.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (ext == ".csv")
            add_csv(in, path.string());
        else
            add_jsonl(in, path.string());
    }

    /// Reads JSON Lines step records from a stream (`source` names it in errors).
    void add_jsonl(std::istream& in, const std::string& source) {
        simdjson::dom::parser parser;
        std::string line;
        std::size_t lineno = 0;
        std::vector<std::pair<StepTraceRecord, bool>> steps; // record, inside a profiling window
        bool inside = false;
        bool has_markers = false;
        while (std::getline(in, line)) {
            ++lineno;
            std::string_view sv = line;
            while (!sv.empty() && std::isspace(static_cast<unsigned char>(sv.back()))) sv.remove_suffix(1);
            while (!sv.empty() && std::isspace(static_cast<unsigned char>(sv.front()))) sv.remove_prefix(1);
            if (sv.empty()) continue;
            simdjson::padded_string padded(sv);
            simdjson::dom::element doc;
            if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS)
                fail(source, lineno,
                     "not valid JSON (" + std::string(simdjson::error_message(err)) +
                         "); each line must be one JSON object");
            simdjson::dom::object obj;
            if (doc.get_object().get(obj) != simdjson::SUCCESS) fail(source, lineno, "each line must be a JSON object");
            if (auto m = obj["__marker__"]; m.error() == simdjson::SUCCESS) {
                std::string_view s;
                if (m.get_string().get(s) != simdjson::SUCCESS || (s != "profiling_start" && s != "profiling_stop"))
                    fail(source, lineno, "__marker__ must be \"profiling_start\" or \"profiling_stop\"");
                has_markers = true;
                inside = s == "profiling_start";
                continue;
            }
            if (auto h = obj["_header"]; h.error() == simdjson::SUCCESS) {
                read_header(obj, source, lineno);
                continue;
            }
            steps.emplace_back(read_step_json(obj, source, lineno), inside);
        }
        finish_file(steps, has_markers);
    }

    /// Reads CSV step records: a header row naming step_cycle_us, total_tokens,
    /// num_new_reqs, num_decode_seqs (and optionally sum_kv; other columns are ignored).
    void add_csv(std::istream& in, const std::string& source) {
        std::string line;
        std::size_t lineno = 0;
        std::vector<std::string_view> fields;
        int c_us = -1;
        int c_tt = -1;
        int c_new = -1;
        int c_dec = -1;
        int c_kv = -1;
        bool header = false;
        std::vector<std::pair<StepTraceRecord, bool>> steps;
        while (std::getline(in, line)) {
            ++lineno;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty() || line[0] == '#') continue;
            split_csv(line, fields);
            if (!header) {
                for (std::size_t i = 0; i < fields.size(); ++i) {
                    const auto f = fields[i];
                    const int idx = static_cast<int>(i);
                    if (f == "step_cycle_us")
                        c_us = idx;
                    else if (f == "total_tokens")
                        c_tt = idx;
                    else if (f == "num_new_reqs")
                        c_new = idx;
                    else if (f == "num_decode_seqs")
                        c_dec = idx;
                    else if (f == "sum_kv")
                        c_kv = idx;
                }
                if (c_us < 0 || c_tt < 0 || c_new < 0 || c_dec < 0)
                    fail(source, lineno,
                         "the header row must name step_cycle_us, total_tokens, num_new_reqs and num_decode_seqs");
                header = true;
                continue;
            }
            const int need = std::max({c_us, c_tt, c_new, c_dec, c_kv});
            if (static_cast<int>(fields.size()) <= need)
                fail(source, lineno,
                     "has " + std::to_string(fields.size()) + " fields; the header promised at least " +
                         std::to_string(need + 1));
            StepTraceRecord r;
            r.step_cycle_us = csv_number(fields[static_cast<std::size_t>(c_us)], source, lineno, "step_cycle_us");
            r.total_tokens = csv_uint(fields[static_cast<std::size_t>(c_tt)], source, lineno, "total_tokens");
            r.num_new_reqs = static_cast<std::uint32_t>(
                csv_uint(fields[static_cast<std::size_t>(c_new)], source, lineno, "num_new_reqs", 0xFFFFFFFFULL));
            r.num_decode_seqs = static_cast<std::uint32_t>(
                csv_uint(fields[static_cast<std::size_t>(c_dec)], source, lineno, "num_decode_seqs", 0xFFFFFFFFULL));
            if (c_kv >= 0 && !fields[static_cast<std::size_t>(c_kv)].empty())
                r.sum_kv = csv_uint(fields[static_cast<std::size_t>(c_kv)], source, lineno, "sum_kv");
            check_time(r.step_cycle_us, source, lineno);
            steps.emplace_back(r, true);
        }
        if (!header) fail(source, lineno, "empty file: expected a header row and step records");
        finish_file(steps, false);
    }

    /// Model and GPU fields collected from `_header` records (or set directly).
    [[nodiscard]] const ModelConfig& model_config() const noexcept { return m_model; }
    void set_model_config(ModelConfig m) { m_model = std::move(m); }
    [[nodiscard]] const BuildStats& stats() const noexcept { return m_stats; }
    [[nodiscard]] const BuildOptions& options() const noexcept { return m_options; }

    /// The pack: every table that received steps (after outlier filtering).
    [[nodiscard]] ProfileStore build() {
        if (m_stats.steps_used == 0)
            detail::throw_error<profile_error>("profile build: no step records were used (empty traces, every step "
                                               "outside profiling_start/stop markers, or all dropped as warm-up)");
        ProfileStore store =
            store_from_buckets(m_buckets, m_options.bucketing, [this](TableKind t, const std::vector<float>& values) {
                return filter(values, t == TableKind::step_cycle); // drops counted once, on the combined table
            });
        store.set_model_config(m_model);
        store.set_gpu_model(m_gpu_model);
        return store;
    }

private:
    [[noreturn]] static void fail(const std::string& source, std::size_t line, const std::string& what) {
        detail::text_fail<profile_error>({source, line}, what);
    }

    static void check_time(double us, const std::string& source, std::size_t line) {
        if (!std::isfinite(us) || us < 0.0 || us > 3.0e38)
            fail(source, line,
                 "step_cycle_us=" + std::to_string(us) + " must be a finite, non-negative number of microseconds");
    }

    static std::uint64_t json_uint(simdjson::dom::object& obj, const char* key, const std::string& source,
                                   std::size_t line, bool required, std::uint64_t max = 0xFFFFFFFFFFFFFFFFULL) {
        auto e = obj[key];
        if (e.error() != simdjson::SUCCESS) {
            if (required)
                fail(source, line,
                     std::string("missing \"") + key +
                         "\"; a step record needs step_cycle_us, total_tokens, num_new_reqs and num_decode_seqs");
            return 0;
        }
        std::uint64_t v = 0;
        if (e.get_uint64().get(v) != simdjson::SUCCESS) {
            double d = 0;
            // Tracers sometimes write integral floats (e.g. 12.0): accept those exactly.
            if (e.get_double().get(d) != simdjson::SUCCESS || !(d >= 0.0) || d != std::floor(d) || d > 1.8e19)
                fail(source, line, std::string("\"") + key + "\" must be a non-negative integer");
            v = static_cast<std::uint64_t>(d);
        }
        if (v > max) fail(source, line, std::string("\"") + key + "\" is too large");
        return v;
    }

    static StepTraceRecord read_step_json(simdjson::dom::object& obj, const std::string& source, std::size_t line) {
        StepTraceRecord r;
        auto e = obj["step_cycle_us"];
        if (e.error() != simdjson::SUCCESS)
            fail(source, line, "missing \"step_cycle_us\" (the step's wall-clock time in microseconds)");
        if (e.get_double().get(r.step_cycle_us) != simdjson::SUCCESS)
            fail(source, line, "\"step_cycle_us\" must be a number");
        check_time(r.step_cycle_us, source, line);
        r.total_tokens = json_uint(obj, "total_tokens", source, line, true);
        r.num_new_reqs = static_cast<std::uint32_t>(json_uint(obj, "num_new_reqs", source, line, true, 0xFFFFFFFFULL));
        r.num_decode_seqs =
            static_cast<std::uint32_t>(json_uint(obj, "num_decode_seqs", source, line, true, 0xFFFFFFFFULL));
        if (obj["sum_kv"].error() == simdjson::SUCCESS) r.sum_kv = json_uint(obj, "sum_kv", source, line, false);
        return r;
    }

    void read_header(simdjson::dom::object& obj, const std::string& source, std::size_t line) {
        auto str = [&](const char* key, std::string& dst) {
            auto e = obj[key];
            if (e.error() != simdjson::SUCCESS) return;
            std::string_view s;
            if (e.get_string().get(s) != simdjson::SUCCESS)
                fail(source, line, std::string("header \"") + key + "\" must be a string");
            dst = std::string(s);
        };
        auto u32 = [&](const char* key, std::uint32_t& dst) {
            if (obj[key].error() == simdjson::SUCCESS)
                dst = static_cast<std::uint32_t>(json_uint(obj, key, source, line, false, 0xFFFFFFFFULL));
        };
        str("model_name", m_model.model_name);
        str("gpu_name", m_model.gpu_name);
        str("gpu_model", m_gpu_model);
        u32("num_hidden_layers", m_model.num_hidden_layers);
        u32("hidden_size", m_model.hidden_size);
        u32("num_attention_heads", m_model.num_attention_heads);
        u32("num_key_value_heads", m_model.num_key_value_heads);
        u32("vocab_size", m_model.vocab_size);
        u32("intermediate_size", m_model.intermediate_size);
        u32("head_dim", m_model.head_dim);
        u32("max_model_len", m_model.max_model_len);
        u32("block_size", m_model.block_size);
        u32("gpu_sm_count", m_model.gpu_sm_count);
        u32("gpu_count", m_model.gpu_count);
        u32("kv_dtype_bytes", m_model.kv_dtype_bytes);
        if (obj["gpu_memory_bytes"].error() == simdjson::SUCCESS)
            m_model.gpu_memory_bytes = json_uint(obj, "gpu_memory_bytes", source, line, false);
        if (auto cc = obj["gpu_compute_capability"]; cc.error() == simdjson::SUCCESS) {
            simdjson::dom::array a;
            std::uint64_t major = 0;
            std::uint64_t minor = 0;
            if (cc.get_array().get(a) != simdjson::SUCCESS || a.size() != 2 ||
                a.at(0).get_uint64().get(major) != simdjson::SUCCESS ||
                a.at(1).get_uint64().get(minor) != simdjson::SUCCESS)
                fail(source, line, "header \"gpu_compute_capability\" must be [major, minor]");
            m_model.compute_capability_major = static_cast<std::uint32_t>(major);
            m_model.compute_capability_minor = static_cast<std::uint32_t>(minor);
        }
    }

    void finish_file(const std::vector<std::pair<StepTraceRecord, bool>>& steps, bool has_markers) {
        std::uint64_t counted = 0;
        for (const auto& [r, inside] : steps) {
            ++m_stats.records;
            if (has_markers && !inside) {
                ++m_stats.outside_markers;
                continue;
            }
            if (counted++ < m_options.warmup_steps) {
                ++m_stats.warmup_dropped;
                continue;
            }
            add_step(r);
        }
    }

    std::vector<float> filter(const std::vector<float>& values, bool count_drops) {
        if (m_options.outlier_iqr_k <= 0.0 || values.size() < 4) return values;
        std::vector<float> sorted = values;
        std::sort(sorted.begin(), sorted.end());
        const double q1 = quantile_sorted<float>(sorted, 0.25);
        const double q3 = quantile_sorted<float>(sorted, 0.75);
        const double lo = q1 - m_options.outlier_iqr_k * (q3 - q1);
        const double hi = q3 + m_options.outlier_iqr_k * (q3 - q1);
        std::vector<float> kept;
        for (float v : values) {
            if (v >= lo && v <= hi)
                kept.push_back(v);
            else if (count_drops)
                ++m_stats.outliers_dropped; // counted once, on the combined table
        }
        return kept;
    }

    // The trimmed fields of a CSV line, less the double quotes a spreadsheet export adds.
    static void split_csv(std::string_view line, std::vector<std::string_view>& out) {
        detail::csv_split(line, out);
        for (auto& f : out) {
            while (!f.empty() && (f.front() == ' ' || f.front() == '"')) f.remove_prefix(1);
            while (!f.empty() && (f.back() == ' ' || f.back() == '"')) f.remove_suffix(1);
        }
    }

    static double csv_number(std::string_view f, const std::string& source, std::size_t line, const char* col) {
        return detail::csv_number<profile_error>(f, {source, line}, col, "fix or delete this step record");
    }

    // A count; a float spelling of a whole number ("3.0", as pandas writes) is accepted.
    static std::uint64_t csv_uint(std::string_view f, const std::string& source, std::size_t line, const char* col,
                                  std::uint64_t max = 0xFFFFFFFFFFFFFFFFULL) {
        std::uint64_t v = 0;
        if (const auto u = parse_number<std::uint64_t>(f)) {
            v = *u;
        } else {
            const double d = csv_number(f, source, line, col);
            if (!(d >= 0.0) || d != std::floor(d) || d > 1.8e19)
                fail(source, line,
                     "column '" + std::string(col) + "' has '" + detail::text_echo(f) +
                         "', which is not an integer >= 0; fix or delete this step record");
            v = static_cast<std::uint64_t>(d);
        }
        if (v > max)
            fail(source, line,
                 "column '" + std::string(col) + "' has " + std::to_string(v) + ", more than " + std::to_string(max) +
                     "; fix or delete this step record");
        return v;
    }

    BuildOptions m_options;
    ModelConfig m_model;
    std::string m_gpu_model;
    BucketSamples m_buckets;
    BuildStats m_stats;
};

LLMEMU_END_NAMESPACE
