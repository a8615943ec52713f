#pragma once
/// \file llm_emu_json.hpp
/// Read and write LLM-Emu "serving_step_cycle_2d" version "2.0" JSON profile packs.
///
/// Reading uses simdjson (an 11 MB pack loads in a few milliseconds) and validates
/// everything: a malformed pack raises llmemu::profile_error naming the file, the table,
/// the bucket and the fix; it is never silently repaired. A pack may hold any non-empty
/// subset of the three tables. Writing emits LLM-Emu's own layout (2-space indent, one
/// sample per line), so read -> write -> read gives an identical ProfileStore.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/profile/model_config.hpp"
#include "llmemu/profile/store.hpp"

LLMEMU_BEGIN_NAMESPACE

/// The version string this reader and writer speak.
inline constexpr std::string_view llm_emu_pack_version = "2.0";
/// The profile_type this reader and writer speak.
inline constexpr std::string_view llm_emu_profile_type = "serving_step_cycle_2d";

namespace detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void pack_fail(std::string_view name, const std::string& what) {
    throw profile_error("profile pack '" + std::string(name) + "': " + what);
}

inline std::string pack_bucket_label(TableKind t, std::size_t index, std::uint64_t tt, std::uint64_t conc,
                                     bool key_known) {
    std::string s = std::string(table_key(t)) + " bucket " + std::to_string(index);
    if (key_known) s += " (tt=" + std::to_string(tt) + ", conc=" + std::to_string(conc) + ")";
    return s;
}

inline std::string_view pack_type_name(simdjson::dom::element_type t) {
    using T = simdjson::dom::element_type;
    switch (t) {
    case T::ARRAY:
        return "an array";
    case T::OBJECT:
        return "an object";
    case T::INT64:
    case T::UINT64:
        return "an integer";
    case T::DOUBLE:
        return "a number";
    case T::STRING:
        return "a string";
    case T::BOOL:
        return "a boolean";
    case T::NULL_VALUE:
        return "null";
    }
    return "a value";
}

inline std::uint64_t pack_get_uint(std::string_view name, simdjson::dom::element e, const std::string& where,
                                   std::uint64_t max = std::numeric_limits<std::uint32_t>::max()) {
    std::uint64_t v = 0;
    if (e.get_uint64().get(v) != simdjson::SUCCESS) {
        std::int64_t neg = 0;
        if (e.get_int64().get(neg) == simdjson::SUCCESS)
            pack_fail(name, where + " is " + std::to_string(neg) + "; it must be a non-negative integer");
        pack_fail(name, where + " is " + std::string(pack_type_name(e.type())) + "; it must be a non-negative integer");
    }
    if (v > max) pack_fail(name, where + " is " + std::to_string(v) + ", above the limit " + std::to_string(max));
    return v;
}

inline std::string pack_get_string(std::string_view name, simdjson::dom::element e, const std::string& where) {
    std::string_view v;
    if (e.get_string().get(v) != simdjson::SUCCESS)
        pack_fail(name, where + " is " + std::string(pack_type_name(e.type())) + "; it must be a string");
    return std::string(v);
}

inline simdjson::dom::object pack_get_object(std::string_view name, simdjson::dom::element e,
                                             const std::string& where) {
    simdjson::dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS)
        pack_fail(name, where + " is " + std::string(pack_type_name(e.type())) + "; it must be an object");
    return o;
}

