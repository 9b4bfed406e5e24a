//! Declarative experiment specs: one TOML file per paper result, in `experiments/`, embedded in the binary
//! and also loadable from a user's path.
//!
//! A spec names a grid — data set axes (DNF clauses), hidden widths, pre-training lengths, depths — and, inside
//! every trial, the post-split models: the dense model trained on, and one FPE model per `alpha` x strategy,
//! all started from the same pre-trained dense model. Unknown keys and bad values are errors that name the
//! key. Strategies and features this build lacks fail in [`Spec::check_available`], the one place to extend
//! when they land.
//!
//! Deep networks (`depth > 2`) have `depth - 1` hidden layers of `neurons` each with LayerNorm before every
//! hidden activation, and are expanded by alternating expansion (hidden layers 0, 2, 4, ...; Sec. A.7);
//! networks with one hidden layer (`depth = 2`) have no LayerNorm, as in the paper's Boolean experiments.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::expand::{Alpha, Strategy};
use crate::kernels::Precision;
use crate::metrics::Metric;
use crate::nn::{Regularizer, TrainConfig};
use crate::pipeline::trial::Protocol;
pub use crate::pipeline::trial::Rewiring;
pub use crate::rng::fnv1a;

/// The specs shipped with neurosplit: `(name, TOML text)`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "case-study",
        include_str!("../../experiments/case-study.toml"),
    ),
    (
        "neurons-sweep",
        include_str!("../../experiments/neurons-sweep.toml"),
    ),
    (
        "clauses-sweep",
        include_str!("../../experiments/clauses-sweep.toml"),
    ),
    ("heatmap", include_str!("../../experiments/heatmap.toml")),
    (
        "capacity-tables",
        include_str!("../../experiments/capacity-tables.toml"),
    ),
    (
        "fashion-mnist",
        include_str!("../../experiments/fashion-mnist.toml"),
    ),
    (
        "embeddings",
        include_str!("../../experiments/embeddings.toml"),
    ),
    (
        "alpha-sweep",
        include_str!("../../experiments/alpha-sweep.toml"),
    ),
    (
        "split-timing",
        include_str!("../../experiments/split-timing.toml"),
    ),
    ("deep", include_str!("../../experiments/deep.toml")),
    ("two-four", include_str!("../../experiments/two-four.toml")),
    ("rewiring", include_str!("../../experiments/rewiring.toml")),
    (
        "protocol-ablation",
        include_str!("../../experiments/protocol-ablation.toml"),
    ),
];

/// Strategies [`Strategy`] knows but a spec cannot use yet: listing one gives a "not available in this build"
/// error. `custom` needs an assignment file per expanded layer, which specs have no key for (use
/// `neurosplit train --strategy custom --assignment FILE`).
pub const PLANNED_STRATEGIES: &[Strategy] = &[Strategy::Custom];

/// One experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Short name (used for the results folder).
    pub name: String,
    /// One-line description.
    pub title: String,
    /// Where the result is in the paper (e.g. `Sec. 3.1`, `Table A1`).
    pub paper_ref: String,
    /// Independent trials per grid cell.
    pub trials: usize,
    /// Base seed; every cell, trial and purpose derives its own stream from it.
    pub seed: u64,
    /// The data.
    pub dataset: DatasetSpec,
    /// Model axes.
    pub model: ModelSpec,
    /// Optimisation settings.
    pub train: TrainSpec,
    /// Optional extras (metrics, rewiring).
    #[serde(default)]
    pub extras: Extras,
    /// Alg. A3's open choices for every cell (`[protocol]`; absent = the paper's reading, see
    /// [`crate::pipeline::trial::protocol`]).
    #[serde(default, skip_serializing_if = "Protocol::is_paper")]
    pub protocol: Protocol,
    /// Protocol variants, a grid axis (`[[variants]]`): every cell runs once under each, with the same seeds,
    /// data and initialisations, so variants compare trial by trial. None = one run under `protocol`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// How the report presents the results (changes no result: not part of the fingerprint).
    #[serde(default, skip_serializing_if = "ReportSpec::is_default")]
    pub report: ReportSpec,
    /// Numbers the paper prints for this experiment, shown beside ours in the report.
    #[serde(default)]
    pub paper: Vec<PaperValue>,
    /// Slices of the grid for a cluster job array (`scripts/slurm-array.sh` reads it when not given `--shards`);
    /// changes no result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
}

