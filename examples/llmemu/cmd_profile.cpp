// `llmemu profile inspect|build|convert|holdout|bench|fit|drift`: look into a profile pack,
// build one from step traces, convert it, validate the oracle (and the learned model) on it
// by holdout, microbenchmark the oracle on it, fit a learned latency model to it, and check
// whether a pack still matches fresh measurements.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "llmemu/core/quantile.hpp"
#include "llmemu/error.hpp"
#include "llmemu/oracle/drift.hpp"
#include "llmemu/oracle/holdout.hpp"
#include "llmemu/oracle/learned_fit.hpp"
#include "llmemu/oracle/oracle.hpp"
#include "llmemu/profile/builder.hpp"
#include "llmemu/profile/data_dir.hpp"
#include "llmemu/profile/llm_emu_json.hpp"
#include "llmemu/profile/samples_csv.hpp"
#include "llmemu/profile/store.hpp"
#include "llmemu/random.hpp"
#include "llmemu/workload/trace.hpp"
#include "llmemu/workload/trace_shapes.hpp"
#include "report.hpp"

namespace {

using namespace llmemu;
namespace fs = std::filesystem;

using llmemu::cli::fmt;

std::string kib(std::size_t bytes) {
    return fmt("%.1f KiB", static_cast<double>(bytes) / 1024.0);
}

fs::path pack_or_default(const std::string& pack) {
    return pack.empty() ? llmemu::bundled_pack_path() : fs::path(pack);
}

// ---- oracle flags shared by holdout, bench and inspect --trace ----
struct OracleFlags {
    std::uint32_t min_exact_samples = OracleOptions{}.min_exact_samples;
    std::uint32_t target_samples = AdaptiveKNeighbours{}.target_samples;
    std::uint32_t min_neighbours = AdaptiveKNeighbours{}.min_neighbours;
    std::uint32_t max_neighbours = AdaptiveKNeighbours{}.max_neighbours;
    double power = ShepardWeights{}.power;
    std::string normalisation = "range";
    double conc_weight = OracleOptions{}.conc_weight;
    std::string out_of_range = "clamp";

