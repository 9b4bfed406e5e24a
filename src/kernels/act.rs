//! Bias and activation, fused into one pass over the output of a product.

/// Adds `bias` to every row of `y` (row-major `rows x bias.len()`) and applies ReLU when `relu` is set.
pub fn bias_act(y: &mut [f32], bias: &[f32], relu: bool) {
    let n = bias.len();
    assert!(
        n > 0 && y.len() % n == 0,
        "bias_act: {} values is not a multiple of width {n}",
        y.len()
    );
    for row in y.chunks_exact_mut(n) {
        if relu {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = (*v + b).max(0.0);
            }
        } else {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

/// Back through ReLU: zeroes `grad` wherever the activation `act` (the ReLU output) is not positive.
pub fn relu_backward(grad: &mut [f32], act: &[f32]) {
    assert_eq!(grad.len(), act.len(), "relu_backward: shape mismatch");
    for (g, &a) in grad.iter_mut().zip(act) {
        if a <= 0.0 {
            *g = 0.0;
        }
    }
}

/// Column sums of row-major `rows x out.len()` `g` into `out` (the bias gradient).
pub fn col_sums(g: &[f32], out: &mut [f32]) {
    let n = out.len();
    assert!(n > 0 && g.len() % n == 0, "col_sums: shape mismatch");
    out.fill(0.0);
    for row in g.chunks_exact(n) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}
