#pragma once
/// \file workload_spec.hpp
/// Workload specs: one JSON file composes the traffic of several clients, as ServeGen
/// composes per-client traffic (`llmemu simulate --workload FILE.json`). Needs
/// nlohmann-json (the core headers do not).
///
/// ```json
/// {"request_rate": 4, "num_prompts": 2000,
///  "clients": [
///   {"name": "chat", "share": 0.7, "dataset": "random", "input_len": 800, "output_len": 200,
///    "prefix_pool": {"prompts": 8, "tokens": 1024, "zipf": 1.0},
///    "sessions": {"turns": 4, "think_time_s": 20, "new_tokens": 120}},
///   {"name": "api", "share": 0.3, "dataset": "empirical", "trace": "splitwise_code.csv",
///    "burstiness": 0.5, "rate_schedule": "diurnal:1.2,0.5,3600"},
///   {"name": "day", "trace": "splitwise_conv.csv", "repeat": 24, "copies": 8}]}
/// ```
/// A client is a WorkloadSpec by the command line's names (see WorkloadClient's keys); its
/// `share` splits the top-level `request_rate` and `num_prompts` (shares are normalised
/// over the clients that give one); a client may give its own `request_rate` and
/// `num_prompts` instead. Relative paths are relative to the spec file. Each client draws
/// from its own seed (derived from the run's seed and its position), so the whole workload
/// is deterministic per seed. Every key is checked: a wrong type, a bad value or an unknown
/// key throws workload_error naming the file, the client and the key, and the fix.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/workload/sessions.hpp"
#include "llmemu/workload/stream.hpp"
#include "llmemu/workload/workload.hpp"

LLMEMU_BEGIN_NAMESPACE

/// One client of a workload spec.
struct WorkloadClient {
    std::string name;
    /// Its share of the spec's request_rate and num_prompts (0 = it gives its own).
    double share = 0.0;
    /// Seconds added to every arrival of this client.
    double start_s = 0.0;
    /// What it sends (paths resolved against the spec file's directory; seed set by build).
    WorkloadSpec spec;
    /// A session shape to fit from this Mooncake trace when the spec is built (empty: none).
    std::filesystem::path sessions_fit;
};

/// A workload spec's content.
struct WorkloadSpecFile {
    std::string source;
    /// Split by the clients' shares (unset: the clients give their own).
    std::optional<double> request_rate;
    std::optional<std::size_t> num_prompts;
    std::vector<WorkloadClient> clients;
};

namespace detail {

[[noreturn, gnu::cold]] inline void wspec_bad(const std::string& source, const std::string& where,
                                              const std::string& what) {
    throw_error<workload_error>("workload spec '" + source + "': " + where + what);
}

struct WspecReader {
    const std::string& source;
    std::string where;

