#pragma once
/// \file vocabulary.hpp
/// The stand-in for a tokenizer (the server's and the text datasets'): a documented, deterministic rule that turns a
/// text prompt into token ids (so prompt lengths and prefix-cache hits are reproducible
/// without a real tokenizer), and a fixed synthetic vocabulary that turns generated token
/// ids back into text (so streamed text and `usage` always agree).
///
/// The counting rule (docs/server.md repeats it):
///  - a run of ASCII letters and digits of length L is ceil(L / 4) tokens (pieces of 4);
///  - every other non-whitespace character (punctuation, each non-ASCII UTF-8 code point)
///    is one token;
///  - a single space directly before a non-space piece belongs to that piece (0 tokens);
///    any other run of whitespace is one token.
/// Every word of the synthetic vocabulary has at most 4 letters and is emitted with one
/// leading space, so generated text counts back to exactly one token per generated token.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/core/step.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Deterministic prompt tokenizer and synthetic output vocabulary.
class SyntheticVocabulary {
public:
    /// Token ids produced for text pieces lie in [0, id_space).
    static constexpr std::uint32_t id_space = 100000;

    /// Token count of `text` by the documented rule (same as tokenize(text).size()).
    [[nodiscard]] static std::uint32_t count(std::string_view text) {
        std::uint32_t n = 0;
        for_each_piece(text, [&n](std::string_view, bool) { ++n; });
        return n;
    }

    /// Token ids of `text`: one id per counted piece, a hash of the piece's bytes, so
    /// equal text gives equal ids (and shared prefixes hit the engine's prefix cache).
    static void tokenize(std::string_view text, std::vector<TokenId>& out) {
        for_each_piece(text, [&out](std::string_view piece, bool leading_space) {
            out.push_back(piece_id(piece, leading_space));
        });
    }
    [[nodiscard]] static std::vector<TokenId> tokenize(std::string_view text) {
        std::vector<TokenId> ids;
        tokenize(text, ids);
        return ids;
    }

    /// Splits `text` into its counted pieces, each with the single space that joins it:
    /// `ends` gets each piece's end offset (the last one is text.size()), so piece i is
    /// text[ends[i-1], ends[i]) and there are count(text) of them.
    static void split(std::string_view text, std::vector<std::uint32_t>& ends) {
        for_each_piece(text, [&](std::string_view piece, bool) {
            ends.push_back(static_cast<std::uint32_t>(piece.data() + piece.size() - text.data()));
        });
    }

    /// Text of a generated token: one space and a word of at most 4 letters. An EOS token
    /// has no text (like a special token skipped on detokenisation).
    [[nodiscard]] static std::string_view token_text(TokenId id, bool eos = false) noexcept {
        if (eos) return {};
        return word_table[static_cast<std::uint32_t>(id) % static_cast<std::uint32_t>(word_table.size())];
    }

    /// Number of distinct words in the synthetic vocabulary.
    [[nodiscard]] static constexpr std::size_t size() noexcept { return word_table.size(); }

private:
    static bool is_alnum(unsigned char c) noexcept {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    static bool is_space(unsigned char c) noexcept {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    }
    // Length of the UTF-8 sequence starting with c (1 for ASCII and for stray bytes).
    static std::size_t utf8_len(unsigned char c) noexcept {
        if (c >= 0xF0 && c <= 0xF7) return 4;
        if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
        if (c >= 0xC0) return 2;
        return 1;
    }

    template <class F>
    static void for_each_piece(std::string_view text, F&& f) {
        std::size_t i = 0;
        const std::size_t n = text.size();
        bool leading_space = false;
        while (i < n) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (is_space(c)) {
                std::size_t j = i;
                while (j < n && is_space(static_cast<unsigned char>(text[j]))) ++j;
                if (j - i == 1 && c == ' ' && j < n) {
                    leading_space = true; // joins the next piece
                } else {
                    f(text.substr(i, j - i), false);
                    leading_space = false;
                }
                i = j;
            } else if (is_alnum(c)) {
                std::size_t j = i;
                while (j < n && is_alnum(static_cast<unsigned char>(text[j]))) ++j;
                for (std::size_t k = i; k < j; k += 4) {
                    f(text.substr(k, std::min<std::size_t>(4, j - k)), leading_space);
                    leading_space = false;
                }
                i = j;
            } else {
                const std::size_t len = std::min(utf8_len(c), n - i);
                f(text.substr(i, len), leading_space);
                leading_space = false;
                i += len;
            }
        }
    }

    static TokenId piece_id(std::string_view piece, bool leading_space) noexcept {
        std::uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a
        if (leading_space) h = (h ^ 0x20U) * 0x100000001b3ULL;
        for (const char ch : piece) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ULL;
        return static_cast<TokenId>(h % id_space);
    }

    // Every entry: one space and 1..4 ASCII letters (the round-trip property; checked below).
    static constexpr std::array<std::string_view, 128> word_table{
        " the",  " of",   " and",  " to",   " in",   " is",   " it",   " that", " was",  " for",  " on",   " are",
        " with", " as",   " they", " be",   " at",   " one",  " have", " this", " from", " or",   " had",  " by",
        " hot",  " word", " but",  " what", " some", " we",   " can",  " out",  " odd",  " were", " all",  " top",
        " when", " up",   " use",  " your", " how",  " said", " an",   " each", " she",  " wish", " do",   " time",
        " if",   " will", " way",  " abou", " many", " then", " them", " writ", " wood", " like", " so",   " thes",
        " her",  " long", " make", " thin", " see",  " him",  " two",  " has",  " look", " more", " day",  " coul",
        " go",   " come", " did",  " numb", " soun", " no",   " most", " peop", " my",   " over", " know", " wate",
        " than", " call", " firs", " who",  " may",  " down", " side", " been", " now",  " find", " any",  " new",
        " work", " part", " take", " get",  " plac", " made", " live", " wher", " afte", " back", " litt", " only",
        " roun", " man",  " year", " came", " show", " ever", " good", " me",   " give", " our",  " unde", " name",
        " very", " thro", " just", " form", " sent", " grea", " moon", " say"};
    static constexpr bool table_ok = [] {
        for (const auto w : word_table) {
            if (w.size() < 2 || w.size() > 5 || w[0] != ' ') return false;
            for (std::size_t i = 1; i < w.size(); ++i)
                if (w[i] < 'a' || w[i] > 'z') return false;
        }
        return true;
    }();
    static_assert(table_ok, "synthetic vocabulary words must be ' ' + 1..4 lowercase letters");
};

LLMEMU_END_NAMESPACE
