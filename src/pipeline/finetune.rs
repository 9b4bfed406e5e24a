//! FPE on a user's own trained model and data (`neurosplit finetune`, Python's `finetune`): optionally expand
//! the model, train it on at the fixed non-zero budget (masks fixed, or rewiring), evaluate, and report it beside
//! its baseline: the same model **not** expanded, trained for the same epochs from the same start with the same
//! batch order. With `trials > 1` every trial draws its own batch order and split, and the report gives mean ±
//! SEM of both and a paired t-test, as `reproduce` does.
//!
//! The training is the trial pipeline's post-split stage ([`trial::post_stage`]), so a fine-tuned model is
//! trained exactly as an FPE model of an experiment is.
//!
//! **Saving first.** The trained model of trial 0 goes to the caller's `save` as soon as it is trained, before
//! the baseline, the other trials and the interference metrics, so no later failure loses it.
//!
//! **Checkpoints.** With a checkpoint path, trial 0's model is written (atomically) after every epoch beside a
//! small JSON state that records a digest of everything that determines the run: the settings, the seed, the
//! model as loaded and the data. A run started again with the same path and the same inputs resumes from the last
//! finished epoch (the weights and masks are the checkpoint's, the optimizer's moments start afresh and the
//! remaining epochs draw their batches from a stream named by the resume epoch, so a resumed run is deterministic
//! but not bit-identical to an uninterrupted one); a checkpoint of any other run is refused, naming what to do.
//! The baseline and the further trials are not checkpointed: they run again on resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Splits;
use crate::error::{Error, Result};
use crate::expand::DeepReport;
use crate::io::{self, ModelMeta};
use crate::nn::{accuracy, Mlp};
use crate::pipeline::trial::{self, Event, PostOutcome, Streams, TrialConfig};
use crate::rng::{self, fnv1a};
use crate::stats;

/// The most trials one `finetune` runs.
pub const MAX_TRIALS: usize = 1000;

/// One fine-tuning run: what [`finetune`] takes.
#[derive(Clone, Copy, Debug)]
pub struct Finetune<'a> {
    /// The trained model as loaded.
    pub model: &'a Mlp,
    /// Its data, labelled for its task ([`Splits::for_task`]).
    pub data: &'a Splits,
    /// The settings ([`super::Settings::build`]): one expansion or none; `post` is the retraining.
    pub cfg: &'a TrialConfig,
    /// The base seed of the split and the batch order.
    pub seed: u64,
    /// Trials, each with its own batch order and split (at least 1).
    pub trials: usize,
    /// Also train the model as loaded (not expanded) for the same epochs from the same start: the baseline. Only
    /// with an expansion.
    pub baseline: bool,
    /// Trial 0's checkpoint, written after every epoch and resumed from when it exists.
    pub checkpoint: Option<&'a Path>,
}

/// Accuracy of one model over the trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trials {
    /// Final test accuracy of every trial, trial 0 first.
    pub test_acc: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their standard error (0 with one trial).
    pub sem: f64,
}

impl Trials {
    fn of(test_acc: Vec<f64>) -> Trials {
        Trials {
            mean: stats::mean(&test_acc),
            sem: if test_acc.len() > 1 {
                stats::sem(&test_acc)
            } else {
                0.0
            },
            test_acc,
        }
    }
}

/// The fine-tuned model against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Mean of the per-trial differences (fine-tuned - baseline) of test accuracy, in points of accuracy (0..1).
    pub gain: f64,
    /// Its standard error over the trials.
    pub gain_sem: f64,
    /// Mean of the per-trial relative improvements `acc / baseline acc`.
    pub relative_improvement: f64,
    /// Its standard error over the trials.
    pub relative_improvement_sem: f64,
    /// Two-sided p-value of the paired t-test over the trials (`None` with fewer than two trials or no spread).
    pub paired_p: Option<f64>,
}

/// One model's training history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// `(epoch, mean training loss)` of every epoch of this run.
    pub loss: Vec<(usize, f32)>,
    /// `(epoch, test accuracy)` after every epoch of this run.
    pub test_acc: Vec<(usize, f64)>,
    /// `(epoch, validation accuracy)` after every epoch, with a validation set.
    pub val_acc: Vec<(usize, f64)>,
}

