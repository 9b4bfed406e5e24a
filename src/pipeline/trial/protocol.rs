//! Alg. A3's protocol and every choice the paper leaves open, as explicit switches. The defaults are the paper's
//! reading (and what neurosplit did before the switches existed, bit for bit):
//!
//! | key | values (default first) | what |
//! |---|---|---|
//! | `warmup` | `off`, `lr`, `reg`, `both` | what `r = min(1, e/W)` (Alg. A3 line 8) scales: nothing, the learning rate, the penalties (`lambda_1`, `lambda_2`, `lambda_orth`), or both |
//! | `warmup_epochs` | the phase's epochs, or `W` | `W` (A.3.1: `W = N`) |
//! | `warmup_phase` | `both`, `pre`, `post` | the phases that warm up; each counts `e` from 1 (the post-split phase restarts it) |
//! | `orth` | `0`, or `lambda_orth >= 0` | `lambda_orth * ||W_1 W_1^T - I||_F^2` on the first layer (Alg. A3 lines 16-17; A.3.1 lists no value), in both phases |
//! | `child_bias` | `copy`, `divide` | a child's bias at the split: the parent's, or the parent's / alpha |
//! | `out_column` | `copy`, `divide` | a child's column of the next layer: the parent's, or the parent's / alpha |
//! | `adam` | `fresh`, `carry` | Adam state after the split: fresh, or carried over from the pre-split model (each live weight gets its parent's moments at the same position; the step count goes on); the dense baseline then continues its own state |
//! | `prune` | `joint`, `per-layer` | pruning to the budget: jointly over `W_1'` and `W_2'`, or each layer back to its own pre-split count |
//!
//! In a spec they are the `[protocol]` table; on `neurosplit train` the `--warmup`, `--warmup-epochs`,
//! `--warmup-phase`, `--orth`, `--child-bias`, `--out-column`, `--adam-at-split` and `--prune` flags; on
//! `reproduce`, `--set protocol.KEY=VALUE`. Every results record carries the protocol it ran under.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::expand::{ChildBias, OutColumn, Pruning, SplitRules};
use crate::nn::{PhaseExtras, Warmup, WarmupTarget};

/// The phases a warm-up applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarmupPhase {
    /// Pre-split training and the post-split restart, each from its own epoch 1 (default).
    #[default]
    Both,
    /// Pre-split training only.
    Pre,
    /// Post-split training only.
    Post,
}

/// The optimizer state the post-split models start from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdamAtSplit {
    /// A fresh Adam (zero moments, step 0) for every post-split model (default).
    #[default]
    Fresh,
    /// The pre-split model's Adam state, carried over weight by weight (see [`crate::nn::Adam::carried`]).
    Carry,
}

/// One training phase of a trial, for [`Protocol::phase_extras`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Dense training before the split.
    Pre,
    /// Training after the split.
    Post,
}

/// Alg. A3's open choices (see the module docs); `Protocol::default()` is the paper's reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    /// What the warm-up factor scales.
    pub warmup: WarmupTarget,
    /// `W` in epochs; `None` = the phase's own epoch count (`W = N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_epochs: Option<usize>,
    /// The phases that warm up.
    pub warmup_phase: WarmupPhase,
    /// `lambda_orth`.
    #[serde(serialize_with = "crate::floats::serialize")]
    pub orth: f32,
    /// A child's bias at the split.
    pub child_bias: ChildBias,
    /// A child's column of the next layer at the split.
    pub out_column: OutColumn,
    /// Adam state after the split.
    pub adam: AdamAtSplit,
    /// Pruning back to the budget.
    pub prune: Pruning,
}

impl Protocol {
    /// Whether this is the paper's reading (every switch at its default).
    pub fn is_paper(&self) -> bool {
        *self == Protocol::default()
    }

    /// Checks the values, refusing settings that have no effect (a warm-up length or phase without a warm-up).
    pub fn validate(&self) -> Result<()> {
        if !(self.orth >= 0.0 && self.orth.is_finite()) {
            return Err(Error::invalid(
                "protocol.orth",
                format!("lambda_orth = {} is not a non-negative number", self.orth),
            ));
        }
        if self.warmup_epochs == Some(0) {
            return Err(Error::invalid(
                "protocol.warmup_epochs",
                "must be at least 1",
            ));
        }
        if self.warmup == WarmupTarget::Off
            && (self.warmup_epochs.is_some() || self.warmup_phase != WarmupPhase::Both)
        {
            return Err(Error::invalid(
                "protocol.warmup",
                "warmup_epochs and warmup_phase set a warm-up, but warmup is off: set warmup = lr, reg or both",
            ));
        }
        Ok(())
    }

