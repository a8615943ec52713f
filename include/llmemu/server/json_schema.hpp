#pragma once
/// \file json_schema.hpp
/// The JSON-schema subset structured outputs and tool parameters use, read once and then
/// used to write valid instances: `response_format` json_schema / json_object, vLLM's
/// `guided_json` / `structured_outputs.json`, and the arguments of synthetic tool calls.
///
/// Supported keywords: type (one or a list), enum, const, properties, required,
/// additionalProperties (false, true or a schema), items, minItems, maxItems, minLength,
/// maxLength, format (date, date-time, time, email, uuid, uri, hostname, ipv4, ipv6),
/// minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, anyOf, allOf with
/// one member, nullable, $ref to "#", "#/$defs/NAME" or "#/definitions/NAME"; and the
/// annotations title, description, default, examples, $schema, $id, $comment,
/// deprecated, readOnly, writeOnly and "x-..." extensions, which constrain nothing. Any
/// other keyword (pattern, oneOf, not, uniqueItems, ...) is refused with a 400 naming it
/// and where it is: never ignored, so an instance is always valid for the schema given.
///
/// Instances are deterministic per seed. Free strings (no enum, const or format) hold
/// words of the synthetic vocabulary, so each added word is exactly one token by
/// SyntheticVocabulary's rule; instance() spreads words over them to reach a token count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmemu/config.hpp"
#include "llmemu/server/openai.hpp"
#include "llmemu/server/vocabulary.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {

/// A JSON schema read once (the subset above); writes and checks instances.
class JsonSchema {
public:
    /// Largest instance text instance() writes (a schema needing more is refused).
    static constexpr std::size_t max_instance_bytes = 1U << 20U;

    /// Reads `schema`. `param` names it in errors (e.g. "response_format.json_schema.schema").
    /// Throws api_exception (400, code unsupported_parameter or invalid_value) for an
    /// unsupported keyword, a malformed value or a schema no instance satisfies.
    JsonSchema(const nlohmann::json& schema, std::string param) : m_root_json(&schema), m_param(std::move(param)) {
        m_root = read(schema, m_param, 0);
        m_root_json = nullptr; // only valid while reading
        rank_nodes();
        if (m_rank[static_cast<std::size_t>(m_root)] == unreachable)
            refuse(m_param, "its references recurse without end (no finite instance); make the recursion optional",
                   "invalid_value");
    }

    /// A schema-free JSON object (response_format json_object): {"answer": "..."}.
    [[nodiscard]] static JsonSchema any_object() {
        return JsonSchema(nlohmann::json{{"type", "object"},
                                         {"properties", {{"answer", {{"type", "string"}}}}},
                                         {"required", nlohmann::json::array({"answer"})}},
                          "response_format");
    }

    /// A valid instance as compact JSON text with ", " and ": " separators (as Python's
    /// json.dumps writes it). Its token count is `target_tokens` when the free strings
    /// can absorb the difference (fewer when they cannot, more when even the smallest
    /// instance is longer); `natural` words go in each free string before that (seeded,
    /// 1..6 words when `target_tokens` is 0).
    [[nodiscard]] std::string instance(std::uint64_t seed, std::uint32_t target_tokens = 0) const {
        Writer w{*this, seed, {}, {}, 0, 0};
        std::string base = w.write_root(); // every free string at its natural size
        if (target_tokens == 0) return base;
        const std::uint32_t have = SyntheticVocabulary::count(base);
        if (have >= target_tokens) return base;
        // Spread the missing words over the free strings, round robin, within maxLength.
        std::uint64_t missing = target_tokens - have;
        std::vector<std::uint32_t> extra(w.slots.size(), 0);
        bool grew = true;
        while (missing != 0 && grew) {
            grew = false;
            for (std::size_t i = 0; i < w.slots.size() && missing != 0; ++i) {
                auto& s = w.slots[i];
                if (s.capacity_words > s.words + extra[i]) {
                    const std::uint64_t room = s.capacity_words - s.words - extra[i];
                    const std::uint64_t share = std::max<std::uint64_t>(1, missing / (w.slots.size() - i));
                    const auto add = static_cast<std::uint32_t>(std::min({room, share, missing}));
                    extra[i] += add;
                    missing -= add;
                    grew = true;
                }
            }
        }
        Writer w2{*this, seed, {}, std::move(extra), 0, 0};
        return w2.write_root();
    }

    /// Checks `value` against the schema: empty when valid, else where and why not.
    [[nodiscard]] std::string validate(const nlohmann::json& value) const { return check(m_root, value, "$", 0); }

private:
    enum class Kind : std::uint8_t {
        any,
        null,
        boolean,
        integer,
        number,
        string,
        array,
        object,
        enumeration,
        any_of,
        ref
    };
    struct Node {
        Kind kind = Kind::any;
        std::vector<nlohmann::json> values; // enum / const
        // numbers
        std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
        // strings
        std::uint32_t min_length = 0;
        std::uint32_t max_length = std::numeric_limits<std::uint32_t>::max();
        std::string format;
        // arrays
        int items = -1; // node index; -1 = any value
        std::uint32_t min_items = 0;
        std::uint32_t max_items = std::numeric_limits<std::uint32_t>::max();
        // objects
        std::vector<std::pair<std::string, int>> properties;
        std::vector<bool> required;
        bool additional_allowed = true;
        int additional = -1; // schema of other properties; -1 = any
        // anyOf (also a type list and nullable)
        std::vector<int> alternatives;
        // $ref
        std::string ref;
        int target = -1;
        bool nullable = false;
    };

    static constexpr std::uint32_t max_depth = 64;
    static constexpr std::size_t max_nodes = 10000;
    static constexpr std::uint32_t unreachable = std::numeric_limits<std::uint32_t>::max();
    static constexpr std::uint32_t max_items_limit = 1024;
    static constexpr std::uint32_t max_length_limit = 65536;

