#!/usr/bin/env bash
# End-to-end test of scripts/slurm-array.sh on a real Slurm: installs Debian's slurm-wlm and munge, starts
# munged, slurmctld and slurmd on loopback (one node, no cgroups), and then
#   1. checks the task id -> slice mapping of 0- and 1-based arrays (a stub binary, no Slurm needed);
#   2. submits a small spec as a 0-based 4-task array plus the merge job (afterok);
#   3. cancels task 2 while it runs: the merge must not run; the merge run by hand must name slice 3/4;
#   4. resubmits only that task (--array=2) and the merge (afterok on the resubmission);
#   5. checks that the merged trials are bit-identical (timings and provenance aside) to an unsharded run's.
# Needs root and apt-get; without them it says so loudly and exits 3 (skipped). Other failures exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

skip() {
    echo "test-slurm: SKIPPED: $*" >&2
    exit 3
}
fail() {
    echo "test-slurm: FAILED: $*" >&2
    exit 1
}
[[ $(id -u) == 0 ]] || skip "needs root (to install and start slurmctld, slurmd and munged)"
command -v apt-get >/dev/null 2>&1 || skip "needs apt-get to install slurm-wlm and munge"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "test-slurm: installing slurm-wlm and munge from Debian ..."
    apt-get update -qq || fail "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null || fail "apt-get install"
fi

cargo build --release --quiet --bin neurosplit
BIN=$ROOT/target/release/neurosplit
SCRIPT=$ROOT/scripts/slurm-array.sh
T0=$SECONDS

# --- 1. task ids -> slices, with a stub binary that prints its arguments -------------------------------------
slice_of() { # ID MIN MAX -> the --shard argument the script passes
    SLURM_ARRAY_TASK_ID=$1 SLURM_ARRAY_TASK_MIN=$2 SLURM_ARRAY_TASK_MAX=$3 NEUROSPLIT=echo \
        "$SCRIPT" spec.toml --shards 4 | sed -n 's/.*--shard \([0-9]*\/[0-9]*\).*/\1/p'
}
zero=$(for t in 0 1 2 3; do slice_of $t 0 3; done | sort | tr '\n' ' ')
one=$(for t in 1 2 3 4; do slice_of $t 1 4; done | sort | tr '\n' ' ')
[[ $zero == "1/4 2/4 3/4 4/4 " ]] || fail "--array=0-3 runs slices '$zero'"
[[ $one == "$zero" ]] || fail "--array=1-4 runs slices '$one', --array=0-3 '$zero'"
[[ $(slice_of 3 3 3) == "$(slice_of 3 0 3)" ]] || fail "a resubmitted task 3 runs another slice"
if SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=4 NEUROSPLIT=echo \
    "$SCRIPT" spec.toml --shards 4 >/dev/null 2>&1; then
    fail "--array=0-4 with 4 slices (ids 0 and 4 are the same slice) was accepted"
fi
echo "test-slurm: task ids 0-3 and 1-4 both run slices 1..4 of 4; id 3 resubmitted alone runs the same slice"

# --- Slurm on loopback ----------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/neurosplit-slurm.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --foreground >"$WORK/munged.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null | unmunge >/dev/null || fail "munged does not answer (see $WORK/munged.log)"
fi
mkdir -p "$WORK/state" "$WORK/spool"
HOST=$(hostname -s)
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=neurosplit-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=26817
SlurmdPort=26818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=testnode NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=4 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=testnode Default=YES MaxTime=INFINITE State=UP
EOF
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
/usr/sbin/slurmd -D -N testnode -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^idle' && break
    sleep 0.2
done
sinfo -h -N -o '%T' | grep -qE '^idle' ||
    fail "the node did not come up: $(sinfo -N 2>&1; tail -5 "$WORK"/slurm*.log)"
echo "test-slurm: slurmctld and slurmd up on 127.0.0.1 (Slurm $(sinfo -V | awk '{print $2}'))"

# --- A small spec: 48 trials in 4 slices of 12, each slice several seconds on one core -------------------------
cat >"$WORK/small.toml" <<'EOF'
name = "slurm-test"
title = "a small grid for the Slurm test"
paper_ref = "none"
trials = 24
seed = 5

[dataset]
kind = "dnf"
clauses = [4, 6]
k = 3
n_train = 2000
n_test = 200

[model]
neurons = [4]
alpha = [2]
strategies = ["clause", "random"]

[train]
pre_epochs = [100]
post_epochs = 100
batch_size = 250
lr = 1e-2
l1 = 0.0
l2 = 0.0
EOF
SPEC=$WORK/small.toml
export OUT=$WORK/sharded NEUROSPLIT=$BIN
"$SCRIPT" "$SPEC" --shards 4 --plan | tee "$WORK/plan.txt"
grep -q -- '--time=' "$WORK/plan.txt" || fail "--plan suggests no --time"
cd "$WORK"

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
job_reason() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*Reason=\([A-Za-z_]*\).*/\1/p' | head -1; }

# --- 2. the 0-based array and its merge ------------------------------------------------------------------------
ARRAY=$(sbatch --parsable --array=0-3 --cpus-per-task=1 --time=00:10:00 -o "$WORK/task-%a.out" \
    "$SCRIPT" "$SPEC" --shards 4)
