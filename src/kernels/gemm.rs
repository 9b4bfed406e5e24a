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

/// Smallest dimension for [`pays`]. Measured with `examples/dense_isa.rs --small` (batch 500, AVX-512, Zen 4):
/// with 16 output rows the weight gradient lost 0.69-0.75x on the GEMM (its
/// packing of `X^T`, read across rows, is shared by too few rows), and at 8 x 32 every product but one lost;
/// from 32 x 128 and 64 x 64 up every product won (1.0-2.1x).
pub const GEMM_MIN_DIM: usize = 32;
/// Fewest multiply-adds for [`pays`]: at 32 x 32 x 500 (0.5 M) the GEMM won the input gradient only (1.18x)
/// and lost the forward product (0.92x) and the weight gradient (0.80x); at 1 M and more it won all three.
pub const GEMM_MIN_FLOPS: usize = 1 << 20;

/// Column ranges handed to threads start at multiples of this (the widest micro-kernel tile, 16 x 16 on
/// AVX-512, a multiple of AVX2's 8), so that a cut never adds an edge tile.
pub const COL_ALIGN: usize = 16;

/// Checks that a strided `rows x cols` view fits in `len` elements and that its strides fit an `isize` (the
/// offsets `matrixmultiply` computes). The arithmetic is checked, so huge strides are refused rather than wrapped.
fn check_view(name: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    assert!(
        rs <= isize::MAX as usize && cs <= isize::MAX as usize,
        "{name}: strides ({rs}, {cs}) exceed isize::MAX"
    );
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    match last {
        Some(last) if last < len => {}
        Some(last) => panic!(
            "{name}: a {rows}x{cols} view with strides ({rs}, {cs}) needs {} elements, has {len}",
            last as u128 + 1
        ),
        None => panic!(
            "{name}: a {rows}x{cols} view with strides ({rs}, {cs}) needs more than usize::MAX elements, has {len}"
        ),
    }
}

/// Whether distinct elements of a strided `rows x cols` view are distinct memory locations: row-major-like
/// (`cs >= 1`, `rs >= cols * cs`) or column-major-like (`rs >= 1`, `cs >= rows * rs`); a single row or column
/// needs only a non-zero stride along it.
fn injective(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    match (rows <= 1, cols <= 1) {
        (true, true) => true,
        (true, false) => cs >= 1,
        (false, true) => rs >= 1,
        (false, false) => {
            (cs >= 1 && cols.checked_mul(cs).is_some_and(|span| rs >= span))
                || (rs >= 1 && rows.checked_mul(rs).is_some_and(|span| cs >= span))
        }
    }
}

/// `C = alpha * A B + beta * C` on strided views; `A` is `m x k`, `B` is `k x n`, `C` is `m x n`, each given
/// with its (row, column) strides in elements.
///
/// # Panics
///
/// With a message, when a view does not fit in its slice (checked without overflow), a stride exceeds
/// `isize::MAX`, or the view of `C` may put two of its elements at one address (e.g. strides `(1, 1)` on a
/// `2 x 2` view). `C` must be row-major-like (`csc >= 1`, `rsc >= n csc`) or column-major-like (`rsc >= 1`,
/// `csc >= m rsc`). These are the preconditions of `matrixmultiply::sgemm`, so the function is safe to call with
/// any arguments.
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
    assert!(
        injective(m, n, rsc, csc),
        "C: a {m}x{n} view with strides ({rsc}, {csc}) has overlapping elements"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the three views were checked above to lie inside their slices, with every offset computed without
    // overflow and every stride at most `isize::MAX` (so the `as isize` casts keep their values); `c` is uniquely
    // borrowed and its view was checked to be injective, so no element of C is written twice or read while
    // another is written; `a` and `b` are shared borrows, so they cannot alias `c`.
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
            zero_dead(mask, r, 0, row);
        }
    }
}

/// Sets to `0.0` the entries of `row` (columns `c0..c0 + row.len()` of row `r`) that `mask` marks dead.
fn zero_dead(mask: &Mask, r: usize, c0: usize, row: &mut [f32]) {
    let c1 = c0 + row.len();
    if c1 == c0 {
        return;
    }
    let words = &mask.row_words(r)[c0 / 64..=(c1 - 1) / 64];
    for (wi, &word) in (c0 / 64..).zip(words) {
        let base = wi * 64;
        let mut dead = !word;
        if c0 > base {
            // Columns before the range.
            dead &= !((1u64 << (c0 - base)) - 1);
        }
        if c1 - base < 64 {
            // Columns past the range (or past the last column).
            dead &= (1u64 << (c1 - base)) - 1;
        }
        while dead != 0 {
            row[base + dead.trailing_zeros() as usize - c0] = 0.0;
            dead &= dead - 1;
        }
    }
}