    [[noreturn]] void refuse(const std::string& where, const std::string& why,
                             const char* code = "unsupported_parameter") const {
        detail::throw_api(400, "'" + where + "': " + why, m_param, code);
    }

    static std::uint32_t read_count(const JsonSchema& self, const nlohmann::json& v, const std::string& where,
                                    std::uint32_t limit) {
        if (!v.is_number_integer() &&
            !(v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::floor(v.get<double>())))
            self.refuse(where, "must be a non-negative integer, got " + detail::brief(v), "invalid_value");
        const double d = v.get<double>();
        if (d < 0) self.refuse(where, "must be a non-negative integer, got " + detail::brief(v), "invalid_value");
        if (d > limit)
            self.refuse(where, "is " + detail::brief(v) + "; llmemu writes instances up to " + std::to_string(limit) +
                                   " (lower it)");
        return static_cast<std::uint32_t>(d);
    }
    static double read_number(const JsonSchema& self, const nlohmann::json& v, const std::string& where) {
        if (!v.is_number() || !std::isfinite(v.get<double>()))
            self.refuse(where, "must be a finite number, got " + detail::brief(v), "invalid_value");
        return v.get<double>();
    }

    int add(Node n) {
        if (m_nodes.size() >= max_nodes)
            refuse(m_param, "the schema has more than 10000 subschemas; simplify it", "invalid_value");
        m_nodes.push_back(std::move(n));
        return static_cast<int>(m_nodes.size() - 1);
    }

    static Kind kind_of(std::string_view t) {
        if (t == "null") return Kind::null;
        if (t == "boolean") return Kind::boolean;
        if (t == "integer") return Kind::integer;
        if (t == "number") return Kind::number;
        if (t == "string") return Kind::string;
        if (t == "array") return Kind::array;
        if (t == "object") return Kind::object;
        return Kind::any;
    }

