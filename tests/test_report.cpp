// Tests for report/: the numbers the HTML report draws are the numbers of its inputs
// (CDF points = the summary's percentiles, time-series peaks = the series' maxima, the
// step digest = the engine's step and coverage counts), inputs are recognised by content
// with errors naming file and line, and the page is self-contained and small.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "llmemu/engine/simulation.hpp"
#include "llmemu/executor/emulated_executor.hpp"
#include "llmemu/metrics/bench_result.hpp"
#include "llmemu/metrics/bench_result_json.hpp"
#include "llmemu/metrics/sustainable_rate.hpp"
#include "llmemu/oracle/any_latency_model.hpp"
#include "llmemu/random.hpp"
#include "llmemu/report/html_report.hpp"
#include "llmemu/report/inputs.hpp"
#include "llmemu/report/latency_quantiles.hpp"
#include "llmemu/report/step_digest.hpp"
#include "llmemu/time/virtual_clock.hpp"

using namespace llmemu;
using namespace llmemu::report;

namespace {

/// A result JSON of `n` requests with spread-out latencies (even n: the median falls
/// between two samples, where numpy interpolates).
nlohmann::json synthetic_result(std::size_t n, std::uint64_t seed, const std::string& label) {
    Rng rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<RequestTiming> ts;
    for (std::size_t i = 0; i < n; ++i) {
        RequestTiming t;
        t.success = i % 37 != 5; // a few failures, which the summary leaves out
        t.error = t.success ? "" : "boom";
        t.start_time_s = static_cast<double>(i) * 0.05;
        t.ttft_s = 0.02 + std::pow(u(rng), 3.0) * 4.0;
        t.output_len = 1 + static_cast<std::uint32_t>(u(rng) * 60);
        for (std::uint32_t k = 1; k < t.output_len; ++k) t.itl_s.push_back(0.01 + 0.03 * u(rng));
        t.latency_s = t.ttft_s;
        for (double g : t.itl_s) t.latency_s += g;
        t.prompt_len = 100;
        ts.push_back(std::move(t));
    }
    SummaryOptions o;
    o.percentiles = {50, 90, 99};
    BenchResult b = summarize(ts, static_cast<double>(n) * 0.05 + 5.0, o);
    b.label = label;
    return to_vllm_json(b);
}

ReportInput as_input(nlohmann::json j, const std::string& name) {
    ReportInput in;
    in.source = name + ".json";
    in.name = name;
    in.kind = InputKind::result;
    in.json = std::move(j);
    return in;
}

const Series& series_named(const Chart& c, const std::string& prefix) {
    for (const auto& s : c.series)
        if (s.name.rfind(prefix, 0) == 0) return s;
    FAIL("no series " << prefix << " in chart " << c.id);
    return c.series.front();
}

double value_at_percent(const Series& s, double p) {
    for (const auto& [x, y] : s.points)
        if (y == p) return x;
    FAIL("no point at " << p << "%");
    return 0.0;
}

/// The `index`-th point of the `series`-th polyline in the SVG of chart `id`, mapped back
/// through the axes the <svg> element records (the <desc> holds the exact ends).
std::pair<double, double> drawn_point(const std::string& html, const std::string& id, std::size_t series,
                                      std::size_t index) {
    const std::size_t at = html.find("data-chart=\"" + id + "\"");
    REQUIRE(at != std::string::npos);
    const std::size_t svg_begin = html.rfind("<svg", at);
    const std::string svg = html.substr(svg_begin, html.find("</svg>", at) - svg_begin);
    auto attr = [&](const std::string& name) {
        const std::size_t p = svg.find(name + "=\"");
        REQUIRE(p != std::string::npos);
        return svg.substr(p + name.size() + 2, svg.find('"', p + name.size() + 2) - p - name.size() - 2);
    };
    double x0, x1, y0, y1;
    const std::string desc = svg.substr(svg.find("<desc>") + 6);
    REQUIRE(std::sscanf(desc.c_str(), "x %lf %lf y %lf %lf", &x0, &x1, &y0, &y1) == 4);
    int left, top, w, h;
    REQUIRE(std::sscanf(attr("data-plot").c_str(), "%d %d %d %d", &left, &top, &w, &h) == 4);
    const bool xlog = attr("data-x-log") == "1", ylog = attr("data-y-log") == "1";
    std::size_t p = 0;
    for (std::size_t k = 0; k <= series; ++k) {
        p = svg.find("<polyline", p + 1);
        REQUIRE(p != std::string::npos);
    }
    const std::size_t pts = svg.find("points=\"", p) + 8;
    std::istringstream is(svg.substr(pts, svg.find('"', pts) - pts));
    std::string tok;
    for (std::size_t k = 0; k <= index; ++k) REQUIRE(static_cast<bool>(is >> tok));
    double px = 0, py = 0;
    REQUIRE(std::sscanf(tok.c_str(), "%lf,%lf", &px, &py) == 2);
    auto inv = [](double t, double lo, double hi, bool log) {
        return log ? std::pow(10.0, std::log10(lo) + t * (std::log10(hi) - std::log10(lo))) : lo + t * (hi - lo);
    };
    return {inv((px - left) / w, x0, x1, xlog), inv((top + h - py) / h, y0, y1, ylog)};
}

} // namespace

