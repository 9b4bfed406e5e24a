//! The trial pipeline: data -> pre-train -> expand -> post-train (optionally rewiring) -> metrics -> record.
//! `neurosplit train` (on DNF data or a user's file, [`run_one`]), Python's `train` and the experiment runner
//! (`experiment::runner::run_trial`) are all thin fronts over [`run`], with the configuration built by
//! [`super::Settings::build`], so they share one meaning for every setting:
//!
//! * **Units.** Epochs everywhere: pre- and post-split training lengths, the rewiring interval
//!   ([`Rewiring::every`], `--rewire-every`, `extras.rewiring.every`) and the accuracy curve.
//! * **LayerNorm.** [`TrialConfig::layernorm`] `None` follows the depth: LayerNorm before every hidden
//!   activation when the model has more than one hidden layer (Sec. A.7), none with one hidden layer (the
//!   paper's Boolean experiments); `Some(_)` overrides (`--layernorm true|false`, `model.layernorm`).
//! * **Checks first.** [`run`] validates the whole configuration against the data — including a trial
//!   expansion of the untrained model with every (alpha, strategy), so that a bad split setting fails in
//!   milliseconds — and opens the device before any training starts.
//! * **Random streams.** Every stream derives from `(seed, [trial, purpose, model index])` ([`Streams`]), where
//!   the model index is 0 for the dense model trained on and `1 + i` for expansion `i`; DNF data comes from
//!   [`dnf_data`]. The runner's seed is its cell's; `neurosplit train --seed S` uses the cell seed a spec with
//!   seed `S` would give the same model ([`cell_seed`]), so one trial of a spec and the equivalent `train`
//!   command print the same numbers.
//!
//! Post-split models train in parallel on the CPU (rayon; each model is sequential inside, so results do not
//! depend on the thread count) and one after the other on a GPU.

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Dnf};
use crate::device::{Backend, Device, PhaseReport};
use crate::error::{Error, Result};
use crate::expand::{
    expand_alternating_with, Alpha, Assignment, Decay, DeepInputs, DeepReport, RewireConfig,
    RewireReport, Rewirer, Strategy,
};
use crate::kernels::Par;
use crate::metrics::Metric;
use crate::nn::FormatChoice;
use crate::nn::{accuracy, Adam, Mlp, TrainConfig};
use crate::rng::{self, fnv1a, purpose};
use crate::sparse::Format;

use super::guard;

mod log;
pub mod protocol;

pub use log::Log;
pub use protocol::{AdamAtSplit, Protocol, Stage, WarmupPhase};

/// Mask rewiring after the split (Sec. A.7), applied to the FPE models (see [`crate::expand::rewire`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewiring {
    /// Update the masks every this many post-split **epochs**.
    pub every: usize,
    /// Fraction of each masked layer's *masked* weights unmasked at random per update (and as many of the
    /// smallest-magnitude live weights re-pruned), at the start for a decaying schedule.
    pub fraction: f64,
    /// Schedule of the fraction: `constant` (default) or `cosine`.
    #[serde(default = "default_decay")]
    pub decay: Decay,
}

fn default_decay() -> Decay {
    Decay::Constant
}

