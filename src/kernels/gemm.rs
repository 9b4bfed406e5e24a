//! Dense products through `matrixmultiply` (runtime-dispatched SIMD sgemm: a packed 8 x 8 FMA micro-kernel on
//! AVX2) on the feature-major layout: the production path of large dense layers, and the reference the crate's
//! own kernels are tested against.
//!
//! In the feature-major layout each product of training is a plain GEMM, the transposes being only strides
//! (`matrixmultiply` packs both operands into its own panels anyway, so no transposed copy is needed):
//!
//! * forward `Y (n x b) = W (n x k) X (k x b)`, row-major operands ([`forward_rows`]), bias and ReLU applied in
//!   one pass afterwards;
//! * input gradient `dX (k x b) = W^T dY`, `W^T` read with strides `(1, k)` ([`input_grad_rows`]);
//! * weight gradient `dW (n x k) = dY X^T`, `X^T` read with strides `(1, b)` ([`weight_grad_rows`]); masked
//!   entries are then set to exactly `0.0`.
//!
//! Each function computes a range of output rows, so that callers split rows over threads. `matrixmultiply`
//! sums every output element over the inner dimension in fixed blocks of 256 terms, on a micro-kernel picked
//! by the CPU alone, whatever `m` and `n` are (its edge tiles run the same micro-kernel into a buffer): a row
//! range computes exactly the bits of the whole product, so results do not depend on the thread count. The
//! crate does not enable `matrixmultiply`'s own `threading` feature.
//!
//! [`pays`] decides, from the whole product's shape, whether it goes through here or through the crate's own
//! row kernels ([`super::dense`]), which win on small products where packing costs more than it saves.

use super::Isa;
use crate::sparse::Mask;

/// Whether a product `C (m x n) = A (m x inner) B (inner x n)` on `isa` goes through `matrixmultiply` rather
/// than the crate's own dense kernels: at least [`GEMM_MIN_FLOPS`] multiply-adds with every dimension at least
/// [`GEMM_MIN_DIM`]. Decided on the whole product (never on a thread's share), so the choice, and the bits,
/// do not depend on the thread count. The baseline instruction set keeps the crate's own kernels (the
/// reference the others are tested against).
pub fn pays(isa: Isa, m: usize, inner: usize, n: usize) -> bool {
    isa != Isa::Scalar && m.min(inner).min(n) >= GEMM_MIN_DIM && m * inner * n >= GEMM_MIN_FLOPS
}

/// Smallest dimension for [`pays`]. Measured with `examples/dense_isa.rs --small` (batch 500, AVX-512, Zen 4;
/// `docs/perf/dense_isa_gemm.txt`): with 16 output rows the weight gradient lost 0.69-0.75x on the GEMM (its
/// packing of `X^T`, read across rows, is shared by too few rows), and at 8 x 32 every product but one lost;
/// from 32 x 128 and 64 x 64 up every product won (1.0-2.1x).
pub const GEMM_MIN_DIM: usize = 32;
/// Fewest multiply-adds for [`pays`]: at 32 x 32 x 500 (0.5 M) the GEMM won the input gradient only (1.18x)
/// and lost the forward product (0.92x) and the weight gradient (0.80x); at 1 M and more it won all three.
pub const GEMM_MIN_FLOPS: usize = 1 << 20;

/// Checks that a strided `rows x cols` view with non-negative strides fits in `len` elements.
fn check_view(name: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last < len,
        "{name}: a {rows}x{cols} view with strides ({rs}, {cs}) needs {} elements, has {len}",
        last + 1
    );
}

/// `C = alpha * A B + beta * C` on strided views; `A` is `m x k`, `B` is `k x n`, `C` is `m x n`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
) {
    check_view("A", a.len(), m, k, rsa, csa);
    check_view("B", b.len(), k, n, rsb, csb);
    check_view("C", c.len(), m, n, rsc, csc);
    if m == 0 || n == 0 {
        return;
    }
    assert!(csc != 0 && rsc != 0, "C strides must be non-zero");
    // SAFETY: the three views were checked above to lie inside their slices; `c` is uniquely borrowed, and with
    // non-zero strides on a row- or column-major view no two elements of C alias.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        );
    }
}