inline void pack_read_table(std::string_view name, simdjson::dom::element e, TableKind kind, const Bucketing& bucketing,
                            ProfileStore& store) {
    const std::string key(table_key(kind));
    simdjson::dom::array arr;
    if (e.get_array().get(arr) != simdjson::SUCCESS)
        pack_fail(name, key + " is " + std::string(pack_type_name(e.type())) + "; it must be an array of buckets");
    const std::size_t n = arr.size();
    if (n == 0) pack_fail(name, key + " is empty; remove the key or add buckets (a pack may omit any table)");
    std::vector<BucketKey> keys;
    std::vector<std::uint32_t> counts;
    std::vector<float> samples;
    keys.reserve(n);
    counts.reserve(n);
    {
        std::size_t total = 0;
        for (simdjson::dom::element b : arr) {
            simdjson::dom::array s;
            if (b["samples"].get_array().get(s) == simdjson::SUCCESS) total += s.size();
        }
        samples.reserve(total);
    }
    std::size_t index = 0;
    for (simdjson::dom::element b : arr) {
        const std::string at = pack_bucket_label(kind, index, 0, 0, false);
        simdjson::dom::object obj = pack_get_object(name, b, at);
        simdjson::dom::element e_tt;
        simdjson::dom::element e_conc;
        simdjson::dom::element e_num;
        simdjson::dom::element e_samples;
        bool has_tt = false;
        bool has_conc = false;
        bool has_num = false;
        bool has_samples = false;
        for (auto field : obj) {
            const std::string_view k = field.key;
            bool* seen = nullptr;
            simdjson::dom::element* dst = nullptr;
            if (k == "tt") {
                seen = &has_tt;
                dst = &e_tt;
            } else if (k == "conc") {
                seen = &has_conc;
                dst = &e_conc;
            } else if (k == "num_samples") {
                seen = &has_num;
                dst = &e_num;
            } else if (k == "samples") {
                seen = &has_samples;
                dst = &e_samples;
            } else
                continue; // later LLM-Emu versions may add per-bucket fields
            if (*seen) pack_fail(name, at + " has the key \"" + std::string(k) + "\" twice; keep one");
            *seen = true;
            *dst = field.value;
        }
        for (auto [ok, what] : {std::pair{has_tt, "tt"}, std::pair{has_conc, "conc"}, std::pair{has_num, "num_samples"},
                                std::pair{has_samples, "samples"}}) {
            if (!ok)
                pack_fail(name, at + " has no \"" + std::string(what) +
                                    "\"; every bucket needs tt, conc, num_samples and samples");
        }
        const std::uint64_t tt = pack_get_uint(name, e_tt, at + ": tt");
        const std::uint64_t conc = pack_get_uint(name, e_conc, at + ": conc");
        const std::string label = pack_bucket_label(kind, index, tt, conc, true);
        if (bucketing.tt_centre(tt) != tt)
            pack_fail(name, label + ": tt=" + std::to_string(tt) + " is not a bucket centre for tt_bucket_width " +
                                std::to_string(bucketing.tt_width) + " (expected " +
                                std::to_string(bucketing.tt_centre(tt)) + "); re-bucket the pack or fix \"bucketing\"");
        if (conc == 0 || bucketing.conc_centre(conc) != conc)
            pack_fail(name,
                      label + ": conc=" + std::to_string(conc) + " is not a bucket centre for conc_bucket_width " +
                          std::to_string(bucketing.conc_width) + " (expected " +
                          std::to_string(bucketing.conc_centre(conc)) + "); re-bucket the pack or fix \"bucketing\"");
        const std::uint64_t num = pack_get_uint(name, e_num, label + ": num_samples");
        simdjson::dom::array sarr;
        if (e_samples.get_array().get(sarr) != simdjson::SUCCESS)
            pack_fail(name, label + ": samples is " + std::string(pack_type_name(e_samples.type())) +
                                "; it must be an array of step times in microseconds");
        const std::size_t have = sarr.size();
        if (num != have)
            pack_fail(name, label + " has num_samples=" + std::to_string(num) + " but " + std::to_string(have) +
                                " samples; make num_samples equal the length of samples");
        if (have == 0) pack_fail(name, label + " has no samples; drop the bucket");
        std::size_t j = 0;
        for (simdjson::dom::element s : sarr) {
            double v = 0;
            if (s.get_double().get(v) != simdjson::SUCCESS)
                pack_fail(name, label + ": sample " + std::to_string(j) + " is " +
                                    std::string(pack_type_name(s.type())) + "; samples must be numbers (microseconds)");
            // A step always takes time: a 0 sample would let simulated time stand still.
            if (!std::isfinite(v) || v <= 0.0 || v > static_cast<double>(std::numeric_limits<float>::max()) ||
                static_cast<float>(v) <= 0.0F)
                pack_fail(name, label + ": sample " + std::to_string(j) + " is " + std::to_string(v) +
                                    "; samples must be finite, non-negative and non-zero microseconds (a GPU step "
                                    "always takes time; fix or drop it)");
            samples.push_back(static_cast<float>(v));
            ++j;
        }
        keys.push_back({static_cast<std::uint32_t>(tt), static_cast<std::uint32_t>(conc)});
        counts.push_back(static_cast<std::uint32_t>(have));
        ++index;
    }
    if (auto dup = ProfileTable::find_duplicate(keys)) {
        const BucketKey k = keys[dup->first];
        pack_fail(name, key + " buckets " + std::to_string(dup->first) + " and " + std::to_string(dup->second) +
                            " both have (tt=" + std::to_string(k.tt) + ", conc=" + std::to_string(k.conc) +
                            "); merge their samples into one bucket");
    }
    store.set_table(kind, ProfileTable(bucketing, std::move(keys), std::move(counts), std::move(samples)));
}

