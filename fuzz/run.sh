#!/usr/bin/env bash
# Build the fuzzers (pack reader, Mooncake trace reader, output-length model reader, dataset readers) with clang (libFuzzer + ASan + UBSan) in its own build
# directory and run each for a bounded time. Usage: fuzz/run.sh [seconds=60] [extra libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
build="${LLMEMU_FUZZ_BUILD_DIR:-build-fuzz}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DLLMEMU_BUILD_FUZZERS=ON \
  -DLLMEMU_BUILD_TESTS=OFF -DLLMEMU_BUILD_EXAMPLES=OFF -DLLMEMU_BUILD_BENCHMARKS=OFF -DLLMEMU_INSTALL=OFF >/dev/null
cmake --build "$build" --target fuzz_pack_reader fuzz_mooncake_reader fuzz_length_model_reader fuzz_dataset_readers -j "${LLMEMU_FUZZ_JOBS:-1}"
# Work on a copy of the seed corpus so that the run's finds do not touch the tree.
work="$build/fuzz-corpus"
mkdir -p "$work"
cp -n fuzz/corpus/* "$work"/ 2>/dev/null || true
"$build/fuzz/fuzz_pack_reader" "$work" -dict=fuzz/pack.dict -max_total_time="$seconds" -max_len=8192 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/" "$@"
# The Mooncake JSONL trace reader, on its own corpus copy.
work_mc="$build/fuzz-corpus-mooncake"
mkdir -p "$work_mc"
cp -n fuzz/corpus_mooncake/* "$work_mc"/ 2>/dev/null || true
"$build/fuzz/fuzz_mooncake_reader" "$work_mc" -dict=fuzz/mooncake.dict -max_total_time="$seconds" -max_len=4096 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/mooncake-" "$@"
# The output-length model reader.
work_lm="$build/fuzz-corpus-length-model"
mkdir -p "$work_lm"
cp -n fuzz/corpus_length_model/* "$work_lm"/ 2>/dev/null || true
"$build/fuzz/fuzz_length_model_reader" "$work_lm" -dict=fuzz/length_model.dict -max_total_time="$seconds" \
  -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/length-model-" "$@"
# The vLLM dataset readers (custom JSONL, ShareGPT JSON; the first byte picks one).
work_ds="$build/fuzz-corpus-datasets"
mkdir -p "$work_ds"
cp -n fuzz/corpus_datasets/* "$work_ds"/ 2>/dev/null || true
"$build/fuzz/fuzz_dataset_readers" "$work_ds" -dict=fuzz/datasets.dict -max_total_time="$seconds" \
  -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/datasets-" "$@"
