#pragma once
/// \file vocabulary.hpp
/// Forwarding header: SyntheticVocabulary (prompt tokenizer and synthetic output
/// vocabulary) is used by the text datasets too, so it lives in llmemu/tokens/vocabulary.hpp
/// as llmemu::SyntheticVocabulary; llmemu::server::SyntheticVocabulary names the same class.

#include "llmemu/tokens/vocabulary.hpp"

namespace llmemu::server {
using llmemu::SyntheticVocabulary;
} // namespace llmemu::server