TEST_CASE("Report.cdf.percent_points_are_the_summary_percentiles") {
    const nlohmann::json j = synthetic_result(400, 7, "run");
    const Report rep = build_report({as_input(j, "run")});
    for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
        CAPTURE(m);
        const Chart* c = rep.chart(std::string("cdf_") + m);
        REQUIRE(c != nullptr);
        REQUIRE(c->series.size() == 1);
        const Series& s = c->series[0];
        CHECK(s.points.size() <= 512);
        const std::string k = std::string("_") + m + "_ms";
        CHECK(value_at_percent(s, 50.0) == doctest::Approx(j["median" + k].get<double>()).epsilon(1e-12));
        CHECK(value_at_percent(s, 90.0) == doctest::Approx(j["p90" + k].get<double>()).epsilon(1e-12));
        CHECK(value_at_percent(s, 99.0) == doctest::Approx(j["p99" + k].get<double>()).epsilon(1e-12));
    }
    // And where the browser draws it: the middle point of the TTFT polyline maps back to the median.
    const std::string html = render_html(rep);
    const Series& s = rep.chart("cdf_ttft")->series[0];
    const auto [x, y] = drawn_point(html, "cdf_ttft", 0, (s.points.size() - 1) / 2);
    CHECK(y == doctest::Approx(50.0).epsilon(1e-3));
    CHECK(x == doctest::Approx(j["median_ttft_ms"].get<double>()).epsilon(2e-3));
}

TEST_CASE("Report.cdf.from_latency_digests_without_lists") {
    // A run summarised as it goes (no per-request lists, as simulate without --save-detailed):
    // llmemu.latency_quantiles gives the whole curve, whose 50/90/99% points are the summary's.
    Rng rng(7);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    SummaryOptions o;
    o.percentiles = {90, 99};
    StreamingSummary sum(o, /*detailed=*/false);
    for (std::size_t i = 0; i < 3000; ++i) {
        RequestTiming t;
        t.success = true;
        t.start_time_s = static_cast<double>(i) * 0.01;
        t.ttft_s = 0.01 + std::pow(u(rng), 2.0) * 3.0;
        t.output_len = 2 + static_cast<std::uint32_t>(u(rng) * 40);
        t.latency_s = t.ttft_s;
        for (std::uint32_t k = 1; k < t.output_len; ++k) {
            const double g = 0.01 + 0.05 * u(rng);
            t.latency_s += g;
            sum.itl(std::chrono::nanoseconds(std::llround(g * 1e9)));
        }
        t.prompt_len = 10;
        sum.started(std::chrono::nanoseconds(std::llround(t.start_time_s * 1e9)));
        sum.add(t, true, i);
    }
    const BenchResult b = sum.result(40.0);
    nlohmann::json j = to_vllm_json(b);
    REQUIRE_FALSE(j.contains("ttfts"));
    j["llmemu"]["latency_quantiles"] = latency_quantiles_json(sum);
    CHECK(j["llmemu"]["latency_quantiles"]["percents"].size() == 101);
    CHECK(j["llmemu"]["latency_quantiles"]["exact"] == true);
    const Report rep = build_report({as_input(j, "digest")});
    for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
        CAPTURE(m);
        const Chart* c = rep.chart(std::string("cdf_") + m);
        REQUIRE(c != nullptr);
        const Series& s = c->series.at(0);
        CHECK(s.style == Series::Style::line);
        CHECK(s.points.size() == 101);
        CHECK(value_at_percent(s, 50) == doctest::Approx(j["median_" + std::string(m) + "_ms"].get<double>()));
        CHECK(value_at_percent(s, 90) == doctest::Approx(j["p90_" + std::string(m) + "_ms"].get<double>()));
        CHECK(value_at_percent(s, 99) == doctest::Approx(j["p99_" + std::string(m) + "_ms"].get<double>()));
    }
    j["llmemu"]["latency_quantiles"]["ttft_ms"].erase(0);
    CHECK_THROWS_WITH_AS(build_report({as_input(j, "digest")}),
                         doctest::Contains("digest.json: llmemu.latency_quantiles.ttft_ms has 100 values"),
                         report_error);
}

