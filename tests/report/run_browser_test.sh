#!/bin/sh
# The HTML report in a real browser: results from the llmemu under test, reports of one run
# (simulate --report) and of a comparison + sweep + validation + real vLLM time series
# (llmemu report), each rendered in headless Chromium and checked by check_report.py; then
# a deliberately broken copy must fail the same checks. Exit 77 (ctest: skipped) only when
# no Chromium is installed (scripts/install-deps.sh installs Debian's `chromium`).
# Usage: run_browser_test.sh LLMEMU OUTDIR
set -eu
llmemu=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [ -z "$browser" ]; then
  echo "SKIP: no chromium on PATH (scripts/install-deps.sh installs it)"
  exit 77
fi
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 is needed"; exit 1; }
rm -rf "$out" && mkdir -p "$out"
common="-q --save-detailed --dataset random --num-prompts 150 --input-len 600 --output-len 60 --num-gpu-blocks 3000"
"$llmemu" simulate $common --request-rate 6 --label "rate 6" --result-json "$out/r6.json" --report "$out/sim.html" >/dev/null
"$llmemu" simulate $common --request-rate 6 --seed 1 --label "rate 6 seed 1" --result-json "$out/r6s1.json" >/dev/null
"$llmemu" simulate $common --request-rate 24 --label "rate 24" --result-json "$out/r24.json" >/dev/null
"$llmemu" sweep -q --dataset random --num-prompts 60 --input-len 600 --output-len 60 --num-gpu-blocks 3000 \
  --request-rates 2,6,12,24 --max-num-seqs 32,256 --slo ttft:1000,tpot:60 -o "$out/sweep.csv" >/dev/null 2>&1
"$llmemu" validate --real "$out/r6.json" --emu "$out/r6s1.json" --csv "$out/deltas.csv" >/dev/null
"$llmemu" validate --real "$out/r6.json" --emu "$out/r6s1.json" --json > "$out/per_request.json"
"$llmemu" report "$out/r6.json" "$out/r24.json" "$out/sweep.csv" "$out/deltas.csv" "$out/per_request.json" \
  --timeseries "$here/vllm_rtx4090_timeseries.csv" --slo ttft:1000,tpot:60 -o "$out/report.html" -q
"$llmemu" simulate -q --replicas 4 --router least_loaded --dataset random --num-prompts 200 --input-len 600 \
  --output-len 60 --request-rate 30 --label "4 replicas" --result-json "$out/fleet.json" --report "$out/fleet.html" >/dev/null

rc=0
echo "== llmemu report (comparison, sweep, validation, real time series)"
REPORT_EXPECT_CHARTS=cdf_ttft,cdf_tpot,cdf_itl,cdf_e2el,ts_requests,ts_kv,ts_throughput,step_latency,coverage_0,coverage_1 \
  python3 "$here/check_report.py" "$browser" "$out/report.html" "$out/report" || rc=1
echo "== simulate --report"
REPORT_EXPECT_CHARTS=cdf_ttft,cdf_e2el,ts_requests,step_latency,coverage_0 \
  python3 "$here/check_report.py" "$browser" "$out/sim.html" "$out/sim" || rc=1
echo "== simulate --replicas 4 --report"
REPORT_EXPECT_CHARTS=cdf_ttft,fleet_load,fleet_kv,fleet_hit,fleet_ttft,fleet_running \
  python3 "$here/check_report.py" "$browser" "$out/fleet.html" "$out/fleet" || rc=1
grep -q 'data-chart="sweep_[0-9]*_ttft"' "$out/report.html" || { echo "FAIL: no sweep chart"; rc=1; }
grep -q 'Kolmogorov-Smirnov' "$out/report.html" || { echo "FAIL: no per-request validation table"; rc=1; }
grep -q 'req/s sustained' "$out/report.html" || { echo "FAIL: no sustainable rate"; rc=1; }
grep -q 'max |err|' "$out/report.html" || { echo "FAIL: no validation table"; rc=1; }
size=$(wc -c < "$out/report.html")
echo "report.html: $size bytes"
[ "$size" -lt 2000000 ] || { echo "FAIL: report over 2 MB"; rc=1; }

echo "== a broken page must fail the checks"
sed -e 's|<script>|<script>console.error("injected");undefinedFunction();|' \
    -e 's|</body>|<img alt="" src="http://127.0.0.1:18799/beacon.png"></body>|' \
    -e 's|class="data"|class="nodata"|g' "$out/report.html" > "$out/broken.html"
python3 "$here/check_report.py" "$browser" "$out/broken.html" "$out/broken" --expect-fail --no-screenshot || rc=1
exit $rc
