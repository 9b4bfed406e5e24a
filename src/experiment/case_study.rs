//! The case study of Sec. 3.1: a dense MLP trained on 8 clauses x 4 literals, then either trained on (dense),
//! or expanded with a clause-aligned or a random split and trained on at the same non-zero budget.
//!
//! Protocol per trial (the trial's seed derives every stream, see [`crate::rng`]):
//! 1. generate train and test sets (Alg. A2);
//! 2. train the dense model (`h` neurons) for `pre_epochs`;
//! 3. from that model, train three for `post_epochs` each, with a fresh Adam and the same batch order:
//!    the dense model itself (same total training as the others), a clause-split FPE model and a random-split
//!    FPE model (`alpha * h` neurons, same non-zero weight count).
//!
//! Trials and the three post-split models run in parallel; each one is sequential inside, so results are
//! bit-identical whatever the thread count.

use std::time::Instant;

use rayon::prelude::*;

use crate::data::{Dataset, Dnf};
use crate::error::{Error, Result};
use crate::expand::{expand, FpeConfig, FpeReport, Strategy};
use crate::metrics;
use crate::nn::{accuracy, Mlp, TrainConfig, Trainer};
use crate::rng::{self, purpose};
use crate::stats;

/// Settings of the case study; defaults are the paper's.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseStudyConfig {
    /// Number of clauses `C` (paper: 8).
    pub clauses: usize,
    /// Literals per clause `k` (paper: 4).
    pub k: usize,
    /// Hidden neurons of the dense model `h` (paper: 8).
    pub neurons: usize,
    /// Expansion factor (paper: 2).
    pub alpha: usize,
    /// Epochs before the split (paper: 1000).
    pub pre_epochs: usize,
    /// Epochs after the split (paper: 1000).
    pub post_epochs: usize,
    /// Independent trials (paper: 5).
    pub trials: usize,
    /// Base seed; trial `t` uses streams derived from `(seed, t)`.
    pub seed: u64,
    /// Training samples (not given by the paper; 10 000 as the PyTorch reference).
    pub n_train: usize,
    /// Test samples (not given by the paper; 2 000 as the PyTorch reference).
    pub n_test: usize,
    /// Optimiser settings shared by both phases (`epochs` is ignored: see `pre_epochs`/`post_epochs`).
    pub train: TrainConfig,
}

impl Default for CaseStudyConfig {
    fn default() -> Self {
        CaseStudyConfig {
            clauses: 8,
            k: 4,
            neurons: 8,
            alpha: 2,
            pre_epochs: 1000,
            post_epochs: 1000,
            trials: 5,
            seed: 0,
            n_train: 10_000,
            n_test: 2_000,
            train: TrainConfig::default(),
        }
    }
}

/// One model's outcome in one trial.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelResult {
    /// `dense`, `clause` or `random`.
    pub model: String,
    /// Hidden width.
    pub hidden: usize,
    /// Live weights (the non-zero budget).
    pub nnz: usize,
    /// Test accuracy right after the split (for `dense`: before phase 2).
    pub test_acc_at_split: f64,
    /// Test accuracy at the end.
    pub test_acc: f64,
    /// Training accuracy at the end.
    pub train_acc: f64,
    /// Expansion accounting (FPE models only).
    pub fpe: Option<FpeReport>,
    /// Seconds spent in phase 2.
    pub seconds: f64,
    /// Total feature capacity `sum_i C_i` of the first layer at the end (see [`crate::metrics`]).
    #[serde(default)]
    pub capacity_total: f64,
    /// Mean pairwise cosine similarity of the first layer's neurons at the end (see [`crate::metrics`]).
    #[serde(default)]
    pub mean_cosine: f64,
}

/// One trial's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrialResult {
    /// Trial index.
    pub trial: usize,
    /// The trial's derived seed.
    pub seed: u64,
    /// Test accuracy of the dense model after `pre_epochs`.
    pub pre_test_acc: f64,
    /// Live weights of the dense model.
    pub pre_nnz: usize,
    /// Seconds spent generating data and in phase 1.
    pub pre_seconds: f64,
    /// Phase-2 models: `dense`, `clause`, `random`.
    pub models: Vec<ModelResult>,
}

