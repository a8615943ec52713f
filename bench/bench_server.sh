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
# BENCH_REPLICAS=N serves N replicas from one process (`llmemu serve --replicas N`) and
# drives each on its own port with its own `llmemu bench` at concurrency C (N*C streams in
# all), reporting every replica and the mean over them.
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

replicas="${BENCH_REPLICAS:-1}"
"${run_nice[@]}" "$cli" serve --profile const:30 --port 0 --max-num-seqs "$max_c" --max-num-batched-tokens 16384 \
  --replicas "$replicas" >"$out_dir/serve.log" 2>&1 &
srv=$!
for _ in $(seq 100); do
  up=$(grep -c 'listening on' "$out_dir/serve.log" 2>/dev/null || true)
  [ "${up:-0}" -ge "$replicas" ] && break
  sleep 0.1
done
mapfile -t ports < <(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out_dir/serve.log")
[ "${#ports[@]}" -eq "$replicas" ] || { cat "$out_dir/serve.log"; exit 1; }
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$srv/stat"; }

printf '%-12s %-9s %-9s %-9s %-9s %-9s %-8s %s\n' concurrency requests failed mean_itl mean_tpot 'itl_err%' 'tpot_err%' 'server_cpu (share of one core)'
for c in "${concurrencies[@]}"; do
  n=$((2 * c))
  t0=$(cpu_ticks); w0=$(date +%s.%N)
  clients=()
  for i in "${!ports[@]}"; do
    "${run_nice[@]}" "$cli" bench --base-url "http://127.0.0.1:${ports[$i]}" --dataset random --input-len 128 \
      --output-len 64 --num-prompts "$n" --max-concurrency "$c" --seed "$((1 + i))" -q \
      --result-json "$out_dir/r$c-$i.json" >"$out_dir/b$c-$i.log" &
    clients+=($!)
  done
  for pid in "${clients[@]}"; do wait "$pid"; done
  t1=$(cpu_ticks); w1=$(date +%s.%N)
  python3 - "$out_dir" "$c" "$n" "$t0" "$t1" "$w0" "$w1" "$clk" "$replicas" <<'EOF'
import json, sys
d, c, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0, t1, w0, w1, clk, reps = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
cpu = (t1 - t0) / clk
rows = [json.load(open(f"{d}/r{c}-{i}.json")) for i in range(reps)]
def line(label, reqs, failed, itl, tpot, tail=""):
    print(f"{label:<12} {reqs:<9} {failed:<9} {itl:<9.3f} {tpot:<9.3f} {100*(itl-30)/30:<9.2f} {100*(tpot-30)/30:<8.2f} {tail}")
if reps > 1:
    for i, r in enumerate(rows):
        line(f"{c} (r{i})", n, r["failed"], r["mean_itl_ms"], r["mean_tpot_ms"])
itl = sum(r["mean_itl_ms"] for r in rows) / reps
tpot = sum(r["mean_tpot_ms"] for r in rows) / reps
line(f"{reps}x{c}" if reps > 1 else c, n * reps, sum(r["failed"] for r in rows), itl, tpot,
     f"{cpu:.2f}s ({100*cpu/(w1-w0):.0f}%) of {w1-w0:.1f}s")
EOF
done
kill -TERM "$srv"
wait "$srv" || true
tail -1 "$out_dir/serve.log"
