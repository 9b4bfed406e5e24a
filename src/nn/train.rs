//! The training loop of Alg. A3: shuffled mini-batches, mean data loss plus regularisation, Adam.

use rand::seq::SliceRandom;

use super::exec::FormatChoice;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels::{parallel, Par, Precision};
use crate::rng::Rng;
use crate::sparse::Format;

use super::mlp::{Grads, Mlp, Workspace};
use super::optim::Adam;
use super::reg::Regularizer;
use super::schedule::{add_orth_grad, PhaseExtras};

/// Hyper-parameters of one training phase (defaults: Sec. A.3.1).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step (paper: 500).
    pub batch_size: usize,
    /// Adam learning rate (paper: 1e-3).
    #[serde(serialize_with = "crate::floats::serialize")]
    pub lr: f32,
    /// L1/L2 penalties (paper: 1e-7 on W1, 1e-5 on all).
    pub reg: Regularizer,
    /// The precision of the products (fp32 unless set; bf16 is mixed precision, see
    /// [`crate::kernels::bf16`]). Left out of serialised configurations at fp32, so they read as before.
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1000,
            batch_size: 500,
            lr: 1e-3,
            reg: Regularizer::default(),
            precision: Precision::Fp32,
        }
    }
}

impl TrainConfig {
    /// Checks the settings, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch size", "must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::invalid(
                "learning rate",
                format!("{} is not a positive number", self.lr),
            ));
        }
        if !(self.reg.l1_first >= 0.0 && self.reg.l2 >= 0.0) {
            return Err(Error::invalid(
                "regularisation",
                "coefficients must be non-negative",
            ));
        }
        Ok(())
    }
}

/// Everything one training run needs besides the model: optimizer state and preallocated buffers.
/// A step allocates nothing.
#[derive(Clone, Debug)]
pub struct Trainer {
    cfg: TrainConfig,
    adam: Adam,
    ws: Workspace,
    grads: Grads,
    xb: Vec<f32>,
    yb: Vec<u32>,
    /// The next batch, gathered during a step when the kernels run on two or more threads (empty otherwise).
    xn: Vec<f32>,
    yn: Vec<u32>,
    order: Vec<u32>,
    extras: PhaseExtras,
    /// The penalties of the current epoch (`cfg.reg` unless a warm-up scales them).
    reg: Regularizer,
    /// `lambda_orth` of the current epoch.
    orth: f32,
    /// Epochs started so far (the warm-up's `e` is this count).
    epochs_started: usize,
}

impl Trainer {
    /// A trainer with a fresh Adam state for `model`; an error if this host cannot run `cfg.precision`.
    pub fn new(model: &Mlp, cfg: TrainConfig) -> Result<Self> {
        cfg.validate()?;
        cfg.precision.check_supported()?;
        Ok(Trainer {
            cfg,
            adam: Adam::new(model, cfg.lr),
            ws: model.workspace_at(cfg.batch_size, FormatChoice::Auto, cfg.precision),
            grads: model.zero_grads(),
            xb: vec![0.0; cfg.batch_size * model.input_dim()],
            yb: vec![0; cfg.batch_size],
            xn: Vec::new(),
            yn: Vec::new(),
            order: Vec::new(),
            extras: PhaseExtras::default(),
            reg: cfg.reg,
            orth: 0.0,
            epochs_started: 0,
        })
    }

    /// The phase's warm-up and orthogonality penalty (see [`super::schedule`]); the default leaves every step
    /// as without them.
    pub fn with_extras(mut self, extras: PhaseExtras) -> Result<Self> {
        extras.validate()?;
        self.extras = extras;
        self.orth = extras.orth;
        Ok(self)
    }

    /// Starts from `adam` (e.g. moments carried over from the model before a split, see [`Adam::carried`])
    /// instead of a fresh state; its learning rate becomes this phase's.
    pub fn with_adam(mut self, model: &Mlp, mut adam: Adam) -> Result<Self> {
        if !adam.fits(model) {
            return Err(Error::invalid(
                "optimizer state",
                "its shapes are not the model's",
            ));
        }
        adam.lr = self.cfg.lr;
        self.adam = adam;
        Ok(self)
    }

