#!/usr/bin/env bash
# Side-by-side performance comparison, all in one invocation on the same machine:
#   1. the machine's roofline (sgemm 2048^3, STREAM-like triad) and our sparse sweep (examples/sparse_sweep.rs);
#   2. sprs CSR x dense on the same shapes (examples/sprs_compare.rs);
#   3. PyTorch: torch.sparse.mm / masked dense (sparse_bench.py) and the CLIP-sized FPE epoch (fpe_torch.py clip);
#   4. our CLIP-sized FPE epoch (examples/clip_epoch.rs) and the case-study step (examples/step_time.rs).
# Usage: bash benches/compare.sh            QUICK=1 for one shape; VENV=/path/to/venv (default /tmp/torch-venv);
#        TORCH_DIR (default ../shared/bench/torch next to the repository, else /work/shared/bench/torch);
#        OUT (default target/compare) receives one text file per part.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/torch-venv}
OUT=${OUT:-target/compare}
TORCH_DIR=${TORCH_DIR:-}
if [ -z "$TORCH_DIR" ]; then
  for d in ../shared/bench/torch ../../shared/bench/torch /work/shared/bench/torch; do
    if [ -f "$d/sparse_bench.py" ]; then TORCH_DIR=$d; break; fi
  done
fi
mkdir -p "$OUT"
Q=""; [ "${QUICK:-0}" = 1 ] && Q="--quick"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt"
cargo build --release --examples
./target/release/examples/sparse_sweep --roofline | tee "$OUT/roofline.txt"
./target/release/examples/sparse_sweep $Q | tee "$OUT/sweep.txt"
./target/release/examples/sprs_compare $Q | tee "$OUT/sprs.txt"
./target/release/examples/clip_epoch | tee "$OUT/clip.txt"
./target/release/examples/step_time | tee "$OUT/step.txt"
if [ -n "$TORCH_DIR" ] && [ -x "$VENV/bin/python" ]; then
  "$VENV/bin/python" "$TORCH_DIR/sparse_bench.py" --threads 2 1 $Q 2>/dev/null | tee "$OUT/torch_sparse.txt"
  "$VENV/bin/python" "$TORCH_DIR/fpe_torch.py" clip --threads-list 2 1 --clip-reps 3 | tee "$OUT/torch_clip.txt"
else
  echo "PyTorch reference skipped: no $VENV/bin/python or no sparse_bench.py found (set VENV / TORCH_DIR)" | tee "$OUT/torch_skipped.txt"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
