#!/usr/bin/env bash
# Runs one experiment spec as a Slurm job array of N slices, each into its own results file, and merges them.
#
#   scripts/slurm-array.sh heatmap --shards 8 --plan       # prints the two sbatch commands, with a suggested --time
#   sbatch --array=0-7 scripts/slurm-array.sh heatmap --shards 8                    # 0-based task ids ...
#   sbatch --array=1-8 scripts/slurm-array.sh heatmap --shards 8                    # ... or 1-based: the same slices
#   sbatch --dependency=afterok:JOBID scripts/slurm-array.sh heatmap --shards 8 --merge
#   sbatch --array=3 scripts/slurm-array.sh heatmap --shards 8                      # rerun one task after a failure
#
# N, the number of slices, is fixed for a run: `--shards N`, else $NEUROSPLIT_SHARDS, else the spec's `shards`
# key. It is never taken from the array's size, so a resubmitted subset (`--array=3`, `--array=2,5`) reruns
# exactly those slices of the same N. Array task id T runs slice (T mod N) + 1 of N (`neurosplit reproduce
# --shard K/N`): ids 0..N-1 and 1..N both cover every slice once (ids 0 and N are the same slice), and a task id
# always means the same slice. A slice that was killed resumes where it stopped (finished trials are kept).
#
# The merge (`--merge`) checks that every slice is present and finished; if not it names the missing ones and
# the task ids that rerun them, and fails. Otherwise it joins them into OUT/trials.jsonl and writes the report.
#
# Everything after `--` is passed to `neurosplit reproduce` (e.g. `-- --trials 10 --set train.lr=2e-3`): give
# the same to every task and to the merge. Environment: OUT (results folder, default results/SPEC),
# NEUROSPLIT (the binary, default `neurosplit` on PATH), NEUROSPLIT_SHARDS.
#SBATCH --job-name=neurosplit
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

usage() {
    echo "usage: slurm-array.sh SPEC [--shards N] [--merge | --plan] [-- REPRODUCE-OPTIONS...]" >&2
    exit 2
}

SPEC=${1:-}
[[ -z $SPEC || $SPEC == -* ]] && usage
shift
MODE=task
SHARDS=${NEUROSPLIT_SHARDS:-}
EXTRA=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --shards) SHARDS=${2:?--shards needs a number}; shift 2 ;;
    --shards=*) SHARDS=${1#--shards=}; shift ;;
    --merge) MODE=merge; shift ;;
    --plan) MODE=plan; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "slurm-array.sh: unknown option '$1'" >&2; usage ;;
    esac
done
OUT=${OUT:-results/$(basename "$SPEC" .toml)}
BIN=${NEUROSPLIT:-neurosplit}

if [[ -z $SHARDS ]]; then
    # The spec's own `shards` key (after the overrides), if it has one.
    SHARDS=$("$BIN" reproduce "$SPEC" "${EXTRA[@]}" --print-spec | sed -n 's/^shards = \([0-9]*\)$/\1/p')
fi
if ! [[ $SHARDS =~ ^[0-9]+$ ]] || ((SHARDS < 1)); then
    echo "slurm-array.sh: give the number of slices: --shards N, NEUROSPLIT_SHARDS=N, or 'shards = N' in the spec" \
        "(got '${SHARDS}')" >&2
    exit 2
fi

case $MODE in
merge)
    exec "$BIN" reproduce "$SPEC" "${EXTRA[@]}" --out "$OUT" --merge-shards "$SHARDS" --quiet
    ;;
plan)
    CPUS=4
    # The slowest slice's estimate on CPUS threads, doubled plus 10 minutes of margin, in whole minutes.
    SECS=$("$BIN" reproduce "$SPEC" "${EXTRA[@]}" --shard "1/$SHARDS" --threads "$CPUS" --estimate | awk '{print $1}')
    MIN=$(((SECS * 2 + 600 + 59) / 60))
    TIME=$(printf '%d-%02d:%02d:00' $((MIN / 1440)) $((MIN % 1440 / 60)) $((MIN % 60)))
    ARGS="$SPEC --shards $SHARDS${EXTRA[*]:+ -- ${EXTRA[*]}}"
    echo "# one slice: about $SECS s on $CPUS cores (neurosplit's estimate); --time is twice that plus 10 min"
    echo "jid=\$(sbatch --parsable --array=0-$((SHARDS - 1)) --cpus-per-task=$CPUS --time=$TIME $0 $ARGS)"
    echo "sbatch --dependency=afterok:\$jid --time=00:30:00 $0 $ARGS --merge"
    exit 0
    ;;
esac

T=${SLURM_ARRAY_TASK_ID:?not in a job array: submit with sbatch --array=0-$((SHARDS - 1)) (or --array=1-$SHARDS)}
if ! [[ $T =~ ^[0-9]+$ ]] || ((T > SHARDS)); then
    echo "slurm-array.sh: array task id $T is out of range for $SHARDS slices: use ids 0-$((SHARDS - 1)) or 1-$SHARDS" >&2
    exit 2
fi
if [[ ${SLURM_ARRAY_TASK_MIN:-1} == 0 && ${SLURM_ARRAY_TASK_MAX:-0} -ge $SHARDS ]]; then
    echo "slurm-array.sh: ids 0 and $SHARDS are the same slice; submit --array=0-$((SHARDS - 1)) or --array=1-$SHARDS" >&2
    exit 2
fi
K=$((T % SHARDS + 1))
echo "slurm-array.sh: task $T runs slice $K/$SHARDS of $SPEC into $OUT"
exec "$BIN" reproduce "$SPEC" "${EXTRA[@]}" --out "$OUT" --shard "$K/$SHARDS" \
    --threads "${SLURM_CPUS_PER_TASK:-0}" --quiet
