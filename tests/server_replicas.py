#!/usr/bin/env python3
"""`llmemu serve --replicas / --router / --data-parallel-size` (ctest cli.server.replicas).

1. --replicas 3: three ports, each its own engine and /metrics (1, 2 and 3 requests sent
   to them show as 1, 2 and 3); then three streams in flight, one per replica, and
   SIGTERM: every replica stops accepting and drains its stream to the end, exit 0.
2. --replicas 2 --router round_robin: the router's port spreads 4 requests 2 + 2 over the
   replicas (their own /metrics count them), which still answer on their own ports.
3. --data-parallel-size 2: one port, two engines (ranks 0 and 1 in /debug/kv_cache), both
   used by vLLM's balancer; /metrics has each engine's own series (engine="0" and
   engine="1", as vLLM's per-rank metrics) and they add up to the requests sent.
4. --router scored vs round_robin on the same requests (two long shared prefixes): the
   scored router's prefix scorer, fed by the replicas' KV-cache events, finds more
   prefix-cache hits (the replicas' /metrics).
Usage: server_replicas.py LLMEMU_CLI
"""
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

cli = sys.argv[1]


def start(*args):
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen([cli, "serve", "rep/model", "--profile", "const:10ms", "--port", "0",
                             "--disable-log-stats", *args], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(400):
        text = open(log.name).read()
        ports = re.findall(r"listening on http://127\.0\.0\.1:(\d+)(?: \(([^)]*)\))?", text)
        if "(Ctrl-C to stop)" in text and text.rstrip().endswith("(Ctrl-C to stop)"):
            return proc, log.name, [(int(p), what) for p, what in ports]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    print(open(log.name).read())
    sys.exit("llmemu serve did not start")


def fail(proc, log, msg):
    proc.kill()
    proc.wait()
    print(open(log).read())
    print("FAIL:", msg)
    sys.exit(1)


def post(port, max_tokens, prompt=None, stream=False):
    body = {"model": "rep/model", "prompt": prompt or "hello there", "max_tokens": max_tokens, "ignore_eos": True,
            "stream": stream}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def successes(port):
    return sum(per_engine(port, "vllm:request_success_total").values())


def settled(read, expected, timeout=5.0):
    """read() once it equals `expected`, or its last value after `timeout` s: a finished
    request reaches an engine's counters on its server thread, which may be a moment after
    the client has its response."""
    deadline = time.time() + timeout
    value = read()
    while value != expected and time.time() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def per_engine(port, name, page=None):
    """{engine label: sum of the samples of `name` (a counter or a histogram's _count)}."""
    out = {}
    for line in (page or get(port, "/metrics")).splitlines():
        if line.startswith(name + "{"):
            engine = re.search(r'engine="([^"]*)"', line).group(1)
            out[engine] = out.get(engine, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def stop(proc, log, what):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    if rc != 0:
        fail(proc, log, f"{what}: exit {rc} after SIGTERM")
    return open(log).read()


# ---- 1. three replicas, separate metrics, SIGTERM drains all ----
proc, log, fronts = start("--replicas", "3", "--drain-timeout", "20")
if [w for _, w in fronts] != ["replica 0", "replica 1", "replica 2"] or len({p for p, _ in fronts}) != 3:
    fail(proc, log, f"expected three replica ports, got {fronts}")
ports = [p for p, _ in fronts]
for i, port in enumerate(ports):
    if json.loads(get(port, "/v1/models"))["data"][0]["id"] != "rep/model":
        fail(proc, log, f"replica {i}: /v1/models")
    for _ in range(i + 1):
        out = json.loads(post(port, 2))
        if out["usage"]["completion_tokens"] != 2:
            fail(proc, log, f"replica {i}: {out}")
counts = settled(lambda: [successes(p) for p in ports], [1.0, 2.0, 3.0])
if counts != [1.0, 2.0, 3.0]:
    fail(proc, log, f"each replica's /metrics should count only its own requests: {counts}")
for i, port in enumerate(ports):
    if 'engine="0"' not in get(port, "/metrics"):
        fail(proc, log, f"replica {i}: /metrics lacks vLLM's engine label")

# Streams of 60 tokens (0.6 s at 10 ms a step) on every replica, then SIGTERM mid-way.
results = [None] * 3


def stream(i):
    try:
        results[i] = post(ports[i], 60, stream=True)
    except Exception as e:  # noqa: BLE001
        results[i] = "error: %r" % e


threads = [threading.Thread(target=stream, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
time.sleep(0.2)
proc.send_signal(signal.SIGTERM)
time.sleep(0.1)
for i, port in enumerate(ports):  # draining: no new connections
    s = socket.socket()
    s.settimeout(2)
    refused = s.connect_ex(("127.0.0.1", port)) != 0
    s.close()
    if not refused:
        fail(proc, log, f"replica {i} still accepts connections after SIGTERM")
for t in threads:
    t.join()
rc = proc.wait(timeout=30)
for i, body in enumerate(results):
    chunks = [json.loads(line[6:]) for line in (body or "").splitlines()
              if line.startswith("data: {")]
    reasons = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    tokens = sum(1 for c in chunks if c.get("choices") and c["choices"][0].get("text") is not None
                 and c["choices"][0]["finish_reason"] is None)
    if "length" not in reasons or not body.rstrip().endswith("data: [DONE]"):
        fail(proc, log, f"replica {i}'s stream did not drain to its end: reasons {reasons}, {body[-200:]!r}")
if rc != 0:
    fail(proc, log, f"exit {rc} after SIGTERM")
text = open(log).read()
if not re.search(r"stopped after .*; [0-9]+ requests \(9 generations, 0 aborted", text):
    fail(proc, log, "summary line: " + text.splitlines()[-1])
print("replicas: 3 ports, metrics 1/2/3, SIGTERM drained 3 streams")

# ---- 2. a router in front of two replicas ----
proc, log, fronts = start("--replicas", "2", "--router", "round_robin")
if len(fronts) != 3 or not fronts[0][1].startswith("router round_robin") or fronts[1][1] != "replica 0":
    fail(proc, log, f"router then two replicas expected: {fronts}")
router, r0, r1 = (p for p, _ in fronts)
for _ in range(4):
    post(router, 2)
post(r1, 2)  # a replica still answers directly
counts = settled(lambda: [successes(r0), successes(r1)], [2.0, 3.0])
if counts != [2.0, 3.0]:
    fail(proc, log, f"round robin over 2 replicas + 1 direct: {counts}")
text = stop(proc, log, "router")
if "2 routed to it" not in text:
    fail(proc, log, "no per-engine routing summary")
print("router: round_robin spread 4 requests 2 + 2")

# ---- 3. vLLM data parallelism on one port ----
proc, log, fronts = start("--data-parallel-size", "2", "--max-num-seqs", "2")
if len(fronts) != 1 or not fronts[0][1].startswith("data parallel"):
    fail(proc, log, f"one data-parallel port expected: {fronts}")
port = fronts[0][0]
long_prompt = " ".join("w%d" % k for k in range(64))
threads = [threading.Thread(target=post, args=(port, 5, long_prompt + " %d" % k)) for k in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
engines = json.loads(get(port, "/debug/kv_cache"))["engines"]
if [e["data_parallel_rank"] for e in engines] != [0, 1]:
    fail(proc, log, f"ranks: {[e['data_parallel_rank'] for e in engines]}")
if not all(e["num_cached_blocks"] > 0 for e in engines):
    fail(proc, log, "the balancer left an engine idle: %r" % [e["num_cached_blocks"] for e in engines])
settled(lambda: sum(per_engine(port, "vllm:request_success_total").values()), 6.0)
page = get(port, "/metrics")
for name in ("vllm:request_success_total", "vllm:e2e_request_latency_seconds_count",
             "vllm:time_to_first_token_seconds_count", "vllm:request_params_n_count"):
    counts = per_engine(port, name, page)
    if sorted(counts) != ["0", "1"] or not all(counts.values()) or sum(counts.values()) != 6.0:
        fail(proc, log, f"{name}: each engine's own series, adding up to the 6 requests: {counts}")
tokens = per_engine(port, "vllm:generation_tokens_total", page)
if sum(tokens.values()) != 30.0 or not all(tokens.values()):
    fail(proc, log, f"vllm:generation_tokens_total per engine should add up to 6 x 5: {tokens}")
if page.count("# TYPE vllm:num_requests_running gauge") != 1:
    fail(proc, log, "one HELP/TYPE per metric, then every engine's samples")
stop(proc, log, "data parallel")
print("data parallel: 2 engines on one port, both used")


# ---- 4. the scored router's prefix scorer reads the replicas' caches ----
def prefix_hits(policy):
    proc, log, fronts = start("--replicas", "2", "--router", policy)
    router_port, replica_ports = fronts[0][0], [p for p, _ in fronts[1:]]
    families = [" ".join("p%d_%d" % (f, k) for k in range(80)) for f in range(2)]  # ~15 blocks each
    for i, f in enumerate([0, 0, 1, 1, 0, 0, 1, 1]):
        post(router_port, 2, families[f] + " tail%d" % i)
    hits = sum(sum(per_engine(p, "vllm:prefix_cache_hits_total").values()) for p in replica_ports)
    stop(proc, log, policy)
    return hits


scored, spread = prefix_hits("scored"), prefix_hits("round_robin")
if not scored > spread:
    sys.exit(f"FAIL: --router scored should find more prefix-cache hits than round_robin: {scored} vs {spread}")
print(f"scored router: {scored:.0f} prefix-cache hit tokens, round_robin {spread:.0f}")
print("replicas: ok")
