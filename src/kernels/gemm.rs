//! Dense products through `matrixmultiply` (runtime-dispatched SIMD sgemm), with shapes checked before the
//! unsafe call.

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
    // SAFETY: the three views were checked above to lie inside their slices; `c` is uniquely borrowed and its
    // strides address distinct elements (row-major with csc < rsc or column-major), so no element aliases.
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

/// Forward product `Y (b x n) = X (b x k) W^T` with `W` row-major `n x k`; `Y = beta * Y + X W^T`.
pub fn matmul_nt(b: usize, k: usize, n: usize, x: &[f32], w: &[f32], beta: f32, y: &mut [f32]) {
    gemm_strided(b, k, n, 1.0, x, (k, 1), w, (1, k), beta, y, (n, 1));
}

/// Input gradient `dX (b x k) = dY (b x n) W` with `W` row-major `n x k`.
pub fn matmul_nn(b: usize, n: usize, k: usize, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    gemm_strided(b, n, k, 1.0, dy, (n, 1), w, (k, 1), 0.0, dx, (k, 1));
}

/// Weight gradient `dW (n x k) = dY^T X` with `dY` row-major `b x n` and `X` row-major `b x k`.
pub fn matmul_tn(b: usize, n: usize, k: usize, dy: &[f32], x: &[f32], dw: &mut [f32]) {
    gemm_strided(n, b, k, 1.0, dy, (1, n), x, (k, 1), 0.0, dw, (k, 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn three_products_match_naive() {
        let (bt, k, n) = (7, 5, 3);
        let x: Vec<f32> = (0..bt * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.91).cos()).collect();
        let dy: Vec<f32> = (0..bt * n).map(|i| (i as f32 * 0.13).sin()).collect();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-5);

        let mut y = vec![0f32; bt * n];
        matmul_nt(bt, k, n, &x, &w, 0.0, &mut y);
        assert!(close(
            &y,
            &naive(bt, k, n, |i, p| x[i * k + p], |p, j| w[j * k + p])
        ));

        let mut dx = vec![0f32; bt * k];
        matmul_nn(bt, n, k, &dy, &w, &mut dx);
        assert!(close(
            &dx,
            &naive(bt, n, k, |i, p| dy[i * n + p], |p, j| w[p * k + j])
        ));

        let mut dw = vec![0f32; n * k];
        matmul_tn(bt, n, k, &dy, &x, &mut dw);
        assert!(close(
            &dw,
            &naive(n, bt, k, |i, p| dy[p * n + i], |p, j| x[p * k + j])
        ));
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn short_buffer_panics_with_message() {
        let mut y = vec![0f32; 5];
        matmul_nt(2, 3, 3, &[0.0; 6], &[0.0; 9], 0.0, &mut y);
    }
}
