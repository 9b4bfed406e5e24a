//! The per-layer executor: which [`Format`] a layer runs on ([`FormatChoice`]) and the plan ([`LayerExec`]) that
//! runs the three products of training on it, through the kernels of [`crate::kernels`].
//!
//! A [`Linear`] always keeps its dense row-major weight (zeros where masked) and its mask: FPE, metrics and
//! model files read those. A [`LayerExec`] holds what a format needs besides (for CSR a [`Csr`] matrix and its
//! transpose, for bitmask a transposed mask), built from the layer and rebuilt on its own if the layer's mask
//! changes. CSR values are gathered from the weight at a forward pass and the compact weight gradient is
//! scattered back into the dense gradient buffer: both cost one memory access per live weight, against the
//! `2 x batch` flops per live weight of each product. A training loop that updates a CSR layer on its compact
//! values ([`crate::nn::Trainer`] through [`crate::nn::Adam`]) skips both: it turns the scatter off
//! ([`LayerExec::set_dense_weight_grad`]), reads the compact gradient and writes the new values into the plan
//! as well as into the weight, so the next forward pass need not gather them ([`LayerExec::csr_params`]).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::kernels::parallel::{
    even_cols, even_rows, run_col_pieces, run_pieces, split_columns, Par,
};
use crate::kernels::{bitmask, csr, dense, gemm, simd, Isa, Precision};
use crate::nn::exec_bf16::{self, Bf16Plan};
use crate::nn::Linear;
use crate::sparse::csr::scatter_from;
use crate::sparse::{Csr, Format, Mask, Pattern};

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
    /// The format a layer of this shape and live count gets (at fp32).
    pub fn resolve(self, rows: usize, cols: usize, nnz: usize) -> Format {
        self.resolve_at(Precision::Fp32, rows, cols, nnz)
    }

    /// The format a layer of this shape and live count gets at `precision`: [`Format::choose`] at fp32; at bf16
    /// dense from [`exec_bf16::BF16_DENSE_CROSSOVER`] up, CSR below.
    pub fn resolve_at(self, precision: Precision, rows: usize, cols: usize, nnz: usize) -> Format {
        match (self, exec_bf16::crossover(precision)) {
            (FormatChoice::Force(f), _) => f,
            (FormatChoice::Auto, None) => Format::choose(rows, cols, nnz),
            (FormatChoice::Auto, Some(c)) => {
                if nnz as f64 >= c * (rows * cols).max(1) as f64 {
                    Format::Dense
                } else {
                    Format::Csr
                }
            }
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
        /// `W^T` (`in x out`), refreshed by each forward pass when the input gradient runs on the crate's own
        /// row kernel (which reads it row by row instead of reading `W` down its columns); unused (empty) when
        /// it goes through the GEMM micro-kernel, which reads `W` with transposed strides.
        wt: Vec<f32>,
        /// Whether `wt` holds the weights of the last forward pass.
        wt_fresh: bool,
        /// One buffer per thread for GEMM products cut into column ranges (see [`split_columns`]), kept from
        /// step to step.
        scratch: Vec<Vec<f32>>,
    },
    Bitmask {
        mask: Mask,
        mask_t: Mask,
    },
    Csr {
        /// The layer's live weights, gathered at a forward pass unless `values_fresh`.
        w: Csr,
        /// Whether `w`'s values are the layer's weights as an optimizer left them (set by
        /// [`LayerExec::csr_params`], cleared by the next forward pass and by [`LayerExec::forget_values`]).
        values_fresh: bool,
        /// Identifies `w`'s pattern: plans built apart never share an id, so equal ids mean equal patterns.
        id: u64,
        /// `W^T`: its values are `w`'s permuted by `perm`, by the first input gradient after each forward pass
        /// (a first layer never needs them).
        w_t: Csr,
        perm: Vec<u32>,
        /// Whether `w_t` holds the values of the last forward pass.
        t_fresh: bool,
        /// Compact weight gradient, in `w`'s pattern order.
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
    /// Whether a CSR weight gradient is scattered into the dense gradient buffer (see
    /// [`LayerExec::set_dense_weight_grad`]).
    dense_grad: bool,
    kind: Kind,
    /// At bf16, the bf16 copies the products run on (`None` at fp32).
    bf16: Option<Box<Bf16Plan>>,
}

/// A GEMM product on `par` threads cut into tile-aligned column ranges of its row-major output `out` (`cols`
/// columns a row; see [`run_col_pieces`]), each piece with its own buffer of `scratch`, kept by the plan.
fn gemm_col_pieces<F>(par: Par, cols: usize, out: &mut [f32], scratch: &mut Vec<Vec<f32>>, f: F)
where
    F: Fn(usize, usize, &mut Vec<f32>, &mut [&mut [f32]]) + Sync,
{
    scratch.resize_with(par.pieces(), Vec::new);
    run_col_pieces(
        &even_cols(cols, par, gemm::COL_ALIGN),
        cols,
        out,
        scratch,
        f,
    );
}

/// The next CSR pattern id (see `Kind::Csr::id`).
static NEXT_PATTERN_ID: AtomicU64 = AtomicU64::new(0);

/// What an optimizer needs to update a CSR layer on its compact values (see [`LayerExec::csr_params`]).
#[derive(Debug)]
pub struct CsrParams<'a> {
    /// Identifies `pattern`: equal ids mean equal patterns, so state kept in a pattern's order can be reused.
    pub id: u64,
    /// The layer's live entries.
    pub pattern: &'a Pattern,
    /// The layer's live weights, in pattern order.
    pub values: &'a mut [f32],
    /// The weight gradient of the last [`LayerExec::backward_weight`], in pattern order.
    pub grad: &'a [f32],
}

