#!/usr/bin/env bash
# The public headers, checked one by one (issue 20), by the ctest `headers.self_contained`:
#  1. every include/llmemu/**/*.hpp compiles on its own (`#include <llmemu/X>` as the whole
#     translation unit, -fsyntax-only, warnings on) with each compiler given;
#     and <llmemu/fwd.hpp> declares what the headers define (fwd.hpp, then io.hpp);
#  2. no header includes one from a higher layer (the layering of ../shared/design.md:
#     core < profile, time < oracle, tokens < executor < engine < fleet, workload, metrics
#     < report, server; the umbrellas llmemu.hpp and io.hpp on top);
#  3. the umbrella <llmemu/llmemu.hpp> reaches no third-party header (what llmemu::core
#     promises);
#  4. the portable 128-bit product: tests/test_config.cpp built with -DLLMEMU_HAS_INT128=0
#     and run, so the fallback gives the int128 path's pinned results.
#
#   tests/check_headers.sh SOURCE_DIR "EXTRA FLAGS" CXX [CXX...]
#
# EXTRA FLAGS: -I options for the dependencies (Eigen, simdjson, Boost, nlohmann-json,
# doctest) and e.g. -Werror. LLMEMU_HEADER_JOBS (default 2) compiles run in parallel.
set -euo pipefail
src="$1"
flags="$2"
shift 2
[ $# -ge 1 ] || { echo "usage: $0 SOURCE_DIR \"EXTRA FLAGS\" CXX [CXX...]" >&2; exit 2; }
jobs="${LLMEMU_HEADER_JOBS:-2}"
cd "$src/include"
mapfile -t headers < <(find llmemu -name '*.hpp' | sed 's|^llmemu/||' | LC_ALL=C sort)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0

# ---- 1. each header on its own, per compiler ----
# Headers of optional build features (KV events: ZeroMQ, msgpack) are checked where their
# library is installed.
optional_deps="zmq.hpp msgpack.hpp"
export src flags tmp
for cxx in "$@"; do
  command -v "$cxx" >/dev/null || { echo "headers: compiler '$cxx' not found" >&2; exit 1; }
  export cxx
  missing=""
  for d in $optional_deps; do
    printf '#include <%s>\n' "$d" | "$cxx" -std=c++20 -E -x c++ - >/dev/null 2>&1 || missing="$missing $d"
  done
  export missing
  start=$(date +%s)
  # shellcheck disable=SC2016 # expanded by the inner shell
  printf '%s\n' "${headers[@]}" | xargs -P "$jobs" -I{} bash -c '
    h="{}"; log="$tmp/$(basename "$cxx").${h//\//_}.log"
    for d in $missing; do
      grep -q "^#include <$d>" "llmemu/$h" && { echo "headers: <llmemu/$h> skipped ($d not installed)"; exit 0; }
    done
    # shellcheck disable=SC2086 # flags is a list of options
    if ! printf "#include <llmemu/%s>\n" "$h" |
         "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic $flags -I"$src/include" -x c++ - >"$log" 2>&1; then
      echo "FAIL ($cxx): <llmemu/$h> does not compile on its own:"; head -n 30 "$log"; exit 1
    fi' || failed=1
  echo "headers: ${#headers[@]} headers with $cxx in $(( $(date +%s) - start )) s"
done

# ---- 1b. fwd.hpp's declarations agree with the definitions (tag, namespace, enum base) ----
for cxx in "$@"; do
  tags=""
  "$cxx" --version | grep -q clang && tags="-Wmismatched-tags"
  # shellcheck disable=SC2086
  printf '#include <llmemu/fwd.hpp>\n#include <llmemu/io.hpp>\n' |
    "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic $tags $flags -I"$src/include" -x c++ - >"$tmp/fwd.log" 2>&1 ||
    { echo "FAIL ($cxx): <llmemu/fwd.hpp> disagrees with the definitions:"; head -n 30 "$tmp/fwd.log"; failed=1; }
done
echo "headers: fwd.hpp checked"

# ---- 2. layering ----
rank() {
  case "$1" in
    error.hpp | random.hpp | version.hpp | config.hpp | fwd.hpp | core/*) echo 0 ;;
    profile/* | time/* | detail/time_*) echo 1 ;;
    oracle/* | tokens/*) echo 2 ;;
    executor/*) echo 3 ;;
    engine/* | detail/engine_*) echo 4 ;;
    fleet/* | workload/* | metrics/*) echo 5 ;;
    report/* | server/* | detail/server_*) echo 6 ;;
    llmemu.hpp | io.hpp) echo 7 ;;
    *) echo "?" ;;
  esac
}
# Forwarding headers kept for old include paths point up on purpose.
forwarders=" profile/analytic.hpp engine/router.hpp "
for h in "${headers[@]}"; do
  r=$(rank "$h")
  if [ "$r" = "?" ]; then
    echo "FAIL: <llmemu/$h> is in no layer; add its folder to rank() in tests/check_headers.sh"
    failed=1
    continue
  fi
  case "$forwarders" in *" $h "*) continue ;; esac
  while read -r inc; do
    ir=$(rank "$inc")
    if [ "$ir" = "?" ] || [ "$ir" -gt "$r" ]; then
      echo "FAIL: <llmemu/$h> (layer $r) includes <llmemu/$inc> (layer $ir), a higher layer"
      failed=1
    fi
  done < <(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]llmemu/\([^">]*\)[">].*|\1|p' "llmemu/$h")
done
echo "headers: layering checked"

# ---- 3. the umbrella's closure: the standard library only ----
# shellcheck disable=SC2086
"$1" -std=c++20 -M $flags -I"$src/include" -x c++ - <<<'#include <llmemu/llmemu.hpp>' >"$tmp/deps" 2>&1 ||
  { cat "$tmp/deps"; failed=1; }
if third=$(tr ' \\' '\n\n' <"$tmp/deps" | grep -E 'simdjson|[Ee]igen|nlohmann|boost|CLI11?/|benchmark/|doctest' | sort -u) &&
  [ -n "$third" ]; then
  echo "FAIL: <llmemu/llmemu.hpp> reaches third-party headers (move their users to <llmemu/io.hpp>):"
  echo "$third"
  failed=1
fi
echo "headers: umbrella closure checked"

# ---- 4. the portable 128-bit product ----
# shellcheck disable=SC2086
if "$1" -std=c++20 -O0 -DLLMEMU_HAS_INT128=0 $flags -I"$src/include" "$src/tests/main.cpp" \
  "$src/tests/test_config.cpp" -o "$tmp/config_no_int128" >"$tmp/cfg.log" 2>&1; then
  "$tmp/config_no_int128" --minimal || { echo "FAIL: tests/test_config.cpp with LLMEMU_HAS_INT128=0"; failed=1; }
else
  echo "FAIL: tests/test_config.cpp does not build with -DLLMEMU_HAS_INT128=0:"
  head -n 30 "$tmp/cfg.log"
  failed=1
fi
echo "headers: LLMEMU_HAS_INT128=0 checked"
exit "$failed"
