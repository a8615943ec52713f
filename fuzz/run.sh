#!/usr/bin/env bash
# Build the pack-reader and fleet-file fuzzers with clang (libFuzzer + ASan + UBSan) in its own build
# directory and run it for a bounded time. Usage: fuzz/run.sh [seconds=60] [extra libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
build="${LLMEMU_FUZZ_BUILD_DIR:-build-fuzz}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DLLMEMU_BUILD_FUZZERS=ON \
  -DLLMEMU_BUILD_TESTS=OFF -DLLMEMU_BUILD_EXAMPLES=OFF -DLLMEMU_BUILD_BENCHMARKS=OFF -DLLMEMU_INSTALL=OFF >/dev/null
cmake --build "$build" --target fuzz_pack_reader fuzz_fleet_reader -j "${LLMEMU_FUZZ_JOBS:-1}"
# Work on a copy of the seed corpus so that the run's finds do not touch the tree.
work="$build/fuzz-corpus"
mkdir -p "$work"
cp -n fuzz/corpus/* "$work"/ 2>/dev/null || true
"$build/fuzz/fuzz_pack_reader" "$work" -dict=fuzz/pack.dict -max_total_time="$seconds" -max_len=8192 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/" "$@"
# The fleet-file reader (--fleet FILE.json), for the same time.
fleet_work="$build/fuzz-corpus-fleet"
mkdir -p "$fleet_work"
cp -n fuzz/corpus_fleet/* "$fleet_work"/ 2>/dev/null || true
"$build/fuzz/fuzz_fleet_reader" "$fleet_work" -max_total_time="$seconds" -max_len=4096 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/fleet-" "$@"