TEST_CASE("Report.cdf.without_per_request_lists_uses_summary_points") {
    nlohmann::json j = synthetic_result(50, 3, "");
    for (const char* k : {"ttfts", "itls", "latencies", "start_times", "input_lens", "output_lens", "errors"})
        j.erase(k);
    const Report rep = build_report({as_input(j, "summary-only")});
    const Chart* c = rep.chart("cdf_ttft");
    REQUIRE(c != nullptr);
    const Series& s = c->series.at(0);
    CHECK(s.style == Series::Style::markers);
    REQUIRE(s.points.size() == 3); // median, p90, p99
    CHECK(value_at_percent(s, 50.0) == j["median_ttft_ms"].get<double>());
    CHECK(value_at_percent(s, 99.0) == j["p99_ttft_ms"].get<double>());
}

TEST_CASE("Report.timeseries.peak_is_the_series_max_after_downsampling") {
    nlohmann::json j = synthetic_result(40, 1, "ts");
    std::vector<double> t, running, waiting, kv, pre;
    const std::size_t n = 20000; // far more than max_points
    for (std::size_t i = 0; i < n; ++i) {
        t.push_back(static_cast<double>(i));
        running.push_back(static_cast<double>(i % 97));
        waiting.push_back(static_cast<double>((i * 7) % 13));
        kv.push_back(0.5 + 0.4 * std::sin(static_cast<double>(i) / 100.0));
        pre.push_back(i % 500 == 0 ? 2.0 : 0.0);
    }
    running[12345] = 256.0; // one spike
    j["llmemu"]["engine_stats"]["max_running"] = 256;
    j["llmemu"]["timeseries"] = {
        {"t_s", t}, {"running", running}, {"waiting", waiting}, {"kv_cache_usage", kv}, {"preemptions", pre}};
    const Report rep = build_report({as_input(j, "ts")});
    const Chart* c = rep.chart("ts_requests");
    REQUIRE(c != nullptr);
    const Series& r = series_named(*c, "ts running");
    CHECK(r.points.size() <= 512);
    double peak = 0.0, peak_t = -1.0;
    for (const auto& [x, y] : r.points)
        if (y > peak) {
            peak = y;
            peak_t = x;
        }
    CHECK(peak == j["llmemu"]["engine_stats"]["max_running"].get<double>());
    CHECK(peak_t == 12345.0);
    const Chart* kvc = rep.chart("ts_kv");
    REQUIRE(kvc != nullptr);
    double kvmax = 0.0;
    for (const auto& p : kvc->series.at(0).points) kvmax = std::max(kvmax, p.second);
    CHECK(kvmax == doctest::Approx(90.0).epsilon(1e-3)); // the fraction drawn as %
    REQUIRE(rep.chart("ts_preemptions") != nullptr);
    // The time series of a result with a mismatched column is refused, naming it.
    j["llmemu"]["timeseries"]["waiting"] = {1, 2, 3};
    CHECK_THROWS_WITH_AS(build_report({as_input(j, "ts")}), doctest::Contains("llmemu.timeseries.waiting has 3"),
                         report_error);
}

