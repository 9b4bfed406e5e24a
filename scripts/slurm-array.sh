#!/usr/bin/env bash
# Runs one experiment spec as a Slurm job array: task K of N runs slice K/N of the grid into its own results
# file; a final job merges the slices and writes the report.
#
#   sbatch --array=1-8 scripts/slurm-array.sh heatmap           # 8 slices
#   sbatch --dependency=afterok:JOBID scripts/slurm-array.sh heatmap --merge
#
# Every slice of a spec writes under the same folder (results/NAME, or $OUT); a slice that is killed or
# preempted resumes where it stopped when resubmitted (finished trials are kept and skipped).
#SBATCH --job-name=neurosplit
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

SPEC=${1:?usage: slurm-array.sh SPEC [--merge]}
OUT=${OUT:-results/$(basename "$SPEC" .toml)}
BIN=${NEUROSPLIT:-neurosplit}

if [ "${2:-}" = "--merge" ]; then
    "$BIN" merge -o "$OUT/trials.jsonl" "$OUT"/trials.shard-*-of-*.jsonl
    # Every trial is now in trials.jsonl: this only writes the report.
    exec "$BIN" reproduce "$SPEC" --out "$OUT" --quiet
fi

K=${SLURM_ARRAY_TASK_ID:?run with sbatch --array=1-N}
N=${SLURM_ARRAY_TASK_COUNT:?run with sbatch --array=1-N}
exec "$BIN" reproduce "$SPEC" --out "$OUT" --shard "$K/$N" --threads "${SLURM_CPUS_PER_TASK:-0}" --quiet