/// Forward product `Y (n x b) = W (n x k) X (k x b)`.
pub fn fwd_ref(n: usize, k: usize, b: usize, w: &[f32], x: &[f32], y: &mut [f32]) {
    gemm_strided(n, k, b, 1.0, w, (k, 1), x, (b, 1), 0.0, y, (b, 1));
}

/// Input gradient `dX (k x b) = W^T dY (n x b)`.
pub fn dx_ref(n: usize, k: usize, b: usize, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    gemm_strided(k, n, b, 1.0, w, (1, k), dy, (b, 1), 0.0, dx, (b, 1));
}

/// Weight gradient `dW (n x k) = dY (n x b) X^T`.
pub fn dw_ref(n: usize, k: usize, b: usize, dy: &[f32], x: &[f32], dw: &mut [f32]) {
    gemm_strided(n, b, k, 1.0, dy, (b, 1), x, (1, b), 0.0, dw, (k, 1));
}

/// Rows `r0..r0 + m` of the forward product, `y = relu?(W[r0.., :] X + bias)`: `w` and `bias` start at row
/// `r0`, `y` holds the `m` output rows (`m x b`).
#[allow(clippy::too_many_arguments)]
pub fn forward_rows(
    m: usize,
    k: usize,
    b: usize,
    w: &[f32],
    x: &[f32],
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    assert!(bias.len() >= m, "forward_rows: bias too short");
    gemm_strided(m, k, b, 1.0, w, (k, 1), x, (b, 1), 0.0, y, (b, 1));
    for (row, &bi) in y[..m * b].chunks_exact_mut(b.max(1)).zip(bias) {
        if relu {
            row.iter_mut().for_each(|v| *v = (*v + bi).max(0.0));
        } else {
            row.iter_mut().for_each(|v| *v += bi);
        }
    }
}

/// Rows `r0..r0 + m` of the input gradient `dX = W^T dY` for `W` row-major `n x k` (`k` inputs): `w_from` is
/// `&w[r0..]`, `dx` holds the `m` rows (`m x b`).
pub fn input_grad_rows(
    m: usize,
    n: usize,
    k: usize,
    b: usize,
    w_from: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    gemm_strided(m, n, b, 1.0, w_from, (1, k), dy, (b, 1), 0.0, dx, (b, 1));
}

/// Rows `r0..r0 + m` of the weight gradient `dW = dY X^T`: `dy` starts at row `r0`, `dw` holds the `m` rows
/// (`m x k`); entries masked by `mask` (rows `r0..r0 + m` of it) come out exactly `0.0`.
#[allow(clippy::too_many_arguments)]
pub fn weight_grad_rows(
    r0: usize,
    m: usize,
    k: usize,
    b: usize,
    dy: &[f32],
    x: &[f32],
    mask: Option<&Mask>,
    dw: &mut [f32],
) {
    gemm_strided(m, b, k, 1.0, dy, (b, 1), x, (1, b), 0.0, dw, (k, 1));
    if let Some(mask) = mask {
        assert!(
            mask.cols() == k && r0 + m <= mask.rows(),
            "weight_grad_rows: mask shape mismatch"
        );
        for (r, row) in (r0..r0 + m).zip(dw.chunks_exact_mut(k.max(1))) {
            for (wi, &word) in mask.row_words(r).iter().enumerate() {
                let mut dead = !word;
                if wi == k / 64 {
                    // Bits past the last column are not entries.
                    dead &= (1u64 << (k % 64)).wrapping_sub(1);
                }
                while dead != 0 {
                    row[wi * 64 + dead.trailing_zeros() as usize] = 0.0;
                    dead &= dead - 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_matches_naive() {
        let (n, k, b) = (3, 5, 7);
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.91).cos()).collect();
        let x: Vec<f32> = (0..k * b).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut y = vec![0f32; n * b];
        fwd_ref(n, k, b, &w, &x, &mut y);
        for i in 0..n {
            for c in 0..b {
                let s: f32 = (0..k).map(|p| w[i * k + p] * x[p * b + c]).sum();
                assert!((y[i * b + c] - s).abs() < 1e-5);
            }
        }
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn short_buffer_panics_with_message() {
        let mut y = vec![0f32; 5];
        fwd_ref(2, 3, 3, &[0.0; 6], &[0.0; 9], &mut y);
    }
}
