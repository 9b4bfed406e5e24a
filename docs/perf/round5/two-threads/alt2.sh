#!/bin/bash
out=/tmp/two/alt2_log.txt
new=/tmp/two/clip_new3
old=/work/wt-two-base/clip_epoch_ck
busy() { (pgrep -x rustc || pgrep -x clippy-driver || pgrep -x rustdoc) >/dev/null && echo yes || echo no; }
run() { local tag=$1 bin=$2; shift 2
  echo "## $tag $(date +%T) $(uptime | sed 's/.*load/load/') busy=$(busy)" >> $out
  $bin "$@" | grep '^| [0-9]' >> $out
  echo "## end busy=$(busy)" >> $out; }
for i in 1 2 3 4 5 6; do
  run "old fpe $i" $old --fpe-only --threads 1,2
  run "new fpe $i" $new --fpe-only --threads 1,2
done
for i in 1 2 3; do
  run "old dense $i" $old --dense-only --threads 1,2
  run "new dense $i" $new --dense-only --threads 1,2
done
echo ALLDONE >> $out
