//! Layer normalisation (Ba et al., 2016) before a hidden activation, as in the paper's deeper MLPs (A.7):
//! `h = ReLU(gain ⊙ (z - mean(z)) / sqrt(var(z) + eps) + bias)`, statistics over the features of each sample
//! (biased variance, as `torch.nn.LayerNorm`).
//!
//! Buffers are feature-major (`width x batch`, see [`crate::kernels`]). The gain and bias are trained by Adam
//! like every other parameter; they do not count toward the non-zero budget (like linear biases) and carry no
//! L1/L2 penalty.
//!
//! This is the crate's one CPU LayerNorm: training runs it, and the GPU kernels (`cuda/layernorm.cu`) are tested
//! against it.

/// A LayerNorm over `width` features with a learnable gain and bias.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// Number of normalised features.
    pub width: usize,
    /// Per-feature gain (initialised to 1).
    pub gain: Vec<f32>,
    /// Per-feature bias (initialised to 0).
    pub bias: Vec<f32>,
    /// Variance epsilon (`1e-5`, PyTorch's default).
    pub eps: f32,
}

/// Saved forward values for the backward pass of one LayerNorm over up to `capacity` samples.
#[derive(Clone, Debug)]
pub struct NormScratch {
    /// Normalised inputs `(z - mean) * rstd`, `capacity x width`.
    pub xhat: Vec<f32>,
    /// Reciprocal standard deviation of each sample.
    pub rstd: Vec<f32>,
    /// Two per-sample accumulators used by the backward pass.
    pub sums: Vec<f32>,
}

impl LayerNorm {
    /// Identity-initialised LayerNorm (gain 1, bias 0).
    pub fn new(width: usize) -> Self {
        LayerNorm {
            width,
            gain: vec![1.0; width],
            bias: vec![0.0; width],
            eps: 1e-5,
        }
    }

    /// The LayerNorm of a layer whose neuron `p` was split into children `p*alpha + j`: every child copies its
    /// parent's gain and bias (as FPE copies the parent's linear bias).
    pub fn split(&self, alpha: usize) -> Self {
        let rep = |v: &[f32]| {
            v.iter()
                .flat_map(|&x| std::iter::repeat_n(x, alpha))
                .collect()
        };
        LayerNorm {
            width: self.width * alpha,
            gain: rep(&self.gain),
            bias: rep(&self.bias),
            eps: self.eps,
        }
    }

    /// Scratch buffers for batches of up to `capacity` samples.
    pub fn scratch(&self, capacity: usize) -> NormScratch {
        NormScratch {
            xhat: vec![0.0; capacity * self.width],
            rstd: vec![0.0; capacity],
            sums: vec![0.0; 2 * capacity],
        }
    }

