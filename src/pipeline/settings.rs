//! [`Settings`]: every knob of a training run as a front receives it (each `None` = "not given"), and its one
//! builder, [`Settings::build`], which fills the defaults from [`defaults`] and runs the one validation. The CLI
//! (`train`, `finetune`), the experiment runner and the Python package build their [`TrialConfig`] only here, so
//! the same input gives the same configuration, or the same error, from every front.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::expand::{Alpha, Assignment, Decay, Strategy};
use crate::kernels::Precision;
use crate::metrics::Metric;
use crate::nn::{FormatChoice, Regularizer, TrainConfig};
use crate::sparse::Format;

use super::trial::{Protocol, Rewiring, TrialConfig};

/// Every default of a training run, in one place.
pub mod defaults {
    /// The training defaults of one kind of run.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Training {
        /// Epochs of each phase.
        pub epochs: usize,
        /// Samples per step.
        pub batch_size: usize,
        /// Adam's learning rate.
        pub lr: f32,
        /// L1 penalty on the first layer's weights.
        pub l1: f32,
        /// L2 penalty on every parameter.
        pub l2: f32,
    }

    /// The paper's settings (Sec. A.3.1): DNF data, `neurosplit train`, the experiment specs.
    pub const PAPER: Training = Training {
        epochs: 1000,
        batch_size: 500,
        lr: 1e-3,
        l1: 1e-7,
        l2: 1e-5,
    };

    /// A user's own model or data (`neurosplit finetune`, `neurosplit train --data`, Python): no penalties, the
    /// common batch of 128, a short run.
    pub const USER_DATA: Training = Training {
        epochs: 10,
        batch_size: 128,
        lr: 1e-3,
        l1: 0.0,
        l2: 0.0,
    };

    /// Hidden neurons of the dense model.
    pub const NEURONS: usize = 8;
    /// Fraction of a layer's masked weights unmasked per rewiring.
    pub const REWIRE_FRACTION: f64 = 0.1;
    /// Fraction of the rows held out as the test set when no test set is given.
    pub const TEST_FRACTION: f64 = 0.2;
    /// Fraction of the training rows held out for validation.
    pub const VAL_FRACTION: f64 = 0.0;
    /// Threads of one training run (`train`, `finetune`, Python): 1. `0` means every core.
    pub const THREADS: usize = 1;
    /// Threads of a grid of trials (`reproduce`): every core.
    pub const GRID_THREADS: usize = 0;
    /// Trials of `finetune` (each with its own batch order and split).
    pub const TRIALS: usize = 1;
}

/// Which defaults apply to the settings a front did not give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// [`defaults::PAPER`].
    #[default]
    Paper,
    /// [`defaults::USER_DATA`].
    UserData,
}

impl Profile {
    /// The training defaults of this profile.
    pub fn training(self) -> defaults::Training {
        match self {
            Profile::Paper => defaults::PAPER,
            Profile::UserData => defaults::USER_DATA,
        }
    }
}

/// Every setting of a run as a front receives it; `None` (or empty) means "the default". Build the pipeline's
/// [`TrialConfig`] with [`Settings::build`].
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Which defaults fill what is not given.
    pub profile: Profile,
    /// Hidden widths of the dense model (default: one layer of [`defaults::NEURONS`]).
    pub hidden: Option<Vec<usize>>,
    /// LayerNorm before every hidden activation (default: on with more than one hidden layer).
    pub layernorm: Option<bool>,
    /// Epochs of dense training before the split.
    pub epochs: Option<usize>,
    /// Epochs after the split (default: as many as `epochs`).
    pub post_epochs: Option<usize>,
    /// Samples per step.
    pub batch_size: Option<usize>,
    /// Adam's learning rate.
    pub lr: Option<f32>,
    /// L1 penalty on the first layer's weights.
    pub l1: Option<f32>,
    /// L2 penalty on every parameter.
    pub l2: Option<f32>,
    /// Precision of the products (default fp32; bf16 needs a CPU with AVX512-BF16).
    pub precision: Option<Precision>,
    /// The expansions: one FPE model per entry (empty: no expansion). `alpha` and `strategy` below add one.
    pub expansions: Vec<(Alpha, Strategy)>,
    /// Children per neuron of one expansion (with `strategy`, default random).
    pub alpha: Option<usize>,
    /// Split strategy of that expansion.
    pub strategy: Option<Strategy>,
    /// The custom split, one per expanded layer.
    pub assignments: Vec<Assignment>,
    /// Clusters of the Gram split.
    pub clusters: Option<usize>,
    /// Rewire the masks every this many post-split epochs.
    pub rewire_every: Option<usize>,
    /// Fraction of masked weights unmasked per rewiring (default [`defaults::REWIRE_FRACTION`]).
    pub rewire_fraction: Option<f64>,
    /// Schedule of that fraction (default constant).
    pub rewire_decay: Option<Decay>,
    /// Alg. A3's open choices (default: the paper's reading).
    pub protocol: Option<Protocol>,
    /// Also train the dense model on for the post-split epochs (default: on when there is an expansion).
    pub dense_baseline: Option<bool>,
    /// Interference metrics of every final model (default none; `finetune` measures every metric after saving).
    pub metrics: Option<Vec<Metric>>,
    /// Test accuracy every this many post-split epochs (default 0: only at the end).
    pub curve_every: Option<usize>,
    /// Where to train (default the CPU).
    pub device: Option<Device>,
    /// On a GPU: the storage of masked weights.
    pub gpu_format: Option<Format>,
    /// On the CPU: the layers' storage (default auto).
    pub formats: Option<FormatChoice>,
    /// Threads (0 = every core; default [`defaults::THREADS`]); results do not depend on it.
    pub threads: Option<usize>,
}

