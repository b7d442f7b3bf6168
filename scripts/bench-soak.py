#!/usr/bin/env python3
"""Soak benchmark: the daemon over many local HTTP feeds for a few minutes.

Serves FEEDS feeds from a local HTTP server whose documents change over time (each feed
shows its 20 latest items; a new one appears every ROTATE seconds, most of them reposts of
stories other feeds carry too; ETag/If-None-Match answered with 304 when nothing changed).
Runs `newsdedup daemon --listen` over them with a short schedule, samples its resident
memory, WAL size and /metrics every few seconds, then stops it with SIGTERM.
Prints the samples and a summary: peak and final RSS, RSS growth after warm-up, fetches,
items, stop time and exit code.

    scripts/bench-soak.py [--bin target/release/newsdedup] [--feeds 1000] [--duration 180]
"""

import argparse
import hashlib
import http.server
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ITEMS_SHOWN = 20
STORIES = 2000
WORDS = ("council river snow market hospital railway school harbour election bridge museum "
         "airport festival budget court factory stadium library forest coast").split()


def story_text(n):
    words = [WORDS[(n * k + k * k) % len(WORDS)] for k in range(1, 9)]
    paras = [f"Report {n}: officials discussed the {words[0]} and the {words[1]} on day {n % 365}."]
    for p in range(3):
        paras.append(
            f"The {words[p + 2]} will reopen after inspection {n * 31 + p}, said the head of the "
            f"{words[p + 3]} office, adding that the {words[p + 4]} plan costs {n * 7 + p} thousand."
        )
    return "".join(f"<p>{t}</p>" for t in paras)


class Feeds:
    """Feed documents as a function of time: item k of feed f appears at f's offset + k*rotate."""

    def __init__(self, count, rotate, start):
        self.count, self.rotate, self.start = count, rotate, start

    def document(self, f):
        step = int((time.time() - self.start + (f * 7919) % self.rotate) // self.rotate)
        items = []
        for k in range(step + ITEMS_SHOWN - 1, step - 1, -1):
            # Most items repost a story shared by many feeds; some are the feed's own.
            story = (k * 37 + f // 10) % STORIES if k % 4 else 100000 + f * 1000 + k
            footer = "<p>Please subscribe to my channel.</p>" if f % 3 == 0 else ""
            items.append(
                f"<item><guid>f{f}-{k}</guid><title>Story {story}</title>"
                f"<link>https://feed{f}.example/{k}</link>"
                f"<description><![CDATA[{story_text(story)}{footer}]]></description></item>"
            )
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {f}</title>'
                + "".join(items) + "</channel></rss>")
        return body.encode()


def serve(feeds):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            m = re.fullmatch(r"/feed(\d+)\.xml", self.path)
            if not m or int(m.group(1)) >= feeds.count:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = feeds.document(int(m.group(1)))
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/newsdedup")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=180)
    ap.add_argument("--rotate", type=int, default=60, help="seconds between new items in a feed")
    ap.add_argument("--sample", type=int, default=10)
    ap.add_argument("--interval", default="30s", help="the feeds' schedule interval")
    args = ap.parse_args()
    binary = os.path.realpath(args.bin)

    work = tempfile.mkdtemp(prefix="newsdedup-soak-")
    db = os.path.join(work, "soak.db")
    feeds = Feeds(args.feeds, args.rotate, time.time())
    server = serve(feeds)
    port = server.server_address[1]
    with open(os.path.join(work, "feeds.txt"), "w") as f:
        for i in range(args.feeds):
            f.write(f"http://127.0.0.1:{port}/feed{i}.xml\n")
    subprocess.run([binary, "-q", "--db", db, "feeds", "import", os.path.join(work, "feeds.txt")],
                   check=True, stdout=subprocess.DEVNULL)
    config = os.path.join(work, "soak.toml")
    with open(config, "w") as f:
        f.write(f'[schedule]\ninterval = "{args.interval}"\nretry_after = "30s"\n[daemon]\ntick = "5s"\n')
    log_path = os.path.join(work, "daemon.log")
    log = open(log_path, "w")
    daemon = subprocess.Popen([binary, "-q", "--db", db, "--config", config, "daemon", "--listen", "127.0.0.1:0"],
                              stdout=subprocess.DEVNULL, stderr=log)
    # -q hides the listener's start-up line; find the port from the process's sockets instead.
    addr = None
    deadline = time.time() + 20
    while addr is None and time.time() < deadline:
        time.sleep(0.2)
        addr = listening_addr(daemon.pid)
    if addr is None:
        daemon.kill()
        sys.exit("bench-soak: the daemon's status listener did not come up")

    print(f"soak: {args.feeds} feeds over HTTP, schedule {args.interval}, a new item per feed every {args.rotate}s, "
          f"{args.duration}s")
    print(f"{'t (s)':>6} {'RSS MiB':>8} {'anon':>6} {'file':>6} {'shmem':>6} {'fetches':>8} {'items':>8} {'folded':>8} "
          f"{'WAL MiB':>8} {'due':>5}")
    samples = []
    started = time.time()
    max_wal = 0
    while time.time() - started < args.duration:
        time.sleep(args.sample)
        t = time.time() - started
        rss = proc_kib(daemon.pid, "VmRSS")
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
        fetches = sum(metric(text, f'newsdedup_fetches_total{{outcome="{o}"}}')
                      for o in ("updated", "not_modified", "unchanged", "failed"))
        items = metric(text, "newsdedup_items_ingested_total")
        folded = metric(text, "newsdedup_reposts_folded_total")
        due = metric(text, 'newsdedup_queue_depth{stage="due"}')
        wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
        max_wal = max(max_wal, wal)
        samples.append((t, rss, fetches, items))
        parts = [proc_kib(daemon.pid, f) / 1024 for f in ("RssAnon", "RssFile", "RssShmem")]
        print(f"{t:6.0f} {rss / 1024:8.1f} {parts[0]:6.1f} {parts[1]:6.1f} {parts[2]:6.1f} {fetches:8.0f} {items:8.0f} "
              f"{folded:8.0f} {wal / 2**20:8.1f} {due:5.0f}", flush=True)

    peak = proc_kib(daemon.pid, "VmHWM")
    stop_start = time.time()
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=60)
    stop_secs = time.time() - stop_start
    server.shutdown()
    final_rss = samples[-1][1]
    warm = samples[len(samples) // 3]
    growth = (final_rss - warm[1]) / warm[1] * 100 if warm[1] else 0
    print(f"summary: peak RSS {peak / 1024:.1f} MiB, final RSS {final_rss / 1024:.1f} MiB, "
          f"RSS at t={warm[0]:.0f}s {warm[1] / 1024:.1f} MiB (growth since then {growth:+.1f}% while items went "
          f"{warm[3]:.0f} -> {samples[-1][3]:.0f}), {samples[-1][2]:.0f} fetches, max WAL {max_wal / 2**20:.1f} MiB, "
          f"SIGTERM -> exit {code} in {stop_secs:.2f}s")
    errors = [l for l in open(log_path) if "ERROR" in l]
    if errors:
        print(f"soak: {len(errors)} error lines in the daemon's log, first: {errors[0].strip()}")
    subprocess.run(["rm", "-rf", work])
    sys.exit(0 if code == 0 else 1)


def listening_addr(pid):
    """The 127.0.0.1 TCP port a process listens on, from /proc (no extra tools needed)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        with open(f"/proc/{pid}/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if state == "0A" and inode in inodes:  # LISTEN
                    return f"127.0.0.1:{int(local.split(':')[1], 16)}"
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        pass
    return None


if __name__ == "__main__":
    main()