    /// Normalises `z` (`width x batch`, feature-major) in place, then applies gain, bias and (if `relu`) ReLU;
    /// saves what the backward pass needs in `s`.
    pub fn forward(&self, z: &mut [f32], batch: usize, relu: bool, s: &mut NormScratch) {
        let n = self.width;
        assert_eq!(z.len(), n * batch, "layernorm: shape mismatch");
        let inv_n = 1.0 / n as f32;
        let mean = &mut s.sums[..batch];
        mean.iter_mut().for_each(|m| *m = 0.0);
        for row in z.chunks_exact(batch) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m *= inv_n);
        let xhat = &mut s.xhat[..n * batch];
        let var = &mut s.rstd[..batch];
        var.iter_mut().for_each(|v| *v = 0.0);
        for (xrow, zrow) in xhat.chunks_exact_mut(batch).zip(z.chunks_exact(batch)) {
            for (((x, &v), &m), acc) in xrow
                .iter_mut()
                .zip(zrow)
                .zip(mean.iter())
                .zip(var.iter_mut())
            {
                *x = v - m;
                *acc += *x * *x;
            }
        }
        var.iter_mut()
            .for_each(|v| *v = 1.0 / (*v * inv_n + self.eps).sqrt());
        let rstd = &s.rstd[..batch];
        for (f, (xrow, zrow)) in xhat
            .chunks_exact_mut(batch)
            .zip(z.chunks_exact_mut(batch))
            .enumerate()
        {
            let (g, b) = (self.gain[f], self.bias[f]);
            for ((x, out), &r) in xrow.iter_mut().zip(zrow.iter_mut()).zip(rstd) {
                *x *= r;
                let y = g * *x + b;
                *out = if relu { y.max(0.0) } else { y };
            }
        }
    }

    /// Backward pass: `dy` holds the gradient with respect to the LayerNorm's output (after the ReLU's mask has
    /// been applied) and is overwritten with the gradient with respect to its input `z`. Writes (does not
    /// accumulate) the gain and bias gradients.
    pub fn backward(
        &self,
        dy: &mut [f32],
        batch: usize,
        s: &mut NormScratch,
        dgain: &mut [f32],
        dbias: &mut [f32],
    ) {
        let n = self.width;
        assert_eq!(dy.len(), n * batch, "layernorm: shape mismatch");
        let xhat = &s.xhat[..n * batch];
        let (sum_d, sum_dx) = s.sums[..2 * batch].split_at_mut(batch);
        sum_d.iter_mut().for_each(|v| *v = 0.0);
        sum_dx.iter_mut().for_each(|v| *v = 0.0);
        for (f, (drow, xrow)) in dy
            .chunks_exact_mut(batch)
            .zip(xhat.chunks_exact(batch))
            .enumerate()
        {
            let g = self.gain[f];
            let (mut gg, mut gb) = (0.0f32, 0.0f32);
            for (((d, &x), a), b) in drow
                .iter_mut()
                .zip(xrow)
                .zip(sum_d.iter_mut())
                .zip(sum_dx.iter_mut())
            {
                gg += *d * x;
                gb += *d;
                *d *= g; // now d xhat
                *a += *d;
                *b += *d * x;
            }
            dgain[f] = gg;
            dbias[f] = gb;
        }
        let inv_n = 1.0 / n as f32;
        let rstd = &s.rstd[..batch];
        for (drow, xrow) in dy.chunks_exact_mut(batch).zip(xhat.chunks_exact(batch)) {
            for ((((d, &x), &a), &b), &r) in drow
                .iter_mut()
                .zip(xrow)
                .zip(sum_d.iter())
                .zip(sum_dx.iter())
                .zip(rstd)
            {
                *d = r * (*d - a * inv_n - x * b * inv_n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loss `sum(y * w)` for fixed weights `w`; its gradients by central differences in f64-accumulated f32.
    #[test]
    fn backward_matches_finite_differences() {
        let (n, b, eps) = (5, 3, 1e-5);
        let x: Vec<f32> = (0..n * b)
            .map(|i| ((i as f32) * 0.77).sin() * 2.0)
            .collect();
        let gamma: Vec<f32> = (0..n).map(|j| 0.5 + j as f32 * 0.3).collect();
        let beta: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 0.2).collect();
        let w: Vec<f32> = (0..n * b).map(|i| ((i as f32) * 1.3).cos()).collect();
        let norm = |gamma: &[f32], beta: &[f32]| LayerNorm {
            width: n,
            gain: gamma.to_vec(),
            bias: beta.to_vec(),
            eps,
        };
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let mut y = x.to_vec();
            norm(gamma, beta).forward(&mut y, b, false, &mut LayerNorm::new(n).scratch(b));
            y.iter()
                .zip(&w)
                .map(|(a, c)| (*a as f64) * (*c as f64))
                .sum()
        };
        let ln = norm(&gamma, &beta);
        let mut scratch = ln.scratch(b);
        let mut y = x.clone();
        ln.forward(&mut y, b, false, &mut scratch);
        let (mut dx, mut dg, mut db) = (w.clone(), vec![0.0; n], vec![0.0; n]);
        ln.backward(&mut dx, b, &mut scratch, &mut dg, &mut db);
        let h = 1e-2f32;
        let fd = |f: &dyn Fn(f32) -> f64| ((f(h) - f(-h)) / (2.0 * h as f64)) as f32;
        for i in 0..n * b {
            let num = fd(&|d| {
                let mut xp = x.clone();
                xp[i] += d;
                loss(&xp, &gamma, &beta)
            });
            assert!(
                (num - dx[i]).abs() < 2e-3 * (1.0 + num.abs()),
                "dx[{i}]: {num} vs {}",
                dx[i]
            );
        }
        for j in 0..n {
            let num = fd(&|d| {
                let mut g = gamma.clone();
                g[j] += d;
                loss(&x, &g, &beta)
            });
            assert!(
                (num - dg[j]).abs() < 2e-3 * (1.0 + num.abs()),
                "dgamma[{j}]"
            );
            let num = fd(&|d| {
                let mut bb = beta.clone();
                bb[j] += d;
                loss(&x, &gamma, &bb)
            });
            assert!((num - db[j]).abs() < 2e-3 * (1.0 + num.abs()), "dbeta[{j}]");
        }
        // Each sample's normalised features have mean 0 and variance 1 before the affine map.
        for s in 0..b {
            let xh: Vec<f32> = (0..n)
                .map(|j| (y[j * b + s] - beta[j]) / gamma[j])
                .collect();
            let m = xh.iter().sum::<f32>() / n as f32;
            let v = xh.iter().map(|a| (a - m).powi(2)).sum::<f32>() / n as f32;
            assert!(
                m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3,
                "sample {s}: mean {m}, var {v}"
            );
        }
    }
}
