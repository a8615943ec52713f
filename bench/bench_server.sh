#!/usr/bin/env bash
# Load test of `llmemu serve` with `llmemu bench` (loopback only, bounded request counts).
#
#   bench/bench_server.sh [path/to/llmemu] [concurrency ...]
#
# Starts `llmemu serve --profile const:30` (every engine step takes 30 ms), then for each
# concurrency C (default: 256 1024) sends 2*C requests of the random dataset (128 prompt
# tokens, 64 output tokens, ignore_eos) all at t=0 with --max-concurrency C, and reports
# the client-measured mean ITL and TPOT (target: within 2% of 30 ms), failed requests,
# and the server's CPU use (from its /proc entry and from process_cpu_seconds_total).
# Use a Release build: cmake --preset release && cmake --build --preset release --target llmemu_cli
# The server and client run at nice -10 when allowed (BENCH_NICE=0 to turn off): on a busy
# shared machine the figures should measure the emulator, not the neighbours' compilers.
set -euo pipefail
nice_level="${BENCH_NICE:--10}"
run_nice=()
if [ "$nice_level" != 0 ] && nice -n "$nice_level" true 2>/dev/null; then run_nice=(nice -n "$nice_level"); fi
cli="${1:-build/release/bin/llmemu}"
shift || true
concurrencies=("$@")
[ ${#concurrencies[@]} -eq 0 ] && concurrencies=(256 1024)
max_c=0
for c in "${concurrencies[@]}"; do [ "$c" -gt "$max_c" ] && max_c=$c; done
out_dir="$(mktemp -d)"
trap 'kill -TERM "$srv" 2>/dev/null || true; rm -rf "$out_dir"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

"${run_nice[@]}" "$cli" serve --profile const:30 --port 0 --max-num-seqs "$max_c" --max-num-batched-tokens 16384 \
  >"$out_dir/serve.log" 2>&1 &
srv=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$out_dir/serve.log" && break
  sleep 0.1
done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out_dir/serve.log")
[ -n "$port" ] || { cat "$out_dir/serve.log"; exit 1; }
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$srv/stat"; }

printf '%-12s %-9s %-9s %-9s %-9s %-9s %-8s %s\n' concurrency requests failed mean_itl mean_tpot 'itl_err%' 'tpot_err%' 'server_cpu (share of one core)'
for c in "${concurrencies[@]}"; do
  n=$((2 * c))
  t0=$(cpu_ticks); w0=$(date +%s.%N)
  "${run_nice[@]}" "$cli" bench --base-url "http://127.0.0.1:$port" --dataset random --input-len 128 --output-len 64 \
    --num-prompts "$n" --max-concurrency "$c" --seed 1 -q --result-json "$out_dir/r$c.json" >"$out_dir/b$c.log"
  t1=$(cpu_ticks); w1=$(date +%s.%N)
  python3 - "$out_dir/r$c.json" "$c" "$n" "$t0" "$t1" "$w0" "$w1" "$clk" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c, n, t0, t1, w0, w1, clk = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
cpu = (t1 - t0) / clk
itl, tpot = r["mean_itl_ms"], r["mean_tpot_ms"]
print(f"{c:<12} {n:<9} {r['failed']:<9} {itl:<9.3f} {tpot:<9.3f} {100*(itl-30)/30:<9.2f} {100*(tpot-30)/30:<8.2f} "
      f"{cpu:.2f}s ({100*cpu/(w1-w0):.0f}%) of {w1-w0:.1f}s")
EOF
done
kill -TERM "$srv"
wait "$srv" || true
tail -1 "$out_dir/serve.log"
