import re, sys, statistics, collections
rows = collections.defaultdict(list)
for f in sys.argv[1:]:
    tag = None
    for line in open(f):
        m = re.match(r'## (old|new) ', line)
        if m: tag = m.group(1); continue
        m = re.match(r'\| (\d) \| (.*?) \| (.*?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|', line)
        if m and tag:
            t, model, fmt, med, fast, cpu = m.groups()
            rows[(model, fmt, tag, int(t))].append((float(med), float(fast)))
print("| model | build | threads | runs | median of medians ms | fastest ms |")
print("|---|---|---:|---:|---:|---:|")
res = {}
for k in sorted(rows):
    v = rows[k]
    mm = statistics.median(x[0] for x in v); mf = min(x[1] for x in v)
    res[k] = (mm, mf)
    print(f"| {k[0]} | {k[2]} | {k[3]} | {len(v)} | {mm:.1f} | {mf:.1f} |")
print()
for model, fmt in sorted({(k[0], k[1]) for k in rows}):
    for tag in ("old", "new"):
        if (model, fmt, tag, 1) in res and (model, fmt, tag, 2) in res:
            a, b = res[(model, fmt, tag, 1)], res[(model, fmt, tag, 2)]
            print(f"{model} {tag}: 1t/2t speed-up, medians {a[0]/b[0]:.2f}x, fastest {a[1]/b[1]:.2f}x")
