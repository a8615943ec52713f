#!/usr/bin/env bash
# examples/monitoring against a real Prometheus (ctest cli.server.monitoring_prometheus):
# `llmemu serve` under `llmemu bench` load, scraped every second by Prometheus (127.0.0.1,
# its own data dir), then every PromQL expression of examples/monitoring/grafana-dashboard.json
# is evaluated through Prometheus' HTTP API and must return data (a series with a number).
# The server runs vLLM's data parallelism (--data-parallel-size 2): every metric comes as
# two series, engine="0" and engine="1", and the dashboard's queries must work across them
# (they must also find both engines' series).
# Exits 77 (skipped) when prometheus is not installed.
# Usage: monitoring_prometheus.sh <llmemu> <source dir> <work dir>
# LLMEMU_TEST_PORTS=LO-HI picks both ports in that range (default: any free port).
set -u
cli="$1"
src="$2"
work="$3"
if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus not installed (Debian package prometheus, scripts/install-deps.sh): skipping"; exit 77
fi
rm -rf "$work"
mkdir -p "$work/data"
free_port() {
  python3 - "${LLMEMU_TEST_PORTS:-0-0}" "$1" <<'PY'
import socket, sys
lo, hi = (int(x) for x in sys.argv[1].split("-"))
skip = int(sys.argv[2])
for p in ([0] if lo == 0 else range(lo, hi + 1)):
    if p and p == skip: continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(s.getsockname()[1]); break
    except OSError:
        pass
    finally:
        s.close()
PY
}
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$work/serve.log" "$work/prometheus.log" 2>/dev/null; exit 1; }

sport=$(free_port 0)
"$cli" serve mon-model --profile const:4 --host 127.0.0.1 --port "$sport" --data-parallel-size 2 --disable-log-stats \
  >"$work/serve.log" 2>&1 &
pids+=($!)
pport=$(free_port "$sport")
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: llmemu
    static_configs:
      - targets: ['127.0.0.1:$sport']
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q 'listening on' "$work/serve.log" && break; sleep 0.05; done
grep -q 'listening on' "$work/serve.log" || fail "llmemu serve did not start"
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null || fail "prometheus did not become ready"

# ~8 s of load: 160 requests at 20/s.
"$cli" bench --base-url "http://127.0.0.1:$sport" --dataset random --input-len 64 --output-len 16 \
  --num-prompts 160 --request-rate 20 --seed 5 -q >"$work/bench.log" 2>&1 || { cat "$work/bench.log"; fail "bench failed"; }
sleep 2 # the last scrape after the load

python3 - "$src/examples/monitoring/grafana-dashboard.json" "$pport" <<'PY' || fail "panel queries"
import json, math, sys, urllib.parse, urllib.request
dash = json.load(open(sys.argv[1]))
base = f"http://127.0.0.1:{sys.argv[2]}/api/v1/query?query="
empty = []
n = 0
for panel in dash["panels"]:
    for t in panel["targets"]:
        expr = t["expr"].replace("$model_name", "mon-model").replace("$__rate_interval", "15s")
        with urllib.request.urlopen(base + urllib.parse.quote(expr), timeout=10) as r:
            res = json.load(r)
        n += 1
        values = [float(s["value"][1]) for s in res["data"]["result"]] if res.get("status") == "success" else []
        if not any(not math.isnan(v) for v in values):
            empty.append(f'{panel["title"]}: {expr} -> {res["data"]["result"] if res.get("status") == "success" else res}')
with urllib.request.urlopen(base + urllib.parse.quote('count by(engine) (vllm:num_requests_running)'), timeout=10) as r:
    engines = sorted(s["metric"].get("engine") for s in json.load(r)["data"]["result"])
if engines != ["0", "1"]:
    empty.append(f"vllm:num_requests_running should have engine 0 and 1 series: {engines}")
if empty:
    print("queries without data:\n  " + "\n  ".join(empty))
    sys.exit(1)
print(f"monitoring: all {n} dashboard queries of {len(dash['panels'])} panels return data")
PY