    /// Sets one switch from text (`key=value` of a spec variant, `--set protocol.KEY=VALUE`), e.g.
    /// `set("warmup", "lr")`; an unknown key or value is an error naming it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let mut table =
            toml::Table::try_from(*self).map_err(|e| Error::invalid("protocol", e.to_string()))?;
        let v = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").expect("parsed the key v"),
            Err(_) => toml::Value::String(value.trim().to_string()),
        };
        table.insert(key.trim().to_string(), v);
        let text =
            toml::to_string(&table).map_err(|e| Error::invalid("protocol", e.to_string()))?;
        let p: Protocol = toml::from_str(&text)
            .map_err(|e| Error::invalid(format!("protocol {key}={value}"), e.to_string()))?;
        p.validate()?;
        *self = p;
        Ok(())
    }

    /// Applies `key=value` assignments in order (see [`Protocol::set`]).
    pub fn with(mut self, assignments: &[String]) -> Result<Protocol> {
        for a in assignments {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "protocol",
                    format!("'{a}' is not KEY=VALUE (e.g. warmup=lr)"),
                )
            })?;
            self.set(k, v)?;
        }
        Ok(self)
    }

    /// The split rules of the expansion.
    pub fn split_rules(&self) -> SplitRules {
        SplitRules {
            bias: self.child_bias,
            column: self.out_column,
            pruning: self.prune,
        }
    }

    /// The warm-up and orthogonality penalty of a phase `epochs` long.
    pub fn phase_extras(&self, stage: Stage, epochs: usize) -> PhaseExtras {
        let warms = match self.warmup_phase {
            WarmupPhase::Both => true,
            WarmupPhase::Pre => stage == Stage::Pre,
            WarmupPhase::Post => stage == Stage::Post,
        };
        PhaseExtras {
            warmup: (self.warmup != WarmupTarget::Off && warms).then(|| Warmup {
                target: self.warmup,
                epochs: self.warmup_epochs.unwrap_or(epochs),
            }),
            orth: self.orth,
        }
    }

    /// One line for reports and logs, every switch named.
    pub fn describe(&self) -> String {
        let warmup = match self.warmup {
            WarmupTarget::Off => "off".to_string(),
            t => format!(
                "r = min(1, e/W) scales {}, W = {}, phases: {}",
                match t {
                    WarmupTarget::Lr => "the learning rate",
                    WarmupTarget::Reg => "the penalties",
                    _ => "the learning rate and the penalties",
                },
                self.warmup_epochs
                    .map_or("the phase's epochs".to_string(), |w| w.to_string()),
                match self.warmup_phase {
                    WarmupPhase::Both => "pre- and post-split (each from epoch 1)",
                    WarmupPhase::Pre => "pre-split",
                    WarmupPhase::Post => "post-split",
                }
            ),
        };
        format!(
            "warm-up {warmup}; lambda_orth {}; child bias {}; W2 column {}; Adam at the split {}; pruning {}",
            self.orth,
            self.child_bias.name(),
            self.out_column.name(),
            match self.adam {
                AdamAtSplit::Fresh => "fresh",
                AdamAtSplit::Carry => "carried over",
            },
            self.prune.name()
        )
    }

    /// The switches that differ from the paper's reading, as `key=value` (empty for the paper's protocol).
    pub fn changes(&self) -> Vec<String> {
        let paper = toml::Table::try_from(Protocol::default()).unwrap_or_default();
        let mine = toml::Table::try_from(*self).unwrap_or_default();
        mine.iter()
            .filter(|(k, v)| paper.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_paper_and_set_parses_every_switch() {
        let p = Protocol::default();
        assert!(p.is_paper());
        assert!(p.changes().is_empty());
        assert_eq!(p.split_rules(), SplitRules::default());
        assert!(p.phase_extras(Stage::Pre, 1000).is_plain());
        let q = p
            .with(&[
                "warmup=lr".into(),
                "warmup_phase=post".into(),
                "orth=0.001".into(),
                "child_bias=divide".into(),
                "out_column=divide".into(),
                "adam=carry".into(),
                "prune=per-layer".into(),
            ])
            .unwrap();
        assert_eq!(q.changes().len(), 7, "{:?}", q.changes());
        assert!(q.changes().contains(&"prune=per-layer".to_string()));
        assert_eq!(q.split_rules().pruning, Pruning::PerLayer);
        assert!(q.phase_extras(Stage::Pre, 10).warmup.is_none());
        assert_eq!(
            q.phase_extras(Stage::Post, 10).warmup,
            Some(Warmup {
                target: WarmupTarget::Lr,
                epochs: 10
            })
        );
        let err = p.with(&["warmup=sideways".into()]).unwrap_err().to_string();
        assert!(err.contains("sideways"), "{err}");
        let err = p.with(&["colour=red".into()]).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        let err = p
            .with(&["warmup_epochs=10".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("warmup is off"), "{err}");
        assert!(p.with(&["orth=-1".into()]).is_err());
        assert!(p.with(&["warmup".into()]).is_err());
    }
}