TEST_CASE("Report.timeseries.vllm_csv_and_in_flight_fallback") {
    const ReportInput csv = parse_report_input("t,prompt_throughput,gen_throughput,running,waiting,kv_cache_pct\n"
                                               "1.0,3392.0,2.0,5,2,13.22\n2.0,9045.0,79.0,16,0,39.7\n"
                                               "3.0,11749.0,83.0,22,11,64.44\n",
                                               "timeseries.csv");
    CHECK(csv.kind == InputKind::timeseries_csv);
    CHECK(csv.name == "timeseries");
    // Requests 0..3 start every second and take 2.5 s: at most 3 in flight.
    nlohmann::json j = {{"completed", 4},
                        {"start_times", {10.0, 11.0, 12.0, 13.0}},
                        {"latencies", {2.5, 2.5, 2.5, 2.5}},
                        {"ttfts", {0.1, 0.1, 0.1, 0.1}},
                        {"errors", {"", "", "", ""}}};
    const Report rep = build_report({as_input(j, "emu"), csv});
    const Chart* c = rep.chart("ts_requests");
    REQUIRE(c != nullptr);
    double peak = 0.0;
    for (const auto& p : series_named(*c, "emu in flight").points) peak = std::max(peak, p.second);
    CHECK(peak == 3.0);
    double real_peak = 0.0;
    for (const auto& p : series_named(*c, "timeseries running").points) real_peak = std::max(real_peak, p.second);
    CHECK(real_peak == 22.0);
    REQUIRE(rep.chart("ts_kv") != nullptr);
    CHECK(rep.chart("ts_kv")->series.at(0).points.at(2).second == 64.44);
    REQUIRE(rep.chart("ts_throughput") != nullptr);
}

TEST_CASE("Report.step_digest.counts_every_step_with_the_oracles_own_coverage") {
    const std::string pack = std::string(LLMEMU_SOURCE_DIR) + "/data/llm-emu-A40-Qwen3-8B-subset.json";
    for (const std::string& spec : {std::string("const:25"), pack}) {
        CAPTURE(spec);
        auto digest = std::make_shared<StepDigest>();
        const AnyLatencyModel base = AnyLatencyModel::from_spec(spec);
        VirtualClock clock;
        using Exec = EmulatedExecutor<AnyLatencyModel, VirtualClock>;
        EngineConfig cfg;
        cfg.num_gpu_blocks = 4000;
        Engine<Exec, VirtualClock> engine(Exec(AnyLatencyModel(ObservedModel(base, digest)), clock, {}, 1), clock, cfg);
        std::vector<TimedRequest> reqs;
        for (RequestId i = 0; i < 120; ++i) {
            TimedRequest t;
            t.arrival = std::chrono::milliseconds(static_cast<long>(i) * 40);
            t.spec.id = i;
            t.spec.prompt_len = 64 + static_cast<std::uint32_t>(i % 9) * 300;
            t.spec.max_tokens = 20 + static_cast<std::uint32_t>(i % 5) * 10;
            t.spec.ignore_eos = true;
            reqs.push_back(t);
        }
        const SimulationResult res = run_simulation(engine, reqs);
        const Coverage cov = engine.executor().model().coverage();
        CHECK(digest->steps() == res.stats.steps);
        CHECK(cov.total == res.stats.steps);
        const nlohmann::json j = digest->to_json();
        const auto& h = j["step_latency_histogram"];
        std::uint64_t sum = 0;
        for (const auto& v : h["counts"]) sum += v.get<std::uint64_t>();
        CHECK(sum == res.stats.steps);
        CHECK(h["edges_ms"].size() == h["counts"].size() + 1);
        if (spec == "const:25") {
            REQUIRE(h["counts"].size() == 1);
            CHECK(h["edges_ms"][0].get<double>() <= 25.0);
            CHECK(h["edges_ms"][1].get<double>() > 25.0);
            CHECK(h["mean_ms"].get<double>() == doctest::Approx(25.0));
        }
        const auto& g = j["coverage_grid"];
        auto total = [&](const char* k) {
            std::uint64_t s = 0;
            for (const auto& row : g[k])
                for (const auto& v : row) s += v.get<std::uint64_t>();
            return s;
        };
        CHECK(total("exact") == cov.exact);
        CHECK(total("interpolated") == cov.interpolated);
        CHECK(total("out_of_range") == cov.out_of_range);
        CHECK(g["tokens_edges"].size() == g["exact"].size() + 1);
        CHECK(g["requests_edges"].size() == g["exact"][0].size() + 1);
        // The largest step lies in the last token row.
        CHECK(g["tokens_edges"].back().get<std::uint64_t>() > res.stats.max_step_tokens);
        CHECK(g["tokens_edges"][g["tokens_edges"].size() - 2].get<std::uint64_t>() <= res.stats.max_step_tokens);

        // Drawn: the histogram's shares sum to 100%, and a heatmap appears.
        nlohmann::json r = {{"completed", 1}, {"llmemu", j}};
        const Report rep = build_report({as_input(r, "steps")});
        const Chart* hc = rep.chart("step_latency");
        REQUIRE(hc != nullptr);
        double share = 0.0;
        const auto& pts = hc->series.at(0).points;
        for (std::size_t i = 1; i + 2 < pts.size(); ++i) share += pts[i].second;
        CHECK(share == doctest::Approx(100.0));
        CHECK(rep.heatmap("coverage_0") != nullptr);
    }
}

