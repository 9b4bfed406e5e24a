//! Which storage a layer runs on — dense, [`Bitmask`](super::Bitmask) or [`Csr`](super::Csr) — and the per-layer
//! execution plan that runs the three products of training on it.
//!
//! A [`crate::nn::Linear`] always keeps its dense row-major `weight` (zeros where masked) and its `mask`: FPE,
//! metrics and model files read those. A [`LayerExec`] holds what a format needs besides (the CSR pattern and
//! its transpose, compact values, a transposed mask), built from the layer and rebuilt on its own if the layer's
//! mask changes. CSR values are gathered from `weight` at each forward pass and the compact weight gradient is
//! scattered back into the dense gradient buffer: both cost one memory access per live weight, against the
//! `2 x batch` flops per live weight of each product.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::kernels::spmm::{self, Par};
use crate::kernels::{simd, Isa};
use crate::nn::Linear;

use super::csr::{gather_into, scatter_from};
use super::{Mask, Pattern};

/// Storage a layer's products run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Every weight is multiplied (masked ones are zeros).
    Dense,
    /// Dense values, live entries found from the mask's bits.
    Bitmask,
    /// Row pointers, column indices, compact values.
    Csr,
}

/// Density from which a layer runs dense: where the three products of the dense kernel cost what CSR's cost.
/// Measured with `cargo run --release --example sparse_sweep` on the development machine (batch 500, one
/// thread): 0.69 at 512 x 512, 0.74 at 784 x 1024; at 2048 x 2048 CSR is cheaper even fully dense (see
/// `docs/PERFORMANCE.md`).
pub const DENSE_CROSSOVER: f64 = 0.7;

impl Format {
    /// All formats.
    pub const ALL: [Format; 3] = [Format::Dense, Format::Bitmask, Format::Csr];

    /// The format expected to be fastest for a `rows x cols` layer with `nnz` live weights: dense at densities
    /// from [`DENSE_CROSSOVER`] up, CSR below.
    pub fn choose(rows: usize, cols: usize, nnz: usize) -> Format {
        let density = nnz as f64 / (rows * cols).max(1) as f64;
        if density >= DENSE_CROSSOVER {
            Format::Dense
        } else {
            Format::Csr
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Dense => "dense",
            Format::Bitmask => "bitmask",
            Format::Csr => "csr",
        })
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "dense" => Ok(Format::Dense),
            "bitmask" => Ok(Format::Bitmask),
            "csr" => Ok(Format::Csr),
            _ => Err(Error::invalid(
                "format",
                format!("`{s}` is not a layer format; use auto, dense, bitmask or csr"),
            )),
        }
    }
}

/// A format for every layer, or one picked per layer by [`Format::choose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FormatChoice {
    /// Each layer gets [`Format::choose`] of its shape and density.
    #[default]
    Auto,
    /// Every layer runs on this format.
    Force(Format),
}

impl FormatChoice {
    /// The format a layer of this shape and live count gets.
    pub fn resolve(self, rows: usize, cols: usize, nnz: usize) -> Format {
        match self {
            FormatChoice::Auto => Format::choose(rows, cols, nnz),
            FormatChoice::Force(f) => f,
        }
    }
}

impl FromStr for FormatChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("auto") {
            Ok(FormatChoice::Auto)
        } else {
            s.parse().map(FormatChoice::Force)
        }
    }
}

impl fmt::Display for FormatChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatChoice::Auto => f.write_str("auto"),
            FormatChoice::Force(x) => x.fmt(f),
        }
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Dense {
        /// `W^T` (`in x out`), refreshed by each forward pass: the input gradient reads it row by row instead
        /// of reading `W` down its columns.
        wt: Vec<f32>,
    },
    Bitmask {
        mask: Mask,
        mask_t: Mask,
    },
    Csr {
        pattern: Pattern,
        pattern_t: Pattern,
        perm: Vec<u32>,
        values: Vec<f32>,
        values_t: Vec<f32>,
        grad: Vec<f32>,
    },
}

/// The execution plan of one layer: its format and the structures that format needs.
#[derive(Clone, Debug)]
pub struct LayerExec {
    choice: FormatChoice,
    format: Format,
    dims: (usize, usize),
    source: Option<Mask>,
    kind: Kind,
}

impl LayerExec {
    /// The plan for `layer` under `choice`.
    pub fn new(layer: &Linear, choice: FormatChoice) -> Self {
        let format = choice.resolve(layer.out_dim, layer.in_dim, layer.nnz());
        let mask = || {
            layer
                .mask
                .clone()
                .unwrap_or_else(|| Mask::full(layer.out_dim, layer.in_dim))
        };
        let kind = match format {
            Format::Dense => Kind::Dense {
                wt: vec![0.0; layer.out_dim * layer.in_dim],
            },
            Format::Bitmask => {
                let mask = mask();
                let mask_t = mask.transpose();
                Kind::Bitmask { mask, mask_t }
            }
            Format::Csr => {
                let pattern = Pattern::from_mask(&mask());
                let (pattern_t, perm) = pattern.transpose();
                let nnz = pattern.nnz();
                Kind::Csr {
                    pattern,
                    pattern_t,
                    perm,
                    values: vec![0.0; nnz],
                    values_t: vec![0.0; nnz],
                    grad: vec![0.0; nnz],
                }
            }
        };
        LayerExec {
            choice,
            format,
            dims: (layer.out_dim, layer.in_dim),
            source: layer.mask.clone(),
            kind,
        }
    }

