#pragma once
/// \file vocabulary.hpp
/// Forwarding header: SyntheticVocabulary (prompt tokenizer and synthetic output
/// vocabulary) is used by the text datasets too, so it lives in llmemu/tokens/vocabulary.hpp
/// as llmemu::SyntheticVocabulary; llmemu::server::SyntheticVocabulary names the same class.

#include "llmemu/config.hpp"
#include "llmemu/tokens/vocabulary.hpp"

LLMEMU_BEGIN_NAMESPACE
namespace server {
using llmemu::SyntheticVocabulary;
} // namespace server
LLMEMU_END_NAMESPACE
