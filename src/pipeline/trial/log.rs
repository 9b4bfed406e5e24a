//! The trial in words and as data: [`Log`] (what `neurosplit train` prints), [`TrialOutcome::summary`] (its
//! JSON) and [`TrialOutcome::final_model`] (what it saves).

use std::time::Instant;

use super::{Event, Phase, PostOutcome, TrialConfig, TrialOutcome};
use crate::data::Dataset;
use crate::nn::{accuracy, Mlp};

/// The pipeline's progress in words, as `neurosplit train` prints it: one call per [`Event`] (epoch losses every
/// `log_every` epochs and at the end of a phase; 0 = none), then [`Log::post`] per post-split model.
#[derive(Clone, Copy, Debug)]
pub struct Log<'a> {
    /// The trial's configuration.
    pub cfg: &'a TrialConfig,
    /// The training and test sets.
    pub data: (&'a Dataset, &'a Dataset),
    /// Print epoch losses every this many epochs (0 = never).
    pub log_every: usize,
    /// When the trial started (for the dense phase's time).
    pub start: Instant,
}

fn show_formats(formats: &[String]) -> String {
    let layers: Vec<String> = formats
        .iter()
        .enumerate()
        .map(|(l, f)| format!("layer {} {f}", l + 1))
        .collect();
    layers.join(", ")
}

impl<'a> Log<'a> {
    /// A log of a trial of `cfg` on `train` / `test`, from now.
    pub fn new(
        cfg: &'a TrialConfig,
        train: &'a Dataset,
        test: &'a Dataset,
        log_every: usize,
    ) -> Self {
        Log {
            cfg,
            data: (train, test),
            log_every,
            start: Instant::now(),
        }
    }

    /// The lines that describe `event`.
    pub fn event(&self, event: &Event<'_>) -> Vec<String> {
        let (train, test) = self.data;
        match *event {
            Event::Start { model, ref device } => vec![
                format!(
                    "data: {} inputs, {} train / {} test ({:.0}% positive); model {:?}, {} non-zero weights; device {device}",
                    train.d,
                    train.n,
                    test.n,
                    100.0 * train.positive_fraction(),
                    model.dims(),
                    model.nnz()
                ),
                format!("protocol: {}", self.cfg.protocol.describe()),
            ],
            Event::Epoch {
                phase,
                epoch,
                loss,
                of,
            } if self.log_every > 0 && (epoch.is_multiple_of(self.log_every) || epoch == of) => {
                let name = if phase == Phase::Pre { "dense" } else { "fpe" };
                vec![format!("  [{name}] epoch {epoch:>5}/{of}  loss {loss:.4}")]
            }
            Event::Epoch { .. } | Event::Snapshot { .. } => Vec::new(),
            Event::PreTrained {
                model,
                test_acc,
                phase,
            } => vec![
                format!(
                    "formats ({}) before the split: {}",
                    self.cfg.formats,
                    show_formats(&phase.formats)
                ),
                format!(
                    "dense: hidden {:?}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
                    self.cfg.hidden,
                    model.nnz(),
                    100.0 * test_acc,
                    self.start.elapsed().as_secs_f64()
                ),
            ],
            Event::Split {
                index,
                dense,
                wide,
                report,
            } => {
                let (alpha, strategy) = self.cfg.expansions[index - 1];
                let mut lines: Vec<String> = report.steps.iter().map(|(layer, r)| format!(
                    "FPE ({strategy}, alpha = {alpha}) of layer {layer}: width {} -> {}; non-zero weights of layers {layer}-{} {} -> {} after split -> {} after pruning ({} pruned from W{}, {} from W{})",
                    r.width_before, r.width_after, layer + 1, r.budget, r.nnz_after_split, r.nnz_final,
                    r.pruned_in, layer + 1, r.pruned_out, layer + 2,
                )).collect();
                lines.push(format!(
                    "FPE: widths {:?} -> {:?}; network non-zero weights {} -> {}; test accuracy at split {:.2}%",
                    dense.dims(),
                    report.dims_after,
                    report.budget,
                    report.nnz_final,
                    100.0 * accuracy(wide, test)
                ));
                if let Some(c) = train.groups.as_deref() {
                    let (b, a) = (
                        crate::theory::measure_layer(&dense.layers()[0], c),
                        crate::theory::measure_layer(&wide.layers()[0], c),
                    );
                    lines.push(format!(
                        "first layer over {} clauses: covered {} -> {}; clause collisions {} -> {} (ratio {:.4})",
                        c.len(),
                        b.covered,
                        a.covered,
                        b.collisions,
                        a.collisions,
                        a.collisions as f64 / b.collisions.max(1) as f64
                    ));
                }
                lines
            }
        }
    }