/// Everything one trial needs besides its data and seed: one typed, validated configuration.
#[derive(Clone, Debug)]
pub struct TrialConfig {
    /// Hidden widths of the dense model (its input and output widths come from the data).
    pub hidden: Vec<usize>,
    /// LayerNorm before every hidden activation; `None` follows the depth (on with more than one hidden layer).
    pub layernorm: Option<bool>,
    /// Dense training before the split.
    pub pre: TrainConfig,
    /// Training after the split, of every post-split model (fresh Adam, the same batch order).
    pub post: TrainConfig,
    /// Also train the dense model on for `post.epochs` (the baseline with as much total training).
    pub dense_baseline: bool,
    /// One FPE model per entry, each expanded from the pre-trained dense model (alternating expansion of
    /// hidden layers 0, 2, 4, ... when deep).
    pub expansions: Vec<(Alpha, Strategy)>,
    /// The split of every expanded layer, for [`Strategy::Custom`].
    pub assignments: Vec<Assignment>,
    /// Clusters of the Gram split (default: round(sqrt(inputs)), at least alpha).
    pub clusters: Option<usize>,
    /// Mask rewiring of the FPE models after the split.
    pub rewiring: Option<Rewiring>,
    /// Interference metrics computed on every final model.
    pub metrics: Vec<Metric>,
    /// Record test accuracy every this many post-split epochs (0 = only at the end).
    pub curve_every: usize,
    /// Where to train.
    pub device: Device,
    /// On a GPU: the storage of masked weights, csr (default) or bitmask; an error on the CPU.
    pub gpu_format: Option<Format>,
    /// On the CPU: the layers' storage.
    pub formats: FormatChoice,
    /// On the CPU: threads of the kernels inside a step, at least 1 (changes no bit).
    pub threads: usize,
    /// Alg. A3's open choices (default: the paper's reading; see [`protocol`]).
    pub protocol: Protocol,
}

impl Default for TrialConfig {
    fn default() -> Self {
        TrialConfig {
            hidden: vec![8],
            layernorm: None,
            pre: TrainConfig::default(),
            post: TrainConfig::default(),
            dense_baseline: true,
            expansions: Vec::new(),
            assignments: Vec::new(),
            clusters: None,
            rewiring: None,
            metrics: Vec::new(),
            curve_every: 0,
            device: Device::Cpu,
            gpu_format: None,
            formats: FormatChoice::Auto,
            threads: 1,
            protocol: Protocol::default(),
        }
    }
}

impl TrialConfig {
    /// Whether the model gets LayerNorm (the explicit choice, else on with more than one hidden layer).
    pub fn uses_layernorm(&self) -> bool {
        self.layernorm.unwrap_or(self.hidden.len() > 1)
    }