TEST_CASE("Report.inputs.recognised_by_content_with_errors_naming_file_and_line") {
    CHECK(parse_report_input("{\"completed\": 3, \"label\": \"real\"}", "a.json").name == "real");
    CHECK(parse_report_input("request_rate,burstiness,seed,median_ttft_ms\n1,1,0,5\n", "s.csv").kind ==
          InputKind::sweep_csv);
    CHECK(parse_report_input("rate,ttft_mean_pct,tpot_mean_pct\n2,1.5,-3\nmax_abs,1.5,3\n", "d.csv").kind ==
          InputKind::validation_csv);
    CHECK_THROWS_WITH_AS(parse_report_input("{\"completed\": ", "bad.json"),
                         doctest::Contains("bad.json: not valid JSON"), report_error);
    CHECK_THROWS_WITH_AS(parse_report_input("{\"x\": 1}", "other.json"), doctest::Contains("other.json: a JSON"),
                         report_error);
    CHECK_THROWS_WITH_AS(parse_report_input("a,b\n1,2\n", "what.csv"),
                         doctest::Contains("what.csv:1: a CSV of unknown"), report_error);
    CHECK_THROWS_WITH_AS(parse_report_input("t,running\n1,2\n\n2\n", "ts.csv"),
                         doctest::Contains("ts.csv:4: 1 cells but the header has 2"), report_error);
    CHECK_THROWS_WITH_AS(parse_report_input("t,running\n1,x\n", "ts.csv"),
                         doctest::Contains("ts.csv:2: column 'running' has 'x'"), report_error);
    CHECK_THROWS_WITH_AS(parse_report_input("", "empty.csv"), doctest::Contains("empty.csv: empty file"), report_error);
    CHECK_THROWS_WITH_AS(build_report({}), doctest::Contains("no inputs"), report_error);
}

TEST_CASE("Report.sweep.slo_lines_and_sustainable_rate") {
    const std::string h = "request_rate,burstiness,seed,max_num_seqs,max_num_batched_tokens,num_gpu_blocks,"
                          "max_model_len,num_requests,completed,failed,duration_s,request_throughput,"
                          "output_throughput,total_token_throughput,request_goodput,slo_attainment,mean_ttft_ms,"
                          "median_ttft_ms,p99_ttft_ms,mean_tpot_ms,median_tpot_ms,p99_tpot_ms\n";
    std::string csv = h;
    // Two seeds per rate; at rate 6 one seed misses the 90% attainment.
    for (int rate : {2, 4, 6, 8})
        for (int seed : {0, 1}) {
            const double att = rate <= 4 ? 0.99 : (rate == 6 && seed == 0 ? 0.95 : 0.5);
            char row[256];
            std::snprintf(row, sizeof row, "%d,1,%d,256,2048,0,4096,100,100,0,50,2,%d,300,1.9,%.2f,%d,%d,%d,20,19,%d\n",
                          rate, seed, rate * 100, att, rate * 100, rate * 90, rate * 300 + seed * 10, 30 + rate);
            csv += row;
        }
    ReportOptions opt;
    opt.slo_ttft_ms = 2000;
    opt.slo_tpot_ms = 40;
    const Report rep = build_report({parse_report_input(csv, "sweep.csv")}, opt);
    const Table* cap = rep.table("sweep_0_capacity");
    REQUIRE(cap != nullptr);
    REQUIRE(cap->rows.size() == 1);
    CHECK(cap->rows[0][1] == "4");
    CHECK(cap->rows[0][2] == "6");
    const Chart* c = rep.chart("sweep_0_ttft");
    REQUIRE(c != nullptr);
    bool slo = false, sustained = false;
    for (const auto& l : c->lines) {
        slo = slo || (!l.vertical && l.value == 2000.0);
        sustained = sustained || (l.vertical && l.value == 4.0);
    }
    CHECK(slo);
    CHECK(sustained);
    // p99 averaged over the two seeds.
    const Series& p99 = series_named(*c, "p99");
    REQUIRE(p99.points.size() == 4);
    CHECK(p99.points[1].first == 4.0);
    CHECK(p99.points[1].second == doctest::Approx(4 * 300 + 5.0));
    CHECK_THROWS_WITH_AS(build_report({parse_report_input(h + "x,1,0,256,2048,0,4096,100,100,0,50,2,1,1,1,1,1,1,1,1,1,"
                                                              "1\n",
                                                          "bad_sweep.csv")}),
                         doctest::Contains("bad_sweep.csv:2: column 'request_rate' has 'x'"), report_error);
}

