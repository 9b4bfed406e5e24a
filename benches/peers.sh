#!/usr/bin/env bash
# The CLIP-sized FPE epoch (512 -> 512 at ~14.5 % live -> 100 at ~79 % live, batch 500, 50 000 samples, Adam)
# in neurosplit and its peers, side by side in one run, at 1 and 2 threads, in ms per epoch: neurosplit
# (examples/clip_epoch.rs --fpe-only), PyTorch fp32 masked, PyTorch bf16 autocast with fused Adam, SparseProp,
# sparselab and torch.sparse CSR as the first layer (benches/peers.py), plus this machine's sgemm 2048^3 GFLOP/s
# (examples/sparse_sweep.rs --roofline, the limit every ratio of docs/PERFORMANCE.md divides by) and PyTorch's
# fp32 and bf16 matmul 2048^3 in the same run. Rows are alternated: every round runs every row once, at 1 then 2
# threads; the table gives the median over rounds of each run's median epoch and the fastest epoch seen.
#
# Usage: bash benches/peers.sh VENV [OUT_DIR]
#   VENV      a Python venv OUTSIDE the repository with torch and numpy (pip install torch numpy); sparseprop and
#             sparselab are optional (pip install sparseprop sparselab): a peer that cannot be imported or run is
#             reported as skipped with the reason
#   OUT_DIR   raw output and the table (default target/peers): raw.txt, table.md
#   ROUNDS=N  alternated rounds (default 3); REPS=N timed epochs per run after one warm-up (default 3)
#   RUN_TIMEOUT=S  seconds one peer's process may take before its row is skipped (default 900)
#   THREADS="1 2"  the thread counts (default both)
# The load average is printed before and after: on a machine shared with other jobs the figures are inflated.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:?usage: bash benches/peers.sh VENV [OUT_DIR]   (VENV: a venv outside the repository with torch)}
OUT=${2:-target/peers}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  echo "no Python at $PY: python3 -m venv $VENV && $VENV/bin/pip install torch numpy sparseprop sparselab" >&2
  exit 1
fi
case "$(cd "$VENV" && pwd -P)/" in
  "$(pwd -P)"/*) echo "the venv $VENV is inside the repository: make it elsewhere" >&2; exit 1 ;;
esac
mkdir -p "$OUT"
RAW="$OUT/raw.txt"
: >"$RAW"
log() { echo "$@" | tee -a "$RAW"; }
flags=$(grep -o -w -E 'avx512f|avx512_bf16|amx_tile|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
log "date: $(date -u '+%F %T UTC')"
log "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src examples benches || echo ' (+ uncommitted changes)')"
log "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; flags: ${flags:-none of avx512f/avx512_bf16/amx}"
log "python: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, torch.backends.cpu.get_cpu_capability())')"
for pkg in sparseprop sparselab; do
  log "$pkg: $("$PY" -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | grep . || echo 'not installed')"
done
log "load before: $(uptime)"
cargo build --release --example clip_epoch --example sparse_sweep 2>&1 | tail -1
./target/release/examples/sparse_sweep --roofline | grep '^sgemm' | tee -a "$RAW"
"$PY" - <<'PY' | tee -a "$RAW"
import time, torch
for th in (1, 2):
    torch.set_num_threads(th)
    out = []
    for dt in (torch.float32, torch.bfloat16):
        a, b = torch.rand(2048, 2048, dtype=dt), torch.rand(2048, 2048, dtype=dt)
        for _ in range(2):
            a @ b
        ts = []
        for _ in range(5):
            t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
        out.append(2 * 2048 ** 3 / min(ts) / 1e9)
    print(f"TORCH_GEMM {th} fp32 {out[0]:.0f} bf16 {out[1]:.0f} GFLOP/s (torch matmul 2048^3, fastest of 5)")
PY
for round in $(seq "$ROUNDS"); do
  log "== round $round $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  for t in ${THREADS:-1 2}; do
    ns=$(./target/release/examples/clip_epoch --fpe-only --threads "$t")
    gflop=$(sed -n 's/^useful GFLOP per epoch: .*FPE \([0-9.]*\).*/\1/p' <<<"$ns")
    # | threads | model | formats | median | fastest | CPU | us/step | checksum |
    awk -F'|' -v g="$gflop" '$3 ~ /FPE/ {gsub(/ /, ""); print "NEUROSPLIT", $2, $5, $6, g, "formats=" $4, "cpu=" $7}' <<<"$ns" |
      tee -a "$RAW"
    for v in torch-fp32-masked torch-bf16-autocast sparseprop sparselab torch-sparse-csr; do
      OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t timeout "${RUN_TIMEOUT:-900}" "$PY" -W ignore benches/peers.py run \
        --variant "$v" --threads "$t" --reps "$REPS" 2>&1 | grep -E '^(RESULT|SKIP)' | tee -a "$RAW" ||
        log "SKIP $v $t the process failed or ran past RUN_TIMEOUT=${RUN_TIMEOUT:-900} s"
    done
  done
done
log "load after: $(uptime)"
echo
python3 benches/peers.py table "$RAW" | tee "$OUT/table.md"
grep -E '^(date|machine|load|TORCH_GEMM)' "$RAW" | tee -a "$OUT/table.md"
