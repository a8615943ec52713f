#!/usr/bin/env bash
# vLLM's own command lines against llmemu (ctest cli.server.vllm_command_lines):
#  - `vllm serve MODEL --dtype auto --api-key token-abc123` (vLLM's OpenAI-compatible server
#    docs) with only the program name changed (plus --port and a fast --profile);
#  - `vllm bench serve ... --save-result --result-dir DIR` (vLLM's benchmark docs' random
#    dataset example, smaller) writes vLLM's file name and keys into a folder it creates;
#  - the periodic stats line, request logs, X-Request-Id from --request-id-prefix.
# Usage: server_vllm_cli.sh <llmemu> <work dir>
set -u
cli="$1"
work="$2"
rm -rf "$work"
mkdir -p "$work"
log="$work/serve.log"
fail() { echo "FAIL: $*"; cat "$log"; kill -TERM "$pid" 2>/dev/null; exit 1; }

VLLM_LOG_STATS_INTERVAL=0.2 "$cli" serve NousResearch/Meta-Llama-3-8B-Instruct --dtype auto --api-key token-abc123 \
  --port 0 --profile const:2 --enable-log-requests >"$log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || fail "server did not start"
grep -q 'vLLM flags with no effect on an emulated GPU: --dtype auto' "$log" || fail "no-effect line missing"

# vLLM's benchmark command line (vllm bench serve -> llmemu bench).
OPENAI_API_KEY=token-abc123 "$cli" bench --backend vllm --model NousResearch/Meta-Llama-3-8B-Instruct \
  --endpoint /v1/completions --dataset-name random --random-input-len 64 --random-output-len 8 \
  --num-prompts 12 --request-rate 100 --max-concurrency 4 --port "$port" \
  --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,99.9 --goodput ttft:5000 tpot:500 \
  --request-id-prefix abc- --metadata run=ci gpu=none --num-warmups 2 --disable-tqdm --trust-remote-code \
  --save-result --result-dir "$work/results/nested" >"$work/bench.log" 2>&1 || { cat "$work/bench.log"; fail "bench failed"; }
grep -q 'vLLM flags with no effect here: --trust-remote-code' "$work/bench.log" || { cat "$work/bench.log"; fail "bench no-effect line"; }
f=$(ls "$work"/results/nested/vllm-100.0qps-concurrency4-Meta-Llama-3-8B-Instruct-*.json 2>/dev/null | head -1)
[ -n "$f" ] || { ls -R "$work/results"; fail "no result file with vLLM's name"; }
python3 - "$f" <<'EOF' || fail "result keys"
import json, sys
j = json.load(open(sys.argv[1]))
need = ["date", "endpoint_type", "backend", "model_id", "num_prompts", "request_rate", "burstiness",
        "max_concurrency", "duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
        "request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
        "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p50_ttft_ms", "p99.9_ttft_ms", "mean_tpot_ms",
        "p99.9_itl_ms", "mean_e2el_ms", "p50_e2el_ms", "run", "gpu"]
missing = [k for k in need if k not in j]
assert not missing, missing
assert j["backend"] == "vllm" and j["completed"] == 12 and j["failed"] == 0, j
assert j["run"] == "ci" and j["gpu"] == "none" and j["request_rate"] == 100.0
assert "p99_ttft_ms" not in j and "ttfts" not in j, "only the chosen percentiles; no lists without --save-detailed"
print("result keys ok")
EOF
# A refused vLLM flag exits 2 with its reason; --result-json into a missing folder creates it.
"$cli" serve --profile const:1 --port 0 --enable-lora >"$work/refused.log" 2>&1
[ $? -eq 2 ] && grep -q "vLLM's --enable-lora is not supported: LoRA adapters" "$work/refused.log" || fail "refused flag"
OPENAI_API_KEY=token-abc123 "$cli" bench --port "$port" --dataset-name random --random-input-len 8 --random-output-len 2 \
  --num-prompts 2 -q --result-json "$work/missing/dir/r.json" >/dev/null 2>&1 || fail "bench --result-json"
[ -s "$work/missing/dir/r.json" ] || fail "--result-json did not create its folder"
# Only the chosen metrics get keys; --result-filename names the file.
OPENAI_API_KEY=token-abc123 "$cli" bench --backend openai-chat --model NousResearch/Meta-Llama-3-8B-Instruct \
  --dataset-name random --random-input-len 32 --random-output-len 4 --num-prompts 3 --port "$port" \
  --percentile-metrics ttft --save-result --result-dir "$work/results" --result-filename chat.json -q \
  >"$work/bench2.log" 2>&1 || { cat "$work/bench2.log"; fail "chat bench failed"; }
