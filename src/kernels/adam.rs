//! The body of the one Adam update of the crate (`torch.optim.Adam`'s formula), instantiated per instruction set
//! by [`super::simd`]. [`crate::nn::Adam`] runs it through [`super::adam_update`] (contiguous values: biases,
//! LayerNorm parameters, unmasked weights) and [`super::adam_update_masked`] (the live entries of a masked
//! weight, one call per run of consecutive live columns, so masked values and moments are never touched). It is
//! element-wise with no fused multiply-add, so every instruction set gives bit-identical results.

/// One Adam update over contiguous values: with `h = [step_size, beta1, beta2, sqrt(bias_correction2), eps]`,
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, `p -= step_size * m / (sqrt(v) / bc2 + eps)` (the formula
/// of `torch.optim.Adam`, operation for operation).
#[inline(always)]
pub fn adam_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: [f32; 5]) {
    assert!(
        g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
        "adam: length mismatch"
    );
    let [step_size, b1, b2, bc2_sqrt, eps] = h;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
    }
}