impl Settings {
    /// Settings with the defaults of `profile`.
    pub fn new(profile: Profile) -> Settings {
        Settings {
            profile,
            ..Settings::default()
        }
    }

    /// The training configuration of a phase of `epochs` epochs.
    fn train_config(&self, epochs: usize) -> TrainConfig {
        let d = self.profile.training();
        TrainConfig {
            epochs,
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            lr: self.lr.unwrap_or(d.lr),
            reg: Regularizer {
                l1_first: self.l1.unwrap_or(d.l1),
                l2: self.l2.unwrap_or(d.l2),
            },
            precision: self.precision.unwrap_or_default(),
        }
    }

    /// The pipeline's configuration: the defaults filled in, every setting checked (what can be checked without
    /// data; [`TrialConfig::check_data`] checks the rest once the data is known). The returned thread count is
    /// resolved ([`super::resolve_threads`]); a capped count is reported through `warn`.
    pub fn build(&self) -> Result<TrialConfig> {
        self.build_with(&mut |_| {})
    }

    /// [`Settings::build`], with `warn` receiving warnings (a capped thread count).
    pub fn build_with(&self, warn: &mut dyn FnMut(String)) -> Result<TrialConfig> {
        let d = self.profile.training();
        let epochs = self.epochs.unwrap_or(d.epochs);
        let mut expansions = self.expansions.clone();
        match (self.alpha, self.strategy) {
            (Some(a), s) => expansions.push((Alpha::new(a)?, s.unwrap_or(Strategy::Random))),
            (None, Some(s)) => {
                return Err(Error::invalid(
                    "strategy",
                    format!("--strategy {s} needs --alpha (the children per neuron)"),
                ))
            }
            (None, None) => {}
        }
        if self.rewire_every.is_none()
            && (self.rewire_fraction.is_some() || self.rewire_decay.is_some())
        {
            return Err(Error::invalid(
                "rewire",
                "the rewiring fraction and decay need --rewire-every (the interval in epochs)",
            ));
        }
        let (threads, warning) = super::resolve_threads(self.threads.unwrap_or(defaults::THREADS));
        if let Some(w) = warning {
            warn(w);
        }
        let cfg = TrialConfig {
            hidden: self
                .hidden
                .clone()
                .unwrap_or_else(|| vec![defaults::NEURONS]),
            layernorm: self.layernorm,
            pre: self.train_config(epochs),
            post: self.train_config(self.post_epochs.unwrap_or(epochs)),
            dense_baseline: self.dense_baseline.unwrap_or(!expansions.is_empty()),
            expansions,
            assignments: self.assignments.clone(),
            clusters: self.clusters,
            rewiring: self.rewire_every.map(|every| Rewiring {
                every,
                fraction: self.rewire_fraction.unwrap_or(defaults::REWIRE_FRACTION),
                decay: self.rewire_decay.unwrap_or(Decay::Constant),
            }),
            metrics: self.metrics.clone().unwrap_or_default(),
            curve_every: self.curve_every.unwrap_or(0),
            device: self.device.unwrap_or(Device::Cpu),
            gpu_format: self.gpu_format,
            formats: self.formats.unwrap_or(FormatChoice::Auto),
            threads,
            protocol: self.protocol.unwrap_or_default(),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_is_not_given() {
        let cfg = Settings::default().build().unwrap();
        assert_eq!(cfg.hidden, vec![defaults::NEURONS]);
        assert_eq!(cfg.pre.batch_size, defaults::PAPER.batch_size);
        assert_eq!(cfg.post.epochs, defaults::PAPER.epochs);
        assert!(cfg.expansions.is_empty() && !cfg.dense_baseline);
        let user = Settings {
            alpha: Some(2),
            rewire_every: Some(1),
            ..Settings::new(Profile::UserData)
        }
        .build()
        .unwrap();
        assert_eq!(user.post.batch_size, defaults::USER_DATA.batch_size);
        assert_eq!(user.expansions[0].1, Strategy::Random);
        assert!(user.dense_baseline);
        assert_eq!(user.rewiring.unwrap().fraction, defaults::REWIRE_FRACTION);
    }

    #[test]
    fn one_meaning_of_threads() {
        let all = Settings {
            threads: Some(0),
            ..Settings::default()
        }
        .build()
        .unwrap();
        assert_eq!(all.threads, crate::limits::cores());
        let mut warned = Vec::new();
        let capped = Settings {
            threads: Some(1 << 20),
            ..Settings::default()
        }
        .build_with(&mut |w| warned.push(w))
        .unwrap();
        assert!(capped.threads <= crate::limits::MAX_THREADS);
        assert_eq!(warned.len(), 1);
    }

    #[test]
    fn bad_settings_name_what_is_wrong() {
        let err = |s: Settings| s.build().unwrap_err().to_string();
        assert!(err(Settings {
            strategy: Some(Strategy::Clause),
            ..Settings::default()
        })
        .contains("--alpha"));
        assert!(err(Settings {
            alpha: Some(1),
            ..Settings::default()
        })
        .contains("alpha"));
        assert!(err(Settings {
            rewire_fraction: Some(0.2),
            alpha: Some(2),
            ..Settings::default()
        })
        .contains("--rewire-every"));
        assert!(err(Settings {
            lr: Some(f32::NAN),
            ..Settings::default()
        })
        .contains("learning rate"));
    }
}
