#!/usr/bin/env bash
# The sparse kernels' cost per multiply-add against the size of the input they read, everything else fixed: 512
# output rows with 32 live entries each on average (random masks), batch 500, one thread, so every row of the table
# does the same 16.4 MFLOP. Only the number of input rows the entries are drawn from changes: 64 (the forward pass's
# packed 128-column slab is 32 KiB, inside L1), 512 (256 KiB, L2; the CLIP-sized W1'), 2048 (1 MiB) and 8192
# (4 MiB, beyond L2). If the time per multiply-add grows with the slab, the kernel is bound by where its loads come
# from, not by its arithmetic. Prints the sweep's table (CSR and bitmask GFLOP/s beside matrixmultiply's sgemm of
# the same dense shape).
# Usage: bash benches/working_set.sh [SPARSE_SWEEP_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then
  cargo build --release --example sparse_sweep 2>&1 | tail -1
  BIN=./target/release/examples/sparse_sweep
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in 64:0.5 512:0.0625 2048:0.015625 8192:0.00390625; do
  d=${spec%%:*}; p=${spec##*:}
  echo "## $d input rows, density $p (32 live entries per output row on average)"
  "$BIN" --shape "${d}x512" --density "$p" --threads 1 --cpu --reps 5 --ops forward,dW | grep -E '^\| [0-9]'
done