    // Reads one schema into a node; `type_override` reads it as that one type (type lists).
    int read(const nlohmann::json& s, const std::string& where, std::uint32_t depth,
             std::optional<Kind> type_override = std::nullopt) {
        if (depth > max_depth) refuse(where, "nests schemas more than 64 deep; flatten it");
        if (s.is_boolean()) {
            if (!s.get<bool>()) refuse(where, "the schema false admits no value", "invalid_value");
            return add(Node{});
        }
        if (!s.is_object())
            refuse(where, "a schema must be an object or a boolean, got " + detail::type_name(s), "invalid_type");

        // Every keyword is known: a constraint read below, or an annotation.
        static constexpr std::string_view known[] = {"type",
                                                     "enum",
                                                     "const",
                                                     "properties",
                                                     "required",
                                                     "additionalProperties",
                                                     "items",
                                                     "minItems",
                                                     "maxItems",
                                                     "minLength",
                                                     "maxLength",
                                                     "format",
                                                     "minimum",
                                                     "maximum",
                                                     "exclusiveMinimum",
                                                     "exclusiveMaximum",
                                                     "multipleOf",
                                                     "anyOf",
                                                     "allOf",
                                                     "nullable",
                                                     "$ref",
                                                     "$defs",
                                                     "definitions",
                                                     "title",
                                                     "description",
                                                     "default",
                                                     "examples",
                                                     "$schema",
                                                     "$id",
                                                     "$comment",
                                                     "deprecated",
                                                     "readOnly",
                                                     "writeOnly"};
        for (const auto& [key, value] : s.items()) {
            if (key.starts_with("x-")) continue;
            if (std::find(std::begin(known), std::end(known), key) != std::end(known)) continue;
            if (key == "uniqueItems" && value.is_boolean() && !value.get<bool>()) continue;
            refuse(where + "." + key,
                   "the JSON-schema keyword '" + echo_input(key, 40) +
                       "' is not supported by llmemu's structured outputs (supported: type, enum, const, "
                       "properties, required, additionalProperties, items, minItems, maxItems, minLength, "
                       "maxLength, format, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, "
                       "anyOf, allOf of one schema, nullable, $ref, $defs); drop it or rewrite the schema");
        }

        if (const auto r = s.find("$ref"); r != s.end()) {
            if (!r->is_string()) refuse(where + ".$ref", "must be a string", "invalid_type");
            for (const char* k : {"type", "properties", "items", "enum", "const", "anyOf", "allOf"})
                if (s.contains(k))
                    refuse(where + "." + k, "'$ref' beside '" + std::string(k) +
                                                "' is not supported; move it into the referenced schema");
            Node n;
            n.kind = Kind::ref;
            n.ref = r->get<std::string>();
            const std::string ref = n.ref; // resolve() adds nodes: no reference into m_nodes
            const int id = add(std::move(n));
            const int target = resolve(ref, where + ".$ref", depth);
            m_nodes[static_cast<std::size_t>(id)].target = target;
            return id;
        }
        if (const auto a = s.find("allOf"); a != s.end()) {
            if (!a->is_array() || a->size() != 1)
                refuse(where + ".allOf", "only allOf with exactly one schema is supported (merge the others into it)");
            for (const char* k : {"type", "properties", "items", "enum", "const", "anyOf"})
                if (s.contains(k))
                    refuse(where + "." + k, "'allOf' beside '" + std::string(k) + "' is not supported; merge them");
            return read(a->front(), where + ".allOf[0]", depth + 1);
        }
        bool nullable = false;
        if (const auto nb = s.find("nullable"); nb != s.end()) {
            if (!nb->is_boolean()) refuse(where + ".nullable", "must be a boolean", "invalid_type");
            nullable = nb->get<bool>();
        }
        if (const auto any = s.find("anyOf"); any != s.end()) {
            if (!any->is_array() || any->empty())
                refuse(where + ".anyOf", "must be a non-empty list of schemas", "invalid_type");
            for (const char* k : {"type", "properties", "items", "enum", "const"})
                if (s.contains(k))
                    refuse(where + "." + k,
                           "'anyOf' beside '" + std::string(k) + "' is not supported; move it into each alternative");
            Node n;
            n.kind = Kind::any_of;
            n.nullable = nullable;
            const int id = add(std::move(n));
            std::vector<int> alts;
            for (std::size_t i = 0; i < any->size(); ++i)
                alts.push_back(read((*any)[i], where + ".anyOf[" + std::to_string(i) + "]", depth + 1));
            m_nodes[static_cast<std::size_t>(id)].alternatives = std::move(alts);
            return id;
        }
        if (const auto e = s.contains("enum") ? s.find("enum") : s.find("const"); e != s.end()) {
            Node n;
            n.kind = Kind::enumeration;
            n.nullable = nullable;
            if (e.key() == "enum") {
                if (!e->is_array() || e->empty()) refuse(where + ".enum", "must be a non-empty list", "invalid_type");
                for (const auto& v : *e) n.values.push_back(v);
            } else {
                n.values.push_back(*e);
            }
            if (s.contains("enum") && s.contains("const"))
                refuse(where + ".const", "'const' beside 'enum' is not supported");
            if (const auto t = s.find("type"); t != s.end()) {
                // Keep the members of the declared type(s); none left: no instance.
                std::vector<nlohmann::json> kept;
                for (const auto& v : n.values)
                    if (type_matches(*t, v)) kept.push_back(v);
                if (kept.empty()) refuse(where + ".enum", "no member has the declared 'type'", "invalid_value");
                n.values = std::move(kept);
            }
            return add(std::move(n));
        }

        // type: absent (inferred), one name, or a list (anyOf of each).
        Kind kind = Kind::any;
        if (type_override) {
            kind = *type_override;
        } else if (const auto t = s.find("type"); t != s.end()) {
            if (t->is_array()) {
                if (t->empty()) refuse(where + ".type", "must not be an empty list", "invalid_value");
                Node n;
                n.kind = Kind::any_of;
                n.nullable = nullable;
                const int id = add(std::move(n));
                std::vector<int> alts;
                for (const auto& name : *t) {
                    if (!name.is_string() || kind_of(name.get_ref<const std::string&>()) == Kind::any)
                        refuse(where + ".type", "unknown type " + detail::brief(name), "invalid_value");
                    alts.push_back(read(s, where, depth + 1, kind_of(name.get_ref<const std::string&>())));
                }
                m_nodes[static_cast<std::size_t>(id)].alternatives = std::move(alts);
                return id;
            }
            if (!t->is_string() || kind_of(t->get_ref<const std::string&>()) == Kind::any)
                refuse(where + ".type",
                       "unknown type " + detail::brief(*t) +
                           " (null, boolean, integer, number, string, array or object)",
                       "invalid_value");
            kind = kind_of(t->get_ref<const std::string&>());
        } else if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) {
            kind = Kind::object;
        } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
            kind = Kind::array;
        } else if (s.contains("minLength") || s.contains("maxLength") || s.contains("format")) {
            kind = Kind::string;
        } else if (s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") ||
                   s.contains("exclusiveMaximum") || s.contains("multipleOf")) {
            kind = Kind::number;
        }

        Node n;
        n.kind = kind;
        n.nullable = nullable;
        if (kind == Kind::integer || kind == Kind::number) {
            if (const auto v = s.find("minimum"); v != s.end()) n.minimum = read_number(*this, *v, where + ".minimum");
            if (const auto v = s.find("maximum"); v != s.end()) n.maximum = read_number(*this, *v, where + ".maximum");
            if (const auto v = s.find("exclusiveMinimum"); v != s.end())
                n.exclusive_minimum = read_number(*this, *v, where + ".exclusiveMinimum");
            if (const auto v = s.find("exclusiveMaximum"); v != s.end())
                n.exclusive_maximum = read_number(*this, *v, where + ".exclusiveMaximum");
            if (const auto v = s.find("multipleOf"); v != s.end()) {
                n.multiple_of = read_number(*this, *v, where + ".multipleOf");
                if (*n.multiple_of <= 0) refuse(where + ".multipleOf", "must be greater than 0", "invalid_value");
                if (*n.multiple_of != std::floor(*n.multiple_of))
                    refuse(where + ".multipleOf", "a fractional multipleOf is not supported; use an integer step");
            }
            const int id = add(std::move(n));
            (void)pick_number(m_nodes[static_cast<std::size_t>(id)], 0, where); // refuses an empty range now
            return id;
        }
        if (kind == Kind::string) {
            if (const auto v = s.find("minLength"); v != s.end())
                n.min_length = read_count(*this, *v, where + ".minLength", max_length_limit);
            if (const auto v = s.find("maxLength"); v != s.end())
                n.max_length = read_count(*this, *v, where + ".maxLength", std::numeric_limits<std::uint32_t>::max());
            if (n.min_length > n.max_length) refuse(where, "minLength is above maxLength", "invalid_value");
            if (const auto v = s.find("format"); v != s.end()) {
                if (!v->is_string()) refuse(where + ".format", "must be a string", "invalid_type");
                n.format = v->get<std::string>();
                const std::string sample = format_sample(n.format, 0);
                if (sample.empty())
                    refuse(where + ".format",
                           "the string format '" + echo_input(n.format, 32) +
                               "' is not supported (date, date-time, time, email, uuid, uri, hostname, ipv4, ipv6)");
                if (sample.size() < n.min_length || sample.size() > n.max_length)
                    refuse(where, "minLength/maxLength leave no room for format '" + n.format + "'", "invalid_value");
            }
            return add(std::move(n));
        }
        if (kind == Kind::array) {
            if (const auto v = s.find("minItems"); v != s.end())
                n.min_items = read_count(*this, *v, where + ".minItems", max_items_limit);
            if (const auto v = s.find("maxItems"); v != s.end())
                n.max_items = read_count(*this, *v, where + ".maxItems", std::numeric_limits<std::uint32_t>::max());
            if (n.min_items > n.max_items) refuse(where, "minItems is above maxItems", "invalid_value");
            const int id = add(std::move(n));
            if (const auto v = s.find("items"); v != s.end()) {
                if (v->is_array()) refuse(where + ".items", "a list of item schemas (tuple form) is not supported");
                const int items = read(*v, where + ".items", depth + 1);
                m_nodes[static_cast<std::size_t>(id)].items = items;
            }
            return id;
        }
        if (kind == Kind::object) {
            const int id = add(std::move(n));
            if (const auto p = s.find("properties"); p != s.end()) {
                if (!p->is_object()) refuse(where + ".properties", "must be an object of schemas", "invalid_type");
                for (const auto& [key, sub] : p->items()) {
                    const int child = read(sub, where + ".properties." + echo_input(key, 40), depth + 1);
                    m_nodes[static_cast<std::size_t>(id)].properties.emplace_back(key, child);
                }
            }
            Node& o = m_nodes[static_cast<std::size_t>(id)];
            o.required.assign(o.properties.size(), false);
            if (const auto r = s.find("required"); r != s.end()) {
                if (!r->is_array()) refuse(where + ".required", "must be a list of property names", "invalid_type");
                for (const auto& name : *r) {
                    if (!name.is_string())
                        refuse(where + ".required", "must hold strings, got " + detail::brief(name), "invalid_type");
                    Node& obj = m_nodes[static_cast<std::size_t>(id)];
                    bool found = false;
                    for (std::size_t i = 0; i < obj.properties.size(); ++i)
                        if (obj.properties[i].first == name.get_ref<const std::string&>())
                            obj.required[i] = found = true;
                    if (!found)
                        refuse(where + ".required", "'" + echo_input(name.get_ref<const std::string&>(), 40) +
                                                        "' is required but not under 'properties'; describe it there");
                }
            }
            if (const auto a = s.find("additionalProperties"); a != s.end()) {
                if (a->is_boolean()) {
                    m_nodes[static_cast<std::size_t>(id)].additional_allowed = a->get<bool>();
                } else {
                    const int extra = read(*a, where + ".additionalProperties", depth + 1);
                    m_nodes[static_cast<std::size_t>(id)].additional = extra;
                }
            }
            return id;
        }
        return add(std::move(n)); // any value ({} or only annotations)
    }

    static bool type_matches(const nlohmann::json& type, const nlohmann::json& v) {
        auto one = [&v](const nlohmann::json& t) {
            if (!t.is_string()) return false;
            const auto& name = t.get_ref<const std::string&>();
            return (name == "null" && v.is_null()) || (name == "boolean" && v.is_boolean()) ||
                   (name == "integer" && is_integral(v)) || (name == "number" && v.is_number()) ||
                   (name == "string" && v.is_string()) || (name == "array" && v.is_array()) ||
                   (name == "object" && v.is_object());
        };
        if (type.is_array()) return std::any_of(type.begin(), type.end(), one);
        return one(type);
    }
    static bool is_integral(const nlohmann::json& v) {
        if (v.is_number_integer()) return true;
        return v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::floor(v.get<double>());
    }

    // "#", "#/$defs/NAME", "#/definitions/NAME" (read once; cycles allowed).
    int resolve(const std::string& ref, const std::string& where, std::uint32_t depth) {
        if (const auto it = m_refs.find(ref); it != m_refs.end()) return it->second;
        if (ref == "#") return m_refs[ref] = 0; // the root is node 0 (read first)
        std::string_view name(ref);
        const char* section = nullptr;
        if (name.starts_with("#/$defs/")) {
            section = "$defs";
            name.remove_prefix(8);
        } else if (name.starts_with("#/definitions/")) {
            section = "definitions";
            name.remove_prefix(14);
        } else {
            refuse(where, "only local references '#', '#/$defs/NAME' and '#/definitions/NAME' are supported, got '" +
                              echo_input(ref, 60) + "'");
        }
        if (name.empty() || name.find_first_of("/~") != std::string_view::npos)
            refuse(where, "the reference '" + echo_input(ref, 60) + "' must name one definition (no '/' or '~')");
        const nlohmann::json* defs = detail::member(*m_root_json, section);
        const nlohmann::json* def = defs != nullptr ? detail::member(*defs, std::string(name).c_str()) : nullptr;
        if (def == nullptr)
            refuse(where, "the reference '" + echo_input(ref, 60) + "' names no definition at the schema's top level",
                   "invalid_value");
        // Placeholder first, so a cycle through this definition resolves to it.
        Node placeholder;
        placeholder.kind = Kind::ref;
        const int id = add(std::move(placeholder));
        m_refs[ref] = id;
        const int body = read(*def, std::string(section) + "." + std::string(name), depth + 1);
        m_nodes[static_cast<std::size_t>(id)].target = body;
        return id;
    }

    // A number node's value for `r` (refuses a range without a value).
    double pick_number(const Node& n, std::uint64_t r, const std::string& where) const {
        const bool integer = n.kind == Kind::integer || n.multiple_of.has_value();
        double lo = -1e15, hi = 1e15;
        if (n.minimum) lo = std::max(lo, *n.minimum);
        if (n.maximum) hi = std::min(hi, *n.maximum);
        const double step = n.multiple_of.value_or(integer ? 1.0 : 0.0);
        if (integer) {
            double first = std::ceil(lo / step) * step;
            if (n.exclusive_minimum && first <= *n.exclusive_minimum)
                first = (std::floor(*n.exclusive_minimum / step) + 1) * step;
            double last = std::floor(hi / step) * step;
            if (n.exclusive_maximum && last >= *n.exclusive_maximum)
                last = (std::ceil(*n.exclusive_maximum / step) - 1) * step;
            if (first > last) refuse(where, "no integer satisfies minimum/maximum/multipleOf", "invalid_value");
            // Prefer small values near the lower end (or 0..100 when unbounded below).
            const double base = (!n.minimum && !n.exclusive_minimum && first < 0 && last >= 0) ? 0.0 : first;
            const double span = std::min(last - base, 100.0 * step);
            const double k = std::floor(span / step);
            return base + static_cast<double>(r % (static_cast<std::uint64_t>(k) + 1)) * step;
        }
        if (n.exclusive_minimum) lo = std::max(lo, *n.exclusive_minimum);
        if (n.exclusive_maximum) hi = std::min(hi, *n.exclusive_maximum);
        if (lo > hi || ((n.exclusive_minimum || n.exclusive_maximum) && lo == hi))
            refuse(where, "no number satisfies minimum/maximum", "invalid_value");
        if (!n.minimum && !n.exclusive_minimum && !n.maximum && !n.exclusive_maximum)
            return static_cast<double>(r % 10000) / 100.0;
        // A point strictly inside (or the single allowed value), at 2 decimals when that
        // stays inside.
        if (lo == hi) return lo;
        const double a = std::max(lo, -1e6), b = std::min(hi, 1e6 + a);
        const double f = 0.05 + 0.9 * static_cast<double>(r % 1000) / 1000.0;
        const double v = a + (b - a) * f;
        const double rounded = std::round(v * 100.0) / 100.0;
        auto inside = [&](double x) {
            return x >= lo && x <= hi && (!n.exclusive_minimum || x > *n.exclusive_minimum) &&
                   (!n.exclusive_maximum || x < *n.exclusive_maximum);
        };
        if (inside(rounded)) return rounded;
        return inside(v) ? v : a + (b - a) / 2;
    }

    // A fixed-shape value of a string format, varied by r; "" for an unknown format.
    static std::string format_sample(const std::string& format, std::uint64_t r) {
        char buf[96];
        const unsigned d = static_cast<unsigned>(r % 28) + 1, m = static_cast<unsigned>(r / 28 % 12) + 1;
        const unsigned h = static_cast<unsigned>(r % 24), mi = static_cast<unsigned>(r / 24 % 60);
        if (format == "date") {
            std::snprintf(buf, sizeof buf, "2025-%02u-%02u", m, d);
        } else if (format == "date-time") {
            std::snprintf(buf, sizeof buf, "2025-%02u-%02uT%02u:%02u:00Z", m, d, h, mi);
        } else if (format == "time") {
            std::snprintf(buf, sizeof buf, "%02u:%02u:00", h, mi);
        } else if (format == "email") {
            std::snprintf(buf, sizeof buf, "user%u@example.com", static_cast<unsigned>(r % 1000));
        } else if (format == "uuid") {
            const auto x = r * 0x9E3779B97F4A7C15ULL;
            std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(x >> 32U),
                          static_cast<unsigned>(x >> 16U) & 0xffffU, static_cast<unsigned>(x >> 4U) & 0xfffU,
                          static_cast<unsigned>(x >> 20U) & 0xfffU,
                          static_cast<unsigned long long>(x & 0xffffffffffffULL));
        } else if (format == "uri") {
            std::snprintf(buf, sizeof buf, "https://example.com/item/%u", static_cast<unsigned>(r % 1000));
        } else if (format == "hostname") {
            std::snprintf(buf, sizeof buf, "host%u.example.com", static_cast<unsigned>(r % 1000));
        } else if (format == "ipv4") {
            std::snprintf(buf, sizeof buf, "192.0.2.%u", static_cast<unsigned>(r % 254) + 1);
        } else if (format == "ipv6") {
            std::snprintf(buf, sizeof buf, "2001:db8::%x", static_cast<unsigned>(r % 0xfffe) + 1);
        } else {
            return {};
        }
        return buf;
    }

    // One instance writer: a structural random stream (choices that shape the instance)
    // kept apart from the words, so adding words never changes the shape.
    struct Slot {
        std::uint32_t words = 0;          // natural words
        std::uint64_t capacity_words = 0; // most words maxLength allows
    };
    struct Writer {
        const JsonSchema& schema;
        std::uint64_t state;
        std::vector<Slot> slots;
        std::vector<std::uint32_t> extra; // added words per slot (second pass)
        std::size_t next_slot = 0;
        std::uint32_t depth = 0;

        std::uint64_t next() {
            state += 0x9E3779B97F4A7C15ULL; // splitmix64
            std::uint64_t z = state;
            z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
            return z ^ (z >> 31U);
        }
        std::string write_root() {
            std::string out;
            write(schema.m_root, out);
            return out;
        }
        void check_size(const std::string& out) const {
            if (out.size() > max_instance_bytes)
                schema.refuse(schema.m_param, "its smallest instance is larger than 1 MiB; lower minItems/minLength",
                              "invalid_value");
        }
        [[nodiscard]] bool finite(int id) const {
            return id < 0 || schema.m_rank[static_cast<std::size_t>(id)] != unreachable;
        }
        [[nodiscard]] std::uint32_t rank(int id) const {
            return id < 0 ? 0 : schema.m_rank[static_cast<std::size_t>(id)];
        }
        void write(int id, std::string& out) {
            check_size(out);
            if (id < 0) { // any value: a short free string
                write_free_string(Node{}, out);
                return;
            }
            const Node& n = schema.m_nodes[static_cast<std::size_t>(id)];
            if (++depth > 2 * max_depth)
                schema.refuse(schema.m_param, "its references recurse without end; make the recursion optional",
                              "invalid_value");
            switch (n.kind) {
            case Kind::ref:
                write(n.target, out);
                break;
            case Kind::any_of: {
                // A seeded alternative among those with a finite instance; deep down, the
                // one closest to a leaf, so recursion ends.
                std::vector<int> ok;
                int closest = -1;
                for (const int a : n.alternatives) {
                    if (!finite(a)) continue;
                    ok.push_back(a);
                    if (closest < 0 || rank(a) < rank(closest)) closest = a;
                }
                const std::uint64_t r = next();
                if (ok.empty() || (depth > 8 && n.nullable)) {
                    out += "null";
                    break;
                }
                write(depth > 8 ? closest : ok[r % ok.size()], out);
                break;
            }
            case Kind::enumeration:
                out += dump(n.values[next() % n.values.size()]);
                break;
            case Kind::null:
                out += "null";
                break;
            case Kind::boolean:
                out += (next() & 1U) != 0 ? "true" : "false";
                break;
            case Kind::integer:
            case Kind::number: {
                const double v = schema.pick_number(n, next(), schema.m_param);
                char buf[40];
                if (v == std::floor(v) && std::fabs(v) <= 1e15)
                    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
                else if (std::round(v * 100.0) / 100.0 == v)
                    std::snprintf(buf, sizeof buf, "%.2f", v);
                else
                    std::snprintf(buf, sizeof buf, "%.17g", v);
                out += buf;
                break;
            }
            case Kind::string:
                if (!n.format.empty())
                    out += dump(format_sample(n.format, next()));
                else
                    write_free_string(n, out);
                break;
            case Kind::array: {
                const std::uint64_t r = next();
                std::uint32_t count = n.min_items;
                if (depth <= 8 && finite(n.items)) {
                    const std::uint32_t most = std::min<std::uint32_t>(n.max_items, n.min_items + 3);
                    count = n.min_items + static_cast<std::uint32_t>(r % (most - n.min_items + 1));
                    if (count == 0 && most > 0) count = 1;
                }
                out += '[';
                for (std::uint32_t i = 0; i < count; ++i) {
                    if (i != 0) out += ", ";
                    write(n.items, out);
                }
                out += ']';
                break;
            }
            case Kind::object: {
                out += '{';
                bool first = true;
                auto member = [&](const std::string& key, int child) {
                    if (!first) out += ", ";
                    first = false;
                    out += dump(nlohmann::json(key));
                    out += ": ";
                    write(child, out);
                };
                for (std::size_t i = 0; i < n.properties.size(); ++i) {
                    const std::uint64_t r = next();
                    const bool include =
                        n.required[i] || (depth <= 8 && (r & 1U) == 0 && finite(n.properties[i].second));
                    if (include) member(n.properties[i].first, n.properties[i].second);
                }
                if (n.properties.empty() && n.additional_allowed && depth <= 8 && finite(n.additional))
                    member("value", n.additional);
                out += '}';
                break;
            }
            case Kind::any:
                write_free_string(n, out);
                break;
            }
            --depth;
        }
        void write_free_string(const Node& n, std::string& out) {
            const std::size_t slot = next_slot++;
            const std::uint64_t r = next();
            if (slot >= slots.size()) {
                Slot s;
                // Natural size: 1..6 words, at least minLength, within maxLength (5 bytes a word at most).
                const std::uint32_t min_words = (n.min_length + 3) / 4;
                s.words = std::max<std::uint32_t>(min_words, 1 + static_cast<std::uint32_t>(r % 6));
                s.capacity_words = n.max_length == std::numeric_limits<std::uint32_t>::max()
                                       ? std::numeric_limits<std::uint32_t>::max()
                                       : (static_cast<std::uint64_t>(n.max_length) + 1) / 5;
                if (s.words > s.capacity_words) s.words = static_cast<std::uint32_t>(s.capacity_words);
                slots.push_back(s);
            }
            const std::uint64_t words = slots[slot].words + (slot < extra.size() ? extra[slot] : 0U);
            std::string text;
            for (std::uint64_t i = 0; i < words; ++i) {
                const auto w = SyntheticVocabulary::token_text(static_cast<TokenId>(((r >> 8U) + i * 7919U) & 0xffffU));
                text += i == 0 ? w.substr(1) : w;
                if (text.size() > max_instance_bytes) break;
            }
            while (text.size() < n.min_length) text += 'a';
            if (text.size() > n.max_length) text.resize(n.max_length);
            out += '"';
            out += text; // letters and spaces only: nothing to escape
            out += '"';
        }
        static std::string dump(const nlohmann::json& v) {
            std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            return s;
        }
    };

    // Steps from each node to a finite instance when recursion is cut short (Bellman-Ford
    // over the "needs" edges); unreachable: no finite instance.
    void rank_nodes() {
        m_rank.assign(m_nodes.size(), unreachable);
        auto at = [this](int id) { return id < 0 ? 0U : m_rank[static_cast<std::size_t>(id)]; };
        auto plus1 = [](std::uint32_t r) { return r == unreachable ? unreachable : r + 1; };
        for (bool changed = true; changed;) {
            changed = false;
            for (std::size_t i = 0; i < m_nodes.size(); ++i) {
                const Node& n = m_nodes[i];
                std::uint32_t r = 0;
                switch (n.kind) {
                case Kind::ref:
                    r = plus1(at(n.target));
                    break;
                case Kind::any_of:
                    r = n.nullable ? 0U : unreachable;
                    for (const int a : n.alternatives) r = std::min(r, plus1(at(a)));
                    break;
                case Kind::array:
                    r = n.min_items == 0 ? 0U : plus1(at(n.items));
                    break;
                case Kind::object:
                    for (std::size_t k = 0; k < n.properties.size(); ++k)
                        if (n.required[k]) r = std::max(r, plus1(at(n.properties[k].second)));
                    break;
                default:
                    break;
                }
                if (r < m_rank[i]) {
                    m_rank[i] = r;
                    changed = true;
                }
            }
        }
    }

    // Validation (tests, the fuzz target): the same subset.
    [[nodiscard]] std::string check(int id, const nlohmann::json& v, const std::string& at, std::uint32_t d) const {
        if (id < 0) return {};
        if (d > 4 * max_depth) return at + ": too deep";
        const Node& n = m_nodes[static_cast<std::size_t>(id)];
        if (n.nullable && v.is_null()) return {};
        auto utf8_length = [](const std::string& s) {
            std::size_t k = 0;
            for (const char c : s) k += (static_cast<unsigned char>(c) & 0xC0U) != 0x80U ? 1U : 0U;
            return k;
        };
        switch (n.kind) {
        case Kind::ref:
            return check(n.target, v, at, d + 1);
        case Kind::any_of:
            for (const int a : n.alternatives)
                if (check(a, v, at, d + 1).empty()) return {};
            return at + ": matches no anyOf alternative";
        case Kind::enumeration:
            for (const auto& e : n.values)
                if (e == v) return {};
            return at + ": not one of the enum values";
        case Kind::null:
            return v.is_null() ? "" : at + ": not null";
        case Kind::boolean:
            return v.is_boolean() ? "" : at + ": not a boolean";
        case Kind::integer:
        case Kind::number: {
            if (!v.is_number() || (n.kind == Kind::integer && !is_integral(v))) return at + ": not an integer/number";
            const double x = v.get<double>();
            if ((n.minimum && x < *n.minimum) || (n.maximum && x > *n.maximum) ||
                (n.exclusive_minimum && x <= *n.exclusive_minimum) ||
                (n.exclusive_maximum && x >= *n.exclusive_maximum))
                return at + ": out of range";
            if (n.multiple_of && std::fmod(x, *n.multiple_of) != 0) return at + ": not a multiple";
            return {};
        }
        case Kind::string: {
            if (!v.is_string()) return at + ": not a string";
            const std::size_t len = utf8_length(v.get_ref<const std::string&>());
            if (len < n.min_length || len > n.max_length) return at + ": length out of range";
            if (!n.format.empty() && format_sample(n.format, 0).size() == 0) return at + ": unknown format";
            return {};
        }
        case Kind::array: {
            if (!v.is_array()) return at + ": not an array";
            if (v.size() < n.min_items || v.size() > n.max_items) return at + ": item count out of range";
            for (std::size_t i = 0; i < v.size(); ++i)
                if (auto e = check(n.items, v[i], at + "[" + std::to_string(i) + "]", d + 1); !e.empty()) return e;
            return {};
        }
        case Kind::object: {
            if (!v.is_object()) return at + ": not an object";
            for (std::size_t i = 0; i < n.properties.size(); ++i) {
                const auto it = v.find(n.properties[i].first);
                if (it == v.end()) {
                    if (n.required[i]) return at + ": misses required '" + n.properties[i].first + "'";
                    continue;
                }
                if (auto e = check(n.properties[i].second, *it, at + "." + n.properties[i].first, d + 1); !e.empty())
                    return e;
            }
            for (auto it = v.begin(); it != v.end(); ++it) {
                const std::string& key = it.key();
                const nlohmann::json& value = it.value();
                const bool declared = std::any_of(n.properties.begin(), n.properties.end(),
                                                  [&key](const auto& p) { return p.first == key; });
                if (declared) continue;
                if (!n.additional_allowed) return at + ": has undeclared '" + key + "'";
                if (auto e = check(n.additional, value, at + "." + key, d + 1); !e.empty()) return e;
            }
            return {};
        }
        case Kind::any:
            return {};
        }
        return {};
    }

    const nlohmann::json* m_root_json;
    std::string m_param;
    std::vector<Node> m_nodes;
    std::map<std::string, int> m_refs;
    std::vector<std::uint32_t> m_rank;
    int m_root = 0;
};

