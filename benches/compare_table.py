#!/usr/bin/env python3
"""Reads the raw outputs `benches/compare.sh` wrote into one folder and prints the issue's ratios as one table.

Usage: python3 benches/compare_table.py target/compare [--before-run DIR]
Epoch ratios use medians (fastest in brackets where the tool prints it); kernel ratios use the fastest of the
sweep's repetitions, against the sgemm of the same shape, op and thread count measured in the same sweep.
With --before-run DIR (the raw files of an earlier run of compare.sh, e.g. at the start of a round), each ratio of
that run is printed beside this run's, every ratio still computed within its own run. With --before-build, the
"before" column is the older build that the same run timed (compare.sh's BEFORE=: clip_before.txt, step_before.txt,
sweep_before.txt), against the same run's limits and PyTorch figures.
"""
import os
import re
import sys

args = sys.argv[1:]
BEFORE_RUN = None
if "--before-run" in args:
    i = args.index("--before-run")
    BEFORE_RUN = args[i + 1]
    del args[i:i + 2]
BEFORE_BUILD = "--before-build" in args
if BEFORE_BUILD:
    args.remove("--before-build")
OUT = args[0] if args else "target/compare"


def reader(folder, older_build=False):
    """Reads a raw file of `folder`; with `older_build`, the older build's file in place of this build's (and
    nothing for the older build's own before files)."""
    def read(name):
        if older_build:
            if name.endswith("_before.txt"):
                return ""
            if name in ("clip.txt", "step.txt", "sweep.txt"):
                name = name.replace(".txt", "_before.txt")
        path = os.path.join(folder, name)
        return open(path).read() if os.path.exists(path) else ""
    return read


def rows(text):
    """Markdown table rows as lists of stripped cells (header and separator rows included)."""
    return [[c.strip() for c in l.strip().strip("|").split("|")] for l in text.splitlines() if l.startswith("|")]


def num(s):
    m = re.search(r"-?\d+(\.\d+)?", s)
    return float(m.group()) if m else None