    /// The optimizer state (after training: the state a later phase may carry over).
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// Applies the warm-up of epoch `e` (from 1) to the learning rate and the penalties.
    fn begin_epoch(&mut self) {
        self.epochs_started += 1;
        if self.extras.is_plain() {
            return;
        }
        let (lr, reg) = self.extras.factors(self.epochs_started);
        if let Some(r) = lr {
            self.adam.lr = self.cfg.lr * r;
        }
        if let Some(r) = reg {
            self.reg = Regularizer {
                l1_first: self.cfg.reg.l1_first * r,
                l2: self.cfg.reg.l2 * r,
            };
            self.orth = self.extras.orth * r;
        }
    }

    /// Runs `model`'s layers on the formats `formats` selects, the kernels spreading their work as `par` says
    /// (formats change results only by float rounding; `par` changes no bit).
    pub fn with_format(mut self, model: &Mlp, formats: FormatChoice, par: Par) -> Self {
        self.ws = model
            .workspace_at(self.cfg.batch_size, formats, self.cfg.precision)
            .with_par(par);
        self
    }

    /// The format each layer runs on.
    pub fn formats(&self) -> Vec<Format> {
        self.ws.formats()
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// One optimisation step on a feature-major batch (`xt` is `d x batch`) with labels `y`; returns the
    /// batch's mean data loss (without the penalty).
    pub fn step(&mut self, model: &mut Mlp, xt: &[f32], y: &[u32], batch: usize) -> f32 {
        // The model may have changed since the last step.
        self.forget_values();
        self.step_inner(model, xt, y, batch)
    }

    /// [`Trainer::step`] on a model that nothing but this trainer changed since its last step: the CSR layers'
    /// compact values the last step left in the plans are still the weights.
    fn step_inner(&mut self, model: &mut Mlp, xt: &[f32], y: &[u32], batch: usize) -> f32 {
        // Without the orthogonality penalty, which reads and adds to the dense gradient, CSR layers are updated
        // on their compact gradient, values and moments.
        let compact = self.orth == 0.0;
        for plan in self.ws.plans_mut() {
            plan.set_dense_weight_grad(!compact);
        }
        let total = model.backward(xt, y, batch, &mut self.ws, &mut self.grads);
        if compact {
            // The penalty's gradient is added inside the Adam pass (bit for bit `add_grad` then `step`).
            self.adam
                .step_compact(model, &self.grads, &self.reg, &mut self.ws);
        } else {
            self.reg.add_grad(model, &mut self.grads);
            add_orth_grad(model, self.orth, &mut self.grads);
            self.adam.step(model, &self.grads);
        }
        total / batch as f32
    }

    /// Makes the next forward pass read every weight from the model.
    fn forget_values(&mut self) {
        for plan in self.ws.plans_mut() {
            plan.forget_values();
        }
    }

    /// The optimizer's state (for mask updates that must reset moments).
    pub fn adam_mut(&mut self) -> &mut Adam {
        &mut self.adam
    }

    /// Optimisation steps in one epoch over `n` samples.
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        n.div_ceil(self.cfg.batch_size)
    }

    /// One epoch over `data` in an order shuffled by `rng`; returns the mean data loss over the epoch.
    pub fn epoch(&mut self, model: &mut Mlp, data: &Dataset, rng: &mut Rng) -> f32 {
        self.run_epoch(model, data, rng, None::<fn(&mut Mlp, &mut Adam)>)
    }

    /// [`Trainer::epoch`], calling `after_step(model, adam)` after every optimisation step (e.g. a mask update,
    /// see [`crate::expand::Rewirer`]). With a no-op hook this is exactly [`Trainer::epoch`].
    pub fn epoch_with(
        &mut self,
        model: &mut Mlp,
        data: &Dataset,
        rng: &mut Rng,
        after_step: impl FnMut(&mut Mlp, &mut Adam),
    ) -> f32 {
        self.run_epoch(model, data, rng, Some(after_step))
    }