    /// Checks what can be checked without data, naming the setting that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::invalid(
                "hidden widths",
                "every hidden layer needs at least 1 neuron (e.g. --hidden 8,8,8)",
            ));
        }
        self.pre.validate()?;
        if !self.expansions.is_empty() || self.dense_baseline {
            self.post.validate()?;
        }
        for &(alpha, strategy) in &self.expansions {
            if strategy == Strategy::TwoFour && alpha.get() != 2 {
                return Err(Error::invalid(
                    "alpha",
                    format!("the two-four (2:4) split needs alpha = 2, not {alpha}"),
                ));
            }
            if let Some(a) = self.assignments.iter().find(|a| a.alpha != alpha.get()) {
                return Err(Error::invalid(
                    "assignment",
                    format!(
                        "it splits into alpha = {} children but --alpha is {alpha}",
                        a.alpha
                    ),
                ));
            }
        }
        let uses = |s: Strategy| self.expansions.iter().any(|&(_, st)| st == s);
        if uses(Strategy::Custom) && self.assignments.is_empty() {
            return Err(Error::invalid(
                "strategy",
                "custom needs --assignment FILE with the split",
            ));
        }
        if !uses(Strategy::Custom) && !self.assignments.is_empty() {
            return Err(Error::invalid(
                "assignment",
                "--assignment is only used with --strategy custom",
            ));
        }
        if self.clusters.is_some() && !uses(Strategy::Gram) {
            return Err(Error::invalid(
                "clusters",
                "--clusters is only used with --strategy gram",
            ));
        }
        if let Some(r) = &self.rewiring {
            if self.expansions.is_empty() {
                return Err(Error::invalid(
                    "rewire",
                    "rewiring moves the masks of an FPE expansion: add --alpha",
                ));
            }
            self.rewire_config(r, 1).validate()?;
        }
        if self.threads == 0 {
            return Err(Error::invalid("threads", "must be at least 1"));
        }
        self.protocol.validate()?;
        let plain_phases = self
            .protocol
            .phase_extras(Stage::Pre, self.pre.epochs)
            .is_plain()
            && self
                .protocol
                .phase_extras(Stage::Post, self.post.epochs)
                .is_plain();
        if self.device != Device::Cpu && (!plain_phases || self.protocol.adam == AdamAtSplit::Carry)
        {
            return Err(Error::invalid(
                "device",
                "warm-up, lambda_orth and a carried Adam state run on the CPU only (--device cpu)",
            ));
        }
        if self.gpu_format.is_some() && self.device == Device::Cpu {
            return Err(Error::invalid(
                "gpu format",
                "it applies to a GPU (--device cuda) only",
            ));
        }
        self.device.check(
            self.uses_layernorm(),
            self.rewiring.is_some(),
            self.gpu_format(),
        )
    }

    /// The same configuration on one thread: what determines the results (the thread count never does).
    pub fn without_threads(&self) -> TrialConfig {
        TrialConfig {
            threads: 1,
            ..self.clone()
        }
    }

    /// Checks the configuration against the training data before anything is allocated: the feature groups
    /// fit the data ([`guard::check_groups`]) and one run fits the memory budget ([`guard::check_memory_of`]).
    pub fn check_data(&self, train: &Dataset) -> Result<()> {
        if let Some(groups) = &train.groups {
            guard::check_groups(groups, train.d)?;
        }
        guard::check_memory_of(self, train.n, train.d, train.task.outputs())
    }

    fn gpu_format(&self) -> Format {
        self.gpu_format.unwrap_or(Format::Csr)
    }

    fn par(&self) -> Par {
        match self.threads {
            0 | 1 => Par::Seq,
            n => Par::Rayon(n),
        }
    }

    fn rewire_config(&self, r: &Rewiring, steps_per_epoch: usize) -> RewireConfig {
        RewireConfig {
            every: r.every * steps_per_epoch,
            fraction: r.fraction,
            decay: r.decay,
        }
    }

    /// Layer widths of the dense model for `inputs` inputs and `outputs` outputs.
    pub fn dims(&self, inputs: usize, outputs: usize) -> Vec<usize> {
        std::iter::once(inputs)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(outputs))
            .collect()
    }
}

/// The random streams of one trial: every one derives from `(seed, [trial, purpose, model index])`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streams {
    /// The trial's base seed (the runner's cell seed, see [`cell_seed`]).
    pub seed: u64,
    /// The trial index.
    pub trial: u64,
}

impl Streams {
    /// The streams of trial `trial` of the model configuration `key` ([`model_key`]) under the experiment
    /// seed `seed`: its base seed is [`cell_seed`].
    pub fn for_model(seed: u64, key: &str, trial: usize) -> Streams {
        Streams {
            seed: cell_seed(seed, key),
            trial: trial as u64,
        }
    }

    fn get(&self, path: &[u64]) -> rng::Rng {
        let full: Vec<u64> = std::iter::once(self.trial)
            .chain(path.iter().copied())
            .collect();
        rng::stream(self.seed, &full)
    }

    /// The seed recorded with the trial.
    pub fn record_seed(&self) -> u64 {
        rng::derive_seed(self.seed, &[self.trial])
    }
}

/// A stable identifier of a model configuration, e.g. `clauses=8 depth=2 neurons=8 pre=1000` (equal widths,
/// the form of a spec's grid cell) or `clauses=8 hidden=8,6 pre=1000`.
pub fn model_key(clauses: Option<usize>, hidden: &[usize], pre_epochs: usize) -> String {
    let c = clauses.map_or(String::new(), |c| format!("clauses={c} "));
    match hidden.split_first() {
        Some((&first, rest)) if rest.iter().all(|&w| w == first) => format!(
            "{c}depth={} neurons={first} pre={pre_epochs}",
            hidden.len() + 1
        ),
        _ => {
            let widths: Vec<String> = hidden.iter().map(ToString::to_string).collect();
            format!("{c}hidden={} pre={pre_epochs}", widths.join(","))
        }
    }
}

