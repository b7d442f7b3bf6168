#!/usr/bin/env bash
# End-to-end ingest benchmark: the dev corpus feeds ingested into a fresh database by the
# release binary. Prints items/s and peak RSS (from GNU time when available, else /proc).
#
#   scripts/bench-ingest.sh [CORPUS_DIR]
set -euo pipefail
corpus=${1:-../shared/corpus}
dev="$corpus/dev"
bin=$(realpath "${NEWSDEDUP_BIN:-target/release/newsdedup}")
if [ ! -d "$dev" ]; then
  echo "bench-ingest: no corpus at $dev, skipped" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t feeds < <(grep -v '^\s*$' "$dev/feeds.txt")
start=$(date +%s.%N)
if [ -x /usr/bin/time ]; then
  (cd "$dev" && /usr/bin/time -f '%M' -o "$work/rss" "$bin" -q --db "$work/b.db" ingest "${feeds[@]}" >/dev/null)
  rss_kb=$(cat "$work/rss")
else
  (cd "$dev" && "$bin" -q --db "$work/b.db" ingest "${feeds[@]}" >/dev/null)
  rss_kb="?"
fi
end=$(date +%s.%N)
items=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from items').fetchone()[0])" "$work/b.db")
python3 - "$items" "$start" "$end" "$rss_kb" <<'PY'
import sys
items, start, end, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
secs = end - start
print(f"ingest dev corpus: {items} items in {secs:.2f}s = {items/secs:,.0f} items/s, peak RSS {rss} KiB")
PY
