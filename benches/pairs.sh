#!/usr/bin/env bash
# Alternates this build's clip_epoch and step_time with an older build's (OLD=dir of its binaries), six times each,
# printing each run's time and load average; summarize with summarize_pairs.py.
# Usage: OLD=/path/to/old/examples bash benches/pairs.sh > pairs.txt; then python3 benches/summarize_pairs.py pairs.txt
set -u
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the folder of the older build: clip_epoch and step_time}"
for i in 1 2 3 4 5 6; do
  echo "== new $i $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"; target/release/examples/clip_epoch | grep "^| [12] "
  echo "== old $i $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"; "$OLD/clip_epoch" | grep "^| [12] "
done
for i in 1 2 3 4 5 6; do
  echo "== new $i $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"; target/release/examples/step_time auto | grep "auto"
  echo "== old $i $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"; "$OLD/step_time" auto | grep "auto"
done