    void add(CLI::App& app) {
        app.add_option("--min-exact-samples", min_exact_samples,
                       "An exact bucket answers alone with at least this many samples")
            ->capture_default_str();
        app.add_option("--target-samples", target_samples,
                       "Adaptive K: gather neighbour buckets until they hold this many samples")
            ->capture_default_str();
        app.add_option("--min-neighbours", min_neighbours, "Adaptive K: at least this many neighbour buckets")
            ->capture_default_str();
        app.add_option("--max-neighbours", max_neighbours, "Adaptive K: at most this many neighbour buckets (<= 32)")
            ->capture_default_str();
        app.add_option("--power", power, "Shepard inverse-distance power")->capture_default_str();
        app.add_option("--normalisation", normalisation, "Distance normalisation: range | bucket")
            ->capture_default_str()
            ->check(CLI::IsMember({"range", "bucket"}));
        app.add_option("--conc-weight", conc_weight, "Stretch of the concurrency axis in normalised space")
            ->capture_default_str();
        app.add_option("--out-of-range", out_of_range, "Out-of-range policy: clamp | token_slope")
            ->capture_default_str()
            ->check(CLI::IsMember({"clamp", "token_slope"}));
    }
    [[nodiscard]] OracleOptions options() const {
        OracleOptions o;
        o.min_exact_samples = min_exact_samples;
        o.normalisation =
            normalisation == "bucket" ? DistanceNormalisation::bucket_width : DistanceNormalisation::range;
        o.conc_weight = conc_weight;
        o.out_of_range = out_of_range == "token_slope" ? OutOfRangePolicy::token_slope : OutOfRangePolicy::clamp;
        o.validate();
        return o;
    }
    [[nodiscard]] AdaptiveKNeighbours neighbours() const {
        if (max_neighbours == 0 || max_neighbours > max_neighbour_capacity)
            throw llmemu::cli::usage_error("--max-neighbours must be between 1 and " +
                                           std::to_string(max_neighbour_capacity));
        if (min_neighbours > max_neighbours)
            throw llmemu::cli::usage_error("--min-neighbours must not exceed --max-neighbours");
        return {target_samples, min_neighbours, max_neighbours};
    }
    [[nodiscard]] ShepardWeights weights() const {
        if (!(power > 0.0) || !std::isfinite(power))
            throw llmemu::cli::usage_error("--power must be a positive number");
        return {power};
    }
};

std::vector<StepShape> trace_shapes_for(const std::string& trace_path, LatencyOracle<>& oracle) {
    std::vector<StepShape> shapes = trace_step_shapes(read_trace_csv(trace_path, true), oracle, trace_path);
    oracle.reset_coverage();
    return shapes;
}

void print_coverage(std::ostream& os, const char* label, const Coverage& c) {
    const double t = c.total > 0 ? static_cast<double>(c.total) : 1.0;
    os << label << ": " << c.total << " shapes, exact " << fmt("%.1f%%", 100.0 * static_cast<double>(c.exact) / t)
       << ", interpolated " << fmt("%.1f%%", 100.0 * static_cast<double>(c.interpolated) / t) << ", out of range "
       << fmt("%.1f%%", 100.0 * static_cast<double>(c.out_of_range) / t) << "\n";
}

// ---- inspect ----
struct InspectArgs {
    std::string pack;
    std::string trace;
    bool json = false;
    OracleFlags oracle;
};

void run_inspect(const InspectArgs& a) {
    const fs::path path = pack_or_default(a.pack);
    auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(path));
    const ModelConfig& m = store->model_config();
    const OracleOptions opts = a.oracle.options();
    nlohmann::json j;
    j["pack"] = path.string();
    j["model_name"] = m.model_name;
    j["gpu_name"] = m.gpu_name;
    j["gpu_model"] = store->gpu_model();
    j["bucketing"] = {{"tt_bucket_width", store->bucketing().tt_width},
                      {"conc_bucket_width", store->bucketing().conc_width}};
    j["model_config"] = {{"num_hidden_layers", m.num_hidden_layers},
                         {"hidden_size", m.hidden_size},
                         {"num_attention_heads", m.num_attention_heads},
                         {"num_key_value_heads", m.num_key_value_heads},
                         {"head_dim", m.head_dim},
                         {"vocab_size", m.vocab_size},
                         {"max_model_len", m.max_model_len},
                         {"block_size", m.block_size},
                         {"gpu_memory_bytes", m.gpu_memory_bytes}};
    std::ostringstream os;
    os << "pack      " << path.string() << "\n";
    os << "model     " << (m.model_name.empty() ? "(not recorded)" : m.model_name) << " on "
       << (m.gpu_name.empty() ? (store->gpu_model().empty() ? "(GPU not recorded)" : store->gpu_model()) : m.gpu_name);
    if (m.num_hidden_layers != 0)
        os << " (" << m.num_hidden_layers << " layers, hidden " << m.hidden_size << ", " << m.num_attention_heads << "/"
           << m.num_key_value_heads << " heads, max_model_len " << m.max_model_len << ")";
    os << "\nbucketing tt width " << store->bucketing().tt_width << ", conc width " << store->bucketing().conc_width
       << " (centre = (v // w) * w + w // 2)\n\n";
    os << "table       buckets  samples   tt range     conc range  samples/bucket min/med/max  step ms p50/p99/max   "
          "exact cells  index\n";
    for (TableKind t : all_table_kinds) {
        const ProfileTable* table = store->table(t);
        if (!table) {
            os << std::string(table_name(t)) << std::string(12 - table_name(t).size(), ' ') << "(absent)\n";
            continue;
        }
        std::vector<float> all(table->all_samples().begin(), table->all_samples().end());
        std::sort(all.begin(), all.end());
        std::vector<std::uint32_t> counts;
        std::size_t enough = 0;
        for (std::size_t i = 0; i < table->size(); ++i) {
            counts.push_back(table->count(i));
            enough += table->count(i) >= opts.min_exact_samples ? 1 : 0;
        }
        std::sort(counts.begin(), counts.end());
        const Bucketing& b = table->bucketing();
        const double cells = static_cast<double>((table->tt_max() - table->tt_min()) / b.tt_width + 1) *
                             static_cast<double>((table->conc_max() - table->conc_min()) / b.conc_width + 1);
        const double exact_frac = 100.0 * static_cast<double>(enough) / cells;
        char line[512];
        std::snprintf(line, sizeof line,
                      "%-11s %7zu %8zu   %5u-%-5u    %4u-%-4u     %5u/%u/%u %*s %7.2f/%.2f/%.2f %*s %5.1f%%      %s\n",
                      std::string(table_name(t)).c_str(), table->size(), table->num_samples(), table->tt_min(),
                      table->tt_max(), table->conc_min(), table->conc_max(), counts.front(), counts[counts.size() / 2],
                      counts.back(), 6, "", quantile_sorted<float>(all, 0.5) / 1000.0, quantile_sorted<float>(all, 0.99) / 1000.0,
                      all.back() / 1000.0, 3, "", exact_frac, table->dense_index() ? "dense grid" : "sorted keys");
        os << line;
        j["tables"][std::string(table_name(t))] = {
            {"buckets", table->size()},
            {"samples", table->num_samples()},
            {"tt_range", {table->tt_min(), table->tt_max()}},
            {"conc_range", {table->conc_min(), table->conc_max()}},
            {"samples_per_bucket",
             {{"min", counts.front()}, {"median", counts[counts.size() / 2]}, {"max", counts.back()}}},
            {"step_ms",
             {{"p50", quantile_sorted<float>(all, 0.5) / 1000.0},
              {"p99", quantile_sorted<float>(all, 0.99) / 1000.0},
              {"max", all.back() / 1000.0}}},
            {"buckets_with_min_exact_samples", enough},
            {"exact_cell_coverage_pct", exact_frac},
            {"dense_index", table->dense_index()},
            {"sample_bytes", table->sample_bytes()},
            {"index_bytes", table->index_bytes()}};
    }
    const double raw = static_cast<double>(store->total_samples()) * sizeof(float);
    os << "\nmemory    samples " << kib(store->sample_bytes()) << " ("
       << fmt("%.2f", static_cast<double>(store->sample_bytes()) / (raw > 0 ? raw : 1.0))
       << "x their raw float size), keys+offsets+grid " << kib(store->index_bytes()) << "\n";
    os << "exact cells: share of the (tt, conc) cells inside each table's range holding a bucket with >= "
       << opts.min_exact_samples << " samples; other shapes are drawn from neighbouring buckets\n";
    j["memory"] = {{"sample_bytes", store->sample_bytes()}, {"index_bytes", store->index_bytes()}};
    if (!a.trace.empty()) {
        LatencyOracle<> oracle(store, opts, a.oracle.neighbours(), a.oracle.weights());
        const auto shapes = trace_shapes_for(a.trace, oracle);
        Rng rng(1);
        for (const auto& s : shapes) (void)oracle.sample(s, rng);
        os << "\n";
        print_coverage(os, ("coverage of the steps trace '" + a.trace + "' implies (approximate)").c_str(),
                       oracle.coverage());
        const Coverage c = oracle.coverage();
        j["trace_coverage"] = {{"trace", a.trace},
                               {"exact", c.exact},
                               {"interpolated", c.interpolated},
                               {"out_of_range", c.out_of_range},
                               {"total", c.total}};
    }
    if (a.json)
        std::cout << j.dump(2) << "\n";
    else
        std::cout << os.str();
}