python3 -c "
import json; j = json.load(open('$work/results/chat.json'))
assert j['backend'] == 'openai-chat' and 'mean_ttft_ms' in j and 'mean_itl_ms' not in j and 'mean_e2el_ms' not in j, j
print('percentile-metrics ok')" || fail "percentile metrics"
sleep 0.5
kill -TERM "$pid"
wait "$pid"
src=$?
[ "$src" -eq 0 ] || fail "server exit $src"
grep -q 'Engine 000: Avg prompt throughput: [0-9.]* tokens/s, Avg generation throughput: [0-9.]* tokens/s, Running: [0-9]* reqs, Waiting: [0-9]* reqs, GPU KV cache usage: [0-9.]*%, Prefix cache hit rate: [0-9.]*%' "$log" || fail "no stats line"
grep -q 'Received request cmpl-abc-3: prompt_tokens=' "$log" || fail "no request line with the x-request-id"
grep -q 'Finished request cmpl-abc-3: finish_reason=length' "$log" || fail "no finished line"

# vLLM's tool-calling docs: `vllm serve MODEL --enable-auto-tool-choice --tool-call-parser
# llama3_json --chat-template ...`; a tools request gets a tool call with valid arguments.
tlog="$work/tools.log"
"$cli" serve meta-llama/Llama-3.1-8B-Instruct --enable-auto-tool-choice --tool-call-parser llama3_json \
  --chat-template examples/tool_chat_template_llama3.1_json.jinja --port 0 --profile const:2 --disable-log-stats >"$tlog" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$tlog" && break; sleep 0.05; done
tport=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tlog")
[ -n "$tport" ] || { log="$tlog"; fail "tools server did not start"; }
curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$tport/v1/chat/completions" -d '{
  "model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "weather in SF?"}],
  "tools": [{"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object",
    "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["location", "unit"]}}}]}' >"$work/tools.json"
kill -TERM "$pid"; wait "$pid"
python3 - "$work/tools.json" <<'PY' || { log="$tlog"; fail "tool call"; }
import json, sys
j = json.load(open(sys.argv[1]))
c = j["choices"][0]
assert c["finish_reason"] == "tool_calls", j
call = c["message"]["tool_calls"][0]
args = json.loads(call["function"]["arguments"])
assert call["function"]["name"] == "get_current_weather" and args["unit"] in ("celsius", "fahrenheit"), j
assert isinstance(args["location"], str)
PY
"$cli" serve --profile const:1 --port 0 --enable-auto-tool-choice >"$work/tools-refused.log" 2>&1
[ $? -eq 2 ] && grep -q -- '--enable-auto-tool-choice needs --tool-call-parser' "$work/tools-refused.log" || fail "auto tool choice without a parser"

# --scheduling-policy priority: with one running slot, the waiting request with the lower
# priority value runs first, whatever the arrival order (vLLM's rule).
plog="$work/priority.log"
"$cli" serve prio --profile const:2 --host localhost --port 0 --max-num-seqs 1 --scheduling-policy priority --enable-log-requests \
  --disable-log-stats >"$plog" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$plog" && break; sleep 0.05; done
pport=$(sed -n 's/.*listening on http:\/\/localhost:\([0-9]*\).*/\1/p' "$plog")
[ -n "$pport" ] || { log="$plog"; fail "priority server did not start"; }
post() { curl -s -o /dev/null -H 'Content-Type: application/json' -H "X-Request-Id: $1" \
  -d "{\"model\":\"prio\",\"prompt\":\"x\",\"max_tokens\":$2,\"priority\":$3}" "http://127.0.0.1:$pport/v1/completions"; }
post first 300 0 &
for _ in $(seq 200); do grep -q 'Received request cmpl-first' "$plog" && break; sleep 0.01; done
post late-low 5 10 &
for _ in $(seq 200); do grep -q 'Received request cmpl-late-low' "$plog" && break; sleep 0.01; done
post later-high 5 -1 &
wait %2 %3 %4 2>/dev/null
for _ in $(seq 300); do grep -q 'Finished request cmpl-late-low' "$plog" && break; sleep 0.01; done
kill -TERM "$pid"; wait "$pid"
order=$(grep -o 'Finished request cmpl-[a-z-]*' "$plog" | tr '\n' ' ')
[ "$order" = "Finished request cmpl-first Finished request cmpl-later-high Finished request cmpl-late-low " ] ||
  { log="$plog"; fail "priority order: $order"; }
echo "vllm command lines: ok"