/// Mean and standard error of one model over trials.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Row label.
    pub model: String,
    /// Hidden width.
    pub hidden: usize,
    /// Live weights (equal in every trial).
    pub nnz: usize,
    /// Mean test accuracy.
    pub mean: f64,
    /// Standard error of the mean.
    pub sem: f64,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseStudyResult {
    /// The settings.
    pub config: CaseStudyConfig,
    /// Per-trial results, in trial order.
    pub trials: Vec<TrialResult>,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
}

const POST_MODELS: [(&str, Option<Strategy>); 3] = [
    ("dense", None),
    ("clause", Some(Strategy::Clause)),
    ("random", Some(Strategy::Random)),
];

impl CaseStudyConfig {
    /// Checks every setting, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        let dnf = Dnf::with_clauses(self.clauses, self.k)?;
        if self.neurons == 0 {
            return Err(Error::invalid("neurons", "must be at least 1"));
        }
        if self.alpha < 2 {
            return Err(Error::invalid(
                "alpha",
                format!(
                    "{} is too small: FPE splits each neuron into alpha >= 2",
                    self.alpha
                ),
            ));
        }
        if self.alpha > dnf.clauses() {
            return Err(Error::invalid(
                "alpha",
                format!("a clause split deals {} clauses to {} children, leaving some empty: use alpha <= {}", dnf.clauses(), self.alpha, dnf.clauses()),
            ));
        }
        if self.pre_epochs == 0 || self.post_epochs == 0 {
            return Err(Error::invalid(
                "epochs",
                "both phases need at least one epoch",
            ));
        }
        if self.trials == 0 {
            return Err(Error::invalid("trials", "must be at least 1"));
        }
        if self.n_train == 0 || self.n_test == 0 {
            return Err(Error::invalid(
                "samples",
                "train and test sets need at least one sample each",
            ));
        }
        TrainConfig {
            epochs: 1,
            ..self.train
        }
        .validate()
    }

    fn phase(&self, epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            ..self.train
        }
    }
}

/// Generates a trial's train and test sets.
pub fn trial_data(cfg: &CaseStudyConfig, trial: usize) -> Result<(Dataset, Dataset)> {
    let dnf = Dnf::with_clauses(cfg.clauses, cfg.k)?;
    let t = trial as u64;
    let train = dnf.generate(
        cfg.n_train,
        &mut rng::stream(cfg.seed, &[t, purpose::DATA_TRAIN]),
    )?;
    let test = dnf.generate(
        cfg.n_test,
        &mut rng::stream(cfg.seed, &[t, purpose::DATA_TEST]),
    )?;
    Ok((train, test))
}

