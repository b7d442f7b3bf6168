#!/usr/bin/env python3
"""Deduplication benchmarks of the release binary (run by `make bench`).

1. End-to-end ingest of the dev corpus replicated to at least --items items: each replica is a
   copy of every feed of feeds.txt with its guids, links, ids and platform ids made unique,
   its dates moved back by 400 days per replica (further than the 30-day candidate window, so
   that each replica is a set of new stories, as a year of news would be), and a third of the
   words of its texts given a replica-specific ending (the same word the same way within a
   replica, so reposts stay reposts, while a line is never the same in two replicas: real news
   does not repeat itself year after year, and cleaning learns from lines that recur). Prints
   items/s and peak RSS, next to the same figures for the plain dev corpus (the baseline in
   the same run).

2. Start-up with --startup-items items in the database, all within one candidate window (the
   worst case: the whole index is loaded at open). The database is synthesised directly (the
   items' text does not matter to the start-up, only the rows and indexes), then the time to
   ingest a one-item document into it is compared with the same ingest into an empty database.

    python3 scripts/bench-dedup.py --bin target/release/newsdedup --corpus ../shared/corpus
"""

import argparse
import email.utils
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timedelta

SHIFT_DAYS = 400


def shift_date_text(text: bytes, days: int) -> bytes:
    s = text.decode("ascii", "replace").strip()
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}", s):
            d = datetime.fromisoformat(s.replace("Z", "+00:00"))
            return (d - timedelta(days=days)).isoformat().encode()
        d = email.utils.parsedate_to_datetime(s)
        return email.utils.format_datetime(d - timedelta(days=days)).encode()
    except (ValueError, TypeError, IndexError):
        return text


def replicate(src: bytes, r: int) -> bytes:
    """A replica of one feed document: unique keys, dates moved back."""
    if r == 0:
        return src
    tag = f"r{r}".encode()

    def suffix(m):
        value = m.group(2)
        url = re.match(rb"^(https?://[^/?#]+)(.*)$", value)
        if url is None:
            return m.group(1) + value + b"-" + tag + m.group(3)
        if url.group(2).strip(b"/?") == b"":
            # A front page stays a front page (it is not an item's identity).
            return m.group(0)
        # In a URL the tag goes into the path, which link canonicalisation keeps.
        return m.group(1) + url.group(1) + b"/" + tag + url.group(2) + m.group(3)

    out = re.sub(rb"(<guid[^>]*>)\s*([^<]+?)\s*(</guid>)", suffix, src)
    out = re.sub(rb"(<link>)\s*([^<]+?)\s*(</link>)", suffix, out)
    out = re.sub(rb"(<id>)\s*([^<]+?)\s*(</id>)", suffix, out)
    out = re.sub(rb"(<yt:videoId>)\s*([^<]+?)\s*(</yt:videoId>)", suffix, out)
    out = re.sub(rb'(<link[^>]*href=")([^"]+)(")', suffix, out)
    days = SHIFT_DAYS * r

    def date(m):
        return m.group(1) + shift_date_text(m.group(2), days) + m.group(3)

    for t in (rb"pubDate", rb"published", rb"updated", rb"dc:date", rb"lastBuildDate"):
        out = re.sub(rb"(<" + t + rb">)([^<]+)(</" + t + rb">)", date, out)
    return perturb(out, r)


ENDINGS = ["q", "x", "z", "qa", "xo", "zu"]
TEXT_ELEMENTS = "title|description|content:encoded|content|summary|media:description"


def perturb(doc: bytes, r: int) -> bytes:
    """Gives a third of the words of the document's texts a replica-specific ending."""
    declared = re.search(rb'encoding="([^"]+)"', doc[:200])
    encoding = declared.group(1).decode() if declared else "utf-8"
    bom = doc.startswith(b"\xef\xbb\xbf")
    text = doc[3:].decode(encoding) if bom else doc.decode(encoding)

    def word(m):
        w = m.group(0)
        h = zlib.crc32(f"{w.lower()}/{r}".encode())
        return w + ENDINGS[h % len(ENDINGS)] if h % 3 == 0 else w

    def outside_tags(body):
        # Only text between markup (escaped or not), never entity or tag names.
        parts = re.split(r"(<[^>]*>|&lt;.*?&gt;|&[#\w]+;)", body)
        return "".join(p if i % 2 else re.sub(r"[^\W\d_]{4,}", word, p) for i, p in enumerate(parts))

    def element(m):
        return m.group(1) + outside_tags(m.group(3)) + m.group(4)

    pattern = r"(<(" + TEXT_ELEMENTS + r")(?:\s[^>]*)?>)(.*?)(</\2>)"
    text = re.sub(pattern, element, text, flags=re.S)
    out = text.encode(encoding, "xmlcharrefreplace")
    return b"\xef\xbb\xbf" + out if bom else out


