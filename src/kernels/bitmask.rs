//! The three products of training for a bitmask weight (dense row-major values, zeros where masked, read only at
//! the live entries of a [`Mask`]) on the feature-major layout of [`super`]: `W` is `n x k` (out x in),
//! activations are `width x b`.
//!
//! | product | function |
//! |---|---|
//! | forward `Y = W X + bias` (+ ReLU) | [`bitmask_forward`] |
//! | input gradient `dX = W^T dY` | [`bitmask_backward_input`] (transposed mask) |
//! | weight gradient `dW = dY X^T`, live entries only | [`bitmask_backward_weight`] |
//!
//! The CSR twins are in [`super::csr`]; the SIMD row bodies of both in [`super::sparse_rows`]. Parallelism is an
//! argument ([`Par`]): the rows are cut by [`super::parallel`], balanced by live entries.

use super::parallel::{run_pieces, split_rows, Par};
use super::simd::{self, Isa};
use crate::sparse::Mask;

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