/// What [`finetune`] reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneReport {
    /// Widths of the model as loaded.
    pub dims_before: Vec<usize>,
    /// Widths after the expansion (as loaded without one).
    pub dims_after: Vec<usize>,
    /// Live weights as loaded.
    pub nnz_before: usize,
    /// Live weights at the end (equal to `nnz_before`).
    pub nnz_after: usize,
    /// The expansion, e.g. `random, alpha 2` (none without one).
    pub expansion_name: Option<String>,
    /// Test accuracy of the model as loaded.
    pub test_acc_before: f64,
    /// Test accuracy right after the split (as loaded without one).
    pub test_acc_at_split: f64,
    /// Test accuracy of trial 0 after retraining.
    pub test_acc_after: f64,
    /// Training accuracy of trial 0 after retraining.
    pub train_acc_after: f64,
    /// Validation accuracy as loaded and after retraining (trial 0), with a validation set.
    pub val_acc: Option<(f64, f64)>,
    /// The expansion's accounting.
    pub expansion: Option<DeepReport>,
    /// Interference metrics of trial 0's final model, by name.
    pub metrics: BTreeMap<String, f64>,
    /// The metrics that could not be computed, and why (the model is saved regardless).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_errors: Vec<String>,
    /// `(epoch, test accuracy)` of trial 0 after every epoch (epochs counted from the start of the run, also when
    /// resumed).
    pub curve: Vec<(usize, f64)>,
    /// Trial 0's training history (this run's epochs).
    pub history: History,
    /// Epochs trained in total (with a resumed run: including those before the interruption).
    pub epochs: usize,
    /// The epoch a resumed run started from.
    pub resumed_from: Option<usize>,
    /// Weights moved by rewiring in this run.
    pub rewired: Option<usize>,
    /// The fine-tuned model over the trials.
    pub trials: Trials,
    /// The baseline over the same trials: the model as loaded, trained as long without expansion.
    pub baseline: Option<Trials>,
    /// The baseline's training history in trial 0.
    pub baseline_history: Option<History>,
    /// The fine-tuned model against the baseline.
    pub comparison: Option<Comparison>,
}

/// The JSON state written beside a checkpoint model.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CheckpointState {
    /// Digest of everything that determines the run ([`run_digest`]).
    run: String,
    epoch: usize,
    epochs: usize,
    dims_before: Vec<usize>,
    nnz_before: usize,
    test_acc_before: f64,
    test_acc_at_split: f64,
    val_acc_before: Option<f64>,
    expansion: Option<DeepReport>,
}

fn state_path(checkpoint: &Path) -> PathBuf {
    let mut p = checkpoint.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

/// A digest of the settings, seed, model and data of a run: equal digests, the same run.
fn run_digest(job: &Finetune<'_>) -> String {
    let mut bytes = format!("{:?} seed={} ", job.cfg.without_threads(), job.seed).into_bytes();
    for l in job.model.layers() {
        bytes.extend(l.weight().iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(l.bias().iter().flat_map(|v| v.to_le_bytes()));
        if let Some(m) = l.mask() {
            bytes.extend(m.to_bools().iter().map(|&b| u8::from(b)));
        }
    }
    for d in [&job.data.train, &job.data.test] {
        bytes.extend(d.x.iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(d.y.iter().flat_map(|v| v.to_le_bytes()));
    }
    format!("{:016x}", fnv1a(&bytes))
}

/// Reads the checkpoint state of `checkpoint`, if there is one, and checks that it belongs to this run.
fn resume_state(job: &Finetune<'_>, checkpoint: &Path) -> Result<Option<(Mlp, CheckpointState)>> {
    let state = state_path(checkpoint);
    if !state.is_file() {
        return Ok(None);
    }
    let shown = checkpoint.display();
    let text = crate::limits::read_text(&state)?;
    let s: CheckpointState = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            "checkpoint",
            format!(
                "{} is not a checkpoint state ({e}); delete it and {shown} to start afresh",
                state.display()
            ),
        )
    })?;
    if s.run != run_digest(job) {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "{shown} was written by another run (its settings, seed, model or data differ from this one's: \
                 {} epochs from a {:?} model then; {} epochs from {:?} now); resume with the same command, or \
                 delete {shown} and {} or pass another --checkpoint path",
                s.epochs,
                s.dims_before,
                job.cfg.post.epochs,
                job.model.dims(),
                state.display()
            ),
        ));
    }
    if s.epoch > s.epochs || s.epochs != job.cfg.post.epochs {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "{} records epoch {} of {}: it is damaged; delete it and {shown}",
                state.display(),
                s.epoch,
                s.epochs
            ),
        ));
    }
    if s.epoch == s.epochs {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "{shown} already holds all {} epochs: the run is finished (its model is {shown})",
                s.epochs
            ),
        ));
    }
    let (m, _) = io::load(checkpoint)?;
    let expect = match &s.expansion {
        Some(x) => x.dims_after.clone(),
        None => job.model.dims(),
    };
    if m.dims() != expect || m.nnz() != s.nnz_before {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "{shown} holds a {:?} model with {} non-zero weights, not the {expect:?} model with {} that its state \
                 describes; delete it and {}",
                m.dims(),
                m.nnz(),
                s.nnz_before,
                state.display()
            ),
        ));
    }
    Ok(Some((m, s)))
}

