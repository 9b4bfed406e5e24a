//! Regularisation of Sec. A.3.1: `lambda_1 * |W_1|_1` on the first layer's weights and `lambda_2 * sum p^2` on
//! every parameter (weights and biases), added to the mean data loss.

use super::mlp::{Grads, Mlp};

/// L1 on the first layer's weights and L2 on all parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Regularizer {
    /// Coefficient of `|W_1|_1` (paper: 1e-7).
    #[serde(serialize_with = "crate::floats::serialize")]
    pub l1_first: f32,
    /// Coefficient of `sum p^2` over all parameters (paper: 1e-5).
    #[serde(serialize_with = "crate::floats::serialize")]
    pub l2: f32,
}

impl Default for Regularizer {
    fn default() -> Self {
        Regularizer {
            l1_first: 1e-7,
            l2: 1e-5,
        }
    }
}

impl Regularizer {
    /// No regularisation.
    pub fn none() -> Self {
        Regularizer {
            l1_first: 0.0,
            l2: 0.0,
        }
    }

    /// The penalty's value for `model`.
    pub fn loss(&self, model: &Mlp) -> f64 {
        let mut total = 0.0f64;
        if self.l1_first != 0.0 {
            total += self.l1_first as f64
                * model.layers()[0]
                    .weight()
                    .iter()
                    .map(|w| w.abs() as f64)
                    .sum::<f64>();
        }
        if self.l2 != 0.0 {
            let sq: f64 = model
                .layers()
                .iter()
                .flat_map(|l| l.weight().iter().chain(l.bias()))
                .map(|&p| (p as f64) * (p as f64))
                .sum();
            total += self.l2 as f64 * sq;
        }
        total
    }

    /// Adds the penalty's gradient to `grads` (subgradient `sign(0) = 0` for L1, as PyTorch).
    /// Masked weights are zero, so their penalty gradient is zero too.
    pub fn add_grad(&self, model: &Mlp, grads: &mut Grads) {
        let two_l2 = 2.0 * self.l2;
        for (l, layer) in model.layers().iter().enumerate() {
            let l1 = if l == 0 { self.l1_first } else { 0.0 };
            if l1 == 0.0 && two_l2 == 0.0 {
                continue;
            }
            for (g, &w) in grads.w[l].iter_mut().zip(layer.weight()) {
                let sign = if w > 0.0 {
                    1.0
                } else if w < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                *g += two_l2 * w + l1 * sign;
            }
            for (g, &b) in grads.b[l].iter_mut().zip(layer.bias()) {
                *g += two_l2 * b;
            }
        }
    }
}