    /// [`Trainer::epoch_with`], the hook optional (without one, nothing changes the model between steps).
    fn run_epoch(
        &mut self,
        model: &mut Mlp,
        data: &Dataset,
        rng: &mut Rng,
        mut after_step: Option<impl FnMut(&mut Mlp, &mut Adam)>,
    ) -> f32 {
        assert_eq!(
            data.d,
            model.input_dim(),
            "data and model disagree on the input width"
        );
        let d = data.d;
        self.begin_epoch();
        self.forget_values();
        if self.order.len() != data.n {
            self.order = (0..data.n as u32).collect();
        }
        self.order.shuffle(rng);
        // With two or more threads, the batch of step t + 1 is gathered by a worker of the kernels' team during
        // step t, which the worker joins when it is done (the gathering reads only the data and the order, so
        // results do not change); sequentially, before each step.
        let ahead = self.ws.par().pieces() > 1;
        let order = std::mem::take(&mut self.order);
        let (mut xb, mut yb) = (std::mem::take(&mut self.xb), std::mem::take(&mut self.yb));
        let (mut xn, mut yn) = (std::mem::take(&mut self.xn), std::mem::take(&mut self.yn));
        if ahead {
            xn.resize(xb.len(), 0.0);
            yn.resize(yb.len(), 0);
        }
        let gather = |start: usize, b: usize, xb: &mut [f32], yb: &mut [u32]| {
            let rows = order[start..start + b].iter().map(|&i| i as usize);
            data.gather_t(rows, xb, yb);
        };
        let batch = self.cfg.batch_size;
        let mut total = 0.0f64;
        let mut start = 0;
        if ahead && data.n > 0 {
            gather(0, batch.min(data.n), &mut xb, &mut yb);
        }
        while start < data.n {
            let b = batch.min(data.n - start);
            let next = start + b;
            let loss = if !ahead {
                gather(start, b, &mut xb, &mut yb);
                self.step_inner(model, &xb[..b * d], &yb[..b], b)
            } else if next < data.n {
                let (xs, ys) = (&mut xn, &mut yn);
                parallel::overlap(
                    self.ws.par(),
                    || gather(next, batch.min(data.n - next), xs, ys),
                    || self.step_inner(model, &xb[..b * d], &yb[..b], b),
                )
            } else {
                self.step_inner(model, &xb[..b * d], &yb[..b], b)
            };
            total += loss as f64 * b as f64;
            if let Some(hook) = after_step.as_mut() {
                hook(model, &mut self.adam);
                self.forget_values();
            }
            if ahead {
                std::mem::swap(&mut xb, &mut xn);
                std::mem::swap(&mut yb, &mut yn);
            }
            start = next;
        }
        (self.xb, self.yb, self.xn, self.yn, self.order) = (xb, yb, xn, yn, order);
        (total / data.n.max(1) as f64) as f32
    }

    /// Trains for the configured number of epochs, calling `on_epoch(epoch, mean_loss)` after each.
    pub fn fit(
        &mut self,
        model: &mut Mlp,
        data: &Dataset,
        rng: &mut Rng,
        mut on_epoch: impl FnMut(usize, f32),
    ) {
        for e in 0..self.cfg.epochs {
            let loss = self.epoch(model, data, rng);
            on_epoch(e, loss);
        }
    }
}

