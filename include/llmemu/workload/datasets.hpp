#pragma once
/// \file datasets.hpp
/// vLLM's benchmark datasets (`vllm bench serve --dataset-name ...`), by vLLM's rules:
///  - random with --random-prefix-len: one prefix of that many tokens shared by every
///    request, followed by the request's own random tokens (prompt = prefix + the drawn
///    input length);
///  - prefix_repetition: num_prefixes prefixes of prefix_len tokens, each followed by
///    num_prompts / num_prefixes different suffixes of suffix_len tokens, shuffled;
///  - custom: a JSONL file with a "prompt" string per line, output --custom-output-len;
///  - sharegpt: a ShareGPT JSON file; each entry's first turn is the prompt and its second
///    the completion (its token count is the output length unless --sharegpt-output-len);
///    vLLM's filter keeps prompts of 4..1024 tokens with prompt + output <= 2048 and outputs
///    of >= 4 tokens.
/// Text is counted and turned into token ids by the server's documented rule
/// (SyntheticVocabulary: no real tokenizer), so equal texts share prefix-cache
/// blocks in `simulate` exactly as they do in `serve`. Readers report `file:line` errors
/// with the fix; datasets with fewer usable prompts than asked for are oversampled with
/// repeats (vLLM's default).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "llmemu/error.hpp"
#include "llmemu/random.hpp"
#include "llmemu/tokens/vocabulary.hpp"

namespace llmemu {

/// One prompt of a text dataset, counted by SyntheticVocabulary.
struct TextPrompt {
    std::vector<TokenId> prompt_ids;
    /// The completion's token count (sharegpt), 0 when the dataset has none.
    std::uint32_t completion_len = 0;
};

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void dataset_fail(const std::string& where, const std::string& what) {
    throw_error<workload_error>(where + ": " + what);
}
} // namespace detail

/// Reads a custom dataset (vLLM's `custom`): one JSON object per line with a non-empty
/// "prompt" string (other keys ignored; blank lines skipped). Streams the file. Throws
/// workload_error naming the line for invalid JSON, a missing or non-string prompt, an
/// empty prompt, or no prompts.
inline std::vector<TextPrompt> parse_custom_dataset(std::istream& in, const std::string& source) {
    std::vector<TextPrompt> out;
    simdjson::dom::parser parser;
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        std::string_view l = line;
        if (line_no == 1 && l.substr(0, 3) == "\xEF\xBB\xBF") l.remove_prefix(3);
        while (!l.empty() && (l.back() == '\r' || l.back() == ' ' || l.back() == '\t')) l.remove_suffix(1);
        while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
        if (l.empty()) continue;
        const std::string where = source + ":" + std::to_string(line_no);
        simdjson::dom::element doc;
        if (auto err = parser.parse(l.data(), l.size()).get(doc); err != simdjson::SUCCESS)
            detail::dataset_fail(where, std::string("not valid JSON (") + simdjson::error_message(err) +
                                            "); each line must be one object {\"prompt\": \"text\"}");
        std::string_view prompt;
        simdjson::dom::element e;
        if (doc.get_object().error() != simdjson::SUCCESS || doc["prompt"].get(e) != simdjson::SUCCESS)
            detail::dataset_fail(where, "lacks \"prompt\"; each line must be one object {\"prompt\": \"text\"}");
        if (e.get_string().get(prompt) != simdjson::SUCCESS)
            detail::dataset_fail(where, "\"prompt\" is " + simdjson::to_string(e).substr(0, 40) +
                                            "; it must be a string (the prompt text)");
        TextPrompt p;
        SyntheticVocabulary::tokenize(prompt, p.prompt_ids);
        if (p.prompt_ids.empty())
            detail::dataset_fail(where, "\"prompt\" is empty; give it some text or delete the line");
        out.push_back(std::move(p));
    }
    if (in.bad()) detail::dataset_fail(source, "read error; check the file");
    if (out.empty())
        detail::dataset_fail(source, "no prompts; a custom dataset has one {\"prompt\": \"text\"} per line");
    return out;
}