/// Runs one trial (sequentially inside, except that the three post-split models run in parallel).
pub fn run_trial(cfg: &CaseStudyConfig, trial: usize) -> Result<TrialResult> {
    cfg.validate()?;
    let t = trial as u64;
    let start = Instant::now();
    let (train, test) = trial_data(cfg, trial)?;
    let dims = [train.d, cfg.neurons, train.task.outputs()];
    let mut dense = Mlp::new(
        &dims,
        train.task,
        &mut rng::stream(cfg.seed, &[t, purpose::INIT]),
    )?;
    let mut trainer = Trainer::new(&dense, cfg.phase(cfg.pre_epochs))?;
    trainer.fit(
        &mut dense,
        &train,
        &mut rng::stream(cfg.seed, &[t, purpose::SHUFFLE_PRE]),
        |_, _| {},
    );
    let pre_test_acc = accuracy(&dense, &test);
    let pre_seconds = start.elapsed().as_secs_f64();

    let models = POST_MODELS
        .par_iter()
        .enumerate()
        .map(|(i, &(name, strategy))| -> Result<ModelResult> {
            let start = Instant::now();
            let (mut model, fpe) = match strategy {
                None => (dense.clone(), None),
                Some(strategy) => {
                    let fcfg = FpeConfig {
                        alpha: cfg.alpha,
                        strategy,
                        layer: 0,
                    };
                    let mut split_rng = rng::stream(cfg.seed, &[t, purpose::SPLIT, i as u64]);
                    let (m, r) = expand(&dense, &fcfg, train.groups.as_deref(), &mut split_rng)?;
                    (m, Some(r))
                }
            };
            let test_acc_at_split = accuracy(&model, &test);
            let mut trainer = Trainer::new(&model, cfg.phase(cfg.post_epochs))?;
            trainer.fit(
                &mut model,
                &train,
                &mut rng::stream(cfg.seed, &[t, purpose::SHUFFLE_POST]),
                |_, _| {},
            );
            Ok(ModelResult {
                model: name.to_string(),
                hidden: model.layers[0].out_dim,
                nnz: model.nnz(),
                test_acc_at_split,
                test_acc: accuracy(&model, &test),
                train_acc: accuracy(&model, &train),
                fpe,
                seconds: start.elapsed().as_secs_f64(),
                capacity_total: metrics::feature_capacity(&model.layers[0]).iter().sum(),
                mean_cosine: metrics::mean_cosine(&model.layers[0]),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TrialResult {
        trial,
        seed: rng::derive_seed(cfg.seed, &[t]),
        pre_test_acc,
        pre_nnz: dense.nnz(),
        pre_seconds,
        models,
    })
}

/// Runs every trial on a pool of `threads` threads (0 = all cores), calling `on_trial` as each finishes.
pub fn run(
    cfg: &CaseStudyConfig,
    threads: usize,
    on_trial: impl Fn(&TrialResult) + Sync,
) -> Result<CaseStudyResult> {
    cfg.validate()?;
    let start = Instant::now();
    let trials = super::with_threads(threads, || {
        (0..cfg.trials)
            .into_par_iter()
            .map(|t| {
                let r = run_trial(cfg, t)?;
                on_trial(&r);
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()
    })??;
    Ok(CaseStudyResult {
        config: cfg.clone(),
        trials,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

impl CaseStudyResult {
    /// Mean +- SEM of test accuracy per model, with the dense model before phase 2 first.
    pub fn summary(&self) -> Vec<Summary> {
        let pre: Vec<f64> = self.trials.iter().map(|t| t.pre_test_acc).collect();
        let mut rows = vec![Summary {
            model: format!("dense @ {} epochs (before split)", self.config.pre_epochs),
            hidden: self.config.neurons,
            nnz: self.trials.first().map_or(0, |t| t.pre_nnz),
            mean: stats::mean(&pre),
            sem: stats::sem(&pre),
        }];
        let total = self.config.pre_epochs + self.config.post_epochs;
        for (i, (name, _)) in POST_MODELS.iter().enumerate() {
            let accs: Vec<f64> = self.trials.iter().map(|t| t.models[i].test_acc).collect();
            let first = &self.trials[0].models[i];
            let label = match *name {
                "dense" => format!("dense @ {total} epochs"),
                other => format!("FPE {other}-split (alpha={})", self.config.alpha),
            };
            rows.push(Summary {
                model: label,
                hidden: first.hidden,
                nnz: first.nnz,
                mean: stats::mean(&accs),
                sem: stats::sem(&accs),
            });
        }
        rows
    }

    /// Whether every model of every trial has the dense model's non-zero count.
    pub fn budgets_equal(&self) -> bool {
        self.trials
            .iter()
            .all(|t| t.models.iter().all(|m| m.nnz == t.pre_nnz))
    }

    /// The result table as Markdown, with the paper's figures beside ours.
    pub fn table(&self) -> String {
        let paper = ["-", "78.7", "99.4", "88.7"];
        let mut s = String::new();
        s.push_str(
            "| model | hidden | non-zero weights | test accuracy % (mean ± SEM) | paper % |\n",
        );
        s.push_str("|---|---:|---:|---:|---:|\n");
        for (row, p) in self.summary().iter().zip(paper) {
            s.push_str(&format!(
                "| {} | {} | {} | {:.1} ± {:.1} | {} |\n",
                row.model,
                row.hidden,
                row.nnz,
                100.0 * row.mean,
                100.0 * row.sem,
                p
            ));
        }
        s
    }
}