inline ModelConfig pack_read_model_config(std::string_view name, simdjson::dom::element e, ModelConfig m) {
    simdjson::dom::object obj = pack_get_object(name, e, "model_config");
    auto u32 = [&](simdjson::dom::element v, std::string_view k) {
        return static_cast<std::uint32_t>(pack_get_uint(name, v, "model_config." + std::string(k)));
    };
    for (auto field : obj) {
        const std::string_view k = field.key;
        const simdjson::dom::element v = field.value;
        if (k == "num_hidden_layers")
            m.num_hidden_layers = u32(v, k);
        else if (k == "hidden_size")
            m.hidden_size = u32(v, k);
        else if (k == "num_attention_heads")
            m.num_attention_heads = u32(v, k);
        else if (k == "num_key_value_heads")
            m.num_key_value_heads = u32(v, k);
        else if (k == "vocab_size")
            m.vocab_size = u32(v, k);
        else if (k == "intermediate_size")
            m.intermediate_size = u32(v, k);
        else if (k == "head_dim")
            m.head_dim = u32(v, k);
        else if (k == "max_model_len")
            m.max_model_len = u32(v, k);
        else if (k == "block_size")
            m.block_size = u32(v, k);
        else if (k == "kv_dtype_bytes")
            m.kv_dtype_bytes = u32(v, k);
        else if (k == "model_name")
            m.model_name = pack_get_string(name, v, "model_config.model_name");
        else if (k == "gpu") {
            simdjson::dom::object g = pack_get_object(name, v, "model_config.gpu");
            for (auto gf : g) {
                const std::string_view gk = gf.key;
                const std::string where = "model_config.gpu." + std::string(gk);
                if (gk == "gpu_name")
                    m.gpu_name = pack_get_string(name, gf.value, where);
                else if (gk == "gpu_memory_bytes")
                    m.gpu_memory_bytes =
                        pack_get_uint(name, gf.value, where, std::numeric_limits<std::uint64_t>::max());
                else if (gk == "gpu_sm_count")
                    m.gpu_sm_count = static_cast<std::uint32_t>(pack_get_uint(name, gf.value, where));
                else if (gk == "gpu_count")
                    m.gpu_count = static_cast<std::uint32_t>(pack_get_uint(name, gf.value, where));
                else if (gk == "gpu_compute_capability") {
                    simdjson::dom::array cc;
                    if (gf.value.get_array().get(cc) != simdjson::SUCCESS || cc.size() != 2)
                        pack_fail(name, where + " must be an array [major, minor]");
                    m.compute_capability_major =
                        static_cast<std::uint32_t>(pack_get_uint(name, cc.at(0).value_unsafe(), where + "[0]"));
                    m.compute_capability_minor =
                        static_cast<std::uint32_t>(pack_get_uint(name, cc.at(1).value_unsafe(), where + "[1]"));
                }
            }
        }
    }
    return m;
}

} // namespace detail