TEST_CASE("Report.validation.table_one_layout") {
    const Report rep = build_report({parse_report_input(
        "rate,ttft_mean_pct,tpot_mean_pct,itl_mean_pct,e2e_mean_pct,tps_pct\n2,10.0000,-1.0000,0.5000,2.0000,-2.0000\n"
        "4,-8.0000,3.0000,nan,1.0000,0.5000\nmax_abs,10.0000,3.0000,0.5000,2.0000,2.0000\n",
        "per_rate_deltas.csv")});
    const Table* t = rep.table("validation_0_table");
    REQUIRE(t != nullptr);
    CHECK(t->header == std::vector<std::string>{"request rate", "TTFT %", "TPOT %", "ITL %", "E2E %", "TPS %"});
    REQUIRE(t->rows.size() == 3);
    CHECK(t->rows[0] == std::vector<std::string>{"2", "+10.00", "-1.00", "+0.50", "+2.00", "-2.00"});
    CHECK(t->rows[1][3] == "n/a");
    CHECK(t->rows[2] == std::vector<std::string>{"max |err|", "10.00", "3.00", "0.50", "2.00", "2.00"});
}

TEST_CASE("Report.fleet.per_replica_bars_from_fleet_section") {
    // The shape llmemu simulate --replicas N writes (docs/fleet.md): llmemu.fleet.per_replica.
    nlohmann::json j = {{"completed", 30}};
    auto replica = [](int i, int routed, double kv, int queries, int hits, double ttft, std::vector<double> running) {
        nlohmann::json r = {
            {"replica", i},
            {"routed", routed},
            {"mean_ttft_ms", ttft},
            {"engine_stats", {{"max_kv_usage", kv}, {"prefix_cache_queries", queries}, {"prefix_cache_hits", hits}}}};
        std::vector<double> t;
        for (std::size_t k = 0; k < running.size(); ++k) t.push_back(static_cast<double>(k + 1));
        r["timeseries"] = {{"t_s", t}, {"running", running}};
        return r;
    };
    j["llmemu"]["fleet"] = {{"replicas", 2},
                            {"router", "least_loaded"},
                            {"per_replica", nlohmann::json::array({replica(0, 10, 0.5, 100, 25, 120.0, {1, 4, 2}),
                                                                   replica(1, 20, 0.75, 0, 0, 80.0, {3, 9, 0})})}};
    j["llmemu"]["fleet"]["pools"] = nlohmann::json::array({{{"name", "a40"},
                                                            {"replicas", 2},
                                                            {"profile", "p.json"},
                                                            {"tensor_parallel_size", 1},
                                                            {"completed", 30},
                                                            {"mean_ttft_ms", 99.5},
                                                            {"mean_tpot_ms", 20.25},
                                                            {"gpu_hours", 0.5},
                                                            {"cost", 1.25}}});
    const Report rep = build_report({as_input(j, "fleet")});
    REQUIRE(rep.chart("fleet_load") != nullptr);
    CHECK(rep.chart("fleet_load")->series.at(0).points == Points{{0, 10}, {1, 20}});
    CHECK(rep.chart("fleet_kv")->series.at(0).points == Points{{0, 50}, {1, 75}});
    CHECK(rep.chart("fleet_hit")->series.at(0).points == Points{{0, 25}, {1, 0}});
    CHECK(rep.chart("fleet_ttft")->series.at(0).points == Points{{0, 120}, {1, 80}});
    const Chart* run = rep.chart("fleet_running");
    REQUIRE(run != nullptr);
    REQUIRE(run->series.size() == 2);
    CHECK(run->series[1].points == Points{{1, 3}, {2, 9}, {3, 0}});
    CHECK(run->series[1].toggle == "replica-1"); // a click on replica 1 does not hide input 1
    const Table* pools = rep.table("fleet_pools_0");
    REQUIRE(pools != nullptr);
    REQUIRE(pools->rows.size() == 1);
    CHECK(pools->rows[0] ==
          std::vector<std::string>{"a40", "2", "p.json", "1", "30", "99.50", "20.25", "0.500", "1.25"});
    // The fleet's aggregate series (top-level llmemu.timeseries) is drawn when present.
    j["llmemu"]["timeseries"] = {{"t_s", {1, 2, 3}}, {"running", {4, 13, 2}}};
    const Report agg = build_report({as_input(j, "fleet")});
    REQUIRE(agg.chart("ts_requests") != nullptr);
    CHECK(agg.chart("ts_requests")->series.at(0).points == Points{{1, 4}, {2, 13}, {3, 2}});
    // A malformed replica names the file and the index.
    j["llmemu"]["fleet"]["per_replica"][1] = 7;
    CHECK_THROWS_WITH_AS(build_report({as_input(j, "fleet")}),
                         doctest::Contains("fleet.json: llmemu.fleet.per_replica[1]"), report_error);
}

