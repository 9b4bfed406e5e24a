//! Dense products through `matrixmultiply` (runtime-dispatched SIMD sgemm) on the feature-major layout: the
//! reference the crate's own kernels are tested against, and the dense baseline of the benchmarks.

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
