//! CPU operations as plain forward/backward pairs writing into caller-owned buffers.
//!
//! **Layout.** Activations are feature-major (batch-contiguous): a batch of `b` samples of width `n` is a
//! row-major `n x b` matrix whose row `j` is feature `j` of every sample. A weight matrix is row-major
//! `out x in`, as in `nn.Linear`. The three products of training are
//!
//! * forward `Y = W X + b` with fused activation ([`linear_forward`]),
//! * input gradient `dX = W^T dY` ([`linear_backward_input`]),
//! * weight gradient `dW = dY X^T`, computed only where the mask is live ([`linear_backward_weight`]).
//!
//! With this layout each weight drives a SIMD axpy over the batch and each weight gradient is a dot product of
//! two contiguous rows. [`simd`] holds the runtime-dispatched instantiations; [`gemm`] wraps `matrixmultiply`,
//! the reference the kernels are tested against.

pub mod dense;
pub mod gemm;
pub mod loss;
pub mod norm;
pub mod simd;
pub mod sparse;
pub mod spmm;

pub use simd::Isa;

use crate::sparse::Mask;

/// `Y (n x b) = W (n x k) X (k x b) + bias`, then ReLU if `relu`.
#[allow(clippy::too_many_arguments)]
pub fn linear_forward(
    isa: Isa,
    n: usize,
    k: usize,
    b: usize,
    w: &[f32],
    x: &[f32],
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    assert_eq!(w.len(), n * k, "weight shape mismatch");
    simd::rows(isa, n, k, b, w, k, x, Some(bias), relu, y);
}

/// `dX (k x b) = W^T dY`, with `W` row-major `n x k` and `dY` `n x b` (through a transposed copy of `W`).
pub fn linear_backward_input(
    isa: Isa,
    n: usize,
    k: usize,
    b: usize,
    w: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    assert_eq!(w.len(), n * k, "weight shape mismatch");
    let mut wt = vec![0f32; n * k];
    dense::transpose(n, k, w, &mut wt);
    simd::rows(isa, k, n, b, &wt, n, dy, None, false, dx);
}

/// `dW (n x k) = dY (n x b) X^T (b x k)` on the live entries of `mask`; masked entries are set to `0.0`.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward_weight(
    isa: Isa,
    n: usize,
    k: usize,
    b: usize,
    dy: &[f32],
    x: &[f32],
    mask: Option<&Mask>,
    dw: &mut [f32],
) {
    simd::dots(isa, n, k, b, dy, x, mask, 0, dw);
}

/// `db (n) = row sums of dY (n x b)`.
pub fn bias_grad(isa: Isa, n: usize, b: usize, dy: &[f32], db: &mut [f32]) {
    simd::row_sums(isa, n, b, dy, db);
}

/// Back through ReLU: zeroes `grad` wherever the activation `act` (the ReLU output) is not positive.
pub fn relu_backward(grad: &mut [f32], act: &[f32]) {
    assert_eq!(grad.len(), act.len(), "relu_backward: shape mismatch");
    // A select rather than a conditional store, so the loop vectorises.
    for (g, &a) in grad.iter_mut().zip(act) {
        *g = if a <= 0.0 { 0.0 } else { *g };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.754).sin())
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(p, q)| (p - q).abs() <= tol * (1.0 + q.abs()))
    }

    #[test]
    fn kernels_match_matrixmultiply_and_agree_bitwise_across_isas() {
        for &(n, k, b) in &[
            (1, 1, 1),
            (3, 5, 17),
            (4, 32, 500),
            (9, 7, 33),
            (16, 32, 15),
            (2, 70, 64),
            // More than one packed tile of input rows (128 a tile), with rows left over by groups of four.
            (6, 300, 70),
            (5, 130, 33),
        ] {
            let w = data(n * k, 1.0);
            let x = data(k * b, 2.0);
            let dy = data(n * b, 3.0);
            let bias = data(n, 4.0);
            let mut mask = Mask::full(n, k);
            for i in (0..n * k).step_by(3) {
                mask.set(i / k, i % k, false);
            }
            let mut reference = None;
            for isa in Isa::available() {
                let mut y = vec![0f32; n * b];
                linear_forward(isa, n, k, b, &w, &x, &bias, false, &mut y);
                let mut y_ref = vec![0f32; n * b];
                gemm::fwd_ref(n, k, b, &w, &x, &mut y_ref);
                for (j, row) in y_ref.chunks_mut(b).enumerate() {
                    row.iter_mut().for_each(|v| *v += bias[j]);
                }
                assert!(close(&y, &y_ref, 1e-4), "forward {isa:?} {n}x{k}x{b}");

                let mut dx = vec![0f32; k * b];
                linear_backward_input(isa, n, k, b, &w, &dy, &mut dx);
                let mut dx_ref = vec![0f32; k * b];
                gemm::dx_ref(n, k, b, &w, &dy, &mut dx_ref);
                assert!(close(&dx, &dx_ref, 1e-4), "dx {isa:?}");

                let mut dw = vec![1f32; n * k];
                linear_backward_weight(isa, n, k, b, &dy, &x, Some(&mask), &mut dw);
                let mut dw_ref = vec![0f32; n * k];
                gemm::dw_ref(n, k, b, &dy, &x, &mut dw_ref);
                mask.apply(&mut dw_ref);
                assert!(close(&dw, &dw_ref, 1e-4), "dw {isa:?}");

                let mut db = vec![0f32; n];
                bias_grad(isa, n, b, &dy, &mut db);
                let db_ref: Vec<f32> = dy.chunks(b).map(|r| r.iter().sum()).collect();
                assert!(close(&db, &db_ref, 1e-4), "db {isa:?}");

                let outputs = (y, dx, dw, db);
                match &reference {
                    None => reference = Some(outputs),
                    Some(r) => assert!(
                        r == &outputs,
                        "{isa:?} is not bit-identical to the scalar path"
                    ),
                }
            }
        }
    }
}