MERGE=$(sbatch --parsable --dependency=afterok:"$ARRAY" --cpus-per-task=1 -o "$WORK/merge.out" \
    "$SCRIPT" "$SPEC" --shards 4 --merge)
echo "test-slurm: submitted array $ARRAY (--array=0-3) and merge $MERGE (afterok)"

# --- 3. cancel task 2 (slice 3/4) while it runs: after its first trials, before its last -----------------------
VICTIM=$OUT/trials.shard-3-of-4.jsonl
killed=
for _ in $(seq 1200); do
    n=0
    [[ -f $VICTIM ]] && n=$(wc -l <"$VICTIM")
    if ((n >= 2)); then
        [[ $(job_state "${ARRAY}_2") == RUNNING ]] && ((n < 12)) || fail "slice 3/4 finished before it could be cancelled ($n trials)"
        scancel "${ARRAY}_2"
        killed=$n
        break
    fi
    sleep 0.1
done
[[ -n $killed ]] || fail "task 2 never started writing trials (see $WORK/task-2.out)"
for _ in $(seq 600); do
    [[ $(job_state "${ARRAY}_2") == CANCELLED ]] && break
    sleep 0.1
done
[[ $(job_state "${ARRAY}_2") == CANCELLED ]] || fail "task 2 is $(job_state "${ARRAY}_2") after scancel"
for t in 0 1 3; do
    for _ in $(seq 1200); do
        [[ $(job_state "${ARRAY}_$t") == COMPLETED ]] && break
        [[ $(job_state "${ARRAY}_$t") =~ FAILED|CANCELLED|TIMEOUT ]] && fail "task $t: $(cat "$WORK/task-$t.out")"
        sleep 0.1
    done
    [[ $(job_state "${ARRAY}_$t") == COMPLETED ]] || fail "task $t did not complete"
done
echo "test-slurm: task 2 cancelled after $killed of 12 trials; tasks 0, 1, 3 completed"
# The merge job must not have run; run by hand, the merge names the missing slice and the task that reruns it.
[[ $(job_state "$MERGE") == PENDING ]] || fail "the merge job is $(job_state "$MERGE") with a cancelled task"
echo "test-slurm: merge job $MERGE pending ($(job_reason "$MERGE"))"
scancel "$MERGE"
if "$SCRIPT" "$SPEC" --shards 4 --merge >"$WORK/early-merge.out" 2>&1; then
    fail "the merge succeeded with slice 3/4 unfinished"
fi
grep -qE "slice 3/4 \(array task 2\): [0-9]+ of 12 trials not finished" "$WORK/early-merge.out" ||
    fail "the merge does not name the missing slice: $(cat "$WORK/early-merge.out")"
[[ ! -e $OUT/trials.jsonl ]] || fail "a failed merge wrote trials.jsonl"
echo "test-slurm: the merge refuses a partial run: $(grep 'slice 3/4' "$WORK/early-merge.out" | sed 's/^ *//')"

# --- 4. resubmit exactly task 2, and the merge after it ---------------------------------------------------------
AGAIN=$(sbatch --parsable --array=2 --cpus-per-task=1 --time=00:10:00 -o "$WORK/task-2-again.out" \
    "$SCRIPT" "$SPEC" --shards 4)
sbatch --wait --dependency=afterok:"$AGAIN" --cpus-per-task=1 -o "$WORK/merge-again.out" \
    "$SCRIPT" "$SPEC" --shards 4 --merge >/dev/null || fail "merge after the resubmission: $(cat "$WORK/merge-again.out")"
grep -q "slice 3/4 of" "$WORK/task-2-again.out" || fail "the resubmitted task 2 ran: $(cat "$WORK/task-2-again.out")"
grep -q "(0 trials run, 48 resumed" "$WORK/merge-again.out" || fail "merge output: $(cat "$WORK/merge-again.out")"
[[ -s $OUT/report.md ]] || fail "the merge wrote no report"
echo "test-slurm: resubmitted task 2 (job $AGAIN) resumed slice 3/4; the merge joined 48 trials and wrote the report"

# --- 5. the same trials as an unsharded run ---------------------------------------------------------------------
"$BIN" reproduce "$SPEC" --out "$WORK/whole" --threads 2 --quiet >/dev/null
canon() { # trial records without timings and provenance (thread counts differ), one per line, sorted
    sed -E -e 's/"(pre_seconds|seconds)":[-0-9.eE+]+/"\1":0/g' -e 's/,"provenance":\{.*\}\}$/}/' "$1" | sort
}
canon "$WORK/whole/trials.jsonl" >"$WORK/whole.canon"
canon "$OUT/trials.jsonl" >"$WORK/sharded.canon"
[[ $(wc -l <"$WORK/whole.canon") == 48 ]] || fail "the unsharded run has $(wc -l <"$WORK/whole.canon") trials"
cmp -s "$WORK/whole.canon" "$WORK/sharded.canon" ||
    fail "merged results differ from the unsharded run's: $(diff "$WORK/whole.canon" "$WORK/sharded.canon" | head -5)"
echo "test-slurm: PASSED: 48 merged trials bit-identical to the unsharded run's ($((SECONDS - T0)) s)"
rm -rf "$WORK"
