//! A spec and its overrides: the flags' value overrides, `holm`, then `--set KEY=VALUE` assignments, validated
//! once ([`Experiment::load`]).

use crate::error::{Error, Result};
use crate::expand::{Alpha, Strategy};
use crate::experiment::paper_scope::PaperScope;
use crate::experiment::spec::{DatasetSpec, Spec};

/// Changes to a spec's values before it runs: each `Some` replaces the spec's value (a list replaces the whole
/// axis), then `holm`, then the `set` assignments. Every change shows in the report as an override of the
/// committed spec and is part of the fingerprint.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Trials per grid cell.
    pub trials: Option<usize>,
    /// Base seed.
    pub seed: Option<u64>,
    /// DNF clause counts (DNF specs only).
    pub clauses: Option<Vec<usize>>,
    /// DNF literals per clause (DNF specs only).
    pub k: Option<usize>,
    /// Hidden widths of the dense model.
    pub neurons: Option<Vec<usize>>,
    /// Expansion factors.
    pub alpha: Option<Vec<Alpha>>,
    /// Split strategies.
    pub strategies: Option<Vec<Strategy>>,
    /// LayerNorm before every hidden activation.
    pub layernorm: Option<bool>,
    /// Epochs before the split.
    pub pre_epochs: Option<Vec<usize>>,
    /// Epochs after the split (replaces a `total_epochs`).
    pub post_epochs: Option<usize>,
    /// Training samples.
    pub n_train: Option<usize>,
    /// Test samples.
    pub n_test: Option<usize>,
    /// Samples per step.
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    pub lr: Option<f32>,
    /// L1 penalty on the first layer's weights.
    pub l1: Option<f32>,
    /// L2 penalty on all parameters.
    pub l2: Option<f32>,
    /// Holm-adjust the per-cell p-values over the grid (`report.correction = "holm"`).
    pub holm: bool,
    /// `KEY=VALUE` assignments of any spec key, the value as TOML (e.g. `model.depth=[3,5]`; a bare word that
    /// is not TOML is a string), applied last.
    pub set: Vec<String>,
}

impl Overrides {
    /// Applies the value overrides and `holm` to `spec` (not the assignments; nothing is validated here).
    fn apply_values(&self, spec: &mut Spec) -> Result<()> {
        let set = |dst: &mut Option<usize>, v: Option<usize>| {
            if v.is_some() {
                *dst = v;
            }
        };
        if let Some(v) = self.trials {
            spec.trials = v;
        }
        if let Some(v) = self.seed {
            spec.seed = v;
        }
        match &mut spec.dataset {
            DatasetSpec::Dnf {
                clauses,
                k,
                n_train,
                n_test,
            } => {
                if let Some(v) = &self.clauses {
                    *clauses = v.clone();
                }
                *k = self.k.unwrap_or(*k);
                *n_train = self.n_train.unwrap_or(*n_train);
                *n_test = self.n_test.unwrap_or(*n_test);
            }
            DatasetSpec::FashionMnist {
                n_train, n_test, ..
            }
            | DatasetSpec::Embeddings {
                n_train, n_test, ..
            } => {
                if self.clauses.is_some() || self.k.is_some() {
                    return Err(Error::invalid(
                        "--clauses/--k",
                        "only DNF experiments have clauses",
                    ));
                }
                set(n_train, self.n_train);
                set(n_test, self.n_test);
            }
        }
        if let Some(v) = &self.neurons {
            spec.model.neurons = v.clone();
        }
        if let Some(v) = &self.alpha {
            spec.model.alpha = v.clone();
        }
        if let Some(v) = &self.strategies {
            spec.model.strategies = v.clone();
        }
        if self.layernorm.is_some() {
            spec.model.layernorm = self.layernorm;
        }
        if let Some(v) = &self.pre_epochs {
            spec.train.pre_epochs = v.clone();
        }
        if let Some(v) = self.post_epochs {
            spec.train.post_epochs = Some(v);
            spec.train.total_epochs = None;
        }
        spec.train.batch_size = self.batch_size.unwrap_or(spec.train.batch_size);
        spec.train.lr = self.lr.unwrap_or(spec.train.lr);
        spec.train.l1 = self.l1.unwrap_or(spec.train.l1);
        spec.train.l2 = self.l2.unwrap_or(spec.train.l2);
        if self.holm {
            spec.report.correction = crate::stats::Correction::Holm;
        }
        Ok(())
    }
}

