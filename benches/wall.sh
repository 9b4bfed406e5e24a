#!/usr/bin/env bash
# Wall time and CPU time of whole reproductions, an older build against this one, side by side on one machine.
#
# Each spec runs with both binaries AT THE SAME TIME, one worker thread each (`--threads 1`), so that the two
# share whatever else the machine is doing; the table gives each one's wall time, its CPU time (user + sys, from
# /usr/bin/time) and the ratio before / after. Both run the OLDER build's version of the spec (its
# `reproduce NAME --print-spec`), so a grid or metric list that changed between the builds does not count as
# speed. The results of the two runs are not compared here (the
# case-study's are compared bit for bit by tests/pipeline.rs and `reproduce` itself).
#
# Usage: bash benches/wall.sh BEFORE_BINARY [AFTER_BINARY]
#   AFTER_BINARY            default: target/release/neurosplit (built first)
#   SPECS="a b ..."         default: "fashion-mnist case-study neurons-sweep clauses-sweep heatmap capacity-tables"
#   TRIALS=N                pass --trials N to every spec (default: each spec's own trial count)
#   OUT=DIR                 logs and the table (default target/wall)
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: bash benches/wall.sh BEFORE_BINARY [AFTER_BINARY]}
AFTER=${2:-}
if [ -z "$AFTER" ]; then
  cargo build --release --bin neurosplit 2>&1 | tail -1
  AFTER=./target/release/neurosplit
fi
SPECS=${SPECS:-fashion-mnist case-study neurons-sweep clauses-sweep heatmap capacity-tables}
OUT=${OUT:-target/wall}
mkdir -p "$OUT"
extra=()
if [ -n "${TRIALS:-}" ]; then extra=(--trials "$TRIALS"); fi
table="$OUT/wall.md"
{
  echo "commit: $(git rev-parse --short HEAD); before: $BEFORE; after: $AFTER"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "each spec: both builds at once, --threads 1${TRIALS:+, --trials $TRIALS}"
  echo
  echo "| spec | before wall s | after wall s | before CPU s | after CPU s | wall before / after | CPU before / after | load at start |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} | tee "$table"
run() { # BINARY TAG SPEC
  local dir
  dir=$(mktemp -d)
  /usr/bin/time -f "%e %U %S" -o "$OUT/$3.$2.time" "$1" reproduce "$OUT/$3.toml" --out "$dir" --threads 1 -q "${extra[@]}" \
    >"$OUT/$3.$2.log" 2>&1 || echo "reproduce $3 with the $2 build failed: see $OUT/$3.$2.log" >&2
  rm -rf "$dir"
}
for spec in $SPECS; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$BEFORE" reproduce "$spec" --print-spec >"$OUT/$spec.toml"
  run "$BEFORE" before "$spec" &
  run "$AFTER" after "$spec" &
  wait
  read -r bw bu bs <"$OUT/$spec.before.time" || true
  read -r aw au as <"$OUT/$spec.after.time" || true
  awk -v s="$spec" -v bw="$bw" -v aw="$aw" -v bc="$(awk -v u="$bu" -v y="$bs" 'BEGIN{print u+y}')" \
    -v ac="$(awk -v u="$au" -v y="$as" 'BEGIN{print u+y}')" -v l="$load" \
    'BEGIN { printf "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %s |\n", s, bw, aw, bc, ac, bw/aw, bc/ac, l }' | tee -a "$table"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$table"
