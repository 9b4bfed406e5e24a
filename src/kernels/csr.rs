//! The three products of training and the Adam update for sparse layers, in CSR and bitmask storage, on the
//! feature-major layout of [`super`]: `W` is `n x k` (out x in), activations are `width x b`.
//!
//! | product | CSR | bitmask |
//! |---|---|---|
//! | forward `Y = W X + bias` (+ ReLU) | [`csr_forward`] | [`bitmask_forward`] |
//! | input gradient `dX = W^T dY` | [`csr_backward_input`] (transposed pattern) | [`bitmask_backward_input`] (transposed mask) |
//! | weight gradient `dW = dY X^T`, live entries only | [`csr_backward_weight`] | [`bitmask_backward_weight`] |
//! | Adam over live values | [`adam_live`] (compact values) | |
//!
//! Parallelism is an argument ([`Par`]): the output rows are cut into contiguous ranges (balanced by stored
//! entries for CSR), one per task on the current rayon pool. Each output element is computed by exactly one
//! task in the same order as sequentially, so results are bit-identical whatever the thread count.

use super::simd::{self, Isa};
use crate::sparse::{Mask, Pattern};

/// How a kernel may spread its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    /// On the calling thread.
    #[default]
    Seq,
    /// Cut into this many pieces run as tasks of the current rayon pool (`Rayon(1)` is sequential).
    Rayon(usize),
}

impl Par {
    /// Number of pieces to cut the work into.
    pub fn pieces(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Rayon(n) => n.max(1),
        }
    }
}

