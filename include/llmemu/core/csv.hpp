#pragma once
/// \file csv.hpp
/// The one CSV field reader and number parser of llmemu's text inputs (traces, profile
/// tables, layer-wise profiles, rate schedules, time series): trimming, splitting at
/// commas, a strict whole-field number parse, and one error style,
/// `source:line: what is wrong; how to fix it` (line 0 = the input as a whole), with the
/// offending field echoed safely (at most 40 bytes, other than printable ASCII as \xNN).
/// Each reader throws its own error type (workload_error, profile_error, config_error).
/// Flags, environment variables and spec items read with parse_input_number fail as
/// `name 'text': how to fix it`.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Where a line of text input came from, for messages: `source:line`, or `source` alone
/// when line is 0 (the input as a whole).
struct TextLocation {
    std::string_view source;
    std::size_t line = 0;

    [[nodiscard]] std::string str() const {
        std::string s(source);
        if (line != 0) s += ":" + std::to_string(line);
        return s;
    }
};

/// `text` as a number of type T when the whole of it is one (std::from_chars: no sign on
/// unsigned types, no leading spaces, no hex prefix); floating-point values must be
/// finite. Anything else (empty, trailing bytes, out of range) gives nullopt.
template <class T>
[[nodiscard]] std::optional<T> parse_number(std::string_view text) noexcept {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "parse_number reads numbers");
    T v{};
    const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || res.ec != std::errc() || res.ptr != text.data() + text.size()) return std::nullopt;
    if constexpr (std::is_floating_point_v<T>) {
        if (!std::isfinite(v)) return std::nullopt;
    }
    return v;
}

namespace detail {
template <class E>
[[noreturn, gnu::cold, gnu::noinline]] void input_fail(std::string_view name, std::string_view text,
                                                       std::string_view fix);
} // namespace detail

/// `text`, the value of the input `name` (a flag such as "--request-rate", an environment
/// variable, an item of a spec), as a T (parse_number) for which `ok(value)` holds; else E
/// thrown in the one error style of named inputs, `name 'text': fix` (the text echoed
/// safely), e.g. `parse_input_number<double, usage_error>(s, "--burstiness", "give a number
/// > 0", [](double v) { return v > 0; })`.
template <class T, class E = config_error, class Ok>
[[nodiscard]] T parse_input_number(std::string_view text, std::string_view name, std::string_view fix, Ok&& ok) {
    const std::optional<T> v = parse_number<T>(text);
    if (!v || !static_cast<bool>(ok(*v))) detail::input_fail<E>(name, text, fix);
    return *v;
}
/// parse_input_number without a condition on the value.
template <class T, class E = config_error>
[[nodiscard]] T parse_input_number(std::string_view text, std::string_view name, std::string_view fix) {
    return parse_input_number<T, E>(text, name, fix, [](const T&) { return true; });
}

namespace detail {

/// Throws E with `at: what` (the one error style of text inputs).
template <class E>
[[noreturn, gnu::cold, gnu::noinline]] void text_fail(TextLocation at, const std::string& what) {
    throw E(at.str() + ": " + what);
}

/// `s` without leading spaces and tabs and trailing spaces, tabs and CR.
inline std::string_view text_trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

/// `s` without a leading UTF-8 byte order mark.
inline std::string_view text_strip_bom(std::string_view s) noexcept {
    if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
    return s;
}

/// A field quoted in a message: at most 40 bytes, bytes outside printable ASCII as \xNN.
inline std::string text_echo(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u >= 0x20 && u < 0x7f) {
            out += static_cast<char>(u);
        } else {
            out += "\\x";
            out += hex[u >> 4U];
            out += hex[u & 15U];
        }
    }
    if (s.size() > 40) out += "...";
    return out;
}

/// Throws E with `name 'text': fix` (the one error style of named inputs, parse_input_number).
template <class E>
[[noreturn, gnu::cold, gnu::noinline]] void input_fail(std::string_view name, std::string_view text,
                                                       std::string_view fix) {
    throw E(std::string(name) + " '" + text_echo(text) + "': " + std::string(fix));
}

/// The fields of one CSV line, split at every comma and trimmed (no quoting: llmemu's
/// tables hold numbers and names). `fields` is reused to keep the loop allocation-free.
inline void csv_split(std::string_view line, std::vector<std::string_view>& fields) {
    fields.clear();
    std::size_t pos = 0;
    for (;;) {
        const std::size_t comma = line.find(',', pos);
        if (comma == std::string_view::npos) {
            fields.push_back(text_trim(line.substr(pos)));
            return;
        }
        fields.push_back(text_trim(line.substr(pos, comma - pos)));
        pos = comma + 1;
    }
}

/// Column `column` of the line at `at` as a T (see parse_number), or E thrown as
/// `at: column 'c' has 'v', which is not a finite number (an integer from MIN to MAX); fix`.
template <class E, class T = double>
T csv_number(std::string_view field, TextLocation at, std::string_view column, std::string_view fix) {
    if (auto v = parse_number<T>(field)) return *v;
    std::string what = "column '" + std::string(column) + "' has '" + text_echo(field) + "', which is not ";
    if constexpr (std::is_floating_point_v<T>)
        what += "a finite number";
    else
        what += "an integer from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
                std::to_string(std::numeric_limits<T>::max());
    text_fail<E>(at, what + "; " + std::string(fix));
}

} // namespace detail

LLMEMU_END_NAMESPACE
