#!/usr/bin/env python3
"""Independent numpy reference for neurosplit's interference metrics (src/metrics).

Writes tests/data/metrics_reference.json: small fixed weight matrices (entries are multiples of 1/64, so they
are exact in f32), their feature groups, and every metric reading computed here with numpy in float64:

* per-input capacity   C_i = G_ii^2 / sum_j G_ij^2,  G = W^T W  (0 for a zero column)
* feature capacity     v_f = W 1_f, C_f = (v_f.v_f)^2 / sum_g (v_f.v_g)^2  (0 for v_f = 0)
* mean_cosine          signed mean of cos over distinct neuron pairs r < s
* mean_abs_cosine      mean |cos| over distinct pairs
* mean_abs_cosine_full mean |cos| over the full h x h matrix, diagonal included
                       (PyTorch: F.normalize(W, dim=1); (Wn @ Wn.T).abs().mean())

Run:  python tests/data/metrics_reference.py > tests/data/metrics_reference.json
"""
import json

import numpy as np


def capacity(gram):
    diag = np.diag(gram)
    denom = (gram**2).sum(axis=1)
    out = np.zeros_like(diag)
    nz = diag != 0
    out[nz] = diag[nz] ** 2 / denom[nz]
    return out


def readings(w, groups):
    h, d = w.shape
    g = w.T @ w
    c = capacity(g)
    ind = np.zeros((d, len(groups)))
    for f, grp in enumerate(groups):
        ind[grp, f] = 1.0
    v = w @ ind  # h x F: column f is v_f
    cf = capacity(v.T @ v)
    norms = np.linalg.norm(w, axis=1)
    wn = np.where(norms[:, None] > 0, w / np.where(norms > 0, norms, 1.0)[:, None], 0.0)
    cos = wn @ wn.T
    iu = np.triu_indices(h, k=1)
    pairs = cos[iu]
    return {
        "capacity": c.tolist(),
        "capacity_total": float(c.sum()),
        "capacity_per_group": [float(c[grp].sum()) for grp in groups],
        "feature_capacity": cf.tolist(),
        "feature_capacity_total": float(cf.sum()),
        "mean_cosine": float(pairs.mean()) if pairs.size else 0.0,
        "mean_abs_cosine": float(np.abs(pairs).mean()) if pairs.size else 0.0,
        "mean_abs_cosine_full": float(np.abs(cos).mean()),
    }


def main():
    rng = np.random.default_rng(20260101)
    cases = []
    # 1. Three neurons on three clauses of two literals, some weights masked to zero.
    w = np.array(
        [
            [1.0, 0.5, -0.25, 0.0, 0.0, 0.125],
            [0.0, 0.0, 1.5, 1.25, -0.5, 0.0],
            [0.75, -0.5, 0.0, 0.25, 1.0, 1.0],
        ]
    )
    cases.append(("clauses-3x6", w, [[0, 1], [2, 3], [4, 5]]))
    # 2. Random 4 x 8 (multiples of 1/64), a zero row, uneven groups.
    w = np.round(rng.normal(size=(4, 8)) * 64) / 64
    w[2, :] = 0.0
    cases.append(("random-4x8-zero-row", w, [[0, 3, 5], [1], [2, 4], [6, 7]]))
    # 3. Random 16 x 12 with a feature whose vector cancels to zero (columns 0 and 1 opposite).
    w = np.round(rng.normal(size=(16, 12)) * 64) / 64
    w[:, 1] = -w[:, 0]
    cases.append(("random-16x12-cancelling-group", w, [[0, 1], [2, 3, 4, 5], [6, 7, 8, 9], [10, 11]]))
    # 4. One neuron: no distinct pair.
    cases.append(("one-neuron", np.array([[0.5, -1.0, 2.0]]), [[0], [1, 2]]))
    out = []
    for name, w, groups in cases:
        out.append(
            {
                "name": name,
                "rows": w.shape[0],
                "cols": w.shape[1],
                "weights": w.flatten().tolist(),
                "groups": groups,
                "expected": readings(w, groups),
            }
        )
    print(json.dumps({"numpy": np.__version__, "cases": out}, indent=1))


if __name__ == "__main__":
    main()