// ---- build ----
struct BuildArgs {
    std::vector<std::string> traces;
    std::string output;
    std::uint64_t warmup = 0;
    double outliers = 0.0;
    std::uint32_t tt_width = 1;
    std::uint32_t conc_width = 5;
    std::string model_name;
    std::string gpu_name;
};

void run_build(const BuildArgs& a) {
    BuildOptions o;
    o.bucketing = {a.tt_width, a.conc_width};
    o.warmup_steps = a.warmup;
    o.outlier_iqr_k = a.outliers;
    PackBuilder builder(o);
    for (const auto& t : a.traces) builder.add_file(t);
    if (!a.model_name.empty() || !a.gpu_name.empty()) {
        ModelConfig m = builder.model_config();
        if (!a.model_name.empty()) m.model_name = a.model_name;
        if (!a.gpu_name.empty()) m.gpu_name = a.gpu_name;
        builder.set_model_config(m);
    }
    const ProfileStore store = builder.build();
    write_llm_emu_pack(store, a.output);
    const BuildStats& s = builder.stats();
    std::cout << "read " << s.records << " step records from " << a.traces.size() << " file(s); used " << s.steps_used
              << " (dropped: " << s.outside_markers << " outside profiling markers, " << s.warmup_dropped
              << " warm-up, " << s.outliers_dropped << " outlier samples)\n";
    for (TableKind t : all_table_kinds) {
        if (const ProfileTable* table = store.table(t))
            std::cout << "  " << table_name(t) << ": " << table->size() << " buckets, " << table->num_samples()
                      << " samples\n";
    }
    std::cout << "wrote " << a.output << "\n";
}

// ---- convert ----
struct ConvertArgs {
    std::string input;
    std::string output;
    std::string tables;
    std::uint32_t tt_width = 1;
    std::uint32_t conc_width = 5;
};

bool has_ext(const std::string& p, const char* ext) {
    std::string e = fs::path(p).extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return e == ext;
}

void run_convert(const ConvertArgs& a) {
    ProfileStore store =
        has_ext(a.input, ".csv") ? read_samples_csv(a.input, {a.tt_width, a.conc_width}) : load_llm_emu_pack(a.input);
    if (!a.tables.empty()) {
        std::array<bool, num_table_kinds> keep{};
        std::stringstream ss(a.tables);
        std::string name;
        while (std::getline(ss, name, ',')) {
            const auto t = table_from_name(name);
            if (!t)
                throw llmemu::cli::usage_error("--tables: unknown table '" + name + "' (prefill, decode, step_cycle)");
            keep[static_cast<std::size_t>(*t)] = true;
        }
        for (TableKind t : all_table_kinds)
            if (!keep[static_cast<std::size_t>(t)]) store.remove_table(t);
        if (store.num_tables() == 0) throw llmemu::cli::usage_error("--tables keeps none of the pack's tables");
    }
    if (has_ext(a.output, ".csv")) {
        std::ofstream out(a.output);
        if (!out) throw profile_error("samples CSV '" + a.output + "': cannot open for writing");
        write_samples_csv(out, store);
        if (!out) throw profile_error("samples CSV '" + a.output + "': writing failed");
    } else {
        write_llm_emu_pack(store, a.output);
    }
    std::cout << "wrote " << a.output << " (" << store.num_tables() << " table(s), " << store.total_samples()
              << " samples)\n";
}

// ---- holdout ----
struct HoldoutArgs {
    std::string pack;
    double fraction = 0.2;
    std::uint64_t seed = 0;
    std::uint32_t seeds = 1;
    bool json = false;
    bool learned = false;
    bool extrapolate = false;
    bool leave_one_out = false;
    std::string fallback_scope = "out_of_range";
    CLI::Option* opt_fraction = nullptr;
    OracleFlags oracle;
};

