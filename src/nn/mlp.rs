//! The multilayer perceptron `z = W_L ReLU(... ReLU(W_1 x + b_1) ...) + b_L` with a hand-written backward pass.
//!
//! Buffers live in a [`Workspace`] sized once for the largest batch, so a training step allocates nothing.
//! Inputs and activations are feature-major (`width x batch`, see [`crate::kernels`]).

use super::exec::{FormatChoice, LayerExec};
use crate::data::Task;
use crate::error::{Error, Result};
use crate::kernels::Par;
use crate::kernels::{self, loss, Isa, Precision};
use crate::rng::Rng;
use crate::sparse::Format;
use crate::sparse::Mask;

use super::layer::Linear;
use super::layernorm::{LayerNorm, NormScratch};

/// A stack of linear layers with ReLU after every layer but the last, which produces logits for `task`.
///
/// Invariants, kept by private fields: at least one layer; consecutive widths agree; the last width is
/// `task.outputs()`; one norm slot per layer, a LayerNorm as wide as its layer's output and none on the head.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    layers: Vec<Linear>,
    task: Task,
    norms: Vec<Option<LayerNorm>>,
}

/// Per-layer scratch buffers for forward and backward passes of up to `capacity` samples.
#[derive(Clone, Debug)]
pub struct Workspace {
    capacity: usize,
    /// Instruction set the kernels run on (the host's best unless set with [`Workspace::with_isa`]).
    isa: Isa,
    /// Output of each layer (ReLU applied for hidden layers, logits for the last), `capacity x out_l`.
    acts: Vec<Vec<f32>>,
    /// Gradient of the mean loss with respect to each layer's pre-activation.
    dz: Vec<Vec<f32>>,
    /// Saved LayerNorm values, for layers that have one.
    norm: Vec<Option<NormScratch>>,
    /// How the kernels may spread their work (sequential unless set with [`Workspace::with_par`]).
    par: Par,
    /// Each layer's format and the structures it needs.
    plans: Vec<LayerExec>,
    /// Per-thread buffers of the loss when its samples are spread over threads.
    loss_scratch: Vec<Vec<f32>>,
}

/// Gradients of the loss with respect to every weight and bias, shaped like the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Grads {
    /// One buffer per layer, shaped like `Linear::weight`.
    pub w: Vec<Vec<f32>>,
    /// One buffer per layer, shaped like `Linear::bias`.
    pub b: Vec<Vec<f32>>,
    /// LayerNorm gain gradients per layer (empty for layers without a LayerNorm).
    pub norm_gain: Vec<Vec<f32>>,
    /// LayerNorm bias gradients per layer (empty for layers without a LayerNorm).
    pub norm_bias: Vec<Vec<f32>>,
}

impl Workspace {
    /// Runs the kernels on `isa` instead of the host's best (for testing paths against each other).
    pub fn with_isa(mut self, isa: Isa) -> Self {
        assert!(isa.is_supported(), "{isa:?} is not supported on this host");
        self.isa = isa;
        self
    }

    /// Batch capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lets the kernels spread their work as `par` says (results are bit-identical either way).
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// How the kernels may spread their work.
    pub fn par(&self) -> Par {
        self.par
    }

    /// The precision of the layers' products.
    pub fn precision(&self) -> Precision {
        self.plans
            .first()
            .map_or(Precision::Fp32, LayerExec::precision)
    }

    /// The format each layer runs on.
    pub fn formats(&self) -> Vec<Format> {
        self.plans.iter().map(LayerExec::format).collect()
    }

    /// Each layer's plan (for an optimizer that updates a layer on its plan's compact values).
    pub(crate) fn plans_mut(&mut self) -> &mut [LayerExec] {
        &mut self.plans
    }
}

