#!/usr/bin/env python3
"""Min / median of the alternated runs of benches/pairs.sh (an older build "old", this build "new"), per table row.

Usage: python3 benches/summarize_pairs.py pairs.txt
Columns used: clip_epoch rows -> median ms/epoch and CPU ms of the fastest epoch; step_time rows -> fastest
us/step (wall) and CPU us/step.
"""
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
build = None
for line in open(sys.argv[1]):
    if line.startswith("== "):
        build = line.split()[1]
        continue
    if not line.startswith("|") or build is None:
        continue
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if c[0].isdigit():  # clip_epoch: threads, model, formats, median, fastest, CPU (fastest), ...
        runs[(f"epoch, {c[0]} thread(s)", f"{c[1]} {c[2]}", "median ms")].append((build, float(c[3])))
        runs[(f"epoch, {c[0]} thread(s)", f"{c[1]} {c[2]}", "CPU ms of fastest")].append((build, float(c[5])))
    else:  # step_time: model, formats, fastest us, CPU us
        runs[("case-study step", f"{c[0]} {c[1]}", "fastest us")].append((build, float(c[2])))
        runs[("case-study step", f"{c[0]} {c[1]}", "CPU us")].append((build, float(c[3])))

print("| what | model | figure | old min | old median | new min | new median | new/old (median) | runs |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for (what, model, fig), vals in runs.items():
    old = [v for b, v in vals if b == "old"]
    new = [v for b, v in vals if b == "new"]
    if not old or not new:
        continue
    mo, mn = statistics.median(old), statistics.median(new)
    print(f"| {what} | {model} | {fig} | {min(old):.1f} | {mo:.1f} | {min(new):.1f} | {mn:.1f} | {mn / mo:.2f} | {len(old)}+{len(new)} |")
