#!/usr/bin/env bash
# Ingests the labelled dev corpus the way its README describes (feeds.txt in order, then each
# refetch snapshot as a later fetch of its feed) into a fresh database, and scores it.
#
#   scripts/score-corpus.sh [CORPUS_DIR] [OUT.json]
set -euo pipefail
corpus=${1:-../shared/corpus}
out=${2:-}
dev="$corpus/dev"
bin=$(realpath "${NEWSDEDUP_BIN:-target/release/newsdedup}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/corpus.db"

mapfile -t feeds < <(grep -v '^\s*$' "$dev/feeds.txt")
(cd "$dev" && "$bin" -q --db "$db" ingest "${feeds[@]}")
while read -r snap; do
  [ -n "$snap" ] || continue
  (cd "$dev" && "$bin" -q --db "$db" ingest --feed "feeds/$(basename "$snap")" "$snap")
done < "$dev/refetch.txt"

args=(--db "$db" --truth "$dev/truth.jsonl")
[ -n "$out" ] && args+=(--out "$out")
python3 "$corpus/score.py" "${args[@]}"