/// Row boundaries `0 = r_0 <= ... <= r_m = rows` of at most `pieces` ranges with about equal `cost`, where
/// `cost(r)` is the cumulative cost of rows `0..r` (non-decreasing).
fn split_rows(rows: usize, pieces: usize, cost: impl Fn(usize) -> usize) -> Vec<usize> {
    let pieces = pieces.clamp(1, rows.max(1));
    let total = cost(rows);
    let mut bounds = vec![0];
    for t in 1..pieces {
        let target = total * t / pieces;
        // First row boundary whose prefix cost reaches the target.
        let (mut lo, mut hi) = (*bounds.last().unwrap(), rows);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cost(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        bounds.push(lo);
    }
    bounds.push(rows);
    bounds.dedup();
    bounds
}

/// Runs `f(r0, r1, out_piece)` for each row range of `bounds`; `offset(r)` is where row `r`'s output starts in
/// `out` (non-decreasing), so the pieces are disjoint slices.
fn run_pieces<O, F>(bounds: &[usize], offset: O, out: &mut [f32], f: F)
where
    O: Fn(usize) -> usize,
    F: Fn(usize, usize, &mut [f32]) + Sync,
{
    let (first, last) = (bounds[0], *bounds.last().unwrap());
    if bounds.len() <= 2 {
        f(first, last, &mut out[offset(first)..offset(last)]);
        return;
    }
    let f = &f;
    let offsets: Vec<usize> = bounds.iter().map(|&r| offset(r)).collect();
    rayon::scope(|s| {
        let mut rest = &mut out[offsets[0]..offsets[offsets.len() - 1]];
        for (w, o) in bounds.windows(2).zip(offsets.windows(2)) {
            let (piece, tail) = rest.split_at_mut(o[1] - o[0]);
            rest = tail;
            let (r0, r1) = (w[0], w[1]);
            s.spawn(move |_| f(r0, r1, piece));
        }
    });
}

fn csr_bounds(pattern: &Pattern, par: Par) -> Vec<usize> {
    let rp = pattern.row_ptr();
    // Each row also costs its output writes: count one unit per row besides its entries.
    split_rows(pattern.rows(), par.pieces(), |r| rp[r] + r)
}

fn mask_bounds(mask: &Mask, par: Par) -> Vec<usize> {
    if par.pieces() == 1 {
        return vec![0, mask.rows()];
    }
    let mut prefix = Vec::with_capacity(mask.rows() + 1);
    prefix.push(0);
    for r in 0..mask.rows() {
        prefix.push(prefix[r] + mask.row_count(r) + 1);
    }
    split_rows(mask.rows(), par.pieces(), |r| prefix[r])
}

/// `Y (n x b) = W X + bias`, then ReLU if `relu`; `W` is CSR (`pattern`, compact `values`), `X` is `k x b`.
#[allow(clippy::too_many_arguments)]
pub fn csr_forward(
    isa: Isa,
    par: Par,
    pattern: &Pattern,
    values: &[f32],
    x: &[f32],
    b: usize,
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let n = pattern.rows();
    assert_eq!(values.len(), pattern.nnz(), "values length mismatch");
    assert!(
        x.len() >= pattern.cols() * b && y.len() >= n * b && bias.len() == n,
        "csr_forward: shape mismatch"
    );
    let (rp, col) = (pattern.row_ptr(), pattern.col_idx());
    run_pieces(
        &csr_bounds(pattern, par),
        |r| r * b,
        y,
        |r0, r1, yp| {
            simd::csr_rows(
                isa,
                r1 - r0,
                b,
                &rp[r0..=r1],
                col,
                values,
                None,
                x,
                Some(&bias[r0..r1]),
                relu,
                yp,
            );
        },
    );
}

/// `dX (k x b) = W^T dY` for a CSR `W` (`n x k`), given its transposed pattern. With `perm` (from
/// [`Pattern::transpose`]), `values` are `W`'s compact values in its own order, read through the permutation;
/// without, `values` are already in the transposed pattern's order (streamed, the faster layout: see
/// [`transpose_values`]).
#[allow(clippy::too_many_arguments)]
pub fn csr_backward_input(
    isa: Isa,
    par: Par,
    pattern_t: &Pattern,
    perm: Option<&[u32]>,
    values: &[f32],
    dy: &[f32],
    b: usize,
    dx: &mut [f32],
) {
    let k = pattern_t.rows();
    if let Some(p) = perm {
        assert_eq!(p.len(), pattern_t.nnz(), "permutation length mismatch");
    }
    assert_eq!(values.len(), pattern_t.nnz(), "values length mismatch");
    assert!(
        dy.len() >= pattern_t.cols() * b && dx.len() >= k * b,
        "csr_backward_input: shape mismatch"
    );
    let (rp, col) = (pattern_t.row_ptr(), pattern_t.col_idx());
    run_pieces(
        &csr_bounds(pattern_t, par),
        |r| r * b,
        dx,
        |r0, r1, dxp| {
            simd::csr_rows(
                isa,
                r1 - r0,
                b,
                &rp[r0..=r1],
                col,
                values,
                perm,
                dy,
                None,
                false,
                dxp,
            );
        },
    );
}

/// The weight gradient `dW = dY X^T` on the pattern only (SDDMM), as compact values in pattern order:
/// `grad[p] = dY[i, :] . X[col[p], :]`. `dY` is `n x b`, `X` is `k x b`.
pub fn csr_backward_weight(
    isa: Isa,
    par: Par,
    pattern: &Pattern,
    dy: &[f32],
    x: &[f32],
    b: usize,
    grad: &mut [f32],
) {
    assert_eq!(grad.len(), pattern.nnz(), "gradient length mismatch");
    assert!(
        dy.len() >= pattern.rows() * b && x.len() >= pattern.cols() * b,
        "csr_backward_weight: shape mismatch"
    );
    let (rp, col) = (pattern.row_ptr(), pattern.col_idx());
    // The output is indexed by stored entry: a row range owns the entries between its row pointers.
    run_pieces(
        &csr_bounds(pattern, par),
        |r| rp[r],
        grad,
        |r0, r1, gp| {
            simd::csr_dots(isa, r1 - r0, b, &rp[r0..=r1], col, &dy[r0 * b..], x, gp);
        },
    );
}

/// `Y (n x b) = W X + bias`, then ReLU if `relu`; `W` is dense row-major `n x k` (zeros where masked), read
/// only at the live entries of `mask`.
#[allow(clippy::too_many_arguments)]
pub fn bitmask_forward(
    isa: Isa,
    par: Par,
    mask: &Mask,
    w: &[f32],
    x: &[f32],
    b: usize,
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let (n, k) = (mask.rows(), mask.cols());
    assert_eq!(w.len(), n * k, "weight shape mismatch");
    assert!(
        x.len() >= k * b && y.len() >= n * b && bias.len() == n,
        "bitmask_forward: shape mismatch"
    );
    let wpr = mask.words_per_row();
    let words = mask.words();
    run_pieces(
        &mask_bounds(mask, par),
        |r| r * b,
        y,
        |r0, r1, yp| {
            simd::bits_rows(
                isa,
                r1 - r0,
                b,
                &words[r0 * wpr..r1 * wpr],
                wpr,
                &w[r0 * k..r1 * k],
                k,
                1,
                x,
                Some(&bias[r0..r1]),
                relu,
                yp,
            );
        },
    );
}

/// `dX (k x b) = W^T dY` for a dense row-major `W` (`n x k`, zeros where masked), given the transposed mask
/// (`k x n`, from [`Mask::transpose`]).
#[allow(clippy::too_many_arguments)]
pub fn bitmask_backward_input(
    isa: Isa,
    par: Par,
    mask_t: &Mask,
    w: &[f32],
    dy: &[f32],
    b: usize,
    dx: &mut [f32],
) {
    let (k, n) = (mask_t.rows(), mask_t.cols());
    assert_eq!(w.len(), n * k, "weight shape mismatch");
    assert!(
        dy.len() >= n * b && dx.len() >= k * b,
        "bitmask_backward_input: shape mismatch"
    );
    let wpr = mask_t.words_per_row();
    let words = mask_t.words();
    run_pieces(
        &mask_bounds(mask_t, par),
        |r| r * b,
        dx,
        |r0, r1, dxp| {
            simd::bits_rows(
                isa,
                r1 - r0,
                b,
                &words[r0 * wpr..r1 * wpr],
                wpr,
                &w[r0..],
                1,
                k,
                dy,
                None,
                false,
                dxp,
            );
        },
    );
}

/// `dW[i, c] = dY[i, :] . X[c, :]` at the live entries of `mask` (`n x k`); masked entries of `dw` (dense
/// row-major `n x k`) are left untouched.
#[allow(clippy::too_many_arguments)]
pub fn bitmask_backward_weight(
    isa: Isa,
    par: Par,
    mask: &Mask,
    dy: &[f32],
    x: &[f32],
    b: usize,
    dw: &mut [f32],
) {
    let (n, k) = (mask.rows(), mask.cols());
    assert!(
        dy.len() >= n * b && x.len() >= k * b && dw.len() == n * k,
        "bitmask_backward_weight: shape mismatch"
    );
    let wpr = mask.words_per_row();
    let words = mask.words();
    run_pieces(
        &mask_bounds(mask, par),
        |r| r * k,
        dw,
        |r0, r1, dwp| {
            simd::bits_dots(
                isa,
                r1 - r0,
                k,
                b,
                &words[r0 * wpr..r1 * wpr],
                wpr,
                &dy[r0 * b..],
                x,
                dwp,
            );
        },
    );
}

/// `values_t[q] = values[perm[q]]`: a CSR matrix's values in the order of its transposed pattern.
pub fn transpose_values(perm: &[u32], values: &[f32], values_t: &mut [f32]) {
    assert!(
        perm.len() == values_t.len() && values.len() == values_t.len(),
        "transpose_values: length mismatch"
    );
    for (v, &p) in values_t.iter_mut().zip(perm) {
        *v = values[p as usize];
    }
}

/// One Adam step over compact live values (see [`super::sparse_rows::adam_body`] for the formula and `h`).
pub fn adam_live(isa: Isa, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5]) {
    simd::adam(isa, p, g, m, v, h);
}