/// Columns `c0..c1` of `C (m x n) = A (m x inner) B (inner x n)` (`b_from` is `B` from its column `c0`, both
/// operands given with their strides), computed into `scratch` (resized to `m x (c1 - c0)`, row-major) and
/// then written by `epi(i, computed, rows[i])` into each output row's piece. Matrixmultiply sums each
/// element over the inner dimension alone, so these are the bits of the same columns of the whole product.
#[allow(clippy::too_many_arguments)]
fn cols_into(
    m: usize,
    inner: usize,
    (c0, c1): (usize, usize),
    a: &[f32],
    a_strides: (usize, usize),
    b_from: &[f32],
    b_strides: (usize, usize),
    scratch: &mut Vec<f32>,
    rows: &mut [&mut [f32]],
    epi: impl Fn(usize, &[f32], &mut [f32]),
) {
    let w = c1 - c0;
    assert!(
        rows.len() == m && rows.iter().all(|r| r.len() == w),
        "cols_into: {m} output pieces of {w} columns expected"
    );
    if w == 0 {
        return;
    }
    scratch.resize(m * w, 0.0);
    gemm_strided(
        m,
        inner,
        w,
        1.0,
        a,
        a_strides,
        b_from,
        b_strides,
        0.0,
        scratch,
        (w, 1),
    );
    for (i, (src, dst)) in scratch.chunks_exact(w).zip(rows.iter_mut()).enumerate() {
        epi(i, src, dst);
    }
}

/// Columns (samples) `c0..c1` of the forward product `y = relu?(W X + bias)` for `W` row-major `n x k` and `X`
/// `k x b`: `rows[i]` is that range of output row `i`, `scratch` a buffer of the caller's. Bit for bit the
/// same columns as [`forward_rows`] on all rows.
#[allow(clippy::too_many_arguments)]
pub fn forward_cols(
    (n, k, b): (usize, usize, usize),
    (c0, c1): (usize, usize),
    w: &[f32],
    x: &[f32],
    bias: &[f32],
    relu: bool,
    scratch: &mut Vec<f32>,
    rows: &mut [&mut [f32]],
) {
    assert!(bias.len() >= n && c1 <= b, "forward_cols: shape mismatch");
    cols_into(
        n,
        k,
        (c0, c1),
        w,
        (k, 1),
        &x[c0.min(x.len())..],
        (b, 1),
        scratch,
        rows,
        |i, src, dst| {
            let bi = bias[i];
            if relu {
                dst.iter_mut()
                    .zip(src)
                    .for_each(|(d, &v)| *d = (v + bi).max(0.0));
            } else {
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v + bi);
            }
        },
    );
}

/// Columns (samples) `c0..c1` of the input gradient `dX (k x b) = W^T dY` for `W` row-major `n x k`:
/// `rows[j]` is that range of row `j` of `dX`. Bit for bit the same columns as [`input_grad_rows`].
#[allow(clippy::too_many_arguments)]
pub fn input_grad_cols(
    (n, k, b): (usize, usize, usize),
    (c0, c1): (usize, usize),
    w: &[f32],
    dy: &[f32],
    scratch: &mut Vec<f32>,
    rows: &mut [&mut [f32]],
) {
    assert!(c1 <= b, "input_grad_cols: shape mismatch");
    cols_into(
        k,
        n,
        (c0, c1),
        w,
        (1, k),
        &dy[c0.min(dy.len())..],
        (b, 1),
        scratch,
        rows,
        |_, src, dst| dst.copy_from_slice(src),
    );
}