// A pack, or step traces (.jsonl / .csv, the builder's formats) built into one with `bucketing`.
ProfileStore load_pack_or_traces(const std::vector<std::string>& inputs, const Bucketing* bucketing) {
    auto is_trace = [](const std::string& f) { return f.size() > 6 && (f.ends_with(".jsonl") || f.ends_with(".csv")); };
    if (inputs.size() == 1 && !is_trace(inputs[0])) return load_llm_emu_pack(inputs[0]);
    BuildOptions o;
    if (bucketing != nullptr) o.bucketing = *bucketing;
    PackBuilder builder(o);
    for (const auto& f : inputs) {
        if (!is_trace(f))
            throw llmemu::cli::usage_error("'" + f +
                                           "': give one pack JSON, or step traces only (.jsonl / .csv), not a mix");
        builder.add_file(f);
    }
    return builder.build();
}

// --leave-one-out: the noise floor next to the oracle, per table and seed.
void print_leave_one_out(const std::vector<HoldoutReport>& reports) {
    if (reports.empty() || !reports[0].leave_one_out) return;
    std::printf("\nnoise floor (--leave-one-out: the oracle with every other bucket visible, hidden ones too)\n"
                "%-11s %5s  %-26s  %s\n",
                "table", "seed", "floor   err%  cov80 cov95", "oracle err%");
    for (const auto& r : reports)
        for (const auto& t : r.tables)
            std::printf("%-11s %5llu  %11.2f %6.3f %5.3f  %11.2f\n", std::string(table_name(t.table)).c_str(),
                        static_cast<unsigned long long>(r.seed), t.leave_one_out.median_abs_pct_error,
                        t.leave_one_out.coverage_80, t.leave_one_out.coverage_95, t.oracle.median_abs_pct_error);
}

void run_holdout_cmd(const HoldoutArgs& a) {
    const double fraction =
        a.extrapolate && (a.opt_fraction == nullptr || a.opt_fraction->count() == 0) ? 0.1 : a.fraction;
    if (!(fraction > 0.0 && fraction < 1.0)) throw llmemu::cli::usage_error("--fraction must be in (0, 1), e.g. 0.2");
    if (a.seeds == 0) throw llmemu::cli::usage_error("--seeds must be at least 1");
    const fs::path path = pack_or_default(a.pack);
    const ProfileStore store = load_llm_emu_pack(path);
    const bool learned = a.learned || a.extrapolate;
    std::vector<HoldoutReport> reports;
    for (std::uint64_t k = 0; k < a.seeds; ++k) {
        HoldoutSpec spec;
        spec.fraction = fraction;
        spec.seed = a.seed + k;
        spec.mode = a.extrapolate ? HoldoutMode::extrapolate : HoldoutMode::random;
        spec.learned = learned;
        spec.fallback = a.fallback_scope == "sparse" ? FallbackScope::sparse : FallbackScope::out_of_range;
        spec.leave_one_out = a.leave_one_out;
        reports.push_back(run_holdout(store, spec, a.oracle.options(), a.oracle.neighbours(), a.oracle.weights()));
        if (a.extrapolate) break; // the hidden set does not depend on the seed
    }
    auto score_json = [](const HoldoutScore& s) {
        return nlohmann::json{{"median_abs_pct_error", s.median_abs_pct_error},
                              {"mean_ks", s.mean_ks},
                              {"coverage_80", s.coverage_80},
                              {"coverage_95", s.coverage_95}};
    };
    if (a.json) {
        nlohmann::json j;
        j["pack"] = path.string();
        j["fraction"] = fraction;
        j["mode"] = a.extrapolate ? "extrapolate" : "random";
        j["runs"] = nlohmann::json::array();
        for (const auto& r : reports) {
            nlohmann::json run;
            run["seed"] = r.seed;
            run["tables"] = nlohmann::json::object();
            for (const auto& t : r.tables) {
                nlohmann::json tj{{"buckets", t.buckets},
                                  {"hidden_buckets", t.hidden_buckets},
                                  {"oracle", score_json(t.oracle)},
                                  {"nearest_bucket", score_json(t.nearest_bucket)}};
                if (r.learned) {
                    tj["learned"] = score_json(t.learned);
                    tj["oracle_fallback"] = score_json(t.oracle_fallback);
                }
                if (r.leave_one_out) tj["leave_one_out"] = score_json(t.leave_one_out);
                run["tables"][std::string(table_name(t.table))] = tj;
            }
            j["runs"].push_back(run);
        }
        if (reports.size() == 1) {
            // One seed: keep the single-run layout (seed, tables) at the top level too.
            j["seed"] = reports[0].seed;
            j["tables"] = j["runs"][0]["tables"];
        }
        std::cout << j.dump(2) << "\n";
        return;
    }
    std::cout << "holdout of " << path.string() << ": ";
    if (a.extrapolate)
        std::cout << "the buckets with the largest " << fmt("%.0f%%", fraction * 100)
                  << " of each table's token counts hidden (extrapolation test)";
    else
        std::cout << fmt("%.0f%%", fraction * 100) << " of each table's buckets hidden (seed " << a.seed
                  << (reports.size() > 1 ? "..." + std::to_string(a.seed + reports.size() - 1) : std::string()) << ")";
    std::cout << ", each predicted from the rest of its table\n"
              << "err%: median abs % error of the predicted median latency; KS: mean KS distance to the real "
                 "samples;\ncov80/cov95: share of the hidden samples inside the central 80% / 95% interval\n\n";
    if (!learned) {
        const bool many = reports.size() > 1;
        std::printf("%-11s %s%7s %7s   %-22s   %-22s\n", "table", many ? " seed " : "", "buckets", "hidden",
                    "oracle  err%   KS", "nearest err%   KS");
        for (const auto& r : reports)
            for (const auto& t : r.tables) {
                std::printf("%-11s ", std::string(table_name(t.table)).c_str());
                if (many) std::printf("%5llu ", static_cast<unsigned long long>(r.seed));
                std::printf("%7zu %7zu   %10.3f %8.3f     %10.3f %8.3f\n", t.buckets, t.hidden_buckets,
                            t.oracle.median_abs_pct_error, t.oracle.mean_ks, t.nearest_bucket.median_abs_pct_error,
                            t.nearest_bucket.mean_ks);
            }
        print_leave_one_out(reports);
        return;
    }
    std::printf("%-11s %5s %6s  %-26s  %-26s  %-9s  %s\n", "table", "seed", "hidden", "oracle  err%  cov80 cov95",
                "learned err%  cov80 cov95", "fallback", "nearest");
    for (const auto& r : reports)
        for (const auto& t : r.tables)
            std::printf("%-11s %5llu %6zu  %11.2f %6.3f %5.3f  %12.2f %6.3f %5.3f  %8.2f  %7.2f\n",
                        std::string(table_name(t.table)).c_str(), static_cast<unsigned long long>(r.seed),
                        t.hidden_buckets, t.oracle.median_abs_pct_error, t.oracle.coverage_80, t.oracle.coverage_95,
                        t.learned.median_abs_pct_error, t.learned.coverage_80, t.learned.coverage_95,
                        t.oracle_fallback.median_abs_pct_error, t.nearest_bucket.median_abs_pct_error);
    std::cout << "\nfallback: the oracle with the learned model for "
              << (a.fallback_scope == "sparse" ? "sparse, empty and out-of-range buckets" : "out-of-range steps")
              << " (--fallback-scope)\n";
    print_leave_one_out(reports);
}

