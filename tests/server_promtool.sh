#!/usr/bin/env bash
# `promtool check metrics` on a live `llmemu serve`'s /metrics after some load (ctest
# cli.server.promtool). Exits 77 (skipped) without promtool (Debian: prometheus).
# vLLM's own names break two of promtool's style rules, and llmemu keeps vLLM's names so
# dashboards work unchanged: every name has a ':' (vLLM's "vllm:" prefix) and the
# histogram vllm:iteration_tokens_total ends in _total. Those two findings are expected;
# any other finding, or a page promtool cannot parse, fails.
set -u
cli="$1"
command -v promtool >/dev/null 2>&1 || { echo "promtool not installed (apt-get install prometheus): skipping"; exit 77; }
# Twice: one engine, and vLLM's data parallelism (--data-parallel-size 2: each metric's
# HELP/TYPE once, then engine="0" and engine="1" samples).
for dp in 1 2; do
log="$(mktemp)"
"$cli" serve promtool/model --profile const:1 --port 0 --disable-log-stats --data-parallel-size "$dp" >"$log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || { cat "$log"; kill -TERM "$pid"; exit 1; }
"$cli" bench --port "$port" --dataset-name random --random-input-len 32 --random-output-len 4 --num-prompts 6 -q \
  >/dev/null || { kill -TERM "$pid"; exit 1; }
page="$(mktemp)"
curl -s "http://127.0.0.1:$port/metrics" >"$page" 2>/dev/null || python3 -c "
import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())" >"$page"
kill -TERM "$pid"
wait "$pid"
out="$(promtool check metrics <"$page" 2>&1)"
rc=$?
grep -q '^vllm:iteration_tokens_total_count' "$page" || { echo "no vllm:iteration_tokens_total in the page"; exit 1; }
if [ "$dp" = 2 ]; then
  for e in 0 1; do
    grep -q "^vllm:num_requests_running{model_name=\"promtool/model\",engine=\"$e\"}" "$page" ||
      { echo "-dp 2: no engine=\"$e\" series"; exit 1; }
  done
fi
rest="$(printf '%s\n' "$out" | grep -v "metric names should not contain ':'" |
        grep -v '^vllm:iteration_tokens_total non-counter metrics should not have "_total" suffix$' | grep -v '^$')"
rm -f "$log" "$page"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then echo "promtool failed ($rc, -dp $dp): $out"; exit 1; fi
if [ -n "$rest" ]; then echo "promtool findings beyond vLLM's own names (-dp $dp):"; echo "$rest"; exit 1; fi
done
echo "promtool: clean but for vLLM's names"
