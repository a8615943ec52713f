#!/usr/bin/env python3
"""KV-cache events of `llmemu serve --kv-events-config` (ctest cli.server.kv_events).

A subscriber as llm-d's KV-cache indexer would be: it decodes vLLM's msgpack KVEventBatch
from the ZeroMQ PUB socket ([topic, seq, payload]), replays BlockStored / BlockRemoved /
AllBlocksCleared into the set of blocks the engine holds, and finds that set equal to the
engine's own prefix cache (GET /debug/kv_cache) after a load with shared prefixes and a
pool small enough to evict. It also checks the sequence numbers, parent hashes, token ids
and the replay socket. Exits 77 (skipped) without python3-zmq / python3-msgpack or when
llmemu was built without ZeroMQ.
Usage: server_kv_events.py LLMEMU_CLI WORK_DIR
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

try:
    import msgpack
    import zmq
except ImportError:
    # Debian's python3-zmq / python3-msgpack live in the system python, which another
    # python3 first on PATH (pyenv, a venv) does not see.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    print("python3-zmq / python3-msgpack not installed (scripts/install-deps.sh): skipping")
    sys.exit(77)

cli, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
pub_ep = "ipc://" + os.path.join(work, "kv-pub")
replay_ep = "ipc://" + os.path.join(work, "kv-replay")
config = {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": pub_ep,
          "replay_endpoint": replay_ep, "topic": "kv@llmemu", "buffer_steps": 100000}
block_size = 16
log_path = os.path.join(work, "serve.log")
log = open(log_path, "w")
srv = subprocess.Popen([cli, "serve", "kv/model", "--profile", "const:2ms", "--port", "0", "--disable-log-stats",
                        "--num-gpu-blocks", "48", "--block-size", str(block_size), "--max-num-seqs", "4", "--max-model-len", "512",
                        "--kv-events-config", json.dumps(config)], stdout=log, stderr=subprocess.STDOUT)


def fail(msg):
    srv.kill()
    srv.wait()
    print(open(log_path).read())
    print("FAIL:", msg)
    sys.exit(1)


port = None
for _ in range(400):
    text = open(log_path).read()
    if "built without ZeroMQ" in text:
        print("llmemu built without ZeroMQ / msgpack: skipping")
        sys.exit(77)
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
    if m:
        port = int(m.group(1))
        break
    if srv.poll() is not None:
        fail("llmemu serve exited early")
    time.sleep(0.05)
if port is None:
    fail("no 'listening on' line")
base = f"http://127.0.0.1:{port}"

ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"kv@llmemu")
sub.connect(pub_ep)
time.sleep(0.3)  # PUB/SUB joins late

batches = []  # (seq, decoded batch)
stop = threading.Event()


def receive():
    while not stop.is_set():
        if sub.poll(50):
            topic, seq, payload = sub.recv_multipart()
            if topic != b"kv@llmemu" or len(seq) != 8:
                batches.append((-1, None))
                continue
            batches.append((int.from_bytes(seq, "big"), msgpack.unpackb(payload, raw=False)))


rx = threading.Thread(target=receive)
rx.start()


def post(body):
    req = urllib.request.Request(base + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


# Four prompt families sharing 3-5 blocks, random tails, 20 output tokens: prefix hits,
# decode blocks, and a 47-block pool that has to evict.
rng = random.Random(13)
families = [[rng.randrange(1000, 30000) for _ in range(block_size * rng.randrange(3, 6))] for _ in range(4)]
jobs = []
for i in range(40):
    prompt = families[i % 4] + [rng.randrange(1000, 30000) for _ in range(rng.randrange(1, 40))]
    jobs.append({"model": "kv/model", "prompt": prompt, "max_tokens": 20, "ignore_eos": True})
errors = []


def worker(chunk):
    for body in chunk:
        try:
            out = post(body)
            if out["usage"]["completion_tokens"] != 20:
                errors.append("short completion: %r" % out["usage"])
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))


threads = [threading.Thread(target=worker, args=(jobs[k::4],)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    fail("requests failed: %s" % errors[:3])
time.sleep(0.5)  # the last steps' batches reach the subscriber
with urllib.request.urlopen(base + "/debug/kv_cache", timeout=10) as r:
    dump = json.loads(r.read())
time.sleep(0.2)
stop.set()
rx.join()

# ---- replay the events into the blocks held ----
if not batches:
    fail("no KV event batches received")
seqs = [s for s, _ in batches]
if seqs != list(range(len(seqs))):
    fail("sequence numbers not 0..n-1 without gaps: %s" % seqs[:20])
held = set()
stored = removed = cleared = 0
now = time.time()
for seq, batch in batches:
    if not (isinstance(batch, list) and len(batch) == 3):
        fail("batch %d is not [ts, events, data_parallel_rank]: %r" % (seq, batch))
    ts, events, rank = batch
    if not (isinstance(ts, float) and now - 120 < ts <= now + 1):
        fail("batch %d: ts %r is not a recent Unix time" % (seq, ts))
    if rank != 0:
        fail("batch %d: data_parallel_rank %r" % (seq, rank))
    if not events:
        fail("batch %d is empty" % seq)
    for ev in events:
        tag = ev[0]
        if tag == "BlockStored":
            if len(ev) != 8:
                fail("BlockStored has %d fields: %r" % (len(ev), ev))
            _, hashes, parent, tokens, bsize, lora_id, medium, lora_name = ev
            if bsize != block_size or medium != "GPU" or lora_id is not None or lora_name is not None:
                fail("BlockStored fields: %r" % ev[4:])
            if len(tokens) != bsize * len(hashes):
                fail("BlockStored with %d hashes carries %d token ids" % (len(hashes), len(tokens)))
            if parent is not None and parent not in held:
                fail("BlockStored's parent %d is not a held block" % parent)
            for h in hashes:
                if not (isinstance(h, int) and 0 < h < 2 ** 64):
                    fail("block hash %r" % h)
                if h in held:
                    fail("block %d stored twice" % h)
                held.add(h)
                stored += 1
        elif tag == "BlockRemoved":
            _, hashes, medium = ev
            for h in hashes:
                if h not in held:
                    fail("BlockRemoved for block %d, never stored" % h)
                held.discard(h)
                removed += 1
        elif tag == "AllBlocksCleared":
            held.clear()
            cleared += 1
        else:
            fail("unknown event %r" % (ev,))

engines = dump["engines"]
if len(engines) != 1 or engines[0]["block_size"] != block_size:
    fail("/debug/kv_cache: %r" % {k: v for k, v in engines[0].items() if k != "block_hashes"})
engine_blocks = set(engines[0]["block_hashes"])
if held != engine_blocks:
    fail("rebuilt cache differs from the engine's: %d rebuilt, %d in the engine, %d only rebuilt, %d only in the "
         "engine" % (len(held), len(engine_blocks), len(held - engine_blocks), len(engine_blocks - held)))
if removed == 0 or stored <= len(held):
    fail("the load did not evict (stored %d, removed %d)" % (stored, removed))

# ---- the replay socket returns the same batches ----
# A DEALER (a REQ socket takes one reply only): [empty delimiter, start seq] out,
# [empty, seq, payload] per batch back, then [empty, -1, ""].
req = ctx.socket(zmq.DEALER)
req.connect(replay_ep)
req.send_multipart([b"", (0).to_bytes(8, "big")])
replayed = []
poller = zmq.Poller()
poller.register(req, zmq.POLLIN)
while poller.poll(5000):
    empty, seq_bytes, payload = req.recv_multipart()
    if not payload:
        if int.from_bytes(seq_bytes, "big", signed=True) != -1:
            fail("replay end marker %r" % seq_bytes)
        break
    replayed.append((int.from_bytes(seq_bytes, "big"), msgpack.unpackb(payload, raw=False)))
else:
    fail("no replay end marker")
if replayed[:len(batches)] != batches:
    fail("replay differs from the published batches (%d vs %d)" % (len(replayed), len(batches)))

srv.send_signal(signal.SIGTERM)
rc = srv.wait(timeout=30)
log.close()
if rc != 0:
    fail("llmemu serve exited %d after SIGTERM" % rc)
n_batches = len(batches)

# ---- data parallelism: rank r publishes on the endpoint's port + r, tagged with r ----
# tcp://[::1]:P is bound (vLLM's '::' rule) on IPv6 loopback only.
dp_config = {"enable_kv_cache_events": True, "endpoint": "tcp://[::1]:18660", "topic": "dp"}
log = open(log_path, "w")
srv = subprocess.Popen([cli, "serve", "kv/model", "--profile", "const:2ms", "--port", "0", "--disable-log-stats",
                        "--data-parallel-size", "2", "--max-num-seqs", "2", "--kv-events-config",
                        json.dumps(dp_config)], stdout=log, stderr=subprocess.STDOUT)
port = None
for _ in range(400):
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(log_path).read())
    if m:
        port = int(m.group(1))
        break
    if srv.poll() is not None:
        fail("llmemu serve -dp 2 exited early")
    time.sleep(0.05)
if port is None:
    fail("-dp 2: no 'listening on' line")
base = f"http://127.0.0.1:{port}"
subs = []
for r in range(2):
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.IPV6, 1)
    s.setsockopt(zmq.SUBSCRIBE, b"dp")
    s.connect("tcp://[::1]:%d" % (18660 + r))
    subs.append(s)
time.sleep(0.3)
threads = [threading.Thread(target=worker, args=([dict(j, model="kv/model") for j in jobs[k:12:4]],))
           for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    fail("-dp 2 requests failed: %s" % errors[:3])
time.sleep(0.5)
with urllib.request.urlopen(base + "/debug/kv_cache", timeout=10) as r:
    dp_dump = {e["data_parallel_rank"]: set(e["block_hashes"]) for e in json.loads(r.read())["engines"]}
for r, s in enumerate(subs):
    held = set()
    got = 0
    while s.poll(200):
        _, _, payload = s.recv_multipart()
        ts, events, rank = msgpack.unpackb(payload, raw=False)
        if rank != r:
            fail("port %d carries data_parallel_rank %r" % (18660 + r, rank))
        got += 1
        for ev in events:
            if ev[0] == "BlockStored":
                held.update(ev[1])
            elif ev[0] == "BlockRemoved":
                held.difference_update(ev[1])
            else:
                held.clear()
    if got == 0 or held != dp_dump.get(r):
        fail("rank %d: %d batches, rebuilt %d blocks, engine %d" % (r, got, len(held), len(dp_dump.get(r, ()))))
srv.send_signal(signal.SIGTERM)
if srv.wait(timeout=30) != 0:
    fail("llmemu serve -dp 2 exited nonzero after SIGTERM")
log.close()
print("kv events -dp 2: ranks 0 and 1 on ports 18660/18661 rebuilt equal")
print("kv events: %d batches, %d blocks stored, %d removed, %d held = engine's %d; replay ok" %
      (n_batches, stored, removed, len(engine_blocks), len(engine_blocks)))