impl LayerExec {
    /// The plan for `layer` under `choice` (at fp32).
    pub fn new(layer: &Linear, choice: FormatChoice) -> Self {
        Self::with_precision(layer, choice, Precision::Fp32)
    }

    /// The plan for `layer` under `choice`, its products at `precision` (the caller checks that the host runs
    /// it, see [`Precision::check_supported`]; tests may run bf16 on the portable reference through
    /// [`crate::nn::Workspace::with_isa`]).
    pub fn with_precision(layer: &Linear, choice: FormatChoice, precision: Precision) -> Self {
        let format = choice.resolve_at(precision, layer.out_dim(), layer.in_dim(), layer.nnz());
        let mask = || {
            layer
                .mask()
                .cloned()
                .unwrap_or_else(|| Mask::full(layer.out_dim(), layer.in_dim()))
        };
        let kind = match format {
            Format::Dense => Kind::Dense {
                wt: Vec::new(),
                wt_fresh: false,
                scratch: Vec::new(),
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
                let csr = |p| Csr::new(p, vec![0.0; nnz]).expect("one value per stored entry");
                Kind::Csr {
                    w: csr(pattern),
                    values_fresh: false,
                    id: NEXT_PATTERN_ID.fetch_add(1, Ordering::Relaxed),
                    w_t: csr(pattern_t),
                    perm,
                    t_fresh: false,
                    grad: vec![0.0; nnz],
                }
            }
        };
        let bf16 = (precision == Precision::Bf16).then(|| {
            Box::new(Bf16Plan::new(
                layer,
                format == Format::Dense,
                format == Format::Bitmask,
            ))
        });
        LayerExec {
            choice,
            format,
            dims: (layer.out_dim(), layer.in_dim()),
            source: layer.mask().cloned(),
            dense_grad: true,
            kind,
            bf16,
        }
    }

    /// The precision this plan's products run at.
    pub fn precision(&self) -> Precision {
        if self.bf16.is_some() {
            Precision::Bf16
        } else {
            Precision::Fp32
        }
    }

    /// The format this layer runs on.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether this plan was built for `layer`'s shape and mask.
    fn fits(&self, layer: &Linear) -> bool {
        self.dims == (layer.out_dim(), layer.in_dim()) && self.source.as_ref() == layer.mask()
    }

    /// Rebuilds the plan if `layer` is not the layer it was built for (other shape or mask).
    fn refresh(&mut self, layer: &Linear) {
        if !self.fits(layer) {
            let dense_grad = self.dense_grad;
            *self = LayerExec::with_precision(layer, self.choice, self.precision());
            self.dense_grad = dense_grad;
        }
    }

    /// Whether [`LayerExec::backward_weight`] writes a CSR layer's gradient into the dense buffer (the default)
    /// or leaves it only in the plan, for an optimizer that reads it there ([`LayerExec::csr_params`]). Other
    /// formats always write the dense buffer.
    pub fn set_dense_weight_grad(&mut self, on: bool) {
        self.dense_grad = on;
    }

    /// Makes the next forward pass gather a CSR layer's values from its weight (after the weights may have
    /// changed outside the optimizer).
    pub fn forget_values(&mut self) {
        if let Kind::Csr { values_fresh, .. } = &mut self.kind {
            *values_fresh = false;
        }
    }