fn check(job: &Finetune<'_>) -> Result<()> {
    if job.trials == 0 || job.trials > MAX_TRIALS {
        return Err(Error::invalid(
            "trials",
            format!("{} is not in 1..={MAX_TRIALS}", job.trials),
        ));
    }
    if job.cfg.expansions.len() > 1 {
        return Err(Error::invalid(
            "expansions",
            "finetune makes at most one expansion",
        ));
    }
    let train = &job.data.train;
    if train.d != job.model.input_dim() {
        return Err(Error::invalid(
            "data",
            format!(
                "the model takes {} inputs but the data has {} features",
                job.model.input_dim(),
                train.d
            ),
        ));
    }
    Ok(())
}

/// Fine-tunes `job.model` (see the module docs). `save` receives trial 0's trained model before anything else
/// that could fail; `on_event` sees the pipeline's events of trial 0's fine-tuned model. Returns the final model
/// and the report.
pub fn finetune(
    job: &Finetune<'_>,
    on_event: &(dyn Fn(Event<'_>) + Sync),
    save: &mut (dyn FnMut(&Mlp) -> Result<()> + Send),
) -> Result<(Mlp, FinetuneReport)> {
    check(job)?;
    super::with_threads(job.cfg.threads, || run(job, on_event, save))?
}

fn run(
    job: &Finetune<'_>,
    on_event: &(dyn Fn(Event<'_>) + Sync),
    save: &mut (dyn FnMut(&Mlp) -> Result<()> + Send),
) -> Result<(Mlp, FinetuneReport)> {
    let (model, data, cfg, seed) = (job.model, job.data, job.cfg, job.seed);
    let (train, test) = (&data.train, &data.test);
    let val_acc = |m: &Mlp| data.val.as_ref().map(|v| accuracy(m, v));
    let resume = job
        .checkpoint
        .map(|c| resume_state(job, c))
        .transpose()?
        .flatten();
    let base = resume.as_ref().map(|(_, s)| s.clone());
    // The metrics come after the model is saved; training runs without them.
    let mut run_cfg = TrialConfig {
        metrics: Vec::new(),
        curve_every: 1,
        ..cfg.clone()
    };
    let (start_model, streams) = match &resume {
        Some((m, s)) => {
            run_cfg.expansions.clear();
            // The expanded model is already in the checkpoint: rewiring needs an expansion in the pipeline's
            // terms, so the masks stay fixed for the remaining epochs.
            run_cfg.rewiring = None;
            run_cfg.post.epochs = s.epochs - s.epoch;
            let resumed = Streams {
                seed: rng::derive_seed(seed, &[fnv1a(b"resume")]),
                trial: s.epoch as u64,
            };
            (m.clone(), resumed)
        }
        None => (model.clone(), Streams { seed, trial: 0 }),
    };
    let test_acc_before = base
        .as_ref()
        .map_or_else(|| accuracy(model, test), |s| s.test_acc_before);
    let val_before = base
        .as_ref()
        .map_or_else(|| val_acc(model), |s| s.val_acc_before);
    let offset = base.as_ref().map_or(0, |s| s.epoch);
    let digest = job.checkpoint.map(|_| run_digest(job));
    let at_split = std::sync::Mutex::new(None::<(f64, Option<DeepReport>)>);
    let save_error = std::sync::Mutex::new(None::<Error>);
    let val_curve = std::sync::Mutex::new(Vec::new());
    let on = |e: Event<'_>| {
        match &e {
            Event::Split { wide, report, .. } => {
                *at_split.lock().expect("not poisoned") =
                    Some((accuracy(wide, test), Some((*report).clone())));
            }
            Event::Snapshot {
                epoch, model: m, ..
            } => {
                if let Some(v) = val_acc(m) {
                    val_curve
                        .lock()
                        .expect("not poisoned")
                        .push((offset + epoch, v));
                }
                if let (Some(path), Some(run)) = (job.checkpoint, &digest) {
                    let split = at_split.lock().expect("not poisoned").clone();
                    let state = CheckpointState {
                        run: run.clone(),
                        epoch: offset + epoch,
                        epochs: cfg.post.epochs,
                        dims_before: model.dims(),
                        nnz_before: model.nnz(),
                        test_acc_before,
                        test_acc_at_split: base.as_ref().map_or_else(
                            || split.as_ref().map_or(test_acc_before, |s| s.0),
                            |s| s.test_acc_at_split,
                        ),
                        val_acc_before: val_before,
                        expansion: base
                            .as_ref()
                            .map_or_else(|| split.and_then(|s| s.1), |s| s.expansion.clone()),
                    };
                    let result = io::save(path, m, &ModelMeta::default()).and_then(|()| {
                        let text = serde_json::to_string_pretty(&state)?;
                        io::atomic::write(state_path(path), text)
                    });
                    if let Err(err) = result {
                        save_error.lock().expect("not poisoned").get_or_insert(err);
                    }
                }
            }
            _ => {}
        }
        on_event(e);
    };
    let out = trial::post_stage(&run_cfg, &start_model, train, test, streams, &on)?;
    if let Some(e) = save_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    save(&out.model)?;
    let split = at_split.into_inner().expect("not poisoned");
    let (test_acc_at_split, expansion) = match &base {
        Some(s) => (s.test_acc_at_split, s.expansion.clone()),
        None => match split {
            Some((a, r)) => (a, r),
            None => (test_acc_before, None),
        },
    };
    let history = History {
        loss: shift(&out.phase.losses, offset),
        test_acc: shift(&out.record.curve, offset),
        val_acc: val_curve.into_inner().expect("not poisoned"),
    };

    // The baseline and the other trials: quiet, without checkpoints or metrics.
    let expanded = !cfg.expansions.is_empty();
    let baseline = job.baseline && expanded;
    let quiet = |_: Event<'_>| {};
    let fresh = TrialConfig {
        metrics: Vec::new(),
        curve_every: 1,
        ..cfg.clone()
    };
    let dense_cfg = TrialConfig {
        expansions: Vec::new(),
        rewiring: None,
        ..fresh.clone()
    };
    let mut fpe_acc = vec![out.record.test_acc];
    let mut dense_acc = Vec::new();
    let mut baseline_history = None;
    for t in 0..job.trials {
        let streams = Streams {
            seed,
            trial: t as u64,
        };
        if t > 0 {
            let o = trial::post_stage(&fresh, model, train, test, streams, &quiet)?;
            fpe_acc.push(o.record.test_acc);
        }
        if baseline {
            let o: PostOutcome =
                trial::post_stage(&dense_cfg, model, train, test, streams, &quiet)?;
            if t == 0 {
                baseline_history = Some(History {
                    loss: o.phase.losses.clone(),
                    test_acc: o.record.curve.clone(),
                    val_acc: Vec::new(),
                });
            }
            dense_acc.push(o.record.test_acc);
        }
    }
    let comparison = baseline.then(|| compare(&fpe_acc, &dense_acc));
    // Optional analysis, after the model is saved: a metric that cannot be computed (e.g. a Gram matrix above
    // the memory budget) is reported, not fatal.
    let mut metrics = BTreeMap::new();
    let mut metric_errors = Vec::new();
    for m in crate::metrics::Metric::ALL {
        match trial::measure(&[m], &out.model, train) {
            Ok((values, _)) => metrics.extend(values),
            Err(e) => metric_errors.push(format!("{}: {e}", m.name())),
        }
    }
    let report = FinetuneReport {
        dims_before: model.dims(),
        dims_after: out.model.dims(),
        nnz_before: model.nnz(),
        nnz_after: out.model.nnz(),
        expansion_name: cfg
            .expansions
            .first()
            .map(|(a, s)| format!("{s}, alpha {a}")),
        test_acc_before,
        test_acc_at_split,
        test_acc_after: out.record.test_acc,
        train_acc_after: out.record.train_acc,
        val_acc: val_before.zip(val_acc(&out.model)),
        expansion,
        metrics,
        metric_errors,
        curve: history.test_acc.clone(),
        history,
        epochs: offset + run_cfg.post.epochs,
        resumed_from: base.map(|s| s.epoch),
        rewired: out.record.rewired,
        trials: Trials::of(fpe_acc),
        baseline: baseline.then(|| Trials::of(dense_acc)),
        baseline_history,
        comparison: comparison.transpose()?,
    };
    Ok((out.model, report))
}

fn shift<T: Copy>(curve: &[(usize, T)], offset: usize) -> Vec<(usize, T)> {
    curve.iter().map(|&(e, v)| (e + offset, v)).collect()
}

fn compare(fpe: &[f64], dense: &[f64]) -> Result<Comparison> {
    let gains: Vec<f64> = fpe.iter().zip(dense).map(|(a, b)| a - b).collect();
    let ri = fpe
        .iter()
        .zip(dense)
        .map(|(&a, &b)| crate::metrics::relative_improvement(a, b))
        .collect::<Result<Vec<f64>>>()?;
    let sem = |x: &[f64]| if x.len() > 1 { stats::sem(x) } else { 0.0 };
    Ok(Comparison {
        gain: stats::mean(&gains),
        gain_sem: sem(&gains),
        relative_improvement: stats::mean(&ri),
        relative_improvement_sem: sem(&ri),
        paired_p: stats::paired_t_test(fpe, dense).map(|(_, _, p)| p),
    })
}