namespace detail {

inline ProfileStore parse_pack_padded(const simdjson::padded_string& padded, std::string_view name) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    // A UTF-8 byte-order mark (editors on Windows write one) is not JSON: skip it, as the
    // trace reader does. The padding after the text stays in place.
    const bool bom = padded.size() >= 3 && std::string_view(padded.data(), 3) == "\xEF\xBB\xBF";
    const std::size_t skip = bom ? 3 : 0;
    if (auto err = parser.parse(padded.data() + skip, padded.size() - skip, false).get(doc); err != simdjson::SUCCESS)
        pack_fail(name, "not valid JSON (" + std::string(simdjson::error_message(err)) +
                            "); check the file is complete and was written as JSON");
    simdjson::dom::object top;
    if (doc.get_object().get(top) != simdjson::SUCCESS)
        pack_fail(name, "the document is " + std::string(pack_type_name(doc.type())) +
                            "; an LLM-Emu pack is a JSON object with version, profile_type, bucketing and tables");

    ProfileStore store;
    std::array<std::optional<simdjson::dom::element>, num_table_kinds> tables{};
    std::optional<simdjson::dom::element> e_version, e_type, e_bucketing, e_model_config, e_model_name, e_gpu_model;
    std::vector<std::string_view> seen;
    for (auto field : top) {
        const std::string_view k = field.key;
        if (std::find(seen.begin(), seen.end(), k) != seen.end())
            pack_fail(name, "the top-level key \"" + std::string(k) + "\" appears twice; keep one");
        seen.push_back(k);
        if (auto t = table_from_name(k); t && k == table_key(*t))
            tables[static_cast<std::size_t>(*t)] = field.value;
        else if (k == "version")
            e_version = field.value;
        else if (k == "profile_type")
            e_type = field.value;
        else if (k == "bucketing")
            e_bucketing = field.value;
        else if (k == "model_config")
            e_model_config = field.value;
        else if (k == "model_name")
            e_model_name = field.value;
        else if (k == "gpu_model")
            e_gpu_model = field.value;
        else
            store.add_extra_field(std::string(k), simdjson::minify(field.value));
    }
    if (!e_version) pack_fail(name, "no \"version\"; LLM-Emu packs carry \"version\": \"2.0\"");
    if (const std::string v = pack_get_string(name, *e_version, "version"); v != llm_emu_pack_version)
        pack_fail(name, "version is \"" + v + "\" but only \"2.0\" is supported; re-export the pack with LLM-Emu 2.x");
    if (!e_type) pack_fail(name, "no \"profile_type\"; expected \"serving_step_cycle_2d\"");
    if (const std::string v = pack_get_string(name, *e_type, "profile_type"); v != llm_emu_profile_type)
        pack_fail(name, "profile_type is \"" + v + "\" but only \"serving_step_cycle_2d\" is supported");
    if (!e_bucketing)
        pack_fail(name, "no \"bucketing\"; add {\"tt_bucket_width\": 1, \"conc_bucket_width\": 5} (LLM-Emu's defaults) "
                        "if that is how it was built");
    Bucketing bucketing;
    {
        simdjson::dom::object b = pack_get_object(name, *e_bucketing, "bucketing");
        bool has_tt = false;
        bool has_conc = false;
        for (auto field : b) {
            const std::string_view k = field.key;
            if (k != "tt_bucket_width" && k != "conc_bucket_width") continue;
            const std::string where = "bucketing." + std::string(k);
            std::int64_t w = 0;
            if (field.value.get_int64().get(w) != simdjson::SUCCESS)
                pack_fail(name, where + " is " + std::string(pack_type_name(field.value.type())) +
                                    "; it must be a positive integer");
            if (w <= 0 || w > 1'000'000)
                pack_fail(name, where + " is " + std::to_string(w) +
                                    "; bucket widths must be positive integers (LLM-Emu: 1 and 5)");
            if (k == "tt_bucket_width") {
                bucketing.tt_width = static_cast<std::uint32_t>(w);
                has_tt = true;
            } else {
                bucketing.conc_width = static_cast<std::uint32_t>(w);
                has_conc = true;
            }
        }
        if (!has_tt || !has_conc) pack_fail(name, "bucketing needs both tt_bucket_width and conc_bucket_width");
    }
    store.set_bucketing(bucketing);
    ModelConfig m;
    if (e_model_name) m.model_name = pack_get_string(name, *e_model_name, "model_name");
    if (e_gpu_model) store.set_gpu_model(pack_get_string(name, *e_gpu_model, "gpu_model"));
    if (e_model_config) m = pack_read_model_config(name, *e_model_config, std::move(m));
    store.set_model_config(std::move(m));
    bool any = false;
    for (TableKind t : all_table_kinds) {
        if (!tables[static_cast<std::size_t>(t)]) continue;
        pack_read_table(name, *tables[static_cast<std::size_t>(t)], t, bucketing, store);
        any = true;
    }
    if (!any)
        pack_fail(name, "no table; a pack needs at least one of prefill_2d_distribution, decode_2d_distribution, "
                        "step_cycle_2d_distribution");
    return store;
}

} // namespace detail