/// vLLM's is_valid_sequence for sharegpt: prompt >= 4 tokens, output >= 4 (unless the
/// output length is fixed), prompt <= 1024 and prompt + output <= 2048.
[[nodiscard]] inline bool sharegpt_valid(std::uint32_t prompt_len, std::uint32_t output_len,
                                         bool fixed_output) noexcept {
    if (prompt_len < 4 || (!fixed_output && output_len < 4)) return false;
    return prompt_len <= 1024 && std::uint64_t{prompt_len} + output_len <= 2048;
}

/// Parses a ShareGPT file's text: a JSON array of entries with "conversations": [{"from",
/// "value"}, ...]. Entries with fewer than two turns are skipped (as vLLM does); the first
/// turn's value is the prompt, the second's its completion. Throws workload_error naming
/// the entry for invalid JSON, a top level that is not an array, an entry or turn of the
/// wrong shape, or no usable entry.
inline std::vector<TextPrompt> parse_sharegpt_dataset(std::string_view json, const std::string& source) {
    const simdjson::padded_string padded(json);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS)
        detail::dataset_fail(source, std::string("not valid JSON (") + simdjson::error_message(err) +
                                         "); a ShareGPT file is one array of {\"conversations\": [...]} entries");
    simdjson::dom::array entries;
    if (doc.get_array().get(entries) != simdjson::SUCCESS)
        detail::dataset_fail(source, "the top level is not an array; a ShareGPT file is one array of "
                                     "{\"conversations\": [{\"from\": ..., \"value\": \"text\"}, ...]} entries");
    std::vector<TextPrompt> out;
    std::size_t index = 0;
    for (simdjson::dom::element entry : entries) {
        const std::string where = source + ": entry " + std::to_string(index++);
        simdjson::dom::array turns;
        if (entry.get_object().error() != simdjson::SUCCESS ||
            entry["conversations"].get_array().get(turns) != simdjson::SUCCESS)
            detail::dataset_fail(source, "entry " + std::to_string(index - 1) +
                                             " has no \"conversations\" list; each entry is {\"conversations\": "
                                             "[{\"from\": \"human\", \"value\": \"text\"}, {\"from\": \"gpt\", ...}]}");
        if (turns.size() < 2) continue;
        std::string_view text[2];
        for (std::size_t t = 0; t < 2; ++t) {
            simdjson::dom::element turn;
            if (turns.at(t).get(turn) != simdjson::SUCCESS || turn.get_object().error() != simdjson::SUCCESS ||
                turn["value"].get_string().get(text[t]) != simdjson::SUCCESS)
                detail::dataset_fail(where, "turn " + std::to_string(t) +
                                                " has no \"value\" string; each turn is "
                                                "{\"from\": ..., \"value\": \"text\"}");
        }
        TextPrompt p;
        SyntheticVocabulary::tokenize(text[0], p.prompt_ids);
        p.completion_len = SyntheticVocabulary::count(text[1]);
        out.push_back(std::move(p));
    }
    if (out.empty()) detail::dataset_fail(source, "no entry has two turns; nothing to use as prompt and completion");
    return out;
}

/// Reads a custom (JSONL) dataset file. Throws workload_error when it cannot be opened.
inline std::vector<TextPrompt> read_custom_dataset(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        detail::dataset_fail("custom dataset '" + path.string() + "'",
                             "cannot open the file; check --dataset-path (JSONL, one {\"prompt\": \"text\"} per line)");
    return parse_custom_dataset(in, path.string());
}

/// Reads a ShareGPT JSON file (the whole file: it is one JSON array).
inline std::vector<TextPrompt> read_sharegpt_dataset(const std::filesystem::path& path) {
    simdjson::padded_string data;
    if (simdjson::padded_string::load(path.string()).get(data) != simdjson::SUCCESS)
        detail::dataset_fail("sharegpt dataset '" + path.string() + "'",
                             "cannot read the file; check --dataset-path (a ShareGPT JSON array)");
    return parse_sharegpt_dataset(std::string_view(data.data(), data.size()), path.string());
}

/// Shuffles `v` with Fisher-Yates draws from `g` (portable: llmemu's own draws).
template <class T, class G>
void shuffle_in_place(std::vector<T>& v, G& g) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_index(g, i)]);
}

} // namespace llmemu
