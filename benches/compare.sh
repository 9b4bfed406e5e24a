#!/usr/bin/env bash
# Every ratio of the performance issue from one run on one machine, printed as ONE table at the end:
#   limits   sgemm 2048^3 and a STREAM-like triad (examples/sparse_sweep.rs --roofline), 1 and 2 threads;
#   kernels  sparse (CSR, bitmask) and dense products at 512 x 512 and 784 x 1024, batch 500, against the sgemm of
#            the same shape, op and thread count (examples/sparse_sweep.rs);
#   epochs   the CLIP-sized epoch, dense h = 128 and FPE h' = 512 (examples/clip_epoch.rs), against PyTorch's dense
#            and masked epochs of the same models (fpe_torch.py clip, when a PyTorch venv is found);
#   steps    the case-study step, dense h = 8 and FPE h' = 16 (examples/step_time.rs);
#   wall     with FULL=1, the wall time of `neurosplit reproduce fashion-mnist` and of each Boolean spec
#            (case-study, neurons-sweep, clauses-sweep, heatmap, capacity-tables; about 1.5 h on 2 quiet cores).
# Usage: bash benches/compare.sh
#   VENV=/path/to/venv       PyTorch venv (default: /work/venv-torch, then /tmp/torch-venv)
#   TORCH_DIR=DIR            fpe_torch.py's folder (default: ../shared/bench/torch next to the repository, ...)
#   BEFORE=DIR               also run DIR/clip_epoch and DIR/step_time (binaries of an older build) for a
#                            before/after column, and DIR/sparse_sweep if present (raw file sweep_before.txt)
#   OUT=DIR                  raw outputs, one file per part (default target/compare)
#   FULL=1                   also time the FashionMNIST spec and the Boolean set (long)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/compare}
mkdir -p "$OUT"
rm -f "$OUT"/*.txt
VENV=${VENV:-}
if [ -z "$VENV" ]; then
  for v in /work/venv-torch /tmp/torch-venv; do
    if [ -x "$v/bin/python" ]; then VENV=$v; break; fi
  done
fi
TORCH_DIR=${TORCH_DIR:-}
if [ -z "$TORCH_DIR" ]; then
  for d in ../shared/bench/torch ../../shared/bench/torch /work/shared/bench/torch; do
    if [ -f "$d/fpe_torch.py" ]; then TORCH_DIR=$d; break; fi
  done
fi
{
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples benches || echo ' (+ uncommitted changes)')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"
cargo build --release --examples --bin neurosplit 2>&1 | tail -1
E=./target/release/examples
$E/sparse_sweep --roofline | tee "$OUT/roofline.txt"
$E/sparse_sweep --shape 512x512 --shape 784x1024 --density 1,0.25 --ops forward,dX,dW | tee "$OUT/sweep.txt"
$E/clip_epoch | tee "$OUT/clip.txt"
$E/step_time | tee "$OUT/step.txt"
if [ -n "${BEFORE:-}" ]; then
  "$BEFORE/clip_epoch" | tee "$OUT/clip_before.txt"
  "$BEFORE/step_time" | tee "$OUT/step_before.txt"
  if [ -x "$BEFORE/sparse_sweep" ]; then
    "$BEFORE/sparse_sweep" --shape 512x512 --shape 784x1024 --density 1,0.25 --ops forward,dX,dW | tee "$OUT/sweep_before.txt"
  fi
fi
if [ -n "$VENV" ] && [ -n "$TORCH_DIR" ]; then
  "$VENV/bin/python" "$TORCH_DIR/fpe_torch.py" clip --threads-list 1 2 --clip-reps 3 | tee "$OUT/torch_clip.txt"
else
  echo "PyTorch reference skipped: no venv (VENV) or no fpe_torch.py (TORCH_DIR) found"
fi
if [ "${FULL:-0}" = 1 ]; then
  # FashionMNIST, then the Boolean set (the specs on generated 4-DNF data).
  for spec in fashion-mnist case-study neurons-sweep clauses-sweep heatmap capacity-tables; do
    dir=$(mktemp -d)
    s=$(date +%s.%N)
    ./target/release/neurosplit reproduce "$spec" --out "$dir" >"$OUT/reproduce_$spec.log" 2>&1 || echo "reproduce $spec failed (see $OUT/reproduce_$spec.log)"
    echo "$spec $(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" | tee -a "$OUT/wall.txt"
    rm -rf "$dir"
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
python3 benches/compare_table.py "$OUT"