def run(folder, older_build=False):
    """(table rows, summary lines) of the run whose raw files are in `folder` (of the older build it timed, with
    `older_build`)."""
    read = reader(folder, older_build)
    # Limits: sgemm 2048^3 and the triad, per thread count.
    sgemm, triad = {}, {}
    for l in read("roofline.txt").splitlines():
        m = re.search(r"sgemm .* over (\d+) thread.*: ([\d.]+) ms, ([\d.]+) GFLOP/s", l)
        if m:
            sgemm[int(m.group(1))] = float(m.group(3))
        m = re.search(r"triad .* (\d+) thread.*: ([\d.]+) ms, ([\d.]+) GB/s", l)
        if m:
            triad[int(m.group(1))] = float(m.group(3))


    def clip(text):
        """{(threads, model, forced_dense): (median ms, fastest ms, CPU ms of the fastest)} and the useful GFLOP per
        epoch if printed."""
        out = {}
        for r in rows(text):
            if len(r) >= 6 and r[0].isdigit():
                out[(int(r[0]), r[1], "(dense)" in r[2])] = (num(r[3]), num(r[4]), num(r[5]))
        flops = {}
        for m in re.finditer(r"useful GFLOP per epoch: dense ([\d.]+), FPE ([\d.]+)", text):
            flops = {"dense": float(m.group(1)), "fpe": float(m.group(2))}
        return out, flops


    ours, flops = clip(read("clip.txt"))
    before, _ = clip(read("clip_before.txt"))


    def epoch(tab, th, fpe, forced=False):
        return tab.get((th, "FPE h'=512" if fpe else "dense h=128", forced))


    torch = {}
    for r in rows(read("torch_clip.txt")):
        if len(r) >= 6 and r[0].isdigit() and r[1] == "128":
            torch[int(r[0])] = (num(r[2]), num(r[5]))  # dense ms, masked ms (medians)

    sweep = {}
    for r in rows(read("sweep.txt")):
        if len(r) >= 11 and r[1].isdigit():
            shape, th, dens, op = r[0], int(r[1]), num(r[2]), r[3]
            gemm, dense, bm, csr = (num(x) for x in r[4:8])
            d, h = (int(v) for v in shape.split(" x "))
            gemm_gf = 2.0 * d * h * 500 / (gemm * 1e-3) / 1e9 if gemm else None
            best_gf = max(num(r[8]) or 0.0, num(r[9]) or 0.0)
            sweep[(shape, th, dens, op)] = (gemm, dense, gemm_gf, best_gf)


    def steps(text):
        out = {}
        for r in rows(text):
            if len(r) >= 4 and "(auto)" in r[1]:
                out[r[0]] = (num(r[2]), num(r[3]))  # fastest wall us, CPU us of that round
        return out


    step, step_before = steps(read("step.txt")), steps(read("step_before.txt"))

    table = []


    def row(what, target, one, two, ok, how):
        table.append((what, target, one, two, ok, how))


    def fmt(v, digits=2):
        return "n/a" if v is None else f"{v:.{digits}f}"


    def verdict(vals, good):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "n/a"
        return "yes" if all(good(v) for v in vals) else "no"


    ths = (1, 2)

    # 1. FPE epoch GFLOP/s against sgemm, and the second core's gain.
    if flops:
        vals = {}
        for th in ths:
            e = epoch(ours, th, True)
            if e and th in sgemm:
                vals[th] = (flops["fpe"] / (e[0] / 1e3) / sgemm[th], flops["fpe"] / (e[1] / 1e3) / sgemm[th])
        row("1. FPE epoch useful GFLOP/s / sgemm 2048^3 GFLOP/s", ">= 0.60",
            *(f"{fmt(vals[t][0])} [{fmt(vals[t][1])}]" if t in vals else "n/a" for t in ths),
            verdict([v[0] for v in vals.values()], lambda v: v >= 0.6),
            f"{flops['fpe']:.1f} GFLOP per epoch")
    e1, e2 = epoch(ours, 1, True), epoch(ours, 2, True)
    if e1 and e2:
        s = e1[0] / e2[0]
        row("1. FPE epoch, 2-thread speed-up", ">= 1.70", "", f"{fmt(s)} [{fmt(e1[1] / e2[1])}]",
            verdict([s], lambda v: v >= 1.7), "1-thread / 2-thread epoch")

    # 2. FPE epoch against the dense epoch at the same non-zero count.
    vals = {}
    for th in ths:
        f, d = epoch(ours, th, True), epoch(ours, th, False)
        if f and d:
            vals[th] = (f[0] / d[0], f[1] / d[1])
    row("2. FPE epoch / dense epoch (same nnz)", "<= 1.25",
        *(f"{fmt(vals[t][0])} [{fmt(vals[t][1])}]" if t in vals else "n/a" for t in ths),
        verdict([v[0] for v in vals.values()], lambda v: v <= 1.25), "h'=512 alpha 4 vs h=128")
    f, d = epoch(ours, 1, True), epoch(ours, 1, False)
    if f and d and f[2] and d[2]:
        row("2. same, CPU time of the fastest epoch", "<= 1.25", fmt(f[2] / d[2]), "",
            verdict([f[2] / d[2]], lambda v: v <= 1.25), "1 thread: CPU time ignores other jobs' slices")

    # 3 and 4. Dense kernel at 100 %, best sparse format at 25 %, each against sgemm of the same shape and op.
    for label, dens, target, good, ratio in (
        ("3. dense kernel / sgemm GFLOP/s", 100.0, ">= 0.85", lambda v: v >= 0.85, lambda t: t[0] / t[1]),
        ("4. best sparse (25 %) / sgemm GFLOP/s", 25.0, ">= 0.60", lambda v: v >= 0.6, lambda t: t[3] / t[2]),
    ):
        for shape in ("512 x 512", "784 x 1024"):
            for op in ("forward", "dX", "dW"):
                vals = {}
                for th in ths:
                    t = sweep.get((shape, th, dens, op))
                    if t and t[0] and t[1]:
                        vals[th] = ratio(t)
                row(f"{label}, {shape}, {op}", target, *(fmt(vals.get(t)) for t in ths),
                    verdict(list(vals.values()), good), "batch 500")

    # 5. Against PyTorch, same run.
    for label, fpe, target, good in (("5. PyTorch masked FPE epoch / ours", True, ">= 4.0", lambda v: v >= 4.0),
                                     ("5. PyTorch dense epoch / ours", False, ">= 1.5", lambda v: v >= 1.5)):
        vals = {}
        for th in ths:
            e = epoch(ours, th, fpe)
            if e and th in torch:
                vals[th] = torch[th][1 if fpe else 0] / e[0]
        row(label, target, *(fmt(vals.get(t)) for t in ths), verdict(list(vals.values()), good),
            "medians" if torch else "PyTorch not run")

    # 6. Case-study step.
    d, f = step.get("dense h=8"), step.get("FPE h'=16")
    if d and f:
        row("6. case-study FPE step / dense step", "<= 1.20", fmt(f[0] / d[0]), "",
            verdict([f[0] / d[0]], lambda v: v <= 1.2), f"{f[0]:.1f} / {d[0]:.1f} us, fastest wall")
        if d[1] and f[1]:
            row("6. same, CPU time", "<= 1.20", fmt(f[1] / d[1]), "", verdict([f[1] / d[1]], lambda v: v <= 1.2),
                f"{f[1]:.1f} / {d[1]:.1f} us, CPU of the fastest round")
    db, fb = step_before.get("dense h=8"), step_before.get("FPE h'=16")
    if d and db:
        row("6. case-study dense step / before", "<= 1.00", fmt(d[0] / db[0]), "",
            verdict([d[0] / db[0]], lambda v: v <= 1.0), f"{d[0]:.1f} vs {db[0]:.1f} us (CPU {d[1]:.1f} vs {db[1]:.1f})")
    if f and fb:
        row("   case-study FPE step / before", "", fmt(f[0] / fb[0]), "", "",
            f"{f[0]:.1f} vs {fb[0]:.1f} us (CPU {f[1]:.1f} vs {fb[1]:.1f})")

    # Before / after of the epochs (BEFORE=...).
    for fpe in (True, False):
        vals = {}
        for th in ths:
            a, b = epoch(ours, th, fpe), epoch(before, th, fpe)
            if a and b:
                vals[th] = (b[0] / a[0], b[1] / a[1])
        if vals:
            row(f"   speed-up over the before build, {'FPE' if fpe else 'dense'} epoch", "",
                *(f"{fmt(vals[t][0])} [{fmt(vals[t][1])}]" if t in vals else "n/a" for t in ths), "", "before / after")
            a, b = epoch(ours, 1, fpe), epoch(before, 1, fpe)
            if a[2] and b[2]:
                row(f"   same, CPU time of the fastest epoch, {'FPE' if fpe else 'dense'}", "", fmt(b[2] / a[2]), "", "",
                    "before / after, 1 thread")

    # 7. Wall times.
    for l in read("wall.txt").splitlines():
        name, secs = l.split()
        row(f"7. wall time, reproduce {name}", "", f"{float(secs):.1f} s", "", "", "")

    summary = [read("machine.txt").strip()]
    summary.append("limits: sgemm 2048^3 " + ", ".join(f"{sgemm[t]:.0f} GFLOP/s ({t} thr)" for t in sorted(sgemm))
                   + "; triad " + ", ".join(f"{triad[t]:.1f} GB/s ({t} thr)" for t in sorted(triad)))
    for th in ths:
        parts = []
        for name, key in (("ours dense", (th, False)), ("ours FPE", (th, True))):
            e = epoch(ours, *key)
            if e:
                parts.append(f"{name} {e[0]:.1f} [{e[1]:.1f}; CPU {e[2]:.1f}] ms")
        if th in torch:
            parts.append(f"PyTorch dense {torch[th][0]:.1f} ms, masked FPE {torch[th][1]:.1f} ms")
        for name, key in (("before dense", (th, False)), ("before FPE", (th, True))):
            e = epoch(before, *key)
            if e:
                parts.append(f"{name} {e[0]:.1f} [{e[1]:.1f}; CPU {e[2]:.1f}] ms")
        summary.append(f"CLIP epochs, {th} thread(s), median [fastest]: " + "; ".join(parts))
    return table, summary