impl Mlp {
    /// A freshly initialised dense MLP with widths `dims = [d, h_1, ..., h_{L-1}, outputs]`.
    pub fn new(dims: &[usize], task: Task, rng: &mut Rng) -> Result<Self> {
        if dims.len() < 2 {
            return Err(Error::invalid(
                "architecture",
                "needs at least an input and an output width",
            ));
        }
        if let Some(i) = dims.iter().position(|&w| w == 0) {
            return Err(Error::invalid(
                "architecture",
                format!("layer width {i} is 0; widths must be positive"),
            ));
        }
        if *dims.last().unwrap() != task.outputs() {
            return Err(Error::invalid(
                "architecture",
                format!(
                    "output width {} does not match the task ({} outputs)",
                    dims.last().unwrap(),
                    task.outputs()
                ),
            ));
        }
        let layers: Vec<Linear> = dims
            .windows(2)
            .map(|w| Linear::init(w[0], w[1], rng))
            .collect();
        let norms = vec![None; layers.len()];
        Ok(Mlp {
            layers,
            task,
            norms,
        })
    }

    /// A model from explicit layers, checking that consecutive widths agree.
    pub fn from_layers(layers: Vec<Linear>, task: Task) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::invalid(
                "architecture",
                "a model needs at least one layer",
            ));
        }
        for (i, w) in layers.windows(2).enumerate() {
            if w[0].out_dim() != w[1].in_dim() {
                return Err(Error::invalid(
                    "architecture",
                    format!(
                        "layer {i} outputs {} values but layer {} takes {}",
                        w[0].out_dim(),
                        i + 1,
                        w[1].in_dim()
                    ),
                ));
            }
        }
        if layers.last().unwrap().out_dim() != task.outputs() {
            return Err(Error::invalid(
                "architecture",
                "the last layer's width does not match the task",
            ));
        }
        let norms = vec![None; layers.len()];
        Ok(Mlp {
            layers,
            task,
            norms,
        })
    }

    /// The same model with an identity-initialised LayerNorm before every hidden activation.
    pub fn with_layernorm(mut self) -> Self {
        let last = self.layers.len() - 1;
        self.norms = (0..=last)
            .map(|l| (l != last).then(|| LayerNorm::new(self.layers[l].out_dim())))
            .collect();
        self
    }

    /// The layers, input first. The last one is the output head.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// What the logits mean (fixes the loss).
    pub fn task(&self) -> Task {
        self.task
    }

    /// Optional LayerNorm before the activation of each layer (one slot per layer; the head has none).
    pub fn norms(&self) -> &[Option<LayerNorm>] {
        &self.norms
    }

    /// The LayerNorm of layer `l`, if it has one, mutably (its parameters only: its width is fixed).
    pub fn norm_mut(&mut self, l: usize) -> Option<&mut LayerNorm> {
        self.norms[l].as_mut()
    }

    /// Runs `f` on the weights of layer `l`, then sets its masked weights back to `0.0`.
    pub fn update_weights<R>(&mut self, l: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
        self.layers[l].update_weights(f)
    }

    /// The biases of layer `l`, mutably.
    pub fn bias_mut(&mut self, l: usize) -> &mut [f32] {
        self.layers[l].bias_mut()
    }

    /// Replaces the mask of layer `l` (see [`Linear::set_mask`]).
    pub fn set_mask(&mut self, l: usize, mask: Option<Mask>) -> Result<()> {
        self.layers[l].set_mask(mask)
    }

    /// Replaces layer `l` by a layer of the same shape; another shape is an error.
    pub fn set_layer(&mut self, l: usize, layer: Linear) -> Result<()> {
        let old = &self.layers[l];
        if (layer.out_dim(), layer.in_dim()) != (old.out_dim(), old.in_dim()) {
            return Err(Error::invalid(
                "layer",
                format!(
                    "layer {l} is {} x {}; a {} x {} layer cannot replace it",
                    old.out_dim(),
                    old.in_dim(),
                    layer.out_dim(),
                    layer.in_dim()
                ),
            ));
        }
        self.layers[l] = layer;
        Ok(())
    }

    /// The layers, mutably, for crate code that keeps every layer's shape (optimizer, rewiring).
    pub(crate) fn layers_mut(&mut self) -> &mut [Linear] {
        &mut self.layers
    }

    /// Layers and norms, mutably, for the optimizer (shapes are kept).
    pub(crate) fn params_mut(&mut self) -> (&mut [Linear], &mut [Option<LayerNorm>]) {
        (&mut self.layers, &mut self.norms)
    }

    /// Sets the LayerNorm slots (crate code: FPE and model files). `norms` has one slot per layer, each as wide
    /// as its layer's output, none on the head.
    pub(crate) fn set_norms(&mut self, norms: Vec<Option<LayerNorm>>) -> Result<()> {
        let last = self.layers.len() - 1;
        let ok = norms.len() == self.layers.len()
            && norms.iter().enumerate().all(|(l, n)| {
                n.as_ref().is_none_or(|n| {
                    l != last
                        && n.width == self.layers[l].out_dim()
                        && n.gain.len() == n.width
                        && n.bias.len() == n.width
                })
            });
        if !ok {
            return Err(Error::invalid(
                "LayerNorm",
                "one LayerNorm slot per layer, each as wide as its layer, none on the output head",
            ));
        }
        self.norms = norms;
        Ok(())
    }

    /// Input width `d`.
    pub fn input_dim(&self) -> usize {
        self.layers[0].in_dim()
    }

    /// Widths `[d, h_1, ..., outputs]`.
    pub fn dims(&self) -> Vec<usize> {
        std::iter::once(self.input_dim())
            .chain(self.layers.iter().map(|l| l.out_dim()))
            .collect()
    }

    /// Total live weights over all layers (the non-zero budget; biases are not counted).
    pub fn nnz(&self) -> usize {
        self.layers.iter().map(Linear::nnz).sum()
    }

    /// Number of weights that are numerically non-zero (at most [`Mlp::nnz`]).
    pub fn nonzero_weights(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight().iter().filter(|&&w| w != 0.0).count())
            .sum()
    }

    /// A workspace for batches of up to `capacity` samples, each layer on the format [`Format::choose`] picks.
    pub fn workspace(&self, capacity: usize) -> Workspace {
        self.workspace_with(capacity, FormatChoice::Auto)
    }

    /// A workspace for batches of up to `capacity` samples, the layers' formats set by `formats`.
    pub fn workspace_with(&self, capacity: usize, formats: FormatChoice) -> Workspace {
        self.workspace_at(capacity, formats, Precision::Fp32)
    }

    /// [`Mlp::workspace_with`], the products at `precision` (bf16 on a host without AVX512-BF16 runs the
    /// portable reference: check [`Precision::check_supported`] first, as [`super::Trainer`] does).
    pub fn workspace_at(
        &self,
        capacity: usize,
        formats: FormatChoice,
        precision: Precision,
    ) -> Workspace {
        Workspace {
            par: Par::Seq,
            plans: self
                .layers
                .iter()
                .map(|l| LayerExec::with_precision(l, formats, precision))
                .collect(),
            capacity,
            isa: Isa::best(),
            acts: self
                .layers
                .iter()
                .map(|l| vec![0.0; capacity * l.out_dim()])
                .collect(),
            dz: self
                .layers
                .iter()
                .map(|l| vec![0.0; capacity * l.out_dim()])
                .collect(),
            norm: self
                .norms
                .iter()
                .map(|n| n.as_ref().map(|n| n.scratch(capacity)))
                .collect(),
            loss_scratch: Vec::new(),
        }
    }

    /// Zeroed gradient buffers shaped like the model.
    pub fn zero_grads(&self) -> Grads {
        Grads {
            w: self
                .layers
                .iter()
                .map(|l| vec![0.0; l.weight().len()])
                .collect(),
            b: self
                .layers
                .iter()
                .map(|l| vec![0.0; l.bias().len()])
                .collect(),
            norm_gain: self.norms.iter().map(norm_zeros).collect(),
            norm_bias: self.norms.iter().map(norm_zeros).collect(),
        }
    }

    /// Forward pass of a batch given feature-major (`xt` is `d x batch`); returns the logits, feature-major
    /// (`outputs x batch`).
    pub fn forward<'w>(&self, xt: &[f32], batch: usize, ws: &'w mut Workspace) -> &'w [f32] {
        assert!(
            batch <= ws.capacity,
            "batch {batch} exceeds the workspace capacity {}",
            ws.capacity
        );
        assert_eq!(xt.len(), batch * self.input_dim(), "input shape mismatch");
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.acts.split_at_mut(l);
            let input: &[f32] = if l == 0 {
                xt
            } else {
                &before[l - 1][..batch * layer.in_dim()]
            };
            let out = &mut rest[0][..batch * layer.out_dim()];
            ws.plans[l].forward(
                ws.isa,
                ws.par,
                layer,
                input,
                batch,
                l != last && self.norms[l].is_none(),
                out,
            );
            if let (Some(norm), Some(scratch)) = (&self.norms[l], &mut ws.norm[l]) {
                norm.forward(out, batch, l != last, scratch);
            }
        }
        &ws.acts[last][..batch * self.layers[last].out_dim()]
    }

    /// Forward and backward pass on a feature-major batch (`xt` is `d x batch`): writes the gradient of the mean
    /// data loss into `grads` and returns the **summed** data loss over the batch (regularisation is applied
    /// separately by [`super::Regularizer`]). Gradients of masked weights are exactly zero.
    pub fn backward(
        &self,
        xt: &[f32],
        y: &[u32],
        batch: usize,
        ws: &mut Workspace,
        grads: &mut Grads,
    ) -> f32 {
        assert_eq!(y.len(), batch, "label count mismatch");
        self.forward(xt, batch, ws);
        let (isa, par) = (ws.isa, ws.par);
        let last = self.layers.len() - 1;
        let classes = self.layers[last].out_dim();
        let logits = &ws.acts[last][..batch * classes];
        let dlogits = &mut ws.dz[last][..batch * classes];
        let total = match self.task {
            Task::Binary => loss::bce_with_logits(logits, y, dlogits),
            Task::Multiclass(c) => {
                loss::softmax_ce_par(par, logits, y, c, dlogits, &mut ws.loss_scratch)
            }
        };
        for l in (0..=last).rev() {
            let layer = &self.layers[l];
            let (n, k) = (layer.out_dim(), layer.in_dim());
            let (below, here) = ws.dz.split_at_mut(l);
            let dz = &here[0][..batch * n];
            let input: &[f32] = if l == 0 {
                xt
            } else {
                &ws.acts[l - 1][..batch * k]
            };
            ws.plans[l].backward_weight(isa, par, layer, dz, input, batch, &mut grads.w[l]);
            kernels::bias_grad_par(isa, par, n, batch, dz, &mut grads.b[l]);
            if l > 0 {
                let dprev = &mut below[l - 1][..batch * k];
                ws.plans[l].backward_input(isa, par, layer, dz, batch, dprev);
                kernels::relu_backward_par(par, k, batch, dprev, &ws.acts[l - 1][..batch * k]);
                if let (Some(norm), Some(scratch)) = (&self.norms[l - 1], &mut ws.norm[l - 1]) {
                    let (dg, db) = (&mut grads.norm_gain[l - 1], &mut grads.norm_bias[l - 1]);
                    norm.backward(dprev, batch, scratch, dg, db);
                }
            }
        }
        total
    }

    /// Predicted class of each sample of a feature-major batch (binary: logit > 0; multiclass: first argmax).
    pub fn predict_into(&self, xt: &[f32], batch: usize, ws: &mut Workspace, out: &mut Vec<u32>) {
        let logits = self.forward(xt, batch, ws);
        out.clear();
        match self.task {
            Task::Binary => out.extend(logits.iter().map(|&z| u32::from(z > 0.0))),
            Task::Multiclass(c) => out.extend((0..batch).map(|i| {
                let mut best = 0;
                for j in 1..c {
                    if logits[j * batch + i] > logits[best * batch + i] {
                        best = j;
                    }
                }
                best as u32
            })),
        }
    }
}

fn norm_zeros(n: &Option<LayerNorm>) -> Vec<f32> {
    n.as_ref().map_or_else(Vec::new, |n| vec![0.0; n.width])
}
