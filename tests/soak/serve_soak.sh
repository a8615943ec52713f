#!/usr/bin/env bash
# Soak of `llmemu serve` (issue 18): for SECONDS seconds, mixed traffic on 127.0.0.1:PORT —
# valid streamed load (`llmemu bench`), malformed requests (raw bytes: bad JSON, invalid
# UTF-8, deep nesting, wrong Host / Content-Type, garbage, truncated bodies) and aborted
# streams (curl cut off mid-stream) — then checks /metrics: no request running or waiting
# and the KV cache empty (nothing leaked), and a clean SIGTERM exit (under ASan: no leak
# report). Usage: tests/soak/serve_soak.sh LLMEMU [seconds=120] [port=18450]
set -u
cli="$1"
dur="${2:-120}"
port="${3:-18450}"
work="$(mktemp -d)"
log="$work/serve.log"
"$cli" serve --profile const:2 --host 127.0.0.1 --port "$port" --model soak --max-num-seqs 64 \
  --num-gpu-blocks 4096 --max-waiting-requests 256 >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 400); do grep -q 'listening on' "$log" && break; sleep 0.05; done
grep -q 'listening on' "$log" || { echo "soak: serve did not start"; cat "$log"; exit 1; }
url="http://127.0.0.1:$port"
end=$((SECONDS + dur))

valid() {
  local n=0
  while [ "$SECONDS" -lt "$end" ]; do
    "$cli" bench --base-url "$url" --dataset random --input-len 64 --output-len 24 --num-prompts 60 \
      --request-rate 120 --seed "$n" -q >>"$work/bench.log" 2>&1 || true
    n=$((n + 1))
  done
  echo "$n" >"$work/valid.count"
}

raw() { # one raw exchange: send $1 (printf format), read the answer for up to 2 s
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 0
  printf "$1" >&3 2>/dev/null
  timeout 2 cat <&3 >/dev/null 2>&1
  exec 3>&- 3<&-
}

malformed() {
  local n=0 deep
  deep="$(printf '[%.0s' $(seq 3000))$(printf ']%.0s' $(seq 3000))"
  # Connection: close so that each answer ends its exchange (no 2 s wait per request).
  local h='Host: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n'
  while [ "$SECONDS" -lt "$end" ]; do
    raw "POST /v1/completions HTTP/1.1\r\n${h}Content-Length: 12\r\n\r\n{\"model\": 1"
    raw "POST /v1/completions HTTP/1.1\r\n${h}Content-Length: 28\r\n\r\n{\"model\":\"soak\",\"prompt\":\"\xff\"}"
    raw "POST /v1/completions HTTP/1.1\r\n${h}Content-Length: $((28 + ${#deep}))\r\n\r\n{\"model\":\"soak\",\"prompt\":[1,${deep}]}"
    raw "GET /v1/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    raw "GET /v1/models HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    raw "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    raw "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"
    raw "POST /v1/completions HTTP/1.1\r\n${h}Content-Length: 500\r\n\r\n{\"model\":\"soak\""
    raw "POST /v1/completions HTTP/1.1\r\n${h}Content-Length: 60\r\n\r\n{\"model\":\"soak\",\"prompt\":\"hi\",\"max_tokens\":4,\"stream\":true}junk"
    n=$((n + 9))
  done
  echo "$n" >"$work/malformed.count"
}

aborted() {
  local n=0
  while [ "$SECONDS" -lt "$end" ]; do
    curl -sN --max-time 0.2 -H 'Content-Type: application/json' \
      -d '{"model":"soak","prompt":"tell me a long story","max_tokens":400,"stream":true}' \
      "$url/v1/completions" >/dev/null 2>&1
    curl -s --max-time 0.1 -H 'Content-Type: application/json' \
      -d '{"model":"soak","prompt":"and another","max_tokens":400}' "$url/v1/completions" >/dev/null 2>&1
    n=$((n + 2))
  done
  echo "$n" >"$work/aborted.count"
}

valid & v=$!
malformed & m=$!
aborted & a=$!
wait "$v" "$m" "$a"
# Let the last aborts reach the engine, then read the gauges.
ok=0
for _ in $(seq 100); do
  page="$(curl -s "$url/metrics")"
  if echo "$page" | grep -q '^vllm:num_requests_running{[^}]*} 0.0$' &&
     echo "$page" | grep -q '^vllm:num_requests_waiting{[^}]*} 0.0$' &&
     echo "$page" | grep -q '^vllm:kv_cache_usage_perc{[^}]*} 0.0$'; then ok=1; break; fi
  sleep 0.1
done
echo "soak: ${dur} s: $(cat "$work/valid.count") bench runs, $(cat "$work/malformed.count") malformed," \
     "$(cat "$work/aborted.count") aborted requests"
echo "$page" | grep -E '^vllm:(num_requests_running|num_requests_waiting|kv_cache_usage_perc|request_success_total)'
grep -m3 'failed request' "$work/bench.log" || true
[ "$ok" = 1 ] || { echo "soak: FAILED: requests or KV blocks leaked (see /metrics above)"; exit 1; }
kill -TERM "$pid"
wait "$pid"
rc=$?
tail -3 "$log"
trap - EXIT
rm -rf "$work"
[ "$rc" -eq 0 ] || { echo "soak: FAILED: serve exited with $rc"; exit 1; }
echo "soak: ok"