/// Parses an LLM-Emu pack held in memory; `name` labels error messages (a path).
inline ProfileStore parse_llm_emu_pack(std::string_view json, std::string_view name = "<memory>") {
    const simdjson::padded_string padded(json);
    return detail::parse_pack_padded(padded, name);
}

/// Loads an LLM-Emu pack from a file (see parse_llm_emu_pack).
inline ProfileStore load_llm_emu_pack(const std::filesystem::path& path) {
    simdjson::padded_string data;
    if (auto err = simdjson::padded_string::load(path.string()).get(data); err != simdjson::SUCCESS)
        detail::pack_fail(path.string(), "cannot read the file (" + std::string(simdjson::error_message(err)) +
                                             "); check the path and its permissions");
    return detail::parse_pack_padded(data, path.string());
}

namespace detail {

inline void pack_append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                out += buf;
            } else {
                out.push_back(ch);
            }
        }
    }
    out.push_back('"');
}

// Shortest text that reads back as the same float, written like Python's json (30647.2, 14161.0).
inline void pack_append_float(std::string& out, float v) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    std::string_view s(buf, static_cast<std::size_t>(res.ptr - buf));
    out += s;
    if (s.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

// The pack's model_config object in LLM-Emu's order and layout (2-space indent, nested
// at depth 1); zero / empty fields were not recorded and stay out. Empty when none is set.
inline std::string pack_model_config_json(const ModelConfig& m) {
    std::vector<std::pair<std::string, std::string>> mc;
    auto add = [&](const char* k, std::uint64_t v) {
        if (v != 0) mc.emplace_back(k, std::to_string(v));
    };
    add("num_hidden_layers", m.num_hidden_layers);
    add("hidden_size", m.hidden_size);
    add("num_attention_heads", m.num_attention_heads);
    add("num_key_value_heads", m.num_key_value_heads);
    add("vocab_size", m.vocab_size);
    add("intermediate_size", m.intermediate_size);
    add("head_dim", m.head_dim);
    add("max_model_len", m.max_model_len);
    add("block_size", m.block_size);
    if (m.kv_dtype_bytes != ModelConfig{}.kv_dtype_bytes)
        mc.emplace_back("kv_dtype_bytes", std::to_string(m.kv_dtype_bytes));
    std::vector<std::pair<std::string, std::string>> gpu;
    if (!m.gpu_name.empty()) {
        std::string s;
        pack_append_json_string(s, m.gpu_name);
        gpu.emplace_back("gpu_name", s);
    }
    if (m.gpu_memory_bytes != 0) gpu.emplace_back("gpu_memory_bytes", std::to_string(m.gpu_memory_bytes));
    if (m.gpu_sm_count != 0) gpu.emplace_back("gpu_sm_count", std::to_string(m.gpu_sm_count));
    if (m.compute_capability_major != 0 || m.compute_capability_minor != 0)
        gpu.emplace_back("gpu_compute_capability", "[\n        " + std::to_string(m.compute_capability_major) +
                                                       ",\n        " + std::to_string(m.compute_capability_minor) +
                                                       "\n      ]");
    if (m.gpu_count != 0) gpu.emplace_back("gpu_count", std::to_string(m.gpu_count));
    if (!gpu.empty()) {
        std::string g = "{";
        for (std::size_t i = 0; i < gpu.size(); ++i) {
            g += i == 0 ? "\n      \"" : ",\n      \"";
            g += gpu[i].first + "\": " + gpu[i].second;
        }
        g += "\n    }";
        mc.emplace_back("gpu", g);
    }
    if (mc.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < mc.size(); ++i) {
        out += i == 0 ? "\n    \"" : ",\n    \"";
        out += mc[i].first + "\": " + mc[i].second;
    }
    out += "\n  }";
    return out;
}

} // namespace detail