/// The data set of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DatasetSpec {
    /// Boolean read-once k-DNF of Alg. A2, freshly generated per trial.
    Dnf {
        /// Clause counts (a grid axis).
        clauses: Vec<usize>,
        /// Literals per clause.
        k: usize,
        /// Training samples per trial.
        n_train: usize,
        /// Test samples per trial.
        n_test: usize,
    },
    /// FashionMNIST from IDX files (standard 60k/10k split).
    FashionMnist {
        /// Folder with the four IDX files (default `/usr/share/datasets/fashion-mnist`).
        #[serde(default)]
        data_dir: Option<PathBuf>,
        /// Use only the first `n_train` training samples (default: all).
        #[serde(default)]
        n_train: Option<usize>,
        /// Use only the first `n_test` test samples (default: all).
        #[serde(default)]
        n_test: Option<usize>,
    },
    /// Pre-computed embeddings (`.npz` or a folder of `.npy`, see [`crate::data::npy`]).
    Embeddings {
        /// The archive or folder.
        path: PathBuf,
        /// Use only the first `n_train` training samples (default: all).
        #[serde(default)]
        n_train: Option<usize>,
        /// Use only the first `n_test` test samples (default: all).
        #[serde(default)]
        n_test: Option<usize>,
    },
}

/// Model axes and the post-split models of every trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Hidden widths of the dense model (a grid axis).
    pub neurons: Vec<usize>,
    /// Expansion factors; every trial trains one FPE model per alpha and strategy.
    pub alpha: Vec<Alpha>,
    /// Split strategies by name (`random`, `clause`, `gram`, `two-four`).
    pub strategies: Vec<Strategy>,
    /// Layers including the output head (2 = one hidden layer; a grid axis).
    #[serde(default = "default_depth")]
    pub depth: Vec<usize>,
    /// LayerNorm before every hidden activation: absent = follows the depth (on for depth > 2), or `true` /
    /// `false` for every cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layernorm: Option<bool>,
}

fn default_depth() -> Vec<usize> {
    vec![2]
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Epochs of dense training before the split (a grid axis).
    pub pre_epochs: Vec<usize>,
    /// Epochs after the split (every post-split model, the dense one included).
    #[serde(default)]
    pub post_epochs: Option<usize>,
    /// Alternatively, total epochs: post = total - pre (for split-timing sweeps).
    #[serde(default)]
    pub total_epochs: Option<usize>,
    /// Samples per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// L1 penalty on the first layer's weights.
    pub l1: f32,
    /// L2 penalty on all parameters.
    pub l2: f32,
    /// Record test accuracy every this many post-split epochs (0 = only at the end).
    #[serde(default)]
    pub curve_every: usize,
    /// Precision of the products: `fp32` (default) or `bf16` (mixed precision, see [`crate::kernels::bf16`]).
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

/// One protocol variant: `[protocol]` with the switches in `set` changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its name (letters, digits, '-', '_'), part of the cell key (`protocol=NAME`).
    pub name: String,
    /// `KEY=VALUE` changes of the protocol (e.g. `["warmup=lr"]`); empty = `[protocol]` itself.
    #[serde(default)]
    pub set: Vec<String>,
}

/// Optional extras.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extras {
    /// Interference metrics to compute on every final model (see [`Metric`]).
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Dynamic mask updates after the split (Sec. A.7).
    #[serde(default)]
    pub rewiring: Option<Rewiring>,
}

/// How the report presents the results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Multiple-comparison correction of the per-cell p-values (every FPE-vs-dense test of the grid is one
    /// family per kind of test): `"none"` (default) or `"holm"`.
    #[serde(default)]
    pub correction: crate::stats::Correction,
}

impl ReportSpec {
    fn is_default(&self) -> bool {
        *self == ReportSpec::default()
    }
}

/// A number the paper prints, and which cell/model/metric it belongs to (absent keys match any cell).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperValue {
    /// `dense`, `dense-pre` or a strategy name.
    pub model: String,
    /// `test_acc` (%), `ri` (relative improvement over dense, %), or a metric name.
    pub metric: String,
    /// The value.
    pub value: f64,
    /// Its error bar, when printed.
    #[serde(default)]
    pub sem: Option<f64>,
    /// Cell keys.
    #[serde(default)]
    pub clauses: Option<usize>,
    /// Hidden width.
    #[serde(default)]
    pub neurons: Option<usize>,
    /// Depth.
    #[serde(default)]
    pub depth: Option<usize>,
    /// Expansion factor.
    #[serde(default)]
    pub alpha: Option<usize>,
}