    /// A CSR layer's compact values and weight gradient, for an optimizer step on `layer` after a forward and
    /// backward pass on it with this plan; `None` for other formats or if the plan is not `layer`'s.
    ///
    /// The caller must leave `values` equal to `layer`'s weights at the live entries (writing each new value
    /// into both): the next forward pass uses them as they are instead of gathering them again, unless
    /// [`LayerExec::forget_values`] is called first.
    pub fn csr_params(&mut self, layer: &Linear) -> Option<CsrParams<'_>> {
        if !self.fits(layer) {
            return None;
        }
        match &mut self.kind {
            Kind::Csr {
                w,
                values_fresh,
                id,
                grad,
                ..
            } => {
                *values_fresh = true;
                let (pattern, values) = w.parts_mut();
                Some(CsrParams {
                    id: *id,
                    pattern,
                    values,
                    grad,
                })
            }
            _ => None,
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
        if let Some(plan) = &mut self.bf16 {
            // A CSR layer's fp32 values stay the weights, as at fp32: a compact optimizer step reads them.
            if let Kind::Csr {
                w, values_fresh, ..
            } = &mut self.kind
            {
                if !*values_fresh {
                    w.gather(layer.weight());
                }
                *values_fresh = false;
            }
            return plan.forward(isa, par, layer, x, b, relu, y);
        }
        let (n, k) = self.dims;
        match &mut self.kind {
            Kind::Dense {
                wt,
                wt_fresh,
                scratch,
            } => {
                // Large products go through the GEMM micro-kernel, small ones through the row kernel; each
                // choice is made on the whole product, so it does not depend on the thread count.
                *wt_fresh = !gemm::pays(isa, k, n, b);
                if *wt_fresh {
                    wt.resize(n * k, 0.0);
                    dense::transpose(n, k, layer.weight(), wt);
                }
                if gemm::pays(isa, n, k, b) {
                    if par.pieces() > 1 && split_columns(n, b) {
                        return gemm_col_pieces(
                            par,
                            b,
                            &mut y[..n * b],
                            scratch,
                            |c0, c1, buf, rows| {
                                gemm::forward_cols(
                                    (n, k, b),
                                    (c0, c1),
                                    layer.weight(),
                                    x,
                                    layer.bias(),
                                    relu,
                                    buf,
                                    rows,
                                )
                            },
                        );
                    }
                    return run_pieces(
                        &even_rows(n, par),
                        |r| r * b,
                        y,
                        |r0, r1, yp| {
                            gemm::forward_rows(
                                r1 - r0,
                                k,
                                b,
                                &layer.weight()[r0 * k..r1 * k],
                                x,
                                &layer.bias()[r0..r1],
                                relu,
                                yp,
                            )
                        },
                    );
                }
                run_pieces(
                    &even_rows(n, par),
                    |r| r * b,
                    y,
                    |r0, r1, yp| {
                        simd::rows(
                            isa,
                            r1 - r0,
                            k,
                            b,
                            &layer.weight()[r0 * k..r1 * k],
                            k,
                            x,
                            Some(&layer.bias()[r0..r1]),
                            relu,
                            yp,
                        )
                    },
                );
            }
            Kind::Bitmask { mask, .. } => bitmask::bitmask_forward(
                isa,
                par,
                mask,
                layer.weight(),
                x,
                b,
                layer.bias(),
                relu,
                y,
            ),
            Kind::Csr {
                w,
                values_fresh,
                t_fresh,
                ..
            } => {
                if !*values_fresh {
                    w.gather(layer.weight());
                }
                *values_fresh = false;
                *t_fresh = false;
                csr::csr_forward(
                    isa,
                    par,
                    w.pattern(),
                    w.values(),
                    x,
                    b,
                    layer.bias(),
                    relu,
                    y,
                );
            }
        }
    }