/// Applies `KEY=VALUE` assignments to a spec: the spec as a TOML table, each dotted key set to its value parsed
/// as TOML (a bare word that is not TOML is taken as a string), then read back, so that an unknown key or a
/// value of the wrong type is an error that names it. The result is not validated here.
fn assign(spec: Spec, assignments: &[String]) -> Result<Spec> {
    if assignments.is_empty() {
        return Ok(spec);
    }
    let bad = |what: &str, msg: String| Error::invalid(format!("--set {what}"), msg);
    let mut root = toml::Table::try_from(&spec).map_err(|e| bad("", e.to_string()))?;
    for a in assignments {
        let (key, text) = a
            .split_once('=')
            .ok_or_else(|| bad(a, "is not KEY=VALUE (e.g. model.depth=[3,5])".into()))?;
        let key = key.trim();
        let value = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
            Ok(mut t) => t.remove("v").expect("parsed the key v"),
            Err(_) if !text.trim().is_empty() && !text.contains(['[', '{', '"', '\'', '=']) => {
                toml::Value::String(text.trim().to_string())
            }
            Err(e) => return Err(bad(a, format!("the value is not TOML: {e}"))),
        };
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad(a, "empty key".into()));
        }
        let mut table = &mut root;
        for p in &parts[..parts.len() - 1] {
            let entry = table
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| bad(a, format!("'{p}' is a value, not a table of keys")))?;
        }
        table.insert(parts[parts.len() - 1].to_string(), value);
    }
    let text = toml::to_string(&root).map_err(|e| bad("", e.to_string()))?;
    toml::from_str(&text).map_err(|e| {
        Error::invalid(
            format!(
                "experiment spec after --set {}",
                assignments.join(" --set ")
            ),
            e.to_string(),
        )
    })
}

/// A spec ready to run: the committed spec (the built-in file, or the user's file as written: the settings its
/// paper numbers assume) and the effective one (with the overrides), validated.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The spec as committed.
    pub committed: Spec,
    /// The spec this run uses.
    pub spec: Spec,
}

impl Experiment {
    /// Loads a built-in spec by name or a spec file by path, applies `overrides` and validates the result
    /// (once: an override that makes the spec invalid or too large is an error naming it).
    pub fn load(name_or_path: &str, overrides: &Overrides) -> Result<Experiment> {
        let committed = Spec::load(name_or_path)?;
        let mut spec = committed.clone();
        overrides.apply_values(&mut spec)?;
        let spec = assign(spec, &overrides.set)?;
        spec.validate()?;
        Ok(Experiment { committed, spec })
    }

    /// The effective spec as TOML: itself a valid spec file.
    pub fn toml(&self) -> Result<String> {
        toml::to_string(&self.spec).map_err(|e| Error::invalid("spec", e.to_string()))
    }

    /// Which cells may show the paper's numbers, and the overrides of the committed spec.
    pub fn scope(&self) -> PaperScope {
        PaperScope::new(&self.committed, &self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_then_assignments_validated_once() {
        let o = Overrides {
            trials: Some(2),
            post_epochs: Some(10),
            set: vec!["train.lr=0.01".into(), "model.depth=[2]".into()],
            ..Overrides::default()
        };
        let exp = Experiment::load("case-study", &o).unwrap();
        assert_eq!(exp.spec.trials, 2);
        assert_eq!(exp.spec.train.post_epochs, Some(10));
        assert_eq!(exp.spec.train.lr, 0.01);
        assert_ne!(exp.spec.fingerprint(), exp.committed.fingerprint());
        // An override that makes the spec invalid is an error naming it; so is an unknown key.
        let bad = Overrides {
            trials: Some(0),
            ..Overrides::default()
        };
        let e = Experiment::load("case-study", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("trials"), "{e}");
        let unknown = Overrides {
            set: vec!["train.momentum=0.9".into()],
            ..Overrides::default()
        };
        let e = Experiment::load("case-study", &unknown)
            .unwrap_err()
            .to_string();
        assert!(e.contains("momentum"), "{e}");
        let not_kv = Overrides {
            set: vec!["trials".into()],
            ..Overrides::default()
        };
        let e = Experiment::load("case-study", &not_kv)
            .unwrap_err()
            .to_string();
        assert!(e.contains("KEY=VALUE"), "{e}");
    }
}