/// One synthetic tool call of a scripted output: the function, the call's id, and its
/// first piece (its arguments are the pieces up to the next call's first).
struct ScriptedToolCall {
    std::string name;
    std::string id;
    std::uint32_t first_piece = 0;
};

/// The scripted text of one choice: a structured output or tool calls' arguments,
/// released piece by piece, one piece per token the engine generates.
struct ScriptedOutput {
    /// Tool calls (chat), in order (several with parallel_tool_calls); `text` holds their
    /// arguments one after another. Empty: a structured output.
    std::vector<ScriptedToolCall> tool_calls;
    std::string text;
    /// Piece i is text[ends[i-1], ends[i]) (SyntheticVocabulary's counting rule); no piece
    /// spans two tool calls.
    std::vector<std::uint32_t> ends;

    [[nodiscard]] bool tool_call() const noexcept { return !tool_calls.empty(); }
    [[nodiscard]] std::size_t pieces() const noexcept { return ends.size(); }
    /// Piece i; empty past the end (a token generated after the output is complete).
    [[nodiscard]] std::string_view piece(std::size_t i) const noexcept {
        if (i >= ends.size()) return {};
        const std::uint32_t from = i == 0 ? 0U : ends[i - 1];
        return std::string_view(text).substr(from, ends[i] - from);
    }
    /// The tool call piece i belongs to (the last one past the end).
    [[nodiscard]] std::size_t call_of(std::size_t piece_index) const noexcept {
        std::size_t k = 0;
        while (k + 1 < tool_calls.size() && tool_calls[k + 1].first_piece <= piece_index) ++k;
        return k;
    }
    /// Tool call k's arguments among the first `num_pieces` pieces (all of them once the
    /// output is complete; a prefix when max_tokens cut it).
    [[nodiscard]] std::string_view call_arguments(std::size_t k, std::size_t num_pieces) const noexcept {
        const std::size_t first = tool_calls[k].first_piece;
        const std::size_t next = k + 1 < tool_calls.size() ? tool_calls[k + 1].first_piece : ends.size();
        const std::size_t last = std::min(next, num_pieces);
        if (last <= first) return {};
        const std::uint32_t from = first == 0 ? 0U : ends[first - 1];
        return std::string_view(text).substr(from, ends[last - 1] - from);
    }
};