/// The base seed of the trials of the model `key` ([`model_key`]) under the experiment seed `seed`.
pub fn cell_seed(seed: u64, key: &str) -> u64 {
    rng::derive_seed(seed, &[fnv1a(key.as_bytes())])
}

/// The DNF training and test sets of trial `trial` under the experiment seed `seed`: the same for every model
/// configuration with the same clause count and clause length.
pub fn dnf_data(
    seed: u64,
    clauses: usize,
    k: usize,
    n_train: usize,
    n_test: usize,
    trial: usize,
) -> Result<(Dataset, Dataset)> {
    let dnf = Dnf::with_clauses(clauses, k)?;
    let data_key = fnv1a(format!("clauses={clauses} k={k}").as_bytes());
    let t = trial as u64;
    let train = dnf.generate(
        n_train,
        &mut rng::stream(seed, &[data_key, t, purpose::DATA_TRAIN]),
    )?;
    let test = dnf.generate(
        n_test,
        &mut rng::stream(seed, &[data_key, t, purpose::DATA_TEST]),
    )?;
    Ok((train, test))
}

/// One post-split model's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// `dense` or the strategy's name.
    pub model: String,
    /// Expansion factor (FPE models only).
    pub alpha: Option<usize>,
    /// Hidden width of the expanded layer.
    pub hidden: usize,
    /// Live weights.
    pub nnz: usize,
    /// Test accuracy right after the split (dense: before phase 2).
    pub test_acc_at_split: f64,
    /// Test accuracy at the end.
    pub test_acc: f64,
    /// Training accuracy at the end.
    pub train_acc: f64,
    /// `(post-split epoch, test accuracy)` every `curve_every` epochs, when asked for.
    #[serde(default)]
    pub curve: Vec<(usize, f64)>,
    /// Interference metrics of the final model, by name (see [`Metric::compute`]).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Feature capacity of every clause (the sum over its literals) of the final model's first layer, with the
    /// `feature-capacity` metric on DNF data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clause_capacity: Vec<f64>,
    /// Weights moved by rewiring (grown, and as many pruned) over all mask updates, with rewiring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewired: Option<usize>,
    /// Seconds spent in phase 2 (not part of the result proper).
    pub seconds: f64,
}

#[cfg(test)]
impl ModelRecord {
    /// A record for the report tests: model `name` at expansion `alpha` (8 hidden neurons before the split,
    /// 264 live weights) with final test and training accuracy `acc`.
    pub(crate) fn fixture(name: &str, alpha: Option<usize>, acc: f64) -> Self {
        ModelRecord {
            model: name.into(),
            alpha,
            hidden: 8 * alpha.unwrap_or(1),
            nnz: 264,
            test_acc_at_split: 0.5,
            test_acc: acc,
            train_acc: acc,
            curve: vec![],
            metrics: BTreeMap::new(),
            clause_capacity: vec![],
            rewired: None,
            seconds: 1.0,
        }
    }
}

/// Which training phase an [`Event::Epoch`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Dense training before the split.
    Pre,
    /// Post-split training of model `index` (0 = the dense baseline, `1 + i` = expansion `i`).
    Post(usize),
}

/// What [`run`] reports while it works (for logs; the results are in [`TrialOutcome`]).
#[derive(Debug)]
pub enum Event<'a> {
    /// Every check passed; the initial dense model, about to be trained.
    Start {
        /// The untrained model.
        model: &'a Mlp,
        /// The opened device.
        device: String,
    },
    /// One epoch finished.
    Epoch {
        /// The phase.
        phase: Phase,
        /// The epoch, from 1.
        epoch: usize,
        /// Its mean loss.
        loss: f32,
        /// The phase's length in epochs.
        of: usize,
    },
    /// Pre-training finished.
    PreTrained {
        /// The trained dense model.
        model: &'a Mlp,
        /// Its test accuracy.
        test_acc: f64,
        /// How the phase ran.
        phase: &'a PhaseReport,
    },
    /// Expansion `index - 1` was made, before its training.
    Split {
        /// The model index (`1 + i`).
        index: usize,
        /// The pre-trained dense model.
        dense: &'a Mlp,
        /// The expanded model.
        wide: &'a Mlp,
        /// The accounting of the expansion.
        report: &'a DeepReport,
    },
    /// The model after a post-split epoch, every `curve_every` epochs (for checkpoints).
    Snapshot {
        /// The model index (0 = the dense baseline, `1 + i` = expansion `i`).
        index: usize,
        /// The post-split epoch, from 1.
        epoch: usize,
        /// The model after that epoch.
        model: &'a Mlp,
    },
}

