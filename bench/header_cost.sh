#!/usr/bin/env bash
# What including llmemu costs a C++ consumer: CPU seconds (user + sys, the best of N runs,
# so that a busy machine inflates it less than wall time) and peak memory of
# `g++ -std=c++20 -fsyntax-only` on one #include, with `#include <vector>` as the
# same-run baseline.
#
#   bench/header_cost.sh [-n RUNS] [--against GIT_REF] [--strict]
#
# Targets (issue 18): <llmemu/oracle/oracle.hpp> under 2 s, the umbrella <llmemu/llmemu.hpp>
# under 4 s. --against REF measures the same headers from that commit's include/ too and
# prints the ratios; --strict exits 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
against=""
strict=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs="$2"; shift 2 ;;
    --against) against="$2"; shift 2 ;;
    --strict) strict=1; shift ;;
    *) echo "usage: $0 [-n RUNS] [--against GIT_REF] [--strict]" >&2; exit 2 ;;
  esac
done
cxx="${CXX:-g++}"
extra=()
[ -d /usr/include/eigen3 ] && extra+=(-I/usr/include/eigen3)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# best_run COMMAND... -> "seconds kilobytes" of the fastest of $runs runs (fails if one does)
best_run() {
  local best="" mem="" i
  for i in $(seq "$runs"); do
    /usr/bin/time -o "$tmp/t" -f "%U %S %M" "$@" >/dev/null 2>"$tmp/err" || return 1
    read -r u s m <"$tmp/t"
    local t
    t=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best="$t"; mem="$m"; fi
  done
  echo "$best $mem"
}
# best_of INCLUDE_DIR HEADER: -fsyntax-only of one #include
best_of() {
  echo "#include $2" >"$tmp/one.cpp"
  best_run "$cxx" -std=c++20 -fsyntax-only -I"$1" "${extra[@]}" "$tmp/one.cpp" ||
    { cat "$tmp/err" >&2; echo "header_cost: $2 does not compile" >&2; exit 1; }
}
headers=('<vector>' '<llmemu/oracle/oracle.hpp>' '<llmemu/oracle/any_latency_model.hpp>' '<llmemu/llmemu.hpp>' '<llmemu/io.hpp>')
declare -A target=(['<llmemu/oracle/oracle.hpp>']=2 ['<llmemu/llmemu.hpp>']=4)
if [ -n "$against" ]; then
  mkdir -p "$tmp/ref"
  git archive "$against" include | tar -x -C "$tmp/ref"
fi
printf '%-40s %9s %9s' "header ($cxx -fsyntax-only)" "cpu s" "MB"
[ -n "$against" ] && printf ' %9s %9s %7s' "$against s" "MB" "ratio"
printf ' %s\n' "target"
missed=0
for h in "${headers[@]}"; do
  read -r t m < <(best_of include "$h")
  printf '%-40s %9s %9d' "$h" "$t" $((m / 1024))
  if [ -n "$against" ]; then
    if read -r rt rm < <(best_of "$tmp/ref/include" "$h" 2>/dev/null); then
      printf ' %9s %9d %7s' "$rt" $((rm / 1024)) "$(awk -v a="$t" -v b="$rt" 'BEGIN { printf "%.2f", a / b }')"
    else
      printf ' %9s %9s %7s' "-" "-" "-"
    fi
  fi
  if [ -n "${target[$h]:-}" ]; then
    if awk -v a="$t" -v b="${target[$h]}" 'BEGIN { exit !(a < b) }'; then
      printf ' < %s s ok\n' "${target[$h]}"
    else
      printf ' < %s s MISSED\n' "${target[$h]}"
      missed=1
    fi
  else
    printf '\n'
  fi
done
# The README's embedding snippet (its first cpp block) built into an object file at -O2,
# as a host would compile it (the issue's "15 s and 857 MB").
awk '/^```cpp$/ { if (!done) on = 1; next } /^```$/ { if (on) { on = 0; done = 1 } } on' README.md >"$tmp/block"
{
  grep '^#include' "$tmp/block"
  echo 'int main() {'
  grep -v '^#include' "$tmp/block"
  echo 'return 0; }'
} >"$tmp/snippet.cpp"
snippet_cost() {
  best_run "$cxx" -std=c++20 -O2 -c -I"$1" "${extra[@]}" "$tmp/snippet.cpp" -o "$tmp/snippet.o"
}
if read -r t m < <(snippet_cost include); then
  printf '%-40s %9s %9d' "README snippet (-O2 -c)" "$t" $((m / 1024))
  if [ -n "$against" ] && read -r rt rm < <(snippet_cost "$tmp/ref/include"); then
    printf ' %9s %9d %7s' "$rt" $((rm / 1024)) "$(awk -v a="$t" -v b="$rt" 'BEGIN { printf "%.2f", a / b }')"
  fi
  printf '\n'
else
  cat "$tmp/err" >&2
  echo "header_cost: the README snippet does not compile" >&2
  exit 1
fi
[ "$strict" = 1 ] && [ "$missed" = 1 ] && exit 1
exit 0