/// Columns (inputs) `c0..c1` of the weight gradient `dW (n x k) = dY X^T`: `rows[i]` is that range of row `i`
/// of `dW`; entries masked by `mask` come out exactly `0.0`. Bit for bit the same columns as
/// [`weight_grad_rows`].
#[allow(clippy::too_many_arguments)]
pub fn weight_grad_cols(
    (n, k, b): (usize, usize, usize),
    (c0, c1): (usize, usize),
    dy: &[f32],
    x: &[f32],
    mask: Option<&Mask>,
    scratch: &mut Vec<f32>,
    rows: &mut [&mut [f32]],
) {
    assert!(c1 <= k, "weight_grad_cols: shape mismatch");
    if let Some(mask) = mask {
        assert!(
            mask.cols() == k && n <= mask.rows(),
            "weight_grad_cols: mask shape mismatch"
        );
    }
    cols_into(
        n,
        b,
        (c0, c1),
        dy,
        (b, 1),
        &x[(c0 * b).min(x.len())..],
        (1, b),
        scratch,
        rows,
        |i, src, dst| {
            dst.copy_from_slice(src);
            if let Some(mask) = mask {
                zero_dead(mask, i, c0, dst);
            }
        },
    );
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
    #[should_panic(expected = "more than usize::MAX")]
    fn huge_strides_are_refused_not_wrapped() {
        // `(3 - 1) * rs + (2 - 1) * cs` is 2^64, which wraps to 0 (inside the slice) without checked arithmetic.
        let (a, b) = ([1f32; 6], [1f32; 4]);
        let mut c = [0f32; 6];
        let rs = isize::MAX as usize;
        gemm_strided(3, 2, 2, 1.0, &a, (2, 1), &b, (2, 1), 0.0, &mut c, (rs, 2));
    }

    #[test]
    #[should_panic(expected = "isize::MAX")]
    fn strides_beyond_isize_are_refused() {
        let mut c = [0f32; 1];
        gemm_strided(
            1,
            1,
            1,
            1.0,
            &[1.0],
            (usize::MAX, 1),
            &[1.0],
            (1, 1),
            0.0,
            &mut c,
            (1, 1),
        );
    }

    #[test]
    #[should_panic(expected = "overlapping")]
    fn overlapping_output_is_refused() {
        let mut c = [0f32; 4];
        gemm_strided(
            2,
            2,
            2,
            1.0,
            &[1.0; 4],
            (2, 1),
            &[1.0; 4],
            (2, 1),
            0.0,
            &mut c,
            (1, 1),
        );
    }

    #[test]
    fn injective_views_are_exactly_the_non_overlapping_ones() {
        // Brute force: a view is accepted iff its offsets are pairwise distinct, for small shapes and strides,
        // except layouts that interleave (e.g. rs = 2, cs = 3 on 2 x 2) which the rule refuses conservatively.
        for rows in 0..4 {
            for cols in 0..4 {
                for rs in 0..8 {
                    for cs in 0..8 {
                        let mut offs: Vec<usize> = (0..rows)
                            .flat_map(|i| (0..cols).map(move |j| i * rs + j * cs))
                            .collect();
                        let total = offs.len();
                        offs.sort_unstable();
                        offs.dedup();
                        if injective(rows, cols, rs, cs) {
                            assert_eq!(
                                offs.len(),
                                total,
                                "{rows}x{cols} ({rs}, {cs}) accepted but overlaps"
                            );
                        }
                    }
                }
            }
        }
        assert!(injective(3, 4, 4, 1) && injective(3, 4, 1, 3) && injective(1, 5, 0, 1));
        assert!(!injective(2, 2, 1, 1) && !injective(2, 3, 0, 1) && !injective(3, 1, 0, 7));
    }

    #[test]
    fn transposed_and_padded_outputs_are_accepted() {
        let (m, k, n) = (2, 3, 2);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|i| 1.0 - i as f32).collect();
        let mut rm = vec![0f32; m * n];
        gemm_strided(m, k, n, 1.0, &a, (k, 1), &b, (n, 1), 0.0, &mut rm, (n, 1));
        // Column-major output and a row-major one with padding give the same elements.
        let mut cm = vec![0f32; m * n];
        gemm_strided(m, k, n, 1.0, &a, (k, 1), &b, (n, 1), 0.0, &mut cm, (1, m));
        let mut padded = vec![0f32; m * (n + 3)];
        gemm_strided(
            m,
            k,
            n,
            1.0,
            &a,
            (k, 1),
            &b,
            (n, 1),
            0.0,
            &mut padded,
            (n + 3, 1),
        );
        for i in 0..m {
            for j in 0..n {
                assert_eq!(cm[j * m + i], rm[i * n + j]);
                assert_eq!(padded[i * (n + 3) + j], rm[i * n + j]);
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