// ---- fit ----
struct FitArgs {
    std::vector<std::string> inputs;
    std::string output;
    LearnedFitOptions fit;
};

void run_fit(const FitArgs& a) {
    const ProfileStore store = load_pack_or_traces(a.inputs, nullptr);
    std::string source;
    for (const auto& f : a.inputs) source += (source.empty() ? "" : ",") + f;
    const LearnedLatencyModel m = fit_learned_model(store, a.fit, source);
    m.save(a.output);
    std::cout << "wrote " << a.output << ": " << m.describe() << "\n";
    std::printf("%-11s %7s %8s %9s %8s %12s %16s\n", "table", "buckets", "knots", "lambda", "cv err%", "tt range",
                "edge us/GFLOP");
    for (const auto& t : m.tables()) {
        std::printf("%-11s %7zu %4ux%-3u %9g %8.2f %5.0f-%-6.0f %16.4g\n", std::string(table_name(t.table)).c_str(),
                    t.buckets, t.tt_grid.count, t.conc_grid.count, t.lambda, (std::exp(t.cv_abs_log_error) - 1) * 100,
                    t.tt_min, t.tt_max, t.edge_slope * 1e9);
    }
}

// ---- drift ----
struct DriftArgs {
    std::string old_pack;
    std::vector<std::string> fresh;
    DriftOptions opt;
    bool json = false;
    std::size_t top = 15;
};

