#!/usr/bin/env bash
# One training step of the case-study model, neurosplit vs the PyTorch CPU reference, side by side on this machine.
# Usage: bash benches/compare_step.sh        (VENV=/path/to/venv with torch; default /tmp/torch-venv)
# Prints per-step microseconds of both and their ratio. Both run on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/torch-venv}
REF=${REF:-../shared/bench/torch}
if [ ! -x "$VENV/bin/python" ]; then
  echo "no PyTorch venv at $VENV: python3 -m venv $VENV && $VENV/bin/pip install torch numpy" >&2
  exit 1
fi
out=$(mktemp -d)
RAYON_NUM_THREADS=1 cargo bench --bench step -- --warm-up-time 2 --measurement-time 6 2>/dev/null | tee "$out/ns.txt" | grep -E "^case_study_step|time:" || true
OMP_NUM_THREADS=1 "$VENV/bin/python" "$REF/fpe_torch.py" timing --threads-list 1 --timing-epochs 30 | tee "$out/torch.txt"
python3 - "$out/ns.txt" "$out/torch.txt" <<'PY'
import re, sys
ns = open(sys.argv[1]).read()
torch = open(sys.argv[2]).read()
unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}
def crit(name):
    m = re.search(name + r"\s+time:\s+\[\S+ \S+ (\S+) (\S+)", ns)
    return float(m.group(1)) * unit[m.group(2)]
def tor(label):
    m = re.search(r"\| 1 \| " + re.escape(label) + r"[^|]*\| [\d.]+ \| (\d+) \|", torch)
    return float(m.group(1))
rows = [("dense h=8", crit("case_study_step/dense_h8"), tor("dense h=")),
        ("FPE masked h'=16", crit("case_study_step/fpe_masked_h16"), tor("FPE masked h'="))]
print("\n| model | neurosplit us/step | PyTorch us/step | speed-up |\n|---|---:|---:|---:|")
for name, a, b in rows:
    print(f"| {name} | {a:.1f} | {b:.0f} | {b / a:.0f}x |")
PY
