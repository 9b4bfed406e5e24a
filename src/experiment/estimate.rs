//! Run-time estimates for `neurosplit reproduce --list`, from a per-step cost model measured on this machine.
//!
//! The model: one training step on a batch of `b` samples through widths `d -> h -> C` costs
//! `t = c0 + c1 * b * (d h + h C)` seconds (`c0`: per-step overhead; `c1`: time per multiply-add of the
//! forward pass, backward and Adam included). The model counts every weight of a layer, live or masked, so an
//! FPE model of width `alpha h` is estimated like a dense one of that width. Masked layers actually run on the
//! format [`crate::sparse::Format::choose`] picks (CSR below its density threshold, whose cost follows the live
//! weights), so for them the estimate is an upper bound. [`CostModel::measure`] fits `c0` and `c1` by timing
//! steps of two models of very different sizes (the fastest of three repeats each); the estimate of a spec is
//! its total step cost divided by the number of threads that can be kept busy (at most the number of trials
//! times post-split models).

use std::time::Instant;

use crate::data::{Dataset, Task};
use crate::experiment::runner::cells;
use crate::experiment::spec::{DatasetSpec, Spec};
use crate::nn::{Mlp, TrainConfig, Trainer};
use crate::rng::stream;

/// `t = c0 + c1 * batch * (d h + h C)`, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    /// Seconds per step, fixed part.
    pub c0: f64,
    /// Seconds per sample x multiply-add.
    pub c1: f64,
}

/// Seconds per step of `dims` at `batch`: the fastest of three timings of `epochs` epochs of 10 steps each
/// (data of 10 batches, so that gathering and shuffling cost what they cost in training).
fn time_steps(dims: &[usize], batch: usize, epochs: usize) -> f64 {
    let (d, c) = (dims[0], *dims.last().expect("dims"));
    let task = if c == 1 {
        Task::Binary
    } else {
        Task::Multiclass(c)
    };
    let n = 10 * batch;
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 13) as f32 * 0.1).collect();
    let y: Vec<u32> = (0..n).map(|i| ((i * 31) % c.max(2)) as u32).collect();
    let data = Dataset::new(x, y, d, task).expect("valid calibration data");
    let mut model = Mlp::new(dims, task, &mut stream(0, &[0])).expect("valid dims");
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: batch,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&model, cfg).expect("valid config");
    let mut rng = stream(0, &[1]);
    trainer.epoch(&mut model, &data, &mut rng); // warm-up
                                                // The fastest of three repeats: other load on the machine only ever slows a repeat down.
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..epochs {
                trainer.epoch(&mut model, &data, &mut rng);
            }
            start.elapsed().as_secs_f64() / (10 * epochs) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

impl CostModel {
    /// Fits the model from timed steps of `[32, 8, 1]` and `[784, 64, 10]` at batch 500 (well under a second).
    pub fn measure() -> CostModel {
        let work = |dims: &[usize], b: usize| (b * (dims[0] * dims[1] + dims[1] * dims[2])) as f64;
        let (small, large) = ([32, 8, 1], [784, 64, 10]);
        let (ts, tl) = (time_steps(&small, 500, 30), time_steps(&large, 500, 3));
        let (ws, wl) = (work(&small, 500), work(&large, 500));
        let c1 = ((tl - ts) / (wl - ws)).max(1e-13);
        let c0 = (ts - c1 * ws).max(0.0);
        CostModel { c0, c1 }
    }

    /// Seconds for one step.
    pub fn step(&self, batch: usize, d: usize, h: usize, c: usize) -> f64 {
        self.c0 + self.c1 * (batch * (d * h + h * c)) as f64
    }

    /// Seconds for one step of a network of `depth` layers whose hidden layers are `h` wide, `widen` times
    /// wider after an expansion (approximately: every hidden-to-hidden layer costs `widen h x h`).
    pub fn step_deep(
        &self,
        batch: usize,
        d: usize,
        h: usize,
        c: usize,
        depth: usize,
        widen: usize,
    ) -> f64 {
        let wide = widen * h;
        let hidden = depth.saturating_sub(2) * wide * h;
        self.c0 + self.c1 * (batch * (d * wide + hidden + wide * c)) as f64
    }
}

/// `(n_train, d, classes, exact)` of a spec's data without loading it; embeddings are unknown until loaded and
/// assumed CLIP ViT-B/16 on CIFAR-100 (50 000 x 512, 100 classes).
fn data_shape(spec: &Spec, clauses: Option<usize>) -> (usize, usize, usize, bool) {
    match &spec.dataset {
        DatasetSpec::Dnf { k, n_train, .. } => (*n_train, clauses.unwrap_or(1) * k, 1, true),
        DatasetSpec::FashionMnist { n_train, .. } => {
            (n_train.unwrap_or(60_000).min(60_000), 784, 10, true)
        }
        DatasetSpec::Embeddings { n_train, .. } => (n_train.unwrap_or(50_000), 512, 100, false),
    }
}

/// An estimate of a spec's run time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Total training steps.
    pub steps: u64,
    /// Estimated wall-clock seconds on `threads` threads.
    pub seconds: f64,
    /// Whether the data shape is known (false for embeddings, which are assumed CIFAR-100 CLIP).
    pub exact_shape: bool,
}

/// Estimates the wall time of the whole spec (all trials) on `threads` threads.
pub fn estimate(spec: &Spec, cost: &CostModel, threads: usize) -> Estimate {
    let b = spec.train.batch_size;
    let n_post = 1 + spec.model.alpha.len() * spec.model.strategies.len();
    let (mut steps, mut secs, mut exact) = (0u64, 0.0, true);
    for cell in cells(spec) {
        let (n, d, c, ex) = data_shape(spec, cell.clauses);
        exact &= ex;
        let per_epoch = n.div_ceil(b) as u64;
        let bb = b.min(n);
        let post = spec.post_epochs(cell.pre_epochs) as u64 * per_epoch;
        let pre = cell.pre_epochs as u64 * per_epoch;
        let h = cell.neurons;
        let depth = cell.depth;
        let mut t = (pre + post) as f64 * cost.step_deep(bb, d, h, c, depth, 1);
        for &a in &spec.model.alpha {
            t += (spec.model.strategies.len() as u64 * post) as f64
                * cost.step_deep(bb, d, h, c, depth, a.get());
        }
        steps += (pre + post * n_post as u64) * spec.trials as u64;
        secs += t * spec.trials as f64;
    }
    let busy = threads.min(spec.trials * cells(spec).len() * n_post).max(1);
    Estimate {
        steps,
        seconds: secs / busy as f64,
        exact_shape: exact,
    }
}