int run_drift_cmd(const DriftArgs& a) {
    const ProfileStore old = load_llm_emu_pack(a.old_pack);
    const ProfileStore fresh = load_pack_or_traces(a.fresh, &old.bucketing());
    const DriftReport r = run_drift(old, fresh, a.opt);
    std::vector<const DriftRegion*> moved;
    for (const auto& g : r.regions)
        if (g.moved) moved.push_back(&g);
    std::sort(moved.begin(), moved.end(), [](const DriftRegion* x, const DriftRegion* y) {
        return x->new_samples * std::abs(x->median_shift_pct) > y->new_samples * std::abs(y->median_shift_pct);
    });
    if (a.json) {
        nlohmann::json j;
        j["old"] = a.old_pack;
        j["new"] = a.fresh;
        j["regions_tested"] = r.regions.size();
        j["regions_moved"] = moved.size();
        j["untested_buckets"] = r.untested_buckets;
        j["only_old_buckets"] = r.only_old_buckets;
        j["only_new_buckets"] = r.only_new_buckets;
        j["moved_mass"] = r.moved_mass;
        j["threshold"] = a.opt.threshold;
        j["stale"] = r.stale;
        j["moved"] = nlohmann::json::array();
        for (const auto* g : moved)
            j["moved"].push_back({{"table", table_name(g->table)},
                                  {"tt", {g->tt_lo, g->tt_hi}},
                                  {"conc", {g->conc_lo, g->conc_hi}},
                                  {"buckets", g->buckets},
                                  {"old_samples", g->old_samples},
                                  {"new_samples", g->new_samples},
                                  {"ks", g->ks},
                                  {"p_value", g->p_value},
                                  {"median_shift_pct", g->median_shift_pct}});
        std::cout << j.dump(2) << "\n";
        return r.stale ? 1 : 0;
    }
    std::cout << "drift of " << a.old_pack << " -> " << a.fresh.front() << (a.fresh.size() > 1 ? " ..." : "")
              << ": two-sample KS per region, Benjamini-Hochberg at FDR " << fmt("%g", a.opt.fdr)
              << ", moved = significant and |median shift| >= " << fmt("%g", a.opt.min_shift_pct) << "%\n";
    std::cout << "regions tested " << r.regions.size() << ", moved " << moved.size() << "; buckets untested (too few "
              << "samples) " << r.untested_buckets << ", only in old " << r.only_old_buckets << ", only in new "
              << r.only_new_buckets << "\n";
    if (!moved.empty()) {
        std::printf("\n%-11s %-11s %-9s %7s %7s %7s %9s %10s\n", "table", "tt", "conc", "buckets", "old n", "new n",
                    "shift %", "p");
        for (std::size_t i = 0; i < moved.size() && i < a.top; ++i) {
            const DriftRegion& g = *moved[i];
            std::printf("%-11s %5u-%-5u %4u-%-4u %7zu %7zu %7zu %+9.2f %10.2g\n",
                        std::string(table_name(g.table)).c_str(), g.tt_lo, g.tt_hi, g.conc_lo, g.conc_hi, g.buckets,
                        g.old_samples, g.new_samples, g.median_shift_pct, g.p_value);
        }
        if (moved.size() > a.top) std::cout << "(" << moved.size() - a.top << " more; --top N or --json)\n";
    }
    std::cout << "\nmoved traffic: " << fmt("%.1f%%", r.moved_mass * 100) << " of the tested new samples (threshold "
              << fmt("%.1f%%", a.opt.threshold * 100) << "): "
              << (r.stale ? "STALE - re-profile, or rebuild the pack from fresh traces" : "the pack still matches")
              << "\n";
    return r.stale ? 1 : 0;
}

// ---- bench ----
struct BenchArgs {
    std::string pack;
    std::string trace;
    double min_time = 0.2;
    OracleFlags oracle;
};

// Where the timed loops leave their sum, so that the compiler keeps them.
volatile double g_bench_sink = 0.0;

struct BenchTiming {
    double wall_ns = 0.0;
    double cpu_ns = 0.0;
    std::uint64_t samples = 0;
};

// ns per sample of body(n) (n samples): batches of 1, 2, 4, ... samples until one takes
// min_time seconds of wall time, the figures from that batch (Google Benchmark's rule,
// without linking it into the shipped binary).
template <class Body>
BenchTiming time_per_sample(double min_time, Body&& body) {
    for (std::uint64_t n = 1;; n *= 2) {
        const auto w0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        body(n);
        const double cpu_s = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
        if (wall_s >= min_time || n >= (std::uint64_t{1} << 40U))
            return {wall_s * 1e9 / static_cast<double>(n), cpu_s * 1e9 / static_cast<double>(n), n};
    }
}