    /// The format this layer runs on.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Rebuilds the plan if `layer` is not the layer it was built for (other shape or mask).
    fn refresh(&mut self, layer: &Linear) {
        if self.dims != (layer.out_dim, layer.in_dim) || self.source != layer.mask {
            *self = LayerExec::new(layer, self.choice);
        }
    }

    /// `Y = W X + bias` (then ReLU if `relu`) for a feature-major batch of `b` samples.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        x: &[f32],
        b: usize,
        relu: bool,
        y: &mut [f32],
    ) {
        self.refresh(layer);
        let (n, k) = self.dims;
        match &mut self.kind {
            Kind::Dense { wt } => {
                crate::kernels::dense::transpose(n, k, &layer.weight, wt);
                let bounds = even(n, par);
                run(&bounds, b, y, |r0, r1, yp| {
                    simd::rows(
                        isa,
                        r1 - r0,
                        k,
                        b,
                        &layer.weight[r0 * k..r1 * k],
                        k,
                        x,
                        Some(&layer.bias[r0..r1]),
                        relu,
                        yp,
                    )
                });
            }
            Kind::Bitmask { mask, .. } => {
                spmm::bitmask_forward(isa, par, mask, &layer.weight, x, b, &layer.bias, relu, y)
            }
            Kind::Csr {
                pattern,
                perm,
                values,
                values_t,
                ..
            } => {
                gather_into(pattern, &layer.weight, values);
                // The input gradient streams the values in transposed order: one permuted copy per step
                // instead of a random read per entry and batch block.
                spmm::transpose_values(perm, values, values_t);
                spmm::csr_forward(isa, par, pattern, values, x, b, &layer.bias, relu, y);
            }
        }
    }

    /// `dW = dY X^T` on the live entries into the dense buffer `dw` (`out x in`). The sparse formats leave
    /// masked entries of `dw` untouched (they stay `0.0` in a buffer from [`crate::nn::Mlp::zero_grads`]).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_weight(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        dy: &[f32],
        x: &[f32],
        b: usize,
        dw: &mut [f32],
    ) {
        self.refresh(layer);
        let (n, k) = self.dims;
        match &mut self.kind {
            Kind::Dense { .. } => {
                let mask = layer.mask.as_ref();
                run(&even(n, par), k, dw, |r0, r1, dwp| {
                    simd::dots(isa, r1 - r0, k, b, &dy[r0 * b..], x, mask, r0, dwp)
                });
            }
            Kind::Bitmask { mask, .. } => {
                spmm::bitmask_backward_weight(isa, par, mask, dy, x, b, dw)
            }
            Kind::Csr { pattern, grad, .. } => {
                spmm::csr_backward_weight(isa, par, pattern, dy, x, b, grad);
                scatter_from(pattern, grad, dw);
            }
        }
    }

    /// `dX = W^T dY`. For CSR, uses the values gathered by the last [`LayerExec::forward`] (the weights do not
    /// change between a step's forward and backward passes).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_input(
        &self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        dy: &[f32],
        b: usize,
        dx: &mut [f32],
    ) {
        let (n, k) = self.dims;
        assert!(
            self.dims == (layer.out_dim, layer.in_dim) && self.source == layer.mask,
            "backward_input needs a forward pass on the same layer first"
        );
        match &self.kind {
            Kind::Dense { wt } => {
                run(&even(k, par), b, dx, |r0, r1, dxp| {
                    simd::rows(
                        isa,
                        r1 - r0,
                        n,
                        b,
                        &wt[r0 * n..r1 * n],
                        n,
                        dy,
                        None,
                        false,
                        dxp,
                    )
                });
            }
            Kind::Bitmask { mask_t, .. } => {
                spmm::bitmask_backward_input(isa, par, mask_t, &layer.weight, dy, b, dx)
            }
            Kind::Csr {
                pattern_t,
                values_t,
                ..
            } => spmm::csr_backward_input(isa, par, pattern_t, None, values_t, dy, b, dx),
        }
    }
}

/// `pieces` near-equal row ranges of `0..rows` (at most one per row).
fn even(rows: usize, par: Par) -> Vec<usize> {
    let p = par.pieces().clamp(1, rows.max(1));
    let mut v: Vec<usize> = (0..=p).map(|t| rows * t / p).collect();
    v.dedup();
    v
}

/// Runs `f(r0, r1, rows r0..r1 of out)` for each range, in parallel when there are several.
fn run<F>(bounds: &[usize], stride: usize, out: &mut [f32], f: F)
where
    F: Fn(usize, usize, &mut [f32]) + Sync,
{
    if bounds.len() <= 2 {
        let (r0, r1) = (bounds[0], *bounds.last().unwrap());
        return f(r0, r1, &mut out[r0 * stride..r1 * stride]);
    }
    let f = &f;
    rayon::scope(|s| {
        let mut rest = &mut out[bounds[0] * stride..];
        for w in bounds.windows(2) {
            let (piece, tail) = rest.split_at_mut((w[1] - w[0]) * stride);
            rest = tail;
            let (r0, r1) = (w[0], w[1]);
            s.spawn(move |_| f(r0, r1, piece));
        }
    });
}