def run_ingest(binary, db, files, cwd):
    """Runs one ingest in a child process; returns (seconds, peak RSS in KiB or None)."""
    rss_file = os.path.join(tempfile.gettempdir(), f"bench-dedup-rss-{os.getpid()}")
    timer = ["/usr/bin/time", "-f", "%M", "-o", rss_file] if os.access("/usr/bin/time", os.X_OK) else []
    start = time.monotonic()
    subprocess.run([*timer, binary, "-q", "--db", db, "ingest", *files], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    secs = time.monotonic() - start
    rss = None
    if timer:
        rss = int(open(rss_file).read().split()[-1])
        os.remove(rss_file)
    return secs, rss


def mib(rss):
    return "?" if rss is None else f"{rss / 1024:.0f}"


def count_items(db):
    return sqlite3.connect(db).execute("SELECT count(*) FROM items").fetchone()[0]


def ingest_bench(binary, corpus, want_items, work):
    dev = os.path.join(corpus, "dev")
    feeds = [l.strip() for l in open(os.path.join(dev, "feeds.txt")) if l.strip()]
    # Baseline: the plain dev corpus.
    base_db = os.path.join(work, "base.db")
    secs, rss = run_ingest(binary, base_db, feeds, dev)
    n = count_items(base_db)
    print(f"ingest, dev corpus:        {n:>7} items in {secs:6.2f} s = {n / secs:>7,.0f} items/s, peak RSS {mib(rss)} MiB")
    replicas = -(-want_items // n)
    rep_dir = os.path.join(work, "replicas")
    files = []
    for r in range(replicas):
        d = os.path.join(rep_dir, f"r{r}")
        os.makedirs(d, exist_ok=True)
        for f in feeds:
            data = open(os.path.join(dev, f), "rb").read()
            path = os.path.join(d, os.path.basename(f))
            open(path, "wb").write(replicate(data, r))
            files.append(path)
    db = os.path.join(work, "replicated.db")
    secs, rss = run_ingest(binary, db, files, work)
    m = count_items(db)
    stories = sqlite3.connect(db).execute("SELECT count(*) FROM stories").fetchone()[0]
    print(
        f"ingest, {replicas} replicas:      {m:>7} items in {secs:6.2f} s = {m / secs:>7,.0f} items/s, "
        f"peak RSS {mib(rss)} MiB ({stories} stories; {stories / replicas:.0f} per replica)"
    )


ONE_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Probe</title><link>https://probe.example/</link><description>x</description>
<item><title>Probe</title><guid>probe-1</guid><link>https://probe.example/1</link>
<pubDate>Mon, 01 Jan 2024 12:00:00 GMT</pubDate>
<description>The probe item has a handful of words, enough to be searched for by its fingerprints in the index.</description>
</item></channel></rss>
"""


def synthesise(binary, db, n):
    """A database with `n` searchable items within one window before 2024-01-01."""
    subprocess.run([binary, "-q", "--db", db, "feeds", "add", "https://bench.example/feed"], check=True,
                   stdout=subprocess.DEVNULL)
    conn = sqlite3.connect(db)
    versions = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if "fingerprint_version" not in versions:
        # Opening with the writer records the algorithm versions; an empty ingest does that.
        probe = os.path.join(os.path.dirname(db), "empty.xml")
        open(probe, "w").write("<rss version=\"2.0\"><channel><title>x</title></channel></rss>")
        conn.close()
        subprocess.run([binary, "-q", "--db", db, "ingest", "--feed", "https://bench.example/feed", probe],
                       check=True, stdout=subprocess.DEVNULL)
        conn = sqlite3.connect(db)
    rng = random.Random(7)
    end = int(datetime(2024, 1, 1).timestamp())
    window = 30 * 86400
    sketch = bytes([1]) + bytes(12) + bytes(600)
    body = "x" * 1500
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO stories(id, canonical_item_id, title, first_seen_at, last_seen_at, item_count) "
        "VALUES (1, 1, 'bench', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 1)"
    )
    rows = (
        (
            f"g{i}", "guid", f"https://bench.example/{i}", "t", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z",
            body, "text", body, rng.getrandbits(63), rng.getrandbits(63), 250, 1, "new",
            rng.getrandbits(63), sketch, end - rng.randrange(window),
        )
        for i in range(n)
    )
    conn.executemany(
        "INSERT INTO items(feed_id, guid, key_source, link, title, fetched_at, updated_at, raw_content, body_kind, "
        "clean_text, fingerprint, content_hash, word_count, story_id, match_method, lead_fingerprint, sketch, "
        "dedup_time) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


def startup_bench(binary, n, work):
    probe = os.path.join(work, "probe.xml")
    open(probe, "w").write(ONE_ITEM)
    empty_db = os.path.join(work, "empty.db")
    base, _ = run_ingest(binary, empty_db, [probe], work)
    db = os.path.join(work, "big.db")
    t0 = time.monotonic()
    synthesise(binary, db, n)
    print(f"start-up: synthesised {n:,} items in {time.monotonic() - t0:.0f} s "
          f"({os.path.getsize(db) / 1e9:.2f} GB)", file=sys.stderr)
    # The first open reads the file from disk; what a restarted daemon pays is the warm case,
    # measured on the second run.
    run_ingest(binary, db, [probe], work)
    os.remove(os.path.join(work, "probe.xml"))
    open(probe, "w").write(ONE_ITEM.replace("probe-1", "probe-2").replace("/1<", "/2<"))
    secs, rss = run_ingest(binary, db, [probe], work)
    print(
        f"start-up with {n:,} items in the database: {secs:.2f} s to open, load the index and ingest one "
        f"item (empty database: {base:.2f} s); peak RSS {mib(rss)} MiB"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/newsdedup")
    ap.add_argument("--corpus", default="../shared/corpus")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--startup-items", type=int, default=1_000_000)
    ap.add_argument("--keep", help="keep the work files in this folder")
    args = ap.parse_args()
    binary = os.path.realpath(args.bin)
    work = args.keep or tempfile.mkdtemp(prefix="bench-dedup-")
    os.makedirs(work, exist_ok=True)
    try:
        if os.path.isdir(os.path.join(args.corpus, "dev")):
            ingest_bench(binary, args.corpus, args.items, work)
        else:
            print(f"bench-dedup: no corpus at {args.corpus}/dev, ingest benchmark skipped", file=sys.stderr)
        startup_bench(binary, args.startup_items, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
