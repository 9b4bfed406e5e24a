#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), all at once at the lowest priority, from
# the seeds in fuzz/seeds/ (copied to fuzz/corpus/, which keeps what the fuzzers find between runs).
#
#   scripts/fuzz.sh 600            # ten minutes each
#   TARGETS="npy idx" scripts/fuzz.sh 60
#   FUZZ_NO_BUILD=1 scripts/fuzz.sh 600   # run the targets as last built
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each run is limited to 2 GiB of
# resident memory and 2 GiB in one allocation (a bigger one is a finding: the parsers check sizes first).
# Logs are in fuzz/logs/<target>.log; crashes in fuzz/artifacts/<target>/. Exits non-zero if any target
# found a crash.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${1:-60}
ALL="model_file pt_file npy npz idx spec_toml results_jsonl assignment_json"
TARGETS=${TARGETS:-$ALL}
declare -A MAXLEN=([model_file]=16384 [pt_file]=16384 [npy]=4096 [npz]=8192 [idx]=4096 [spec_toml]=8192 [results_jsonl]=16384
    [assignment_json]=4096)
if [ -z "${FUZZ_NO_BUILD:-}" ]; then  # FUZZ_NO_BUILD=1: run the binaries already built
    for t in $TARGETS; do
        nice -n 19 cargo +nightly fuzz build --release "$t" 2>&1 | tail -1
    done
fi
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
mkdir -p logs
pids=()
for t in $TARGETS; do
    mkdir -p "corpus/$t" "artifacts/$t"
    cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    # The binaries run directly (built above), so that editing the sources meanwhile does not rebuild them.
    nice -n 19 "target/$TRIPLE/release/$t" "corpus/$t" \
        -artifact_prefix="artifacts/$t/" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len="${MAXLEN[$t]}" -timeout=20 -print_final_stats=1 \
        >"logs/$t.log" 2>&1 &
    pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || status=1
done
printf '%-16s %12s %8s %s\n' target executions corpus result
for t in $TARGETS; do
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    corpus=$(find "corpus/$t" -type f | wc -l)
    if grep -qE 'ERROR: libFuzzer|SUMMARY: .*Sanitizer|panicked at' "logs/$t.log"; then
        result="CRASH (see logs/$t.log, artifacts/$t/)"
        status=1
    else
        result=clean
    fi
    printf '%-16s %12s %8s %s\n' "$t" "$execs" "$corpus" "$result"
done
exit $status
