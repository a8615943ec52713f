#!/usr/bin/env bash
# Build every libFuzzer target (fuzz/fuzz_<name>.cpp) with clang (libFuzzer + ASan + UBSan)
# in its own build directory and run them all within a bounded total time, two at a time.
# Usage: fuzz/run.sh [total_seconds=150] [extra libFuzzer flags]
# Each target runs on a copy of its seed corpus fuzz/corpus_<name>/ or fuzz/corpus/<name>/
# with fuzz/<name>.dict (or <name> less a _reader/_readers suffix) and the libFuzzer flags
# in fuzz/<name>.options, when present; a crash leaves its input as build-fuzz/<name>-crash-* and fails the script.
# LLMEMU_FUZZ_TARGETS="trace_csv fuzz_http_request" runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
total="${1:-150}"
shift || true
build="${LLMEMU_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${LLMEMU_FUZZ_JOBS:-2}"
names=()
for src in fuzz/fuzz_*.cpp; do names+=("$(basename "$src" .cpp | sed 's/^fuzz_//')"); done
if [ -n "${LLMEMU_FUZZ_TARGETS:-}" ]; then
  read -r -a names <<<"$LLMEMU_FUZZ_TARGETS"
  for i in "${!names[@]}"; do
    names[$i]="${names[$i]#fuzz_}"
    [ -f "fuzz/fuzz_${names[$i]}.cpp" ] || { echo "fuzz/run.sh: unknown target '${names[$i]}'" >&2; exit 2; }
  done
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DLLMEMU_BUILD_FUZZERS=ON \
  -DLLMEMU_BUILD_TESTS=OFF -DLLMEMU_BUILD_EXAMPLES=OFF -DLLMEMU_BUILD_BENCHMARKS=OFF -DLLMEMU_INSTALL=OFF >/dev/null
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" --target "${targets[@]}" -j "$jobs"
# Time per target so that the whole run, `jobs` at a time, stays within `total` seconds.
per=$(( total * jobs / ${#names[@]} ))
[ "$per" -ge 5 ] || per=5
echo "fuzz: ${#names[@]} targets, ${per} s each, ${jobs} at a time"
run_one() {
  local n="$1"; shift
  local work="$build/corpus-$n"
  mkdir -p "$work"
  # A copy of the seeds, so that the run's finds do not touch the tree.
  local c
  for c in "fuzz/corpus_$n" "fuzz/corpus/$n"; do
    if [ -d "$c" ]; then find "$c" -maxdepth 1 -type f -exec cp -n {} "$work"/ \; ; break; fi
  done
  local dict=() d
  for d in "fuzz/$n.dict" "fuzz/${n%_reader}.dict" "fuzz/${n%_readers}.dict"; do
    if [ -f "$d" ]; then dict=(-dict="$d"); break; fi
  done
  local opts=()
  [ -f "fuzz/$n.options" ] && read -r -a opts <"fuzz/$n.options"
  local rc=0
  "$build/fuzz/fuzz_$n" "$work" "${dict[@]}" "${opts[@]}" -max_total_time="$per" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/$n-" "$@" >"$build/$n.log" 2>&1 || rc=$?
  echo "$rc" >"$build/$n.rc"
}
running=0
for n in "${names[@]}"; do
  rm -f "$build/$n.rc"
  run_one "$n" "$@" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait
status=0
for n in "${names[@]}"; do
  if [ "$(cat "$build/$n.rc" 2>/dev/null || echo 1)" = 0 ]; then
    echo "fuzz_$n: ok ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$build/$n.log" || echo '? units'))"
  else
    status=1
    echo "fuzz_$n: FAILED (log: $build/$n.log)"
    tail -40 "$build/$n.log"
  fi
done
exit "$status"