/// Serialises a store as an LLM-Emu v2.0 pack (LLM-Emu's key order and layout).
inline std::string to_llm_emu_json(const ProfileStore& store) {
    using namespace detail;
    std::string out;
    out.reserve(64 + store.total_samples() * 16 + 4096);
    const ModelConfig& m = store.model_config();
    out += "{\n  \"version\": \"2.0\",\n";
    if (!store.gpu_model().empty()) {
        out += "  \"gpu_model\": ";
        pack_append_json_string(out, store.gpu_model());
        out += ",\n";
    }
    if (!m.model_name.empty()) {
        out += "  \"model_name\": ";
        pack_append_json_string(out, m.model_name);
        out += ",\n";
    }
    out += "  \"profile_type\": \"serving_step_cycle_2d\",\n";
    out += "  \"bucketing\": {\n    \"tt_bucket_width\": " + std::to_string(store.bucketing().tt_width) +
           ",\n    \"conc_bucket_width\": " + std::to_string(store.bucketing().conc_width) + "\n  }";
    for (TableKind t : all_table_kinds) {
        const ProfileTable* table = store.table(t);
        if (!table) continue;
        out += ",\n  \"";
        out += table_key(t);
        out += "\": [";
        for (std::size_t i = 0; i < table->size(); ++i) {
            out += i == 0 ? "\n    {\n" : ",\n    {\n";
            out += "      \"tt\": " + std::to_string(table->tt(i)) +
                   ",\n      \"conc\": " + std::to_string(table->conc(i)) +
                   ",\n      \"num_samples\": " + std::to_string(table->count(i)) + ",\n      \"samples\": [";
            const auto s = table->samples(i);
            for (std::size_t j = 0; j < s.size(); ++j) {
                out += j == 0 ? "\n        " : ",\n        ";
                pack_append_float(out, s[j]);
            }
            out += "\n      ]\n    }";
        }
        out += "\n  ]";
    }
    if (const std::string mc = pack_model_config_json(m); !mc.empty()) {
        out += ",\n  \"model_config\": ";
        out += mc;
    }
    for (const auto& [k, v] : store.extra_fields()) {
        out += ",\n  ";
        pack_append_json_string(out, k);
        out += ": " + v;
    }
    out += "\n}\n";
    return out;
}

/// Writes a store as an LLM-Emu v2.0 pack file (throws profile_error if it cannot).
inline void write_llm_emu_pack(const ProfileStore& store, const std::filesystem::path& path) {
    if (store.num_tables() == 0)
        detail::pack_fail(path.string(), "refusing to write a pack without tables; build or load some buckets first");
    const std::string text = to_llm_emu_json(store);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f)
        detail::pack_fail(path.string(),
                          "cannot open the file for writing; check the directory exists and is writable");
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.close();
    if (!f) detail::pack_fail(path.string(), "writing failed (disk full?)");
}

LLMEMU_END_NAMESPACE