    /// The lines that sum up a trained post-split model: its rewiring or its formats, then its result.
    pub fn post(&self, post: &PostOutcome) -> Vec<String> {
        let mut lines = Vec::new();
        match (&self.cfg.rewiring, &post.expansion) {
            (Some(rw), Some(report)) => {
                let moved: usize = post.rewiring.iter().map(|r| r.moved).sum();
                let kept = post.rewiring.iter().all(|r| r.nnz == report.budget);
                lines.push(format!(
                    "rewiring ({}, every {} epochs, fraction {}): {} updates moved {moved} weights; non-zero weights after each update: {}",
                    rw.decay,
                    rw.every,
                    rw.fraction,
                    post.rewiring.len(),
                    if kept { "all equal to the budget" } else { "NOT equal to the budget" }
                ));
            }
            _ => lines.push(format!(
                "formats ({}) after the split: {}",
                self.cfg.formats,
                show_formats(&post.phase.formats)
            )),
        }
        let r = &post.record;
        let name = if r.alpha.is_some() {
            "FPE"
        } else {
            "dense, trained on"
        };
        lines.push(format!(
            "{name}: widths {:?}, {} non-zero weights, test accuracy {:.2}% ({:.1} s)",
            post.model.dims(),
            r.nnz,
            100.0 * r.test_acc,
            r.seconds
        ));
        lines
    }
}

impl TrialOutcome {
    /// The trial as JSON: `dense` (the pre-trained model) and, with an expansion, `fpe` (the first FPE model):
    /// widths, live weights, accuracies, layer formats, the expansion's accounting, the rewiring, and the first
    /// layer's total feature capacity and mean cosine similarity.
    pub fn summary(&self, cfg: &TrialConfig) -> serde_json::Value {
        // The capacity needs the d x d Gram matrix: left out (null) where that is above the memory budget.
        let layer0 = |m: &Mlp| {
            let d = m.input_dim();
            let capacity =
                crate::limits::check_memory("the Gram matrix", crate::limits::bytes_of(&[d, d, 8]))
                    .is_ok()
                    .then(|| {
                        crate::metrics::feature_capacity(&m.layers()[0])
                            .iter()
                            .sum::<f64>()
                    });
            (capacity, crate::metrics::mean_cosine(&m.layers()[0]))
        };
        let (cap, cos) = layer0(&self.dense);
        let mut json = serde_json::json!({
            "config": { "device": cfg.device, "hidden": cfg.hidden, "layernorm": cfg.uses_layernorm(),
                        "pre": cfg.pre, "post": cfg.post, "rewiring": cfg.rewiring, "protocol": cfg.protocol },
            "dense": { "hidden": cfg.hidden, "nnz": self.dense.nnz(), "test_acc": self.pre_test_acc,
                       "formats": self.pre_phase.formats, "capacity_total": cap, "mean_cosine": cos },
        });
        if let Some(post) = self.posts.iter().find(|p| p.expansion.is_none()) {
            json["dense_post"] = serde_json::to_value(&post.record).unwrap_or_default();
        }
        if let Some(post) = self.posts.iter().find(|p| p.expansion.is_some()) {
            let (r, (cap, cos)) = (&post.record, layer0(&post.model));
            let moved: usize = post.rewiring.iter().map(|u| u.moved).sum();
            json["fpe"] = serde_json::json!({
                "strategy": r.model, "alpha": r.alpha, "report": post.expansion, "nnz": r.nnz,
                "test_acc": r.test_acc, "test_acc_at_split": r.test_acc_at_split, "train_acc": r.train_acc,
                "formats": post.phase.formats, "rewiring": { "updates": post.rewiring.len(), "moved": moved },
                "capacity_total": cap, "mean_cosine": cos,
            });
        }
        json
    }

    /// The trial's final model — the first FPE model, else the dense one — and its metadata for
    /// [`crate::io::save`]: the experiment `seed`, the data's feature `groups`, and the model's strategy, alpha
    /// and expanded layer.
    pub fn final_model(
        &self,
        cfg: &TrialConfig,
        seed: u64,
        groups: Option<Vec<Vec<usize>>>,
    ) -> (&Mlp, crate::io::ModelMeta) {
        let meta = crate::io::ModelMeta {
            seed: Some(seed),
            groups,
            ..crate::io::ModelMeta::default()
        };
        let fpe = self.posts.iter().find(|p| p.expansion.is_some());
        match (fpe, cfg.expansions.first()) {
            (Some(post), Some(&(alpha, strategy))) => {
                let expanded_layer = post
                    .expansion
                    .as_ref()
                    .and_then(|e| e.steps.first())
                    .map(|s| s.0);
                let meta = crate::io::ModelMeta {
                    strategy: Some(strategy.to_string()),
                    alpha: Some(alpha.get()),
                    expanded_layer,
                    ..meta
                };
                (&post.model, meta)
            }
            _ => (&self.dense, meta),
        }
    }
}
