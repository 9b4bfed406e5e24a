//! A linear layer `y = W x + b` whose weights may carry a [`Mask`]: masked weights are exactly zero forever.
//!
//! The fields are private so that the layer's invariants hold whatever a caller does: `weight` has
//! `out_dim * in_dim` values, `bias` has `out_dim`, a mask is `out_dim x in_dim`, and every masked weight is
//! exactly `0.0`. Public mutation goes through [`Linear::update_weights`] and [`Linear::set_mask`], which restore
//! the last invariant; crate code that edits weights and mask together (Adam, rewiring) keeps it itself.

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::sparse::Mask;

/// A fully connected layer, `W` row-major `out x in` (as `nn.Linear`), with an optional support mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    out_dim: usize,
    in_dim: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
    mask: Option<Mask>,
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

    /// A layer from explicit weights (`out x in`, row-major), biases and an optional mask; masked weights are set
    /// to `0.0`. Shapes that do not agree are an error (they may come from a model file).
    pub fn from_parts(
        out_dim: usize,
        in_dim: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
        mask: Option<Mask>,
    ) -> Result<Self> {
        let shape = |what: &str, got: String, want: String| {
            Err(Error::invalid(
                "layer",
                format!("{what} has {got} for a {out_dim} x {in_dim} layer (needs {want})"),
            ))
        };
        if Some(weight.len()) != out_dim.checked_mul(in_dim) {
            return shape(
                "weight",
                format!("{} values", weight.len()),
                format!("{out_dim} x {in_dim}"),
            );
        }
        if bias.len() != out_dim {
            return shape(
                "bias",
                format!("{} values", bias.len()),
                format!("{out_dim}"),
            );
        }
        if let Some(m) = &mask {
            if m.rows() != out_dim || m.cols() != in_dim {
                return shape(
                    "mask",
                    format!("shape {} x {}", m.rows(), m.cols()),
                    format!("{out_dim} x {in_dim}"),
                );
            }
        }
        let mut l = Linear {
            out_dim,
            in_dim,
            weight,
            bias,
            mask,
        };
        l.enforce_mask();
        Ok(l)
    }

    /// Output width (rows of `W`).
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Input width (columns of `W`).
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Weights, `out x in`, row-major. Masked entries are `0.0`.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    /// Bias, one per output. Biases are never masked and do not count toward the non-zero budget.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The biases, mutably (they carry no invariant besides their number).
    pub fn bias_mut(&mut self) -> &mut [f32] {
        &mut self.bias
    }

    /// Live entries of `W`; `None` means dense (every entry live).
    pub fn mask(&self) -> Option<&Mask> {
        self.mask.as_ref()
    }

    /// Runs `f` on the weights (`out x in`, row-major), then sets every masked weight back to `0.0`.
    pub fn update_weights<R>(&mut self, f: impl FnOnce(&mut [f32]) -> R) -> R {
        let r = f(&mut self.weight);
        self.enforce_mask();
        r
    }

    /// Replaces the mask (`None`: dense) and zeroes the weights it masks; a mask of another shape is an error.
    pub fn set_mask(&mut self, mask: Option<Mask>) -> Result<()> {
        if let Some(m) = &mask {
            if m.rows() != self.out_dim || m.cols() != self.in_dim {
                return Err(Error::invalid(
                    "mask",
                    format!(
                        "a {} x {} mask for a {} x {} layer",
                        m.rows(),
                        m.cols(),
                        self.out_dim,
                        self.in_dim
                    ),
                ));
            }
        }
        self.mask = mask;
        self.enforce_mask();
        Ok(())
    }

    /// Weights, biases and mask at once, for the optimizer (which updates only live weights).
    pub(crate) fn params_mut(&mut self) -> (&mut [f32], &mut [f32], Option<&Mask>) {
        (&mut self.weight, &mut self.bias, self.mask.as_ref())
    }

    /// Weights and mask, mutably, for rewiring: the caller zeroes every weight it masks.
    pub(crate) fn weight_mask_mut(&mut self) -> (&mut [f32], Option<&mut Mask>) {
        (&mut self.weight, self.mask.as_mut())
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
