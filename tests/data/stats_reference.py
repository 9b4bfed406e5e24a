#!/usr/bin/env python3
"""Independent scipy reference for neurosplit's paired t-test and Holm correction (src/stats.rs).

Prints the values the unit tests in src/stats.rs check against:
    /work/venv-torch/bin/python tests/data/stats_reference.py
"""
import numpy as np
from scipy import stats

a = [0.912, 0.874, 0.901, 0.935, 0.888]
b = [0.881, 0.869, 0.879, 0.902, 0.880]
r = stats.ttest_rel(a, b)
print(f"paired a b: t = {r.statistic!r}, df = {r.df!r}, p = {r.pvalue!r}")
c = [1.0, 2.5, 2.0, 4.0, 3.5, 6.0]
d = [1.5, 2.0, 3.0, 3.0, 5.0, 5.5]
r = stats.ttest_rel(c, d)
print(f"paired c d: t = {r.statistic!r}, df = {r.df!r}, p = {r.pvalue!r}")

# Holm-Bonferroni step-down adjusted p-values (as statsmodels' multipletests(method="holm")):
# sort ascending, adj_(i) = max_{j <= i} min(1, (m - j) p_(j)), back in the original order.
p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04])
order = np.argsort(p, kind="stable")
m = len(p)
adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
adj = np.empty(m)
adj[order] = adj_sorted
print("holm", p.tolist(), "->", adj.tolist())
