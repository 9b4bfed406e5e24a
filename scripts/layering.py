#!/usr/bin/env python3
"""Import arrows of a Rust crate, read from `crate::module` paths (comments and #[cfg(test)] modules ignored).

  python3 scripts/layering.py                    # from the repository root: top-level modules of src/, and the
                                                 # files of each folder under src/, with every cycle found
Exit 1 when a cycle exists. It checks that the floors of docs/ARCHITECTURE.md ("Module map", "Layering rules")
have no import cycles: neither between the top-level modules of src/ (src/bin/ left out) nor between the files of
one folder. It does not check which floor a module sits on, only that the arrows form no cycle. `.ci/run` runs
it."""
import os, re, sys

def code(path):
    txt = re.sub(r"//[^\n]*", "", open(path, encoding="utf-8", errors="replace").read())
    cut = txt.find("#[cfg(test)]")
    return txt[:cut] if cut >= 0 else txt

def sccs(nodes, edges):
    graph = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index: visit(v)
    return out

root = "src"
tops = {e[:-3] if e.endswith(".rs") else e for e in os.listdir(root) if e not in ("bin", "lib.rs", "main.rs")}
edges = set()
for dp, _, fs in os.walk(root):
    rel = os.path.relpath(dp, root)
    if rel.startswith("bin"):
        continue
    for f in fs:
        if not f.endswith(".rs"):
            continue
        a = (rel.split(os.sep)[0] if rel != "." else f[:-3])
        a = a[:-3] if a.endswith(".rs") else a
        if a not in tops:
            continue
        for b in re.findall(r"crate::([a-z_0-9]+)", code(os.path.join(dp, f))):
            if b in tops and b != a:
                edges.add((a, b))
bad = 0
for comp in sccs(tops, edges):
    print("cycle between modules: " + " <-> ".join(comp)); bad += 1
for dp, dirs, fs in os.walk(root):
    if os.path.relpath(dp, root).startswith("bin") or dp == root:
        continue
    name = os.path.basename(dp)
    files = {f[:-3] for f in fs if f.endswith(".rs") and f != "mod.rs"}
    fe = set()
    for f in files:
        for b in re.findall(r"(?:super|crate::" + name + r")::([a-z_0-9]+)", code(os.path.join(dp, f + ".rs"))):
            if b in files and b != f:
                fe.add((f, b))
    for comp in sccs(files, fe):
        print(f"cycle between files of {os.path.relpath(dp, root)}/: " + " <-> ".join(c + ".rs" for c in comp)); bad += 1
print(f"{len(edges)} arrows between {len(tops)} modules; {bad} cycle(s)")
sys.exit(1 if bad else 0)
