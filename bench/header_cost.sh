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
# best_of INCLUDE_DIR HEADER -> "seconds kilobytes"
best_of() {
  local best="" mem="" i
  for i in $(seq "$runs"); do
    /usr/bin/time -o "$tmp/t" -f "%U %S %M" "$cxx" -std=c++20 -fsyntax-only -I"$1" "${extra[@]}" -x c++ - \
      <<<"#include $2" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; echo "header_cost: $2 does not compile" >&2; exit 1; }
    read -r u s m <"$tmp/t"
    local t
    t=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best="$t"; mem="$m"; fi
  done
  echo "$best $mem"
}
headers=('<vector>' '<llmemu/oracle/oracle.hpp>' '<llmemu/oracle/any_latency_model.hpp>' '<llmemu/llmemu.hpp>')
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
[ "$strict" = 1 ] && [ "$missed" = 1 ] && exit 1
exit 0
