#pragma once
/// \file emitters.hpp
/// Every shipped TokenEmitter.

#include "llmemu/tokens/constant_token_emitter.hpp"
#include "llmemu/tokens/eos_at_length_emitter.hpp"
#include "llmemu/tokens/replay_token_emitter.hpp"
#include "llmemu/tokens/token_emitter.hpp"
#include "llmemu/tokens/uniform_vocab_emitter.hpp"
