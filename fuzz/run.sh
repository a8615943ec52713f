#!/usr/bin/env bash
# Build the libFuzzer targets with clang (libFuzzer + ASan + UBSan) in their own build
# directory and run each for a bounded time: fuzz_pack_reader (profile packs) and
# fuzz_validation_readers (vLLM's requests.jsonl, its 1 s log CSV, result JSON lists).
# Usage: fuzz/run.sh [seconds per target=60] [extra libFuzzer flags]
# LLMEMU_FUZZ_TARGETS="fuzz_pack_reader" runs only the ones named.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
build="${LLMEMU_FUZZ_BUILD_DIR:-build-fuzz}"
targets="${LLMEMU_FUZZ_TARGETS:-fuzz_pack_reader fuzz_validation_readers}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DLLMEMU_BUILD_FUZZERS=ON \
  -DLLMEMU_BUILD_TESTS=OFF -DLLMEMU_BUILD_EXAMPLES=OFF -DLLMEMU_BUILD_BENCHMARKS=OFF -DLLMEMU_INSTALL=OFF >/dev/null
for target in $targets; do
  case "$target" in
    fuzz_pack_reader) corpus=fuzz/corpus; dict=fuzz/pack.dict ;;
    fuzz_validation_readers) corpus=fuzz/corpus_validation; dict=fuzz/validation.dict ;;
    *) echo "fuzz/run.sh: unknown target '$target'" >&2; exit 2 ;;
  esac
  cmake --build "$build" --target "$target" -j "${LLMEMU_FUZZ_JOBS:-1}"
  # Work on a copy of the seed corpus so that the run's finds do not touch the tree.
  work="$build/$target-corpus"
  mkdir -p "$work"
  cp -n "$corpus"/* "$work"/ 2>/dev/null || true
  "$build/fuzz/$target" "$work" -dict="$dict" -max_total_time="$seconds" -max_len=8192 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/$target-" "$@"
done
