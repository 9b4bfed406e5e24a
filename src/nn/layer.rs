//! A linear layer `y = W x + b` whose weights may carry a [`Mask`]: masked weights are exactly zero forever.

use rand::Rng as _;

use crate::rng::Rng;
use crate::sparse::Mask;

/// A fully connected layer, `W` row-major `out x in` (as `nn.Linear`), with an optional support mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// Output width (rows of `W`).
    pub out_dim: usize,
    /// Input width (columns of `W`).
    pub in_dim: usize,
    /// Weights, `out x in`, row-major. Masked entries are `0.0`.
    pub weight: Vec<f32>,
    /// Bias, one per output. Biases are never masked and do not count toward the non-zero budget.
    pub bias: Vec<f32>,
    /// Live entries of `W`; `None` means dense (every entry live).
    pub mask: Option<Mask>,
}

impl Linear {
    /// A dense layer initialised as PyTorch's `nn.Linear`: weights and biases `U(-1/sqrt(in), 1/sqrt(in))`.
    pub fn init(in_dim: usize, out_dim: usize, rng: &mut Rng) -> Self {
        let bound = 1.0 / (in_dim as f32).sqrt();
        let weight = (0..out_dim * in_dim)
            .map(|_| rng.gen_range(-bound..bound))
            .collect();
        let bias = (0..out_dim).map(|_| rng.gen_range(-bound..bound)).collect();
        Linear {
            out_dim,
            in_dim,
            weight,
            bias,
            mask: None,
        }
    }

    /// A layer from explicit weights (`out x in`, row-major) and biases.
    pub fn from_parts(
        out_dim: usize,
        in_dim: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
        mask: Option<Mask>,
    ) -> Self {
        assert_eq!(weight.len(), out_dim * in_dim, "weight shape mismatch");
        assert_eq!(bias.len(), out_dim, "bias shape mismatch");
        if let Some(m) = &mask {
            assert!(
                m.rows() == out_dim && m.cols() == in_dim,
                "mask shape mismatch"
            );
        }
        let mut l = Linear {
            out_dim,
            in_dim,
            weight,
            bias,
            mask,
        };
        l.enforce_mask();
        l
    }

    /// Number of live weights (the layer's share of the non-zero budget).
    pub fn nnz(&self) -> usize {
        self.mask
            .as_ref()
            .map_or(self.out_dim * self.in_dim, Mask::count)
    }

    /// Live fraction of the weights.
    pub fn density(&self) -> f64 {
        self.nnz() as f64 / (self.out_dim * self.in_dim).max(1) as f64
    }

    /// Whether weight `(r, c)` is live.
    pub fn is_live(&self, r: usize, c: usize) -> bool {
        self.mask.as_ref().is_none_or(|m| m.get(r, c))
    }

    /// Sets every masked weight to exactly `0.0`.
    pub fn enforce_mask(&mut self) {
        if let Some(m) = &self.mask {
            m.apply(&mut self.weight);
        }
    }

    /// Row `r` of the weights (the input weights of output neuron `r`).
    pub fn row(&self, r: usize) -> &[f32] {
        &self.weight[r * self.in_dim..(r + 1) * self.in_dim]
    }
}