    /// `dW = dY X^T` on the live entries into the dense buffer `dw` (`out x in`). The sparse formats leave
    /// masked entries of `dw` untouched (they stay `0.0` in a buffer from [`crate::nn::Mlp::zero_grads`]); CSR
    /// leaves all of `dw` untouched after [`LayerExec::set_dense_weight_grad`]`(false)`.
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
        if let Some(plan) = &mut self.bf16 {
            if let Kind::Csr { w, grad, .. } = &mut self.kind {
                plan.backward_weight_csr(isa, par, layer, w.pattern(), dy, x, b, grad);
                if self.dense_grad {
                    scatter_from(w.pattern(), grad, dw);
                }
            } else {
                plan.backward_weight(isa, par, layer, dy, x, b, dw);
            }
            return;
        }
        let (n, k) = self.dims;
        match &mut self.kind {
            Kind::Dense { scratch, .. } => {
                let mask = layer.mask();
                if gemm::pays(isa, n, b, k) {
                    if par.pieces() > 1 && split_columns(n, k) {
                        gemm_col_pieces(par, k, &mut dw[..n * k], scratch, |c0, c1, buf, rows| {
                            gemm::weight_grad_cols((n, k, b), (c0, c1), dy, x, mask, buf, rows)
                        });
                        return;
                    }
                    run_pieces(
                        &even_rows(n, par),
                        |r| r * k,
                        dw,
                        |r0, r1, dwp| {
                            gemm::weight_grad_rows(
                                r0,
                                r1 - r0,
                                k,
                                b,
                                &dy[r0 * b..r1 * b],
                                x,
                                mask,
                                dwp,
                            )
                        },
                    );
                } else if mask.is_some() || par.pieces() == 1 {
                    simd::dots(isa, n, k, b, dy, x, mask, dw);
                } else {
                    run_pieces(
                        &even_rows(n, par),
                        |r| r * k,
                        dw,
                        |r0, r1, dwp| simd::dots(isa, r1 - r0, k, b, &dy[r0 * b..], x, None, dwp),
                    );
                }
            }
            Kind::Bitmask { mask, .. } => {
                bitmask::bitmask_backward_weight(isa, par, mask, dy, x, b, dw)
            }
            Kind::Csr { w, grad, .. } => {
                csr::csr_backward_weight(isa, par, w.pattern(), dy, x, b, grad);
                if self.dense_grad {
                    scatter_from(w.pattern(), grad, dw);
                }
            }
        }
    }

    /// `dX = W^T dY`. For CSR, uses the values gathered by the last [`LayerExec::forward`] (the weights do not
    /// change between a step's forward and backward passes).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_input(
        &mut self,
        isa: Isa,
        par: Par,
        layer: &Linear,
        dy: &[f32],
        b: usize,
        dx: &mut [f32],
    ) {
        let (n, k) = self.dims;
        assert!(
            self.fits(layer),
            "backward_input needs a forward pass on the same layer first"
        );
        if let Some(plan) = &mut self.bf16 {
            return plan.backward_input(isa, par, layer, dy, b, dx);
        }
        match &mut self.kind {
            Kind::Dense {
                wt,
                wt_fresh,
                scratch,
            } => {
                if gemm::pays(isa, k, n, b) {
                    if par.pieces() > 1 && split_columns(k, b) {
                        return gemm_col_pieces(
                            par,
                            b,
                            &mut dx[..k * b],
                            scratch,
                            |c0, c1, buf, rows| {
                                gemm::input_grad_cols(
                                    (n, k, b),
                                    (c0, c1),
                                    layer.weight(),
                                    dy,
                                    buf,
                                    rows,
                                )
                            },
                        );
                    }
                    return run_pieces(
                        &even_rows(k, par),
                        |r| r * b,
                        dx,
                        |r0, r1, dxp| {
                            gemm::input_grad_rows(r1 - r0, n, k, b, &layer.weight()[r0..], dy, dxp)
                        },
                    );
                }
                // The forward pass transposed the weights for this product unless it was called with
                // another instruction set or batch size.
                let fresh;
                let wt: &[f32] = if *wt_fresh {
                    wt
                } else {
                    let mut t = vec![0.0; n * k];
                    dense::transpose(n, k, layer.weight(), &mut t);
                    fresh = t;
                    &fresh
                };
                run_pieces(
                    &even_rows(k, par),
                    |r| r * b,
                    dx,
                    |r0, r1, dxp| {
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
                    },
                );
            }
            Kind::Bitmask { mask_t, .. } => {
                bitmask::bitmask_backward_input(isa, par, mask_t, layer.weight(), dy, b, dx)
            }
            Kind::Csr {
                w,
                w_t,
                perm,
                t_fresh,
                ..
            } => {
                // The input gradient streams the values in transposed order: one permuted copy per step
                // instead of a random read per entry and batch block.
                if !*t_fresh {
                    csr::transpose_values(perm, w.values(), w_t.values_mut());
                    *t_fresh = true;
                }
                csr::csr_backward_input(isa, par, w_t.pattern(), None, w_t.values(), dy, b, dx)
            }
        }
    }
}