/// One post-split model: its record, the model, and what produced it.
#[derive(Clone, Debug)]
pub struct PostOutcome {
    /// The result.
    pub record: ModelRecord,
    /// The trained model.
    pub model: Mlp,
    /// The expansion's accounting (FPE models).
    pub expansion: Option<DeepReport>,
    /// Every mask update (with rewiring).
    pub rewiring: Vec<RewireReport>,
    /// How the post-split training ran.
    pub phase: PhaseReport,
}

/// Everything a trial produced.
#[derive(Clone, Debug)]
pub struct TrialOutcome {
    /// The pre-trained dense model.
    pub dense: Mlp,
    /// Its test accuracy.
    pub pre_test_acc: f64,
    /// How pre-training ran.
    pub pre_phase: PhaseReport,
    /// Seconds until the end of pre-training.
    pub pre_seconds: f64,
    /// The dense baseline (if asked for) first, then one per expansion, in order.
    pub posts: Vec<PostOutcome>,
}

/// Runs one trial on `train` / `test` (see the module docs); `on_event` sees its progress.
pub fn run(
    cfg: &TrialConfig,
    train: &Dataset,
    test: &Dataset,
    streams: Streams,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<TrialOutcome> {
    let start = Instant::now();
    cfg.validate()?;
    cfg.check_data(train)?;
    let dims = cfg.dims(train.d, train.task.outputs());
    let mut dense = Mlp::new(&dims, train.task, &mut streams.get(&[purpose::INIT]))?;
    if cfg.uses_layernorm() {
        dense = dense.with_layernorm();
    }
    let inputs = DeepInputs {
        groups: train.groups.as_deref(),
        assignments: &cfg.assignments,
        clusters: cfg.clusters,
    };
    for &(alpha, strategy) in &cfg.expansions {
        // The same expansion of the untrained model (same shapes and supports): a bad setting fails here,
        // before any training time is spent. Its random stream is none of the run's.
        expand_alternating_with(
            &dense,
            alpha.get(),
            strategy,
            &inputs,
            &cfg.protocol.split_rules(),
            &mut rng::stream(streams.seed, &[u64::MAX]),
        )?;
    }
    let backend = Backend::open(cfg.device, cfg.formats, cfg.par(), cfg.gpu_format())?;
    on_event(Event::Start {
        model: &dense,
        device: backend.describe(),
    });
    let (pre_phase, pre_adam) = backend.train_with(
        &mut dense,
        train,
        cfg.pre,
        &cfg.protocol.phase_extras(Stage::Pre, cfg.pre.epochs),
        None,
        &mut streams.get(&[purpose::SHUFFLE_PRE]),
        None,
        0,
        |epoch, loss, _| {
            on_event(Event::Epoch {
                phase: Phase::Pre,
                epoch,
                loss,
                of: cfg.pre.epochs,
            })
        },
    )?;
    // Kept only when the post-split models start from it.
    let pre_adam = pre_adam.filter(|_| cfg.protocol.adam == AdamAtSplit::Carry);
    let pre_test_acc = accuracy(&dense, test);
    on_event(Event::PreTrained {
        model: &dense,
        test_acc: pre_test_acc,
        phase: &pre_phase,
    });
    let pre_seconds = start.elapsed().as_secs_f64();

    let mut posts: Vec<usize> = cfg
        .expansions
        .iter()
        .enumerate()
        .map(|(i, _)| i + 1)
        .collect();
    if cfg.dense_baseline {
        posts.insert(0, 0);
    }
    let post_one = |index: usize| -> Result<PostOutcome> {
        post_train(
            cfg,
            &backend,
            &dense,
            pre_adam.as_ref(),
            train,
            test,
            streams,
            index,
            &inputs,
            on_event,
        )
    };
    let posts = if backend.is_cpu() {
        posts
            .par_iter()
            .map(|&i| post_one(i))
            .collect::<Result<Vec<_>>>()?
    } else {
        posts
            .iter()
            .map(|&i| post_one(i))
            .collect::<Result<Vec<_>>>()?
    };
    Ok(TrialOutcome {
        dense,
        pre_test_acc,
        pre_phase,
        pre_seconds,
        posts,
    })
}

/// One trial as a single run (`neurosplit train`, Python's `train`): [`run`] on a rayon pool of the
/// configuration's thread count, so the post-split models train in parallel on exactly that many threads.
pub fn run_one(
    cfg: &TrialConfig,
    train: &Dataset,
    test: &Dataset,
    streams: Streams,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<TrialOutcome> {
    super::with_threads(cfg.threads, || run(cfg, train, test, streams, on_event))?
}

/// The post-split stage alone, on a model trained elsewhere (`neurosplit finetune`): `model` plays the pre-trained
/// dense model, is expanded with `cfg.expansions[0]` (alternating expansion when deep) or, with no expansion,
/// trained on as it is, for `cfg.post`, and measured, exactly as [`run`] treats its post-split models (same
/// streams under `streams`, same rewiring, same metrics). `cfg.hidden`, `cfg.pre` and `cfg.dense_baseline`
/// are not used; more than one expansion is an error.
pub fn post_stage(
    cfg: &TrialConfig,
    model: &Mlp,
    train: &Dataset,
    test: &Dataset,
    streams: Streams,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<PostOutcome> {
    if cfg.expansions.len() > 1 {
        return Err(Error::invalid(
            "expansions",
            "the post-split stage of one model takes at most one expansion",
        ));
    }
    if cfg.protocol.adam == AdamAtSplit::Carry {
        return Err(Error::invalid(
            "adam at split",
            "carry needs the optimizer state of the model's own training, which a model file does not hold: \
             use fresh",
        ));
    }
    let check = TrialConfig {
        hidden: model.dims()[1..model.dims().len() - 1].to_vec(),
        layernorm: Some(model.norms().iter().any(Option::is_some)),
        dense_baseline: true,
        pre: cfg.post,
        ..cfg.clone()
    };
    if check.hidden.is_empty() && !cfg.expansions.is_empty() {
        return Err(Error::invalid(
            "model",
            "it has no hidden layer to expand (only the output head)",
        ));
    }
    if !check.hidden.is_empty() {
        check.validate()?;
    }
    check.check_data(train)?;
    if train.d != model.input_dim() || train.task != model.task() {
        return Err(Error::invalid(
            "data",
            format!(
                "the model takes {} inputs with {:?} outputs but the data has {} features for {:?}",
                model.input_dim(),
                model.task(),
                train.d,
                train.task
            ),
        ));
    }
    let inputs = DeepInputs {
        groups: train.groups.as_deref(),
        assignments: &cfg.assignments,
        clusters: cfg.clusters,
    };
    let backend = Backend::open(cfg.device, cfg.formats, cfg.par(), cfg.gpu_format())?;
    on_event(Event::Start {
        model,
        device: backend.describe(),
    });
    let index = usize::from(!cfg.expansions.is_empty());
    post_train(
        cfg, &backend, model, None, train, test, streams, index, &inputs, on_event,
    )
}

/// The interference `metrics` of `model` (on the feature groups of `train`), by name, and the per-clause
/// feature capacity where the data has clauses.
pub fn measure(
    metrics: &[Metric],
    model: &Mlp,
    train: &Dataset,
) -> Result<(BTreeMap<String, f64>, Vec<f64>)> {
    let mut values = BTreeMap::new();
    let mut clause_capacity = Vec::new();
    for metric in metrics {
        let m = metric.compute(model, train.groups.as_deref())?;
        values.extend(m.values);
        if !m.per_clause.is_empty() {
            clause_capacity = m.per_clause;
        }
    }
    Ok((values, clause_capacity))
}

/// Expands (model `index >= 1`) or copies (`index = 0`) the dense model, trains it on, measures it.
#[allow(clippy::too_many_arguments)]
fn post_train(
    cfg: &TrialConfig,
    backend: &Backend,
    dense: &Mlp,
    dense_adam: Option<&Adam>,
    train: &Dataset,
    test: &Dataset,
    streams: Streams,
    index: usize,
    inputs: &DeepInputs<'_>,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<PostOutcome> {
    let start = Instant::now();
    let i = index as u64;
    let expansion = index.checked_sub(1).map(|e| cfg.expansions[e]);
    let (mut model, report) = match expansion {
        Some((alpha, strategy)) => {
            let mut split = streams.get(&[purpose::SPLIT, i]);
            let (wide, report) = expand_alternating_with(
                dense,
                alpha.get(),
                strategy,
                inputs,
                &cfg.protocol.split_rules(),
                &mut split,
            )?;
            on_event(Event::Split {
                index,
                dense,
                wide: &wide,
                report: &report,
            });
            (wide, Some(report))
        }
        None => (dense.clone(), None),
    };
    if model.nnz() != dense.nnz() {
        return Err(Error::invalid(
            "budget",
            "an expanded model's non-zero count differs from the dense model's (a bug)",
        ));
    }
    let test_acc_at_split = accuracy(&model, test);
    let mut shuffle = streams.get(&[purpose::SHUFFLE_POST]);
    // Rewiring moves the masks of the FPE models only (the dense model has none).
    let mut rewirer = match (&cfg.rewiring, expansion) {
        (Some(r), Some(_)) => {
            let steps = train.n.div_ceil(cfg.post.batch_size);
            let stream = streams.get(&[purpose::REWIRE, i]);
            Some(Rewirer::new(
                cfg.rewire_config(r, steps),
                cfg.post.epochs * steps,
                stream,
            )?)
        }
        _ => None,
    };
    let mut curve = Vec::new();
    let carried = dense_adam
        .map(|adam| adam.carried(dense, &model))
        .transpose()?;
    let (phase, _) = backend.train_with(
        &mut model,
        train,
        cfg.post,
        &cfg.protocol.phase_extras(Stage::Post, cfg.post.epochs),
        carried,
        &mut shuffle,
        rewirer.as_mut(),
        cfg.curve_every,
        |epoch, loss, snapshot| {
            if let Some(m) = snapshot {
                curve.push((epoch, accuracy(m, test)));
                on_event(Event::Snapshot {
                    index,
                    epoch,
                    model: m,
                });
            }
            on_event(Event::Epoch {
                phase: Phase::Post(index),
                epoch,
                loss,
                of: cfg.post.epochs,
            });
        },
    )?;
    let (metrics, clause_capacity) = measure(&cfg.metrics, &model, train)?;
    let rewiring = rewirer.map_or_else(Vec::new, |rw| rw.history().to_vec());
    let record = ModelRecord {
        model: expansion.map_or("dense".to_string(), |(_, s)| s.name().to_string()),
        alpha: expansion.map(|(a, _)| a.get()),
        hidden: model.layers()[0].out_dim(),
        nnz: model.nnz(),
        test_acc_at_split,
        test_acc: accuracy(&model, test),
        train_acc: accuracy(&model, train),
        curve,
        metrics,
        clause_capacity,
        rewired: (cfg.rewiring.is_some() && expansion.is_some())
            .then(|| rewiring.iter().map(|u| u.moved).sum()),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok(PostOutcome {
        record,
        model,
        expansion: report,
        rewiring,
        phase,
    })
}
