//! FPE on a user's own trained model and data (`neurosplit finetune`, the Python `finetune`): optionally expand
//! the model, train it on at the fixed non-zero budget (masks fixed, or rewiring), evaluate, report.
//!
//! The training is the trial pipeline's post-split stage ([`trial::post_stage`]), so a fine-tuned model is
//! trained exactly as an FPE model of an experiment is. With a checkpoint path, the model is written
//! (atomically) after every epoch beside a small JSON state; a run started again with the same path resumes
//! from the last finished epoch: the weights and masks are those of the checkpoint, the optimizer's moments
//! start afresh and the remaining epochs draw their batches from a stream named by the resume epoch, so a
//! resumed run is deterministic but not bit-identical to an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Splits};
use crate::error::{Error, Result};
use crate::expand::DeepReport;
use crate::experiment::trial::{self, Event, Streams, TrialConfig};
use crate::io::{self, ModelMeta};
use crate::nn::{accuracy, Mlp};

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
    /// Test accuracy of the model as loaded.
    pub test_acc_before: f64,
    /// Test accuracy right after the split (as loaded without one).
    pub test_acc_at_split: f64,
    /// Test accuracy after retraining.
    pub test_acc_after: f64,
    /// Training accuracy after retraining.
    pub train_acc_after: f64,
    /// Validation accuracy as loaded and after retraining, with a validation set.
    pub val_acc: Option<(f64, f64)>,
    /// The expansion's accounting.
    pub expansion: Option<DeepReport>,
    /// Interference metrics of the final model, by name.
    pub metrics: BTreeMap<String, f64>,
    /// `(epoch, test accuracy)` after every epoch of this run.
    pub curve: Vec<(usize, f64)>,
    /// Epochs trained in total (with a resumed run: including those before the interruption).
    pub epochs: usize,
    /// The epoch a resumed run started from.
    pub resumed_from: Option<usize>,
    /// Weights moved by rewiring in this run.
    pub rewired: Option<usize>,
}

/// The JSON state written beside a checkpoint model.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CheckpointState {
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

/// Fine-tunes `model` on `data` (already labelled for the model's task, see [`Splits::for_task`]) with the
/// post-split settings of `cfg` (one expansion or none; `cfg.post` is the retraining) and the base `seed`;
/// `checkpoint`, if given, is written after every epoch and resumed from when it exists. `on_event` sees the
/// pipeline's events. Returns the final model and the report.
pub fn finetune(
    model: &Mlp,
    data: &Splits,
    cfg: &TrialConfig,
    seed: u64,
    checkpoint: Option<&Path>,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<(Mlp, FinetuneReport)> {
    let (train, test) = (&data.train, &data.test);
    let val_acc = |m: &Mlp| data.val.as_ref().map(|v| accuracy(m, v));
    let resume = match checkpoint.map(state_path).filter(|p| p.is_file()) {
        Some(state) => {
            let text = String::from_utf8(crate::limits::read_file(&state)?).map_err(|_| {
                Error::invalid(
                    "checkpoint",
                    format!("{} is not UTF-8 text", state.display()),
                )
            })?;
            let s: CheckpointState = serde_json::from_str(&text).map_err(|e| {
                Error::invalid(
                    "checkpoint",
                    format!(
                        "{} is not a checkpoint state ({e}); delete it to start afresh",
                        state.display()
                    ),
                )
            })?;
            let ckpt = checkpoint.expect("state exists only with a checkpoint");
            let (m, _) = io::load(ckpt)?;
            if s.epochs != cfg.post.epochs || s.dims_before != model.dims() {
                return Err(Error::invalid(
                    "checkpoint",
                    format!(
                        "{} belongs to another run ({} epochs from a {:?} model; this run asks for {} epochs from {:?}); \
                         delete it or pass another checkpoint path",
                        ckpt.display(), s.epochs, s.dims_before, cfg.post.epochs, model.dims()
                    ),
                ));
            }
            Some((m, s))
        }
        None => None,
    };
    let (start_model, run_cfg, streams, base) = match &resume {
        Some((m, s)) => {
            let mut c = cfg.clone();
            c.expansions.clear();
            c.post.epochs = s.epochs - s.epoch;
            (
                m.clone(),
                c,
                Streams {
                    seed,
                    trial: s.epoch as u64,
                },
                Some(s.clone()),
            )
        }
        None => (model.clone(), cfg.clone(), Streams { seed, trial: 0 }, None),
    };
    let test_acc_before = base
        .as_ref()
        .map_or_else(|| accuracy(model, test), |s| s.test_acc_before);
    let val_before = base
        .as_ref()
        .map_or_else(|| val_acc(model), |s| s.val_acc_before);
    let offset = base.as_ref().map_or(0, |s| s.epoch);
    let mut run_cfg = run_cfg;
    run_cfg.curve_every = 1;
    if run_cfg.post.epochs == 0 {
        return Err(Error::invalid(
            "epochs",
            "the checkpoint already holds every epoch: the run is finished",
        ));
    }
    // With a resumed run and rewiring, rewiring needs an expansion in the pipeline's terms: the checkpoint is
    // already expanded, so the masks stay fixed for the remaining epochs.
    if base.is_some() {
        run_cfg.rewiring = None;
    }
    let at_split = std::sync::Mutex::new(None::<(f64, Option<DeepReport>)>);
    let save_error = std::sync::Mutex::new(None::<Error>);
    let on = |e: Event<'_>| {
        match &e {
            Event::Split { wide, report, .. } => {
                *at_split.lock().expect("not poisoned") =
                    Some((accuracy(wide, test), Some((*report).clone())));
            }
            Event::Snapshot {
                epoch, model: m, ..
            } => {
                if let Some(path) = checkpoint {
                    let split = at_split.lock().expect("not poisoned").clone();
                    let state = CheckpointState {
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
                        let sp = state_path(path);
                        io::atomic::write(&sp, text)
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
    let train_g: Dataset = train.clone();
    let out = trial::post_stage(&run_cfg, &start_model, &train_g, test, streams, &on)?;
    if let Some(e) = save_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let split = at_split.into_inner().expect("not poisoned");
    let (test_acc_at_split, expansion) = match &base {
        Some(s) => (s.test_acc_at_split, s.expansion.clone()),
        None => match split {
            Some((a, r)) => (a, r),
            None => (test_acc_before, None),
        },
    };
    let report = FinetuneReport {
        dims_before: model.dims(),
        dims_after: out.model.dims(),
        nnz_before: model.nnz(),
        nnz_after: out.model.nnz(),
        test_acc_before,
        test_acc_at_split,
        test_acc_after: out.record.test_acc,
        train_acc_after: out.record.train_acc,
        val_acc: val_before.zip(val_acc(&out.model)),
        expansion,
        metrics: out.record.metrics.clone(),
        curve: out
            .record
            .curve
            .iter()
            .map(|&(e, a)| (e + offset, a))
            .collect(),
        epochs: offset + run_cfg.post.epochs,
        resumed_from: base.map(|s| s.epoch),
        rewired: out.record.rewired,
    };
    Ok((out.model, report))
}