void run_bench(const BenchArgs& a) {
    if (!(a.min_time > 0.0)) throw llmemu::cli::usage_error("--min-time must be positive (seconds)");
    const fs::path path = pack_or_default(a.pack);
    auto store = std::make_shared<const ProfileStore>(load_llm_emu_pack(path));
    LatencyOracle<> oracle(store, a.oracle.options(), a.oracle.neighbours(), a.oracle.weights());
    struct Set {
        std::string name;
        std::vector<StepShape> shapes;
    };
    std::vector<Set> sets;
    // Exact hits: shapes of buckets with enough samples; sparse: in-range shapes that
    // are interpolated; out of range: beyond the largest tt and conc.
    Rng pick(12345);
    for (Phase phase : {Phase::decode, Phase::prefill}) {
        const TableKind kind = oracle.table_for(phase);
        const ProfileTable& t = *store->table(kind);
        const std::string label =
            std::string(phase == Phase::decode ? "decode" : "prefill") + "(" + std::string(table_name(kind)) + ")";
        Set exact{"exact_hit/" + label, {}};
        Set sparse{"sparse/" + label, {}};
        Set oor{"out_of_range/" + label, {}};
        for (std::size_t i = 0; i < t.size(); ++i)
            if (t.count(i) >= oracle.options().min_exact_samples)
                exact.shapes.push_back({phase, t.tt(i), t.conc(i), 0});
        for (int tries = 0; tries < 200000 && sparse.shapes.size() < 4096; ++tries) {
            const StepShape s{
                phase, static_cast<std::uint32_t>(t.tt_min() + uniform_index(pick, t.tt_max() - t.tt_min() + 1)),
                static_cast<std::uint32_t>(t.conc_min() + uniform_index(pick, t.conc_max() - t.conc_min() + 1)), 0};
            if (oracle.resolve(s).kind == CoverageKind::interpolated) sparse.shapes.push_back(s);
        }
        for (int i = 0; i < 1024; ++i)
            oor.shapes.push_back({phase, t.tt_max() + 1 + static_cast<std::uint32_t>(uniform_index(pick, 4096)),
                                  t.conc_max() + 1 + static_cast<std::uint32_t>(uniform_index(pick, 256)), 0});
        for (Set* s : {&exact, &sparse, &oor})
            if (!s->shapes.empty()) sets.push_back(std::move(*s));
    }
    if (!a.trace.empty())
        sets.push_back({"trace/" + fs::path(a.trace).filename().string(), trace_shapes_for(a.trace, oracle)});
    std::vector<Coverage> coverage(sets.size());
    std::cout << "oracle microbenchmarks on " << path.string()
              << " (ns per sample, wall and CPU time of the first batch of doubling size that ran --min-time "
              << fmt("%g", a.min_time) << " s)\n";
    char row[160];
    std::snprintf(row, sizeof row, "%-52s %12s %12s %12s\n", "benchmark", "wall ns", "CPU ns", "samples");
    std::cout << row;
    for (std::size_t k = 0; k < sets.size(); ++k) {
        LatencyOracle<> o = oracle; // own counters
        Rng rng(42);
        const auto& shapes = sets[k].shapes;
        std::size_t i = 0;
        double sink = 0;
        const BenchTiming t = time_per_sample(a.min_time, [&](std::uint64_t n) {
            o.reset_coverage();
            for (std::uint64_t j = 0; j < n; ++j) {
                sink += o.sample(shapes[i], rng);
                if (++i == shapes.size()) i = 0;
            }
        });
        g_bench_sink = sink;
        coverage[k] = o.coverage();
        std::snprintf(row, sizeof row, "%-52s %12.1f %12.1f %12llu\n", ("oracle/" + sets[k].name).c_str(), t.wall_ns,
                      t.cpu_ns, static_cast<unsigned long long>(t.samples));
        std::cout << row;
    }
    std::cout << "\n";
    for (std::size_t k = 0; k < sets.size(); ++k) print_coverage(std::cout, sets[k].name.c_str(), coverage[k]);
}