table, summary = run(OUT)
if BEFORE_BUILD:
    BEFORE_RUN = OUT + " (older build)"
if BEFORE_RUN:
    old, old_summary = run(OUT, True) if BEFORE_BUILD else run(BEFORE_RUN)
    print()
    print("BEFORE (" + BEFORE_RUN + "):")
    print("\n".join(old_summary))
    print()
    print("AFTER (" + OUT + "):")
print("\n".join(summary))
print()
print("Ratios of epochs: medians [fastest]; kernels: fastest of the sweep's repetitions, same shape, op and threads.")
print()
if BEFORE_RUN:
    before_rows = {r[0]: r for r in old}
    print("| ratio | target | before, 1 thread | before, 2 threads | after, 1 thread | after, 2 threads | met (after) | note |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    names = [r[0] for r in table] + [r[0] for r in old if r[0] not in {t[0] for t in table}]
    now = {r[0]: r for r in table}
    for name in names:
        a = now.get(name, (name, "", "", "", "", ""))
        b = before_rows.get(name, (name, a[1], "", "", "", ""))
        print("| " + " | ".join((name, a[1] or b[1], b[2], b[3], a[2], a[3], a[4], a[5] or b[5])) + " |")
else:
    print("| ratio | target | 1 thread | 2 threads | met | note |")
    print("|---|---|---:|---:|---|---|")
    for r in table:
        print("| " + " | ".join(r) + " |")
