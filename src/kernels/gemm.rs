//! Dense products through `matrixmultiply` (runtime-dispatched SIMD sgemm) on the feature-major layout: the
//! reference the crate's own kernels are tested against, and the dense baseline of the benchmarks.

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