    [[noreturn]] void bad(const std::string& what) const { wspec_bad(source, where, what); }
    std::uint64_t whole(const nlohmann::json& v, std::uint64_t min, std::uint64_t max) const {
        if (!v.is_number_integer() && !v.is_number_unsigned())
            bad("expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                v.dump());
        if (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0)
            bad("expected a whole number from " + std::to_string(min) + ", got " + v.dump());
        const auto x = v.get<std::uint64_t>();
        if (x < min || x > max)
            bad("expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                v.dump());
        return x;
    }
    std::uint32_t u32(const nlohmann::json& v, std::uint32_t min = 1) const {
        return static_cast<std::uint32_t>(whole(v, min, 0xFFFFFFFFULL));
    }
    /// A finite number >= min (exclusive when `open`).
    double number(const nlohmann::json& v, double min, bool open) const {
        if (!v.is_number()) bad("expected a number, got " + v.dump());
        const double x = v.get<double>();
        if (!std::isfinite(x) || x < min || (open && x == min))
            bad(std::string("expected a finite number ") + (open ? "> " : ">= ") + workload_fmt(min) + ", got " +
                v.dump());
        return x;
    }
    std::string string(const nlohmann::json& v) const {
        if (!v.is_string() || v.get<std::string>().empty()) bad("expected a non-empty string, got " + v.dump());
        return v.get<std::string>();
    }
    /// A request rate: a number > 0 or "inf".
    double rate(const nlohmann::json& v) const {
        if (v.is_string() && v.get<std::string>() == "inf") return std::numeric_limits<double>::infinity();
        if (!v.is_number() || !(v.get<double>() > 0.0) || !std::isfinite(v.get<double>()))
            bad("expected requests per second > 0 or \"inf\", got " + v.dump());
        return v.get<double>();
    }
    const nlohmann::json& object(const nlohmann::json& v, const char* shape) const {
        if (!v.is_object()) bad(std::string("expected an object ") + shape + ", got " + v.dump().substr(0, 60));
        return v;
    }
};

inline std::filesystem::path wspec_path(const std::filesystem::path& base, const std::string& p) {
    const std::filesystem::path path(p);
    return path.is_absolute() || base.empty() ? path : base / path;
}

inline WorkloadKind wspec_kind(const WspecReader& r, const std::string& name) {
    for (const WorkloadKind k : {WorkloadKind::trace, WorkloadKind::random, WorkloadKind::empirical,
                                 WorkloadKind::prefix_repetition, WorkloadKind::custom, WorkloadKind::sharegpt})
        if (name == to_string(k)) return k;
    r.bad("unknown dataset '" + name + "'; use trace, random, empirical, prefix_repetition, custom or sharegpt");
}

inline void wspec_client_key(WspecReader& r, const std::string& key, const nlohmann::json& v, WorkloadClient& c,
                             const std::filesystem::path& base, bool& kind_given) {
    WorkloadSpec& s = c.spec;
    if (key == "name") {
    } else if (key == "share") {
        c.share = r.number(v, 0.0, true);
    } else if (key == "start_s") {
        c.start_s = r.number(v, 0.0, false);
    } else if (key == "dataset") {
        s.kind = wspec_kind(r, r.string(v));
        kind_given = true;
    } else if (key == "trace") {
        s.trace_path = wspec_path(base, r.string(v));
    } else if (key == "dataset_path") {
        s.dataset_path = wspec_path(base, r.string(v));
    } else if (key == "output_lengths") {
        s.output_lengths = wspec_path(base, r.string(v));
    } else if (key == "num_prompts") {
        s.num_prompts = r.whole(v, 1, 0xFFFFFFFFULL);
    } else if (key == "request_rate") {
        s.request_rate = r.rate(v);
    } else if (key == "burstiness") {
        s.burstiness = r.number(v, 0.0, true);
    } else if (key == "input_len") {
        s.input_len = r.u32(v);
    } else if (key == "output_len") {
        s.output_len = r.u32(v);
    } else if (key == "range_ratio") {
        s.range_ratio = r.number(v, 0.0, false);
        if (!(s.range_ratio < 1.0)) r.bad("expected a ratio in [0, 1), got " + v.dump());
    } else if (key == "random_prefix_len") {
        s.random_prefix_len = r.u32(v, 0);
    } else if (key == "prefix_len") {
        s.prefix_len = r.u32(v);
    } else if (key == "suffix_len") {
        s.suffix_len = r.u32(v);
    } else if (key == "num_prefixes") {
        s.num_prefixes = r.u32(v);
    } else if (key == "prefix_output_len") {
        s.prefix_output_len = r.u32(v);
    } else if (key == "custom_output_len") {
        s.custom_output_len = r.u32(v);
    } else if (key == "sharegpt_output_len") {
        s.sharegpt_output_len = r.u32(v);
    } else if (key == "rate_schedule") {
        const std::string sched = r.string(v);
        s.rate_schedule = sched.starts_with("diurnal:") ? sched : wspec_path(base, sched).string();
    } else if (key == "repeat") {
        s.repeat = r.u32(v);
    } else if (key == "copies") {
        s.copies = r.u32(v);
    } else if (key == "ramp_up") {
        r.object(v, "{\"strategy\": \"linear\"|\"exponential\", \"start_rps\": S, \"end_rps\": E}");
        RampUp ramp;
        bool have_start = false;
        bool have_end = false;
        const std::string outer = r.where;
        for (const auto& [k, x] : v.items()) {
            r.where = outer.substr(0, outer.size() - 3) + "." + k + "': ";
            if (k == "strategy") {
                const std::string st = r.string(x);
                if (st != "linear" && st != "exponential") r.bad("expected \"linear\" or \"exponential\"");
                ramp.strategy = st == "linear" ? RampUpStrategy::linear : RampUpStrategy::exponential;
            } else if (k == "start_rps") {
                ramp.start_rps = r.number(x, 0.0, true);
                have_start = true;
            } else if (k == "end_rps") {
                ramp.end_rps = r.number(x, 0.0, true);
                have_end = true;
            } else {
                r.bad("unknown ramp-up key; use strategy, start_rps and end_rps");
            }
        }
        r.where = outer;
        if (!have_start || !have_end) r.bad("give both start_rps and end_rps");
        if (!(ramp.start_rps <= ramp.end_rps)) r.bad("start_rps must be <= end_rps (vLLM's ramp-up grows)");
        s.ramp_up = ramp;
    } else if (key == "prefix_pool") {
        r.object(v, "{\"prompts\": N, \"tokens\": T, \"zipf\": S}");
        const std::string outer = r.where;
        for (const auto& [k, x] : v.items()) {
            r.where = outer.substr(0, outer.size() - 3) + "." + k + "': ";
            if (k == "prompts")
                s.prefix_pool.prompts = r.u32(x);
            else if (k == "tokens")
                s.prefix_pool.tokens = r.u32(x);
            else if (k == "zipf")
                s.prefix_pool.zipf = r.number(x, 0.0, false);
            else
                r.bad("unknown prefix-pool key; use prompts, tokens and zipf");
        }
        r.where = outer;
        if (s.prefix_pool.prompts == 0 || s.prefix_pool.tokens == 0) r.bad("give both prompts and tokens (>= 1)");
    } else if (key == "sessions") {
        r.object(v, "{\"turns\": N, \"think_time_s\": S, \"new_tokens\": T} or {\"fit\": \"mooncake.jsonl\"}");
        SessionShape shape;
        const std::string outer = r.where;
        bool fixed = false;
        for (const auto& [k, x] : v.items()) {
            r.where = outer.substr(0, outer.size() - 3) + "." + k + "': ";
            if (k == "turns") {
                shape.turns = static_cast<std::uint32_t>(r.whole(x, 1, 100000));
                fixed = true;
            } else if (k == "think_time_s") {
                shape.think_time_s = r.number(x, 0.0, false);
                fixed = true;
            } else if (k == "new_tokens") {
                shape.new_tokens = r.u32(x);
                fixed = true;
            } else if (k == "fit") {
                c.sessions_fit = wspec_path(base, r.string(x));
            } else {
                r.bad("unknown session key; use turns, think_time_s and new_tokens, or fit");
            }
        }
        r.where = outer;
        if (fixed && !c.sessions_fit.empty())
            r.bad("'fit' draws turns, think times and new tokens from a trace; drop it or the fixed numbers");
        s.sessions = shape;
    } else {
        r.bad("unknown client key; use name, share, start_s, dataset, trace, dataset_path, num_prompts, request_rate, "
              "burstiness, input_len, output_len, range_ratio, random_prefix_len, prefix_len, suffix_len, "
              "num_prefixes, prefix_output_len, custom_output_len, sharegpt_output_len, output_lengths, "
              "rate_schedule, ramp_up, prefix_pool, sessions, repeat or copies");
    }
}

} // namespace detail

/// Parses a workload spec's text (`source` names it in errors; relative paths are resolved
/// against `base`). Reads no other file. Throws workload_error.
inline WorkloadSpecFile parse_workload_spec(std::string_view text, const std::string& source,
                                            const std::filesystem::path& base = {}) {
    using detail::wspec_bad;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        wspec_bad(source, "", std::string("not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) wspec_bad(source, "", "expected an object with a 'clients' list");
    WorkloadSpecFile f;
    f.source = source;
    bool have_clients = false;
    for (const auto& [key, v] : j.items()) {
        detail::WspecReader r{source, "key '" + key + "': "};
        if (key == "request_rate") {
            f.request_rate = r.rate(v);
        } else if (key == "num_prompts") {
            f.num_prompts = r.whole(v, 1, 0xFFFFFFFFULL);
        } else if (key == "clients") {
            have_clients = true;
            if (!v.is_array() || v.empty()) r.bad("expected a non-empty list of clients");
            if (v.size() > 10000) r.bad("more than 10,000 clients");
            std::set<std::string> names;
            for (std::size_t i = 0; i < v.size(); ++i) {
                const nlohmann::json& cj = v[i];
                r.where = "clients[" + std::to_string(i) + "]: ";
                r.object(cj, "(a client: its dataset and arrival keys)");
                WorkloadClient c;
                c.name = "client" + std::to_string(i);
                if (cj.contains("name")) {
                    r.where = "clients[" + std::to_string(i) + "] key 'name': ";
                    c.name = r.string(cj["name"]);
                }
                if (!names.insert(c.name).second) r.bad("client name '" + c.name + "' is used twice");
                const std::string client = "client '" + c.name + "' (clients[" + std::to_string(i) + "]) ";
                c.spec.kind = WorkloadKind::random;
                bool kind_given = false;
                for (const auto& [k, x] : cj.items()) {
                    r.where = client + "key '" + k + "': ";
                    detail::wspec_client_key(r, k, x, c, base, kind_given);
                }
                r.where = client;
                if (!kind_given && !c.spec.trace_path.empty()) c.spec.kind = WorkloadKind::trace;
                const bool traced = c.spec.kind == WorkloadKind::trace || c.spec.kind == WorkloadKind::empirical;
                if (traced && c.spec.trace_path.empty())
                    r.bad(std::string("dataset ") + to_string(c.spec.kind) + " needs key 'trace' (a trace file)");
                if (!traced && !c.spec.trace_path.empty())
                    r.bad(std::string("key 'trace' is unused by dataset ") + to_string(c.spec.kind) +
                          "; drop it or use dataset trace or empirical");
                if (c.share > 0.0 && (cj.contains("request_rate") || cj.contains("num_prompts")))
                    r.bad("key 'share' splits the spec's request_rate and num_prompts, so the client's own "
                          "request_rate/num_prompts contradict it; give one of them");
                if (c.share > 0.0 && (c.spec.ramp_up || !c.spec.rate_schedule.empty()))
                    r.bad("key 'share' splits a fixed request_rate; a ramp_up or rate_schedule sets the client's rate "
                          "over time: drop 'share' and give the client its own schedule");
                f.clients.push_back(std::move(c));
            }
        } else {
            r.bad("unknown key; a workload spec has 'clients', 'request_rate' and 'num_prompts'");
        }
    }
    if (!have_clients) wspec_bad(source, "", "key 'clients' is missing; list at least one client");
    bool any_share = false;
    for (const auto& c : f.clients) any_share = any_share || c.share > 0.0;
    if (any_share && !f.request_rate && !f.num_prompts)
        wspec_bad(source, "",
                  "clients give a 'share' but the spec has neither 'request_rate' nor 'num_prompts' to "
                  "split; add one");
    if (!any_share && (f.request_rate || f.num_prompts))
        wspec_bad(source, "",
                  "'request_rate'/'num_prompts' are split by the clients' 'share' keys, and no client has "
                  "one; add shares or move the numbers into the clients");
    return f;
}

/// Reads a workload spec file (paths relative to its directory). Throws workload_error.
inline WorkloadSpecFile read_workload_spec(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::wspec_bad(path.string(), "", "cannot open the file; check the path");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_workload_spec(ss.str(), path.string(), path.parent_path());
}

/// Client i's WorkloadSpec: its seed (from `seed` and i) and its part of the spec's
/// request_rate and num_prompts.
inline WorkloadSpec client_workload_spec(const WorkloadSpecFile& f, std::size_t i, std::uint64_t seed) {
    double shares = 0.0;
    for (const auto& c : f.clients) shares += c.share;
    const WorkloadClient& c = f.clients.at(i);
    WorkloadSpec s = c.spec;
    s.seed = detail::workload_content(seed, 0x434C49454E540000ULL, i);
    if (c.share > 0.0) {
        const double part = c.share / shares;
        if (f.request_rate) s.request_rate = std::isinf(*f.request_rate) ? *f.request_rate : *f.request_rate * part;
        if (f.num_prompts)
            s.num_prompts = std::max<std::size_t>(
                1, static_cast<std::size_t>(std::llround(static_cast<double>(*f.num_prompts) * part)));
    }
    return s;
}

/// Every client's requests (client i seeded from `seed` and i) merged by arrival, as a
/// stream: a replayed trace's repeats and copies are made as the run takes them (see
/// WorkloadStream), so memory is the clients' own lists. Throws workload_error naming the
/// client for anything its WorkloadSpec refuses.
inline WorkloadStream stream_workload(const WorkloadSpecFile& f, std::uint64_t seed) {
    WorkloadStream all;
    std::string parts;
    for (std::size_t i = 0; i < f.clients.size(); ++i) {
        const WorkloadClient& c = f.clients[i];
        WorkloadSpec s = client_workload_spec(f, i, seed);
        Workload w;
        try {
            if (!c.sessions_fit.empty()) s.sessions = fit_sessions(c.sessions_fit).shape;
            w = detail::build_workload(s, /*replays=*/false);
        } catch (const std::exception& e) {
            detail::wspec_bad(f.source, "client '" + c.name + "': ", e.what());
        }
        parts += (parts.empty() ? "" : "; ") + c.name + ": " + w.description;
        if (s.kind == WorkloadKind::trace)
            all.add_repeated(std::move(w), s.repeat, s.copies, c.start_s);
        else
            all.add(std::move(w), c.start_s);
    }
    all.finish("workload spec " + std::filesystem::path(f.source).filename().string() + " (" +
               std::to_string(f.clients.size()) + (f.clients.size() == 1 ? " client, " : " clients, ") +
               std::to_string(all.size()) + " requests) " + parts);
    return all;
}

/// Every client's requests merged by arrival, built whole (stream_workload's requests in
/// its order, session links as indices). Throws workload_error naming the client.
inline Workload build_workload(const WorkloadSpecFile& f, std::uint64_t seed) {
    return stream_workload(f, seed).collect();
}

LLMEMU_END_NAMESPACE