const bool registered = llmemu::cli::register_command(60, [](CLI::App& app) {
    auto* profile = app.add_subcommand("profile", "Inspect, build, convert and validate GPU step-time profile packs");
    profile->require_subcommand(1);

    auto inspect = std::make_shared<InspectArgs>();
    auto* ci =
        profile->add_subcommand("inspect", "Tables, bucket and sample counts, ranges, memory and coverage of a pack");
    ci->add_option("pack", inspect->pack, "LLM-Emu pack JSON (default: the bundled A40 Qwen3-8B subset)");
    ci->add_option("--trace", inspect->trace,
                   "Also report the oracle's coverage of the steps this request trace CSV implies");
    ci->add_flag("--json", inspect->json, "Print JSON instead of a table");
    inspect->oracle.add(*ci);
    ci->callback([inspect] { run_inspect(*inspect); });

    auto build = std::make_shared<BuildArgs>();
    auto* cb =
        profile->add_subcommand("build", "Build a pack from step traces (JSON Lines or CSV), by LLM-Emu's rules");
    cb->add_option("traces", build->traces, "Step trace files (.jsonl / .csv)")->required()->check(CLI::ExistingFile);
    cb->add_option("-o,--output", build->output, "Pack JSON to write")->required();
    cb->add_option("--warmup-steps", build->warmup, "Drop the first N counted steps of each file")
        ->capture_default_str();
    cb->add_option("--drop-outliers", build->outliers,
                   "Tukey fence factor k per bucket (0 = keep all, LLM-Emu's default)")
        ->capture_default_str();
    cb->add_option("--tt-bucket-width", build->tt_width, "Token bucket width")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cb->add_option("--conc-bucket-width", build->conc_width, "Concurrency bucket width")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cb->add_option("--model-name", build->model_name, "Model name to record (overrides the trace header)");
    cb->add_option("--gpu-name", build->gpu_name, "GPU name to record (overrides the trace header)");
    cb->callback([build] { run_build(*build); });

    auto convert = std::make_shared<ConvertArgs>();
    auto* cc = profile->add_subcommand(
        "convert", "Convert a pack: JSON -> JSON (normalised) or CSV (table,tt,conc,sample_us), and CSV -> JSON");
    cc->add_option("input", convert->input, "Pack JSON or samples CSV")->required()->check(CLI::ExistingFile);
    cc->add_option("-o,--output", convert->output, "Output file (.json or .csv)")->required();
    cc->add_option("--tables", convert->tables, "Keep only these tables (comma-separated: prefill,decode,step_cycle)");
    cc->add_option("--tt-bucket-width", convert->tt_width, "Token bucket width of a CSV input")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cc->add_option("--conc-bucket-width", convert->conc_width, "Concurrency bucket width of a CSV input")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cc->callback([convert] { run_convert(*convert); });

    auto holdout = std::make_shared<HoldoutArgs>();
    auto* ch = profile->add_subcommand(
        "holdout", "Hide a fraction of each table's buckets and score the oracle against a nearest-bucket baseline");
    ch->add_option("--pack", holdout->pack, "LLM-Emu pack JSON (default: the bundled A40 Qwen3-8B subset)");
    holdout->opt_fraction = ch->add_option("--fraction", holdout->fraction,
                                           "Fraction of each table's buckets (or, with --extrapolate, of its "
                                           "distinct token counts; default there 0.1) to hide")
                                ->capture_default_str();
    ch->add_option("--seed", holdout->seed, "Seed choosing the hidden buckets")->capture_default_str();
    ch->add_option("--seeds", holdout->seeds, "Run this many seeds: --seed, --seed+1, ...")->capture_default_str();
    ch->add_flag("--learned", holdout->learned,
                 "Also fit the learned model on the rest and score it and the oracle with learned fallback");
    ch->add_flag("--extrapolate", holdout->extrapolate,
                 "Extrapolation test: hide the largest token counts instead of random buckets (implies --learned)");
    ch->add_option("--fallback-scope", holdout->fallback_scope,
                   "What the scored fallback hands to the learned model: out_of_range or sparse")
        ->capture_default_str()
        ->check(CLI::IsMember({"sparse", "out_of_range"}));
    ch->add_flag("--leave-one-out", holdout->leave_one_out,
                 "Also score the oracle predicting each hidden bucket from every other bucket (hidden ones too): "
                 "the noise floor of the holdout, not a predictor");
    ch->add_flag("--json", holdout->json, "Print JSON");
    holdout->oracle.add(*ch);
    ch->callback([holdout] { run_holdout_cmd(*holdout); });

    auto bench = std::make_shared<BenchArgs>();
    auto* cn = profile->add_subcommand("bench", "Microbenchmark the oracle on a pack: ns per sample");
    cn->add_option("--pack", bench->pack, "LLM-Emu pack JSON (default: the bundled A40 Qwen3-8B subset)");
    cn->add_option("--trace", bench->trace, "Also time the step shapes this request trace CSV implies")
        ->check(CLI::ExistingFile);
    cn->add_option("--min-time", bench->min_time, "Seconds per benchmark")->capture_default_str();
    bench->oracle.add(*cn);
    cn->callback([bench] { run_bench(*bench); });

    auto fit = std::make_shared<FitArgs>();
    auto* cf = profile->add_subcommand(
        "fit", "Fit a learned step-latency model (distribution + roofline extrapolation) to a pack or step traces");
    cf->add_option("input", fit->inputs, "Pack JSON, or step traces (.jsonl / .csv) built into one")
        ->required()
        ->check(CLI::ExistingFile);
    cf->add_option("-o,--output", fit->output, "Model JSON to write (load it with --profile)")->required();
    cf->add_option("--folds", fit->fit.folds, "Cross-validation folds over buckets")->capture_default_str();
    cf->add_option("--seed", fit->fit.seed, "Seed of the fold assignment")->capture_default_str();
    cf->add_option("--quantile-levels", fit->fit.quantile_levels, "Points of each residual quantile function")
        ->capture_default_str();
    cf->callback([fit] {
        fit->fit.validate();
        run_fit(*fit);
    });

    auto drift = std::make_shared<DriftArgs>();
    auto* cd = profile->add_subcommand(
        "drift", "Is OLD stale? Per-region KS tests against NEW (a pack or fresh step traces); exit 1 when stale");
    cd->add_option("old", drift->old_pack, "The pack in use")->required()->check(CLI::ExistingFile);
    cd->add_option("new", drift->fresh, "A fresh pack, or fresh step traces (.jsonl / .csv)")
        ->required()
        ->check(CLI::ExistingFile);
    cd->add_option("--fdr", drift->opt.fdr, "False discovery rate (Benjamini-Hochberg over regions)")
        ->capture_default_str();
    cd->add_option("--threshold", drift->opt.threshold, "Stale when more than this share of the new samples moved")
        ->capture_default_str();
    cd->add_option("--min-shift", drift->opt.min_shift_pct, "Smallest |median shift| in percent that counts as moved")
        ->capture_default_str();
    cd->add_option("--min-samples", drift->opt.min_samples, "Samples per side for a bucket to be its own region")
        ->capture_default_str();
    cd->add_option("--top", drift->top, "Moved regions to list")->capture_default_str();
    cd->add_flag("--json", drift->json, "Print JSON");
    cd->callback([drift] {
        drift->opt.validate();
        if (run_drift_cmd(*drift) != 0) {
            // Stale: the report is printed; exit 1 (2 stays reserved for bad input).
            std::cout.flush();
            std::exit(1);
        }
    });
});

} // namespace
