#pragma once
/// \file replay_token_emitter.hpp
/// ReplayTokenEmitter: token ids replayed, cycling, from a corpus (e.g. real model output),
/// for hosts whose behaviour depends on token content (detokenisers, stop strings).

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llmemu/config.hpp"
#include "llmemu/error.hpp"
#include "llmemu/tokens/token_emitter.hpp"

LLMEMU_BEGIN_NAMESPACE

/// Replays a token-id corpus. Output token k of a request is
/// `corpus[(start(request) + k) % corpus.size()]`, so each request reads the corpus as a
/// cycling stream: from position 0 (Start::beginning) or from a position derived from its
/// id (Start::per_request, the default, so that concurrent requests differ). If an EOS id
/// is given, replaying that id reports EOS. Stateless per request (the position comes from
/// ScheduledRequest::num_output_tokens), cheap to copy (the corpus is shared and
/// immutable), and emit is const and thread-safe.
class ReplayTokenEmitter {
public:
    /// Where each request starts reading the corpus.
    enum class Start : std::uint8_t { beginning, per_request };

    /// Replays `corpus`; throws config_error if it is empty or holds a negative id.
    explicit ReplayTokenEmitter(std::vector<TokenId> corpus, Start start = Start::per_request,
                                std::optional<TokenId> eos_id = std::nullopt)
        : m_corpus(std::make_shared<const std::vector<TokenId>>(std::move(corpus))), m_start(start), m_eos(eos_id) {
        if (m_corpus->empty())
            detail::throw_error<config_error>(
                "ReplayTokenEmitter: the token corpus is empty; give at least one token id");
        for (std::size_t i = 0; i < m_corpus->size(); ++i) {
            if ((*m_corpus)[i] < 0)
                detail::throw_error<config_error>("ReplayTokenEmitter: token id " + std::to_string((*m_corpus)[i]) +
                                                  " at position " + std::to_string(i) +
                                                  " is negative; token ids are >= 0");
        }
    }

    /// Reads a corpus of non-negative integer token ids separated by whitespace or commas
    /// (a JSON array of ids also parses). Throws workload_error naming the file and the
    /// offending text when the file is unreadable, empty, or holds anything else.
    [[nodiscard]] static ReplayTokenEmitter from_file(const std::filesystem::path& path,
                                                      Start start = Start::per_request,
                                                      std::optional<TokenId> eos_id = std::nullopt) {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            detail::throw_error<workload_error>("token corpus '" + path.string() +
                                                "': cannot open the file; check the path");
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::vector<TokenId> ids;
        std::size_t i = 0;
        while (i < text.size()) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (std::isspace(c) != 0 || c == ',' || c == '[' || c == ']') {
                ++i;
                continue;
            }
            if (std::isdigit(c) == 0) {
                detail::throw_error<workload_error>(
                    "token corpus '" + path.string() + "': unexpected '" + text.substr(i, 16) + "' at byte " +
                    std::to_string(i) +
                    "; the file must hold non-negative integer token ids separated by whitespace or commas");
            }
            std::uint64_t v = 0;
            const std::size_t begin = i;
            while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
                v = v * 10U + static_cast<std::uint64_t>(text[i] - '0');
                if (v > static_cast<std::uint64_t>(std::numeric_limits<TokenId>::max()))
                    detail::throw_error<workload_error>("token corpus '" + path.string() +
                                                        "': token id starting at byte " + std::to_string(begin) +
                                                        " does not fit an int32 token id");
                ++i;
            }
            ids.push_back(static_cast<TokenId>(v));
        }
        if (ids.empty())
            detail::throw_error<workload_error>("token corpus '" + path.string() + "': no token ids in the file");
        return ReplayTokenEmitter(std::move(ids), start, eos_id);
    }

    [[nodiscard]] EmittedToken emit(const ScheduledRequest& request, Rng& /*rng*/) const noexcept {
        const std::size_t n = m_corpus->size();
        std::uint64_t start = 0;
        if (m_start == Start::per_request) start = mix(request.id) % n;
        const TokenId id = (*m_corpus)[(start + request.num_output_tokens % n) % n];
        return EmittedToken{id, m_eos && id == *m_eos};
    }

    [[nodiscard]] const std::vector<TokenId>& corpus() const noexcept { return *m_corpus; }

private:
    static constexpr std::uint64_t mix(std::uint64_t x) noexcept { // splitmix64 finaliser
        x += 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
        return x ^ (x >> 31U);
    }

    std::shared_ptr<const std::vector<TokenId>> m_corpus;
    Start m_start = Start::per_request;
    std::optional<TokenId> m_eos;
};

static_assert(TokenEmitter<ReplayTokenEmitter>);

LLMEMU_END_NAMESPACE