TEST_CASE("Report.validation.from_validate_json") {
    // Mean-only results: the per-rate comparison, drawn like the CSV.
    const ReportInput per_rate = parse_report_input(
        R"({"rates":[{"rate":2,"ttft_mean_pct":10,"tpot_mean_pct":-1,"itl_mean_pct":0.5,"e2e_mean_pct":2,)"
        R"("tps_pct":-2},{"rate":"inf","ttft_mean_pct":-8,"tpot_mean_pct":3,"itl_mean_pct":null,)"
        R"("e2e_mean_pct":1,"tps_pct":0.5}],"max_abs":{"ttft_mean_pct":10,"tpot_mean_pct":3,"itl_mean_pct":0.5,)"
        R"("e2e_mean_pct":2,"tps_pct":2}})",
        "deltas.json");
    CHECK(per_rate.kind == InputKind::validation_csv);
    const Report rep = build_report({per_rate});
    const Table* t = rep.table("validation_0_table");
    REQUIRE(t != nullptr);
    REQUIRE(t->rows.size() == 3);
    CHECK(t->rows[0] == std::vector<std::string>{"2", "+10.00", "-1.00", "+0.50", "+2.00", "-2.00"});
    CHECK(t->rows[1] == std::vector<std::string>{"inf", "-8.00", "+3.00", "n/a", "+1.00", "+0.50"});
    CHECK(t->rows[2] == std::vector<std::string>{"max |err|", "10.00", "3.00", "0.50", "2.00", "2.00"});
    CHECK_THROWS_WITH_AS(parse_report_input(R"({"rates":[{"ttft_mean_pct":1}],"max_abs":{}})", "d.json"),
                         doctest::Contains("d.json: rates[0] has no 'rate'"), report_error);
    CHECK_THROWS_WITH_AS(parse_report_input(R"({"rates":[{"rate":1,"tps_pct":"x"}],"max_abs":{}})", "d.json"),
                         doctest::Contains("d.json: rates[0].tps_pct is not a number"), report_error);

    // One real and one emulated run with per-request lists: statistics, errors and KS.
    const ReportInput per_req = parse_report_input(
        R"({"real":{"source":"requests.jsonl","format":"vllm requests.jsonl","requests":300,"failed":0},)"
        R"("emu":{"source":"emu.json","format":"result","requests":300,"failed":0},)"
        R"("metrics":{"ttft":{"mean":{"real":100,"emu":110,"pct":10},"median":{"real":90,"emu":85.5,"pct":-5},)"
        R"("p90":{"real":200,"emu":null,"pct":null},"p99":{"real":300,"emu":303,"pct":1}},)"
        R"("e2e":{"mean":{"real":1000,"emu":1200,"pct":20}}},"ks":{"ttft":0.125,"e2e":0.5},)"
        R"("timeseries":{"points":60,"series":{"running":{"real_mean":10,"emu_mean":12,"mean_abs_diff":2.5}}}})",
        "cmp.json");
    CHECK(per_req.kind == InputKind::validation_requests);
    const Report r2 = build_report({per_req});
    const Table* d = r2.table("validation_0_table");
    REQUIRE(d != nullptr);
    REQUIRE(d->rows.size() == 6);
    CHECK(d->rows[0] == std::vector<std::string>{"TTFT", "mean", "100.00", "110.00", "+10.00"});
    CHECK(d->rows[2] == std::vector<std::string>{"TTFT", "p90", "200.00", "n/a", "n/a"});
    CHECK(d->rows[4] == std::vector<std::string>{"E2E", "mean", "1000.00", "1200.00", "+20.00"});
    CHECK(d->rows[5].back() == "20.00"); // max |err| over every statistic
    REQUIRE(r2.table("validation_0_ks") != nullptr);
    CHECK(r2.table("validation_0_ks")->rows[1] == std::vector<std::string>{"TTFT", "0.1250"});
    REQUIRE(r2.table("validation_0_timeseries") != nullptr);
    CHECK(r2.table("validation_0_timeseries")->rows[0] ==
          std::vector<std::string>{"running", "10.000", "12.000", "2.500"});
    CHECK(r2.configs.at(0).fields.at(1) ==
          std::pair<std::string, std::string>{"real", "requests.jsonl (300 requests)"});
}