impl Spec {
    /// Refuses grids and sizes that cannot run before anything is allocated: more than
    /// [`limits::MAX_JOBS`](crate::limits::MAX_JOBS) trials, no strategy, and one trial (its data and its
    /// dense and expanded models, trained side by side) above the memory budget of [`crate::limits`].
    /// Data sets loaded from files are checked again against their real size when loaded.
    pub fn check_sizes(&self) -> Result<()> {
        use crate::limits::MAX_JOBS;
        if self.model.strategies.is_empty() {
            return Err(Error::invalid(
                "model.strategies",
                "the list is empty: name at least one split strategy (e.g. [\"random\"])",
            ));
        }
        let clause_axis = match &self.dataset {
            DatasetSpec::Dnf { clauses, .. } => clauses.len(),
            _ => 1,
        };
        let jobs = [
            clause_axis,
            self.variants.len().max(1),
            self.model.depth.len(),
            self.model.neurons.len(),
            self.train.pre_epochs.len(),
            self.trials,
        ]
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|&j| j <= MAX_JOBS)
        .ok_or_else(|| {
            Error::invalid(
                "trials",
                format!(
                    "the grid times {} trials is more than the {MAX_JOBS} trials one spec may run",
                    self.trials
                ),
            )
        })?;
        debug_assert!(jobs <= MAX_JOBS);
        let (inputs, outputs, data_rows): (Vec<usize>, usize, Option<usize>) = match &self.dataset {
            DatasetSpec::Dnf {
                clauses,
                k,
                n_train,
                n_test,
            } => (
                clauses.iter().map(|c| c.saturating_mul(*k)).collect(),
                1,
                Some(n_train.saturating_add(*n_test)),
            ),
            // Loaded data: its width is known only once loaded (checked again then); 1 input bounds the rest.
            _ => (vec![1], 2, None),
        };
        self.check_trial_memory(&inputs, outputs, data_rows)
    }

    /// Refuses a trial whose data (`rows` of each width in `inputs`, if the data is made per trial) and models
    /// (the dense one and every expanded one, trained side by side, each with its Gram matrix when the
    /// `feature-capacity` metric is asked for) exceed the memory budget of [`crate::limits`].
    pub fn check_trial_memory(
        &self,
        inputs: &[usize],
        outputs: usize,
        rows: Option<usize>,
    ) -> Result<()> {
        use crate::limits::{bytes_of, check_memory, mlp_bytes};
        let alpha = self.model.alpha.iter().map(|a| a.get()).max().unwrap_or(2);
        let models = self
            .model
            .alpha
            .len()
            .saturating_mul(self.model.strategies.len())
            .saturating_add(1) as u128;
        let gram = self
            .extras
            .metrics
            .contains(&crate::metrics::Metric::FeatureCapacity);
        for &d in inputs {
            for &depth in &self.model.depth {
                for &h in &self.model.neurons {
                    // `d -> w -> ... -> w -> outputs` with `depth - 1` hidden layers, in closed form: a depth
                    // from a spec file may be any integer, so no per-layer list is built before the check.
                    let per_model = h
                        .checked_mul(alpha)
                        .zip(depth.checked_sub(2))
                        .and_then(|(w, inner)| {
                            let inner = mlp_bytes(&[w, w])?.checked_mul(inner as u128)?;
                            mlp_bytes(&[d, w])?
                                .checked_add(inner)?
                                .checked_add(mlp_bytes(&[w, outputs])?)
                        })
                        .and_then(|m| {
                            let g = if gram { bytes_of(&[d, d, 8])? } else { 0 };
                            m.checked_add(g)
                        });
                    let model = per_model.and_then(|m| m.checked_mul(models));
                    let data = match rows {
                        Some(rows) => bytes_of(&[rows, d, 4]),
                        None => Some(0),
                    };
                    let total = model.zip(data).and_then(|(m, x)| m.checked_add(x));
                    check_memory(
                        &format!("one trial ({d} inputs, depth {depth}, {h} neurons, alpha up to {alpha})"),
                        total,
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn positive(what: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::invalid(what, "must be at least 1"));
    }
    Ok(())
}

fn axis(what: &str, values: &[usize]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::invalid(
            what,
            "the list is empty: give at least one value",
        ));
    }
    let mut seen = values.to_vec();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != values.len() {
        return Err(Error::invalid(what, format!("{values:?} repeats a value")));
    }
    values.iter().try_for_each(|&v| positive(what, v))
}

impl Spec {
    /// Parses a spec from TOML text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Spec> {
        let spec: Spec = toml::from_str(text)
            .map_err(|e| Error::invalid(format!("experiment spec {origin}"), e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// A built-in spec by name, or a spec file by path (anything containing `/` or ending in `.toml`).
    pub fn load(name_or_path: &str) -> Result<Spec> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Spec::parse(text, name_or_path);
        }
        let path = Path::new(name_or_path);
        if name_or_path.ends_with(".toml") || name_or_path.contains('/') || path.is_file() {
            let text = crate::limits::read_text(path)?;
            return Spec::parse(&text, name_or_path);
        }
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        Err(Error::invalid(
            "experiment",
            format!(
                "unknown experiment '{name_or_path}'; available: {} (or a path to a spec .toml)",
                names.join(", ")
            ),
        ))
    }

    /// Checks every value, naming the key that is wrong.
    pub fn validate(&self) -> Result<()> {
        positive("trials", self.trials)?;
        if let Some(n) = self.shards {
            positive("shards", n)?;
        }
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid(
                "name",
                format!(
                    "'{}' must be non-empty letters, digits, '-' or '_'",
                    self.name
                ),
            ));
        }
        match &self.dataset {
            DatasetSpec::Dnf {
                clauses,
                k,
                n_train,
                n_test,
            } => {
                axis("dataset.clauses", clauses)?;
                for &c in clauses {
                    crate::data::Dnf::with_clauses(c, *k)?;
                }
                positive("dataset.n_train", *n_train)?;
                positive("dataset.n_test", *n_test)?;
            }
            DatasetSpec::FashionMnist {
                n_train, n_test, ..
            }
            | DatasetSpec::Embeddings {
                n_train, n_test, ..
            } => {
                if let Some(n) = n_train {
                    positive("dataset.n_train", *n)?;
                }
                if let Some(n) = n_test {
                    positive("dataset.n_test", *n)?;
                }
            }
        }
        axis("model.neurons", &self.model.neurons)?;
        let alphas: Vec<usize> = self.model.alpha.iter().map(|a| a.get()).collect();
        axis("model.alpha", &alphas)?;
        axis("model.depth", &self.model.depth)?;
        if let Some(&d) = self.model.depth.iter().find(|&&d| d < 2) {
            return Err(Error::invalid(
                "model.depth",
                format!("{d} layers has no hidden layer to expand: use depth >= 2"),
            ));
        }
        if let Some(&d) = self
            .model
            .depth
            .iter()
            .find(|&&d| d > crate::limits::MAX_DEPTH)
        {
            return Err(Error::invalid(
                "model.depth",
                format!(
                    "{d} layers is more than the {} neurosplit trains: use a smaller depth",
                    crate::limits::MAX_DEPTH
                ),
            ));
        }
        let mut names: Vec<&str> = self.model.strategies.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != self.model.strategies.len() {
            return Err(Error::invalid(
                "model.strategies",
                "a strategy is listed twice",
            ));
        }
        axis("train.pre_epochs", &self.train.pre_epochs)?;
        match (self.train.post_epochs, self.train.total_epochs) {
            (Some(p), None) => positive("train.post_epochs", p)?,
            (None, Some(t)) => {
                if let Some(&p) = self.train.pre_epochs.iter().find(|&&p| p >= t) {
                    return Err(Error::invalid(
                        "train.total_epochs",
                        format!("{t} leaves no post-split epochs after pre_epochs = {p}"),
                    ));
                }
            }
            _ => {
                return Err(Error::invalid(
                    "train",
                    "give exactly one of post_epochs and total_epochs",
                ))
            }
        }
        self.train_config(1).validate()?;
        self.protocol.validate()?;
        let mut seen = Vec::new();
        for v in &self.variants {
            if v.name.is_empty()
                || !v
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(Error::invalid(
                    "variants.name",
                    format!("'{}' must be non-empty letters, digits, '-' or '_'", v.name),
                ));
            }
            if seen.contains(&&v.name) {
                return Err(Error::invalid(
                    "variants",
                    format!("the name '{}' is used twice", v.name),
                ));
            }
            seen.push(&v.name);
            self.protocol
                .with(&v.set)
                .map_err(|e| Error::invalid(format!("variant '{}'", v.name), e.to_string()))?;
        }
        if let Some(r) = &self.extras.rewiring {
            positive("extras.rewiring.every", r.every)?;
            if !(r.fraction > 0.0 && r.fraction < 1.0) {
                return Err(Error::invalid(
                    "extras.rewiring.fraction",
                    format!("{} is not in (0, 1)", r.fraction),
                ));
            }
        }
        let uses = |s: Strategy| self.model.strategies.contains(&s);
        if uses(Strategy::TwoFour) {
            if let Some(&a) = alphas.iter().find(|&&a| a != 2) {
                return Err(Error::invalid(
                    "alpha",
                    format!("the two-four (2:4) split needs alpha = 2, not {a}"),
                ));
            }
        }
        if uses(Strategy::Clause) {
            if let Some(&d) = self.model.depth.iter().find(|&&d| d >= 4) {
                return Err(Error::invalid(
                    "model.strategies",
                    format!(
                        "the clause split knows groups only for the network's inputs, but depth = {d} also \
                         expands hidden layer 2: use random, gram or two-four for deep networks"
                    ),
                ));
            }
        }
        if let DatasetSpec::Dnf { clauses, .. } = &self.dataset {
            if uses(Strategy::Clause) {
                // A cell with fewer clauses than an alpha runs no clause split at that alpha (see
                // `runner::trial_config`); a cell where no alpha allows one is an error.
                let (&cmin, &amin) = (
                    clauses.iter().min().expect("non-empty"),
                    alphas.iter().min().expect("non-empty"),
                );
                if amin > cmin {
                    return Err(Error::invalid(
                        "alpha",
                        format!(
                            "a clause split deals {cmin} clauses to {amin} children, leaving some empty: \
                             use alpha <= {cmin}"
                        ),
                    ));
                }
            }
        } else if uses(Strategy::Clause) {
            return Err(Error::invalid(
                "model.strategies",
                "the clause split needs known feature groups, which only DNF data has",
            ));
        }
        // Sizes last: a value that is wrong in itself (depth 0) is named as such, not as a memory estimate.
        self.check_sizes()?;
        Ok(())
    }

    /// Fails with a "not available in this build" error for any strategy or feature this build lacks (today:
    /// custom assignments, [`PLANNED_STRATEGIES`]). This is the one place to extend when one lands. (Unknown
    /// strategy and metric names never get this far: they fail to parse.)
    pub fn check_available(&self) -> Result<()> {
        for &s in &self.model.strategies {
            available(s)?;
        }
        Ok(())
    }

    /// Whether cells of `depth` layers get LayerNorm: `model.layernorm` when given, else on for depth > 2.
    pub fn layernorm(&self, depth: usize) -> bool {
        self.model.layernorm.unwrap_or(depth > 2)
    }

    /// The optimiser settings for a phase of `epochs` epochs.
    pub fn train_config(&self, epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: self.train.batch_size,
            lr: self.train.lr,
            reg: Regularizer {
                l1_first: self.train.l1,
                l2: self.train.l2,
            },
            precision: self.train.precision,
        }
    }

    /// The protocol of the variant named `variant` (`None`: the spec's `[protocol]`).
    pub fn protocol_of(&self, variant: Option<&str>) -> Result<Protocol> {
        match variant {
            None => Ok(self.protocol),
            Some(name) => {
                let v = self
                    .variants
                    .iter()
                    .find(|v| v.name == name)
                    .ok_or_else(|| {
                        Error::invalid("variant", format!("the spec has no variant '{name}'"))
                    })?;
                self.protocol.with(&v.set)
            }
        }
    }

    /// Post-split epochs for a cell pre-trained for `pre` epochs.
    pub fn post_epochs(&self, pre: usize) -> usize {
        match (self.train.post_epochs, self.train.total_epochs) {
            (Some(p), _) => p,
            (None, Some(t)) => t.saturating_sub(pre),
            (None, None) => 0,
        }
    }

    /// A 64-bit fingerprint of everything that determines a trial's result (not `trials`, `title`, or the
    /// paper's numbers), so that a results file is only resumed by the spec that wrote it.
    pub fn fingerprint(&self) -> u64 {
        let mut s = self.clone();
        s.trials = 0;
        s.title.clear();
        s.paper_ref.clear();
        s.paper.clear();
        s.shards = None;
        s.report = ReportSpec::default();
        let text = serde_json::to_string(&s).expect("specs serialise");
        fnv1a(text.as_bytes())
    }
}