/// Fraction of `data` that `model` classifies correctly.
pub fn accuracy(model: &Mlp, data: &Dataset) -> f64 {
    const CHUNK: usize = 1024;
    let mut ws = model.workspace(CHUNK.min(data.n.max(1)));
    let mut pred = Vec::with_capacity(CHUNK);
    let mut xt = vec![0f32; ws.capacity() * data.d];
    let mut yt = vec![0u32; ws.capacity()];
    let mut correct = 0usize;
    let mut start = 0;
    while start < data.n {
        let b = CHUNK.min(data.n - start);
        data.gather_t(start..start + b, &mut xt, &mut yt);
        model.predict_into(&xt[..b * data.d], b, &mut ws, &mut pred);
        correct += pred
            .iter()
            .zip(&data.y[start..start + b])
            .filter(|(p, y)| p == y)
            .count();
        start += b;
    }
    correct as f64 / data.n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Task;
    use crate::expand::rewire::{Decay, RewireConfig, Rewirer};
    use crate::rng::stream;
    use crate::sparse::Mask;

    /// A trainer on CSR layers (compact Adam, values kept between steps, the batch gathered ahead on two
    /// threads) gives the bits of the plain loop `backward` + dense masked `Adam::step_penalised`, with the masks
    /// rewired every other step through the epoch hook; at fp32 and, where the host has AVX512-BF16, at bf16.
    #[test]
    fn csr_trainer_is_the_plain_loop_bit_for_bit() {
        let (n, d, batch) = (90, 24, 20);
        let x: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.61).sin()).collect();
        let y: Vec<u32> = (0..n as u32).map(|i| (i * 7) % 4).collect();
        let data = Dataset::new(x, y, d, Task::Multiclass(4)).unwrap();
        let mut model = Mlp::new(&[d, 32, 4], Task::Multiclass(4), &mut stream(3, &[1])).unwrap();
        let live = |k: usize, len: usize| (0..len).map(|i| (i * 5 + k) % 7 < 2).collect::<Vec<_>>();
        model
            .set_mask(0, Some(Mask::from_bools(32, d, &live(0, 32 * d))))
            .unwrap();
        model
            .set_mask(1, Some(Mask::from_bools(4, 32, &live(3, 128))))
            .unwrap();
        let cfg = TrainConfig {
            epochs: 3,
            batch_size: batch,
            lr: 1e-2,
            reg: Regularizer {
                l1_first: 1e-3,
                l2: 1e-3,
            },
            precision: Default::default(),
        };
        let rcfg = RewireConfig {
            every: 2,
            fraction: 0.1,
            decay: Decay::Constant,
        };
        let csr = FormatChoice::Force(Format::Csr);
        let mut precisions = vec![Precision::Fp32];
        if Precision::Bf16.check_supported().is_ok() {
            precisions.push(Precision::Bf16);
        } else {
            eprintln!("AVX512-BF16 is absent here: the bf16 trainer was not tested");
        }
        let runs = [(Par::Seq, false), (Par::Seq, true), (Par::Rayon(2), true)];
        for (precision, (par, rewired)) in precisions
            .into_iter()
            .flat_map(|p| runs.into_iter().map(move |r| (p, r)))
        {
            let cfg = TrainConfig { precision, ..cfg };
            let mut trained = model.clone();
            let mut trainer = Trainer::new(&model, cfg)
                .unwrap()
                .with_format(&model, csr, par);
            let mut rewirer = Rewirer::new(rcfg, 100, stream(4, &[2])).unwrap();
            let mut shuffle = stream(5, &[3]);
            for _ in 0..cfg.epochs {
                if rewired {
                    trainer.epoch_with(&mut trained, &data, &mut shuffle, |m, a| {
                        rewirer.after_step(m, a);
                    });
                } else {
                    trainer.epoch(&mut trained, &data, &mut shuffle);
                }
            }

            let mut plain = model.clone();
            let mut adam = Adam::new(&model, cfg.lr);
            let mut ws = model.workspace_at(batch, csr, precision).with_par(par);
            let mut grads = model.zero_grads();
            let mut rewirer = Rewirer::new(rcfg, 100, stream(4, &[2])).unwrap();
            let mut shuffle = stream(5, &[3]);
            let mut order: Vec<u32> = (0..n as u32).collect();
            let (mut xt, mut yt) = (vec![0.0; batch * d], vec![0; batch]);
            for _ in 0..cfg.epochs {
                order.shuffle(&mut shuffle);
                for start in (0..n).step_by(batch) {
                    let b = batch.min(n - start);
                    let rows = order[start..start + b].iter().map(|&i| i as usize);
                    data.gather_t(rows, &mut xt, &mut yt);
                    plain.backward(&xt[..b * d], &yt[..b], b, &mut ws, &mut grads);
                    adam.step_penalised(&mut plain, &grads, &cfg.reg, par);
                    if rewired {
                        rewirer.after_step(&mut plain, &mut adam);
                    }
                }
            }
            assert_eq!(trained, plain, "{precision} {par:?} rewired {rewired}");
            for l in 0..2 {
                let a = trainer.adam();
                assert_eq!(a.weight_moments(l), adam.weight_moments(l));
                assert_eq!(a.bias_moments(l), adam.bias_moments(l));
            }
            assert_eq!(trainer.adam().steps(), adam.steps());
        }
    }
}