/// Plans the scripted outputs of a request's `n` choices: empty when the text is the
/// synthetic vocabulary's (no structured output, no tool call). Deterministic per the
/// request's `seed` (else per `fallback_seed`). Tool calls are made for tool_choice
/// named (one call of that function), required and auto (seeded ones of the tools,
/// unless, for auto, the last message is a tool result: then the reply is text): one
/// call, or with parallel_tool_calls (vLLM's default) and several tools 1 to 3 calls of
/// distinct tools, as a model calling tools in parallel. Sizes: with ignore_eos the
/// instance is stretched to max_tokens tokens (shared among the calls; free strings
/// absorb the words), else it has its natural size but at least min_tokens; the
/// engine's max_tokens may still cut it (finish_reason length, the JSON then
/// incomplete, as in vLLM).
/// Throws api_exception (400) for a schema it cannot serve.
[[nodiscard]] inline std::vector<ScriptedOutput> plan_scripted_outputs(const GenerationRequest& r,
                                                                       std::uint64_t fallback_seed) {
    std::vector<ScriptedOutput> out;
    std::uint64_t base =
        r.seed ? static_cast<std::uint64_t>(*r.seed) * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL : fallback_seed;
    auto seed_of = [&base](std::uint32_t i) {
        std::uint64_t z = base + (i + 1ULL) * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31U);
    };
    const std::uint32_t target = r.ignore_eos ? r.max_tokens : r.min_tokens;
    // All choices' texts together stay within the request-body limit's order of size.
    std::size_t total = 0;
    auto account = [&total](const ScriptedOutput& o) {
        total += o.text.size() + 4 * o.ends.size();
        if (total > (16U << 20U))
            detail::throw_api(
                400, "the structured outputs of this request's choices exceed 16 MiB; lower n or the schema's sizes",
                "n", "invalid_value");
    };
    const bool calls = r.tool_choice == ToolChoice::named || r.tool_choice == ToolChoice::required ||
                       (r.tool_choice == ToolChoice::automatic && !r.last_message_is_tool);
    if (calls) {
        std::vector<JsonSchema> schemas; // every offered tool's, so no request passes on luck
        schemas.reserve(r.tools.size());
        for (std::size_t t = 0; t < r.tools.size(); ++t)
            schemas.emplace_back(r.tools[t].parameters, "tools[" + std::to_string(t) + "].function.parameters");
        const bool parallel = r.parallel_tool_calls && r.tool_choice != ToolChoice::named;
        const std::size_t most_calls = parallel ? std::min<std::size_t>(r.tools.size(), 3) : 1;
        std::vector<std::uint32_t> call_ends;
        for (std::uint32_t i = 0; i < r.n; ++i) {
            const std::uint64_t seed = seed_of(i);
            std::size_t t = seed % r.tools.size();
            if (r.tool_choice == ToolChoice::named)
                for (std::size_t k = 0; k < r.tools.size(); ++k)
                    if (r.tools[k].name == r.tool_name) t = k;
            const std::size_t calls_made = 1 + (seed >> 40U) % most_calls;
            ScriptedOutput o;
            for (std::size_t k = 0; k < calls_made; ++k) {
                const std::size_t tool = (t + k) % r.tools.size(); // distinct tools
                const std::uint64_t call_seed = seed + k * 0x9E3779B97F4A7C15ULL;
                char id[48];
                std::snprintf(id, sizeof id, "chatcmpl-tool-%016llx%016llx", static_cast<unsigned long long>(call_seed),
                              static_cast<unsigned long long>(call_seed * 0xD6E8FEB86659FD93ULL));
                o.tool_calls.push_back({r.tools[tool].name, id, static_cast<std::uint32_t>(o.ends.size())});
                const std::uint32_t share = k + 1 == calls_made
                                                ? target - static_cast<std::uint32_t>(target / calls_made * k)
                                                : static_cast<std::uint32_t>(target / calls_made);
                const std::string arguments = schemas[tool].instance(call_seed, share);
                call_ends.clear();
                SyntheticVocabulary::split(arguments, call_ends);
                const auto offset = static_cast<std::uint32_t>(o.text.size());
                for (const std::uint32_t e : call_ends) o.ends.push_back(offset + e);
                o.text += arguments;
            }
            account(o);
            out.push_back(std::move(o));
        }
        return out;
    }
    if (r.format == OutputFormat::text) return out;
    std::optional<JsonSchema> schema;
    if (r.format == OutputFormat::json_schema) schema.emplace(r.format_spec, r.format_param);
    if (r.format == OutputFormat::json_object) schema.emplace(JsonSchema::any_object());
    for (std::uint32_t i = 0; i < r.n; ++i) {
        const std::uint64_t seed = seed_of(i);
        ScriptedOutput o;
        if (schema)
            o.text = schema->instance(seed, target);
        else
            o.text = r.format_spec[seed % r.format_spec.size()].get<std::string>();
        SyntheticVocabulary::split(o.text, o.ends);
        if (o.ends.empty()) o.ends.push_back(0); // an empty choice string: one empty piece
        account(o);
        out.push_back(std::move(o));
    }
    return out;
}

} // namespace server
LLMEMU_END_NAMESPACE
