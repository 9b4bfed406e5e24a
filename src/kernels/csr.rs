//! The three products of training for a CSR weight ([`Pattern`] plus compact values) on the feature-major layout
//! of [`super`]: `W` is `n x k` (out x in), activations are `width x b`.
//!
//! | product | function |
//! |---|---|
//! | forward `Y = W X + bias` (+ ReLU) | [`csr_forward`] |
//! | input gradient `dX = W^T dY` | [`csr_backward_input`] (transposed pattern) |
//! | weight gradient `dW = dY X^T`, live entries only | [`csr_backward_weight`] |
//!
//! The bitmask twins are in [`super::bitmask`]; the SIMD row bodies of both in [`super::sparse_rows`].
//! Parallelism is an argument ([`Par`]): the rows are cut by [`super::parallel`], balanced by stored entries.

use super::parallel::{run_pieces, split_rows, Par};
use super::simd::{self, Isa};
use crate::sparse::Pattern;

fn csr_bounds(pattern: &Pattern, par: Par) -> Vec<usize> {
    let rp = pattern.row_ptr();
    // Each row also costs its output writes: count one unit per row besides its entries.
    split_rows(pattern.rows(), par.pieces(), |r| rp[r] + r)
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
