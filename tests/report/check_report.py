#!/usr/bin/env python3
"""Renders an llmemu HTML report in headless Chromium and checks it as a reader would see it.

Usage: check_report.py CHROMIUM REPORT.html OUTDIR [--expect-fail] [--no-screenshot]

Checks: no console message from the page (errors, warnings, uncaught exceptions), no
network request made by the page (Chromium's own NetLog, not a text search), every chart
<svg> present with drawn data of non-zero size (measured by the browser's layout), and the
page not blank (the screenshot PNG decoded here: enough non-white pixels, and pixels of
the palette's first colour, the first curve's). With --expect-fail the script inverts its
verdict: used on a deliberately broken page, to show the checks can fail.
Only the Python standard library is used.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]


def chromium(binary, url, extra, timeout=60):
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([binary] + FLAGS + ["--user-data-dir=" + profile] + extra + [url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def page_requests(netlog_path):
    """URLs the page itself asked for (requests whose isolation key is the file:// page)."""
    with open(netlog_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        # Chromium may be killed before closing the array: close it ourselves.
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = []
    for e in log.get("events", []):
        p = e.get("params") or {}
        if names.get(e.get("type")) != "URL_REQUEST_START_JOB" or "url" not in p:
            continue
        if "file://" in str(p.get("network_isolation_key", "")) or p.get("initiator") in ("null", "file://"):
            if not p["url"].startswith(("file:", "data:", "blob:", "about:")):
                urls.append(p["url"])
    return urls


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), "unsupported PNG format"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    bpp = 4 if ctype == 6 else 3
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    i = 0
    for _ in range(h):
        ft, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    expect_fail = "--expect-fail" in sys.argv
    binary, report, outdir = args
    os.makedirs(outdir, exist_ok=True)
    url = "file://" + os.path.abspath(report)
    netlog = os.path.join(outdir, "netlog.json")
    problems = []

    # 1. The DOM after scripts ran, the console, the page's requests.
    dom, err = chromium(binary, url, ["--enable-logging=stderr", "--v=0", "--log-net-log=" + netlog,
                                      "--virtual-time-budget=2000", "--dump-dom"])
    console = [l for l in err.splitlines() if ":CONSOLE" in l]
    if console:
        problems.append("console messages: " + " | ".join(console[:5]))
    reqs = page_requests(netlog)
    if reqs:
        problems.append("network requests by the page: " + ", ".join(reqs[:5]))
    m = re.search(r'<html[^>]*\sdata-charts="(\d+)"[^>]*\sdata-charts-drawn="(\d+)"', dom)
    svgs = re.findall(r'<svg class="chart"[^>]*data-chart="([^"]+)"', dom)
    if not m:
        problems.append("the page's script did not run (no data-charts on <html>)")
    else:
        charts, drawn = int(m.group(1)), int(m.group(2))
        if charts == 0 or charts != len(svgs):
            problems.append("charts counted by the browser: %d, in the DOM: %d" % (charts, len(svgs)))
        if drawn != charts:
            problems.append("only %d of %d charts have drawn data of non-zero size" % (drawn, charts))
    for want in os.environ.get("REPORT_EXPECT_CHARTS", "").split(","):
        if want and want not in svgs:
            problems.append("chart %s missing (have %s)" % (want, ",".join(svgs)))

    # 2. The screenshot: not blank, and the first curve's colour (#0072B2) is on it.
    shot = os.path.join(outdir, "screenshot.png")
    if os.path.exists(shot):
        os.remove(shot)
    if "--no-screenshot" in sys.argv:
        shot = None
    # Scaled down (the whole page at 0.4 px per CSS px) so that decoding it here stays quick.
    if shot:
        chromium(binary, url, ["--window-size=1320,3600", "--force-device-scale-factor=0.4", "--screenshot=" + shot])
    if shot is None:
        pass
    elif not os.path.exists(shot):
        problems.append("no screenshot written")
    else:
        w, h, rows, bpp = png_pixels(shot)
        ink = blue = 0
        for r in rows[::2]:
            for x in range(0, w * bpp, bpp * 2):
                px = r[x:x + 3]
                if px[0] < 235 or px[1] < 235 or px[2] < 235:
                    ink += 1
                if abs(px[0] - 0x00) < 50 and abs(px[1] - 0x72) < 50 and abs(px[2] - 0xB2) < 50:
                    blue += 1
        total = (h // 2) * (w // 2)
        share = ink / max(total, 1)
        print("screenshot %dx%d: %.1f%% non-white, %d samples of the first curve's colour" % (w, h, share * 100, blue))
        if share < 0.02:
            problems.append("the page looks blank (%.2f%% non-white pixels)" % (share * 100))
        if blue < 20:
            problems.append("no curve of the first input's colour on the screenshot (%d pixels)" % blue)

    print("charts: " + ",".join(svgs))
    if expect_fail:
        if problems:
            print("as expected, the broken page fails: " + "; ".join(problems))
            return 0
        print("FAIL: the deliberately broken page passed the checks")
        return 1
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