/// `Ok` when specs can use `strategy` in this build; a "not available in this build" error for the
/// [`PLANNED_STRATEGIES`].
pub fn available(strategy: Strategy) -> Result<()> {
    if PLANNED_STRATEGIES.contains(&strategy) {
        return Err(Error::invalid(
            format!("strategy '{strategy}'"),
            format!(
                "not available in this build of neurosplit yet (specs have no key for the '{strategy}' split's \
                 assignment files; `neurosplit train --strategy {strategy} --assignment FILE` runs it)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_spec_parses_and_is_named_after_its_file() {
        for (name, text) in BUILTIN {
            let spec = Spec::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(spec.name, *name);
            assert!(spec.trials >= 5, "{name}");
        }
        // Every built-in spec runs in this build (given its data).
        for (name, _) in BUILTIN {
            Spec::load(name).unwrap().check_available().unwrap();
        }
        let mut custom = Spec::load("two-four").unwrap();
        custom.model.strategies = vec![Strategy::Custom];
        let err = custom.check_available().unwrap_err().to_string();
        assert!(err.contains("not available in this build"), "{err}");
        let text = BUILTIN
            .iter()
            .find(|(n, _)| *n == "capacity-tables")
            .unwrap()
            .1;
        let bad = text.replacen("metrics = [", "metrics = [\"entropy\", ", 1);
        assert_ne!(bad, text);
        let err = Spec::parse(&bad, "x").unwrap_err().to_string();
        assert!(err.contains("unknown metric 'entropy'"), "{err}");
        assert!(err.contains("feature-capacity"), "{err}");
        let bad = text.replacen("strategies = [", "strategies = [\"zigzag\", ", 1);
        let err = Spec::parse(&bad, "x").unwrap_err().to_string();
        assert!(err.contains("zigzag") && err.contains("random"), "{err}");
    }

    #[test]
    fn huge_depths_are_refused_before_anything_is_built() {
        let text = BUILTIN.iter().find(|(n, _)| *n == "deep").unwrap().1;
        let with_depth = |d: &str| text.replace("depth = [5, 7, 9]", &format!("depth = [{d}]"));
        assert_ne!(
            with_depth("4000000000"),
            text,
            "the deep spec lists its depths as expected"
        );
        let err = Spec::parse(&with_depth("4000000000"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.depth") && err.contains("1024"), "{err}");
        // The largest depth allowed, at widths whose models would not fit: the memory check refuses it.
        let wide = with_depth("1024").replace("neurons = [4, 8, 12, 16]", "neurons = [1000000]");
        let err = Spec::parse(&wide, "t").unwrap_err().to_string();
        assert!(
            err.contains("depth 1024") && err.contains("memory"),
            "{err}"
        );
    }

    #[test]
    fn printed_specs_parse_back_unchanged() {
        // `reproduce --print-spec` output is itself a valid spec, e.g. to start one's own from.
        for (name, text) in BUILTIN {
            let spec = Spec::parse(text, name).unwrap();
            let printed = toml::to_string(&spec).unwrap();
            assert_eq!(Spec::parse(&printed, name).unwrap(), spec, "{name}");
        }
    }

    #[test]
    fn fingerprint_ignores_trials_and_labels_but_not_settings() {
        let a = Spec::load("case-study").unwrap();
        let mut b = a.clone();
        b.trials = 50;
        b.shards = Some(8);
        b.title = "another title".into();
        b.paper.clear();
        b.report.correction = crate::stats::Correction::Holm;
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.train.lr = 2e-3;
        assert_ne!(a.fingerprint(), b.fingerprint());
        let mut c = a.clone();
        c.seed = 1;
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn total_epochs_sets_post_epochs_per_cell() {
        let s = Spec::load("split-timing").unwrap();
        assert_eq!(s.post_epochs(1), 99);
        assert_eq!(s.post_epochs(50), 50);
        let text = BUILTIN[1]
            .1
            .replace("post_epochs = 1000", "post_epochs = 1000\ntotal_epochs = 5");
        let err = Spec::parse(&text, "x").unwrap_err().to_string();
        assert!(
            err.contains("exactly one of post_epochs and total_epochs"),
            "{err}"
        );
    }
}
