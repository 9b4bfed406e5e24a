#!/bin/bash
# Runs single measurements only in quiet windows (no compiler for 3 s), until DEADLINE (epoch seconds).
out=/tmp/two/quiet4_log.txt
new=/tmp/two/clip_new3
old=/work/wt-two-base/clip_epoch_ck
deadline=$1
busy() { [ $(/tmp/two/idle.sh) -lt 85 ]; }
waitq() { while [ $(/tmp/two/idle.sh) -lt 85 ]; do [ $(date +%s) -gt $deadline ] && return 1; done; return 0; }
run() { local tag=$1 bin=$2; shift 2
  waitq || return 1
  echo "## $tag $(date +%T) $(uptime | sed 's/.*load/load/')" >> $out
  $bin "$@" | grep '^| [0-9]' >> $out
  if busy; then echo "## end DISTURBED" >> $out; else echo "## end quiet" >> $out; fi; }
i=0
while [ $(date +%s) -lt $deadline ]; do
  i=$((i+1))
  for t in 2 1; do
    run "old fpe t$t $i" $old --fpe-only --threads $t || break 2
    run "new fpe t$t $i" $new --fpe-only --threads $t || break 2
  done
  if [ $((i % 2)) = 0 ]; then
    run "old dense $i" $old --dense-only --threads 1,2 || break
    run "new dense $i" $new --dense-only --threads 1,2 || break
  fi
  if [ $i = 3 ]; then
    waitq && { echo "## perf old $(date +%T) $(uptime | sed 's/.*load/load/')" >> $out; perf record -F 1000 -g -o /tmp/two/old2z.data $old --fpe-only --threads 2 2>&1 | grep '^| [0-9]' >> $out; busy && echo "## end DISTURBED" >> $out || echo "## end quiet" >> $out; }
    waitq && { echo "## perf new $(date +%T) $(uptime | sed 's/.*load/load/')" >> $out; perf record -F 1000 -g -o /tmp/two/new2z.data $new --fpe-only --threads 2 2>&1 | grep '^| [0-9]' >> $out; busy && echo "## end DISTURBED" >> $out || echo "## end quiet" >> $out; }
  fi
done
echo ALLDONE >> $out
