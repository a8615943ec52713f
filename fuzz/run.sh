#!/usr/bin/env bash
# Build the libFuzzer targets with clang (libFuzzer + ASan + UBSan) in their own build
# directory and run each for a bounded time. Every fuzz/fuzz_<name>.cpp is a target; its
# seed corpus is fuzz/corpus_<name>/ or fuzz/corpus/<name>/ (fuzz_pack_reader: fuzz/corpus/)
# and its dictionary fuzz/<name>.dict, when present.
# Usage: fuzz/run.sh [seconds per target=60] [extra libFuzzer flags]
# LLMEMU_FUZZ_TARGETS="fuzz_pack_reader ..." runs only the ones named.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
build="${LLMEMU_FUZZ_BUILD_DIR:-build-fuzz}"
all=$(for f in fuzz/fuzz_*.cpp; do basename "$f" .cpp; done | tr '\n' ' ')
targets="${LLMEMU_FUZZ_TARGETS:-$all}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DLLMEMU_BUILD_FUZZERS=ON \
  -DLLMEMU_BUILD_TESTS=OFF -DLLMEMU_BUILD_EXAMPLES=OFF -DLLMEMU_BUILD_BENCHMARKS=OFF -DLLMEMU_INSTALL=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j "${LLMEMU_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"
for target in $targets; do
  name=${target#fuzz_}
  [ -f "fuzz/$target.cpp" ] || { echo "fuzz/run.sh: unknown target '$target'" >&2; exit 2; }
  corpus=""
  for c in "fuzz/corpus_$name" "fuzz/corpus/$name"; do [ -d "$c" ] && corpus=$c && break; done
  [ "$target" = fuzz_pack_reader ] && corpus=fuzz/corpus
  dict=()
  for d in "fuzz/$name.dict" "fuzz/${name%_reader}.dict" "fuzz/${name%_readers}.dict"; do
    [ -f "$d" ] && dict=(-dict="$d") && break
  done
  # Work on a copy of the seed corpus so that the run's finds do not touch the tree.
  work="$build/$target-corpus"
  mkdir -p "$work"
  [ -n "$corpus" ] && find "$corpus" -maxdepth 1 -type f -exec cp -n {} "$work"/ \;
  echo "== $target (${seconds}s, corpus ${corpus:-none})"
  "$build/fuzz/$target" "$work" "${dict[@]}" -max_total_time="$seconds" -max_len=8192 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/$target-" "$@"
done
