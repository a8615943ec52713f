#pragma once
/// \file version.hpp
/// llmemu's version, for compile-time checks and for the tools to print.

#define LLMEMU_VERSION_MAJOR 0
#define LLMEMU_VERSION_MINOR 1
#define LLMEMU_VERSION_PATCH 0
#define LLMEMU_VERSION_STRING "0.1.0"

namespace llmemu {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = LLMEMU_VERSION_STRING;
} // namespace llmemu