TEST_CASE("Report.sweep.sustainable_rate_rule") {
    // Two seeds per rate, in any order; a rate counts only when every seed meets the share.
    const std::vector<RateAttainment> runs{{8, 0.95}, {2, 0.99}, {4, 0.91}, {2, 0.93}, {4, 0.89}, {6, 0.99}};
    SustainableRate r = sustainable_rate(runs, 0.9);
    CHECK(r.rate == 2.0);
    CHECK(r.first_miss == 4.0);
    CHECK(r.attainment_at_first_miss == doctest::Approx(0.89));
    // Meeting the SLOs again at a higher rate does not count: every lower rate must.
    r = sustainable_rate(runs, 0.85);
    CHECK(r.rate == 8.0);
    CHECK_FALSE(r.first_miss.has_value());
    r = sustainable_rate(runs, 0.995);
    CHECK_FALSE(r.rate.has_value());
    CHECK(r.first_miss == 2.0);
    CHECK(r.attainment_at_first_miss == doctest::Approx(0.93));
    r = sustainable_rate({{1, 1.0}, {2, std::nan("")}}, 0.5);
    CHECK(r.rate == 1.0);
    CHECK(r.first_miss == 2.0);
    CHECK(sustainable_rate({}, 0.9).rate == std::nullopt);
}

TEST_CASE("Report.html.self_contained_and_light") {
    // A large comparison: 20,000 requests each, two results; curves stay bounded.
    std::vector<ReportInput> in{as_input(synthetic_result(20000, 1, "real"), "real"),
                                as_input(synthetic_result(20000, 2, "emulated"), "emulated")};
    const std::string html = render_html(build_report(in));
    CHECK(html.size() < 2'000'000);
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    for (const char* banned : {"http:", "https:", "src=", "href=", "@import", "<link", "fetch(", "XMLHttpRequest"}) {
        CAPTURE(banned);
        CHECK(html.find(banned) == std::string::npos);
    }
    std::size_t scripts = 0;
    for (std::size_t p = html.find("<script"); p != std::string::npos; p = html.find("<script", p + 1)) ++scripts;
    CHECK(scripts == 1);
    // Every chart's id appears once, with its legend.
    for (const char* id : {"cdf_ttft", "cdf_tpot", "cdf_itl", "cdf_e2el", "ts_requests"}) {
        CAPTURE(id);
        CHECK(html.find(std::string("data-chart=\"") + id + "\"") != std::string::npos);
    }
    CHECK(html.find("legend-entry") != std::string::npos);
    // Names are escaped.
    in[0].name = "<b>&";
    const std::string esc = render_html(build_report(in));
    CHECK(esc.find("<b>&") == std::string::npos);
    CHECK(esc.find("&lt;b&gt;&amp;") != std::string::npos);
}

TEST_CASE("Report.curves.downsampling_keeps_extremes") {
    Points p;
    for (int i = 0; i < 10000; ++i) p.emplace_back(i, std::sin(i * 0.01) * (i == 7777 ? 50 : 1));
    const Points d = minmax_downsample(p, 512);
    CHECK(d.size() <= 512);
    double mx = -1e9, mn = 1e9;
    for (const auto& q : d) {
        mx = std::max(mx, q.second);
        mn = std::min(mn, q.second);
    }
    double tmx = -1e9, tmn = 1e9;
    for (const auto& q : p) {
        tmx = std::max(tmx, q.second);
        tmn = std::min(tmn, q.second);
    }
    CHECK(mx == tmx);
    CHECK(mn == tmn);
    for (std::size_t i = 1; i < d.size(); ++i) CHECK(d[i - 1].first < d[i].first);
    const Points q = quantile_curve({3, 1, 2, 4}, 5);
    CHECK(q == Points{{1, 0}, {1.75, 25}, {2.5, 50}, {3.25, 75}, {4, 100}});
}
