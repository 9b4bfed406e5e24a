//! Where training runs: [`Device::Cpu`] (the reference engine) or [`Device::Cuda`] (an NVIDIA GPU, with
//! `--features cuda`). The library opens the device ([`Backend::open`]) and trains on it ([`Backend::train`]),
//! so every front — `neurosplit train`, `neurosplit reproduce`, a user's program — gets the same choice.
//!
//! Without `--features cuda`, [`Device::Cuda`] exists (it parses, it can be written in a config) and opening it
//! is a clear error, never a panic. What the GPU trainer cannot run yet (LayerNorm, rewiring) is refused by
//! [`Device::check`] before any training starts.
//!
//! [`test_device!`](crate::test_device) instantiates one test body for every device, as candle's macro of the
//! same name does.

use std::fmt;
use std::str::FromStr;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::expand::Rewirer;
use crate::kernels::Par;
use crate::nn::FormatChoice;
use crate::nn::{Adam, Mlp, PhaseExtras, TrainConfig, Trainer};
use crate::rng::Rng;
use crate::sparse::Format;

/// A device to train on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// The CPU engine (the reference).
    #[default]
    Cpu,
    /// NVIDIA GPU number `n` (as `nvidia-smi` counts them); needs a build with `--features cuda`.
    Cuda(usize),
}

impl Device {
    /// What the GPU trainer cannot run yet, refused before any training: LayerNorm models, mask rewiring, and
    /// weight storage other than CSR or bitmask (`gpu_format`). Always `Ok` on the CPU.
    pub fn check(self, layernorm: bool, rewiring: bool, gpu_format: Format) -> Result<()> {
        if self == Device::Cpu {
            return Ok(());
        }
        if layernorm {
            return Err(Error::invalid(
                "device",
                "the GPU trainer does not run LayerNorm models yet: train on the CPU, or turn LayerNorm off \
                 (--layernorm false / model.layernorm = false)",
            ));
        }
        if rewiring {
            return Err(Error::invalid(
                "device",
                "rewiring runs on the CPU only: drop --device cuda or the rewiring settings",
            ));
        }
        if gpu_format == Format::Dense {
            return Err(Error::invalid(
                "gpu format",
                "the GPU stores masked weights as csr or bitmask, not dense",
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;
    /// `cpu`, `cuda` (GPU 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Device> {
        let bad = || {
            Error::invalid(
                "device",
                format!("'{s}' is not a device; use cpu, cuda (GPU 0) or cuda:N (GPU number N)"),
            )
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Device, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An opened device, ready to train.
pub enum Backend {
    /// The CPU: layers on the formats `formats` chooses, kernels parallel as `par` says.
    Cpu {
        /// Layer storage.
        formats: FormatChoice,
        /// Parallelism inside a step (changes no bit).
        par: Par,
    },
    /// An NVIDIA GPU and the storage of masked weights on it.
    #[cfg(feature = "cuda")]
    Cuda(crate::gpu::Gpu, Format),
}

/// What one training phase did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhaseReport {
    /// The storage of each layer (e.g. `csr`, `dense`, `gpu csr`).
    pub formats: Vec<String>,
    /// `(epoch, mean loss)` of every epoch, epochs counted from 1.
    pub losses: Vec<(usize, f32)>,
}

impl Backend {
    /// Opens `device` (on the CPU with `formats` and `par`; on a GPU storing masked weights as `gpu_format`),
    /// failing with a clear message when it cannot be used.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn open(
        device: Device,
        formats: FormatChoice,
        par: Par,
        gpu_format: Format,
    ) -> Result<Backend> {
        match device {
            Device::Cpu => Ok(Backend::Cpu { formats, par }),
            #[cfg(feature = "cuda")]
            Device::Cuda(n) => {
                let format = match gpu_format {
                    Format::Dense => return Err(Error::invalid("gpu format", "use csr or bitmask")),
                    f => f,
                };
                let gpu = crate::gpu::Gpu::new(n)?;
                gpu.load_all_modules()?;
                Ok(Backend::Cuda(gpu, format))
            }
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => Err(Error::Device(
                "this neurosplit was built without --features cuda; rebuild with \
                 `cargo build --release --features cuda` (or `cargo install --path . --features cuda`) to \
                 train on a GPU"
                    .into(),
            )),
        }
    }

    /// One line naming the device, e.g. for a run's log.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu { formats, par } => format!("cpu ({formats} layer formats, {par:?})"),
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu, format) => format!("{} ({format:?} weights)", gpu.describe()),
        }
    }

    /// Whether this is the CPU.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Backend::Cpu { .. })
    }

    /// Trains `model` on `data` for `cfg.epochs` epochs with a fresh Adam state, shuffling with `shuffle`; with
    /// a `rewirer` (CPU only), its mask updates after every step. After each epoch `e` (from 1) calls
    /// `on_epoch(e, mean_loss, snapshot)`, where `snapshot` is the model as trained so far when `e` is a
    /// multiple of `snapshot_every` (0 = never), else `None` (on a GPU a snapshot costs a download).
    #[allow(clippy::too_many_arguments)] // one phase's inputs, each its own concern; none has a default
    pub fn train(
        &self,
        model: &mut Mlp,
        data: &Dataset,
        cfg: TrainConfig,
        shuffle: &mut Rng,
        rewirer: Option<&mut Rewirer>,
        snapshot_every: usize,
        on_epoch: impl FnMut(usize, f32, Option<&Mlp>),
    ) -> Result<PhaseReport> {
        let plain = PhaseExtras::default();
        let run = self.train_with(
            model,
            data,
            cfg,
            &plain,
            None,
            shuffle,
            rewirer,
            snapshot_every,
            on_epoch,
        )?;
        Ok(run.0)
    }

    /// [`Backend::train`] with the phase's warm-up and orthogonality penalty (`extras`) and, with `adam`, an
    /// optimizer state to start from instead of a fresh one (see [`crate::nn::Adam::carried`]); also returns the
    /// optimizer state at the end. Non-plain `extras` and a given state are CPU-only (an error on a GPU).
    #[allow(clippy::too_many_arguments)] // one phase's inputs, each its own concern; none has a default
    pub fn train_with(
        &self,
        model: &mut Mlp,
        data: &Dataset,
        cfg: TrainConfig,
        extras: &PhaseExtras,
        adam: Option<Adam>,
        shuffle: &mut Rng,
        mut rewirer: Option<&mut Rewirer>,
        snapshot_every: usize,
        mut on_epoch: impl FnMut(usize, f32, Option<&Mlp>),
    ) -> Result<(PhaseReport, Option<Adam>)> {
        let wants = |e: usize| snapshot_every > 0 && e.is_multiple_of(snapshot_every);
        let mut report = PhaseReport::default();
        let end_state;
        match self {
            Backend::Cpu { formats, par } => {
                let mut trainer = Trainer::new(model, cfg)?
                    .with_format(model, *formats, *par)
                    .with_extras(*extras)?;
                if let Some(adam) = adam {
                    trainer = trainer.with_adam(model, adam)?;
                }
                report.formats = trainer.formats().iter().map(ToString::to_string).collect();
                for e in 1..=cfg.epochs {
                    let loss = match rewirer.as_deref_mut() {
                        Some(rw) => trainer.epoch_with(model, data, shuffle, |m, a| {
                            rw.after_step(m, a);
                        }),
                        None => trainer.epoch(model, data, shuffle),
                    };
                    finite(e, loss, model, &cfg)?;
                    report.losses.push((e, loss));
                    on_epoch(e, loss, wants(e).then_some(&*model));
                }
                end_state = Some(trainer.adam().clone());
            }
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu, format) => {
                use crate::gpu::{GpuDataset, GpuTrainer};
                if rewirer.is_some() {
                    return Err(Error::invalid("device", "rewiring runs on the CPU only"));
                }
                if !cfg.precision.is_fp32() {
                    return Err(Error::invalid("precision", "bf16 runs on the CPU only"));
                }
                if !extras.is_plain() || adam.is_some() {
                    return Err(Error::invalid(
                        "device",
                        "warm-up, lambda_orth and a carried Adam state run on the CPU only",
                    ));
                }
                let dev_data = GpuDataset::upload(gpu, data)?;
                let mut trainer = GpuTrainer::new(gpu, model, cfg, *format)?;
                report.formats =
                    vec![format!("gpu {format:?}").to_lowercase(); model.layers().len()];
                for e in 1..=cfg.epochs {
                    let loss = trainer.epoch(&dev_data, shuffle)?;
                    finite(e, loss, model, &cfg)?;
                    report.losses.push((e, loss));
                    if wants(e) {
                        trainer.download(model)?;
                        on_epoch(e, loss, Some(&*model));
                    } else {
                        on_epoch(e, loss, None);
                    }
                }
                trainer.download(model)?;
                end_state = None;
            }
        }
        Ok((report, end_state))
    }
}

/// Training stops with an error at the first epoch whose mean loss is not finite, or (checked on the last
/// epoch, where the weights are final) whose weights are not: a NaN or infinite model is never written or
/// measured as if it had trained.
fn finite(epoch: usize, loss: f32, model: &Mlp, cfg: &TrainConfig) -> Result<()> {
    let weights_bad = || {
        model
            .layers()
            .iter()
            .any(|l| l.weight().iter().chain(l.bias()).any(|v| !v.is_finite()))
    };
    if loss.is_finite() && (epoch < cfg.epochs || !weights_bad()) {
        return Ok(());
    }
    Err(Error::invalid(
        "training",
        format!(
            "it diverged at epoch {epoch} of {}: the {} is not finite (loss {loss}); the likely cause is a \
             learning rate ({}) or penalties (l1 {}, l2 {}) too large for this model and data: lower them, \
             or scale the features",
            cfg.epochs,
            if loss.is_finite() { "model's weights" } else { "mean loss" },
            cfg.lr,
            cfg.reg.l1_first,
            cfg.reg.l2
        ),
    ))
}

/// The device a [`test_device!`](crate::test_device) test's CUDA variant runs on: GPU 0 when one can be opened;
/// otherwise `None` after printing (to the process's stderr, which the test harness does not capture) that the
/// test could not run and why — or a panic when the environment variable `NEUROSPLIT_REQUIRE_GPU` is `1`, so that
/// a GPU machine's test run cannot pass without running its GPU tests.
pub fn cuda_for_test(test: &str) -> Option<Device> {
    use std::io::Write;
    let device = Device::Cuda(0);
    match Backend::open(device, FormatChoice::Auto, Par::Seq, Format::Csr) {
        Ok(_) => Some(device),
        Err(e) => {
            if std::env::var_os("NEUROSPLIT_REQUIRE_GPU").is_some_and(|v| v == "1") {
                panic!("{test}: NEUROSPLIT_REQUIRE_GPU=1 but the GPU cannot be used: {e}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test} on cuda (no GPU could be opened): {e}"
            );
            None
        }
    }
}

/// One test body for every device (after candle's `test_device!`): `test_device!(body, name_cpu, name_cuda)`
/// defines `#[test] fn name_cpu()` calling `body(Device::Cpu)` and, in a build with `--features cuda`,
/// `#[test] fn name_cuda()` calling `body(Device::Cuda(0))` — which, without a usable GPU, prints that it could
/// not run and passes, or fails when `NEUROSPLIT_REQUIRE_GPU=1` (see [`cuda_for_test`]).
#[macro_export]
macro_rules! test_device {
    ($body:ident, $cpu:ident, $cuda:ident) => {
        #[test]
        fn $cpu() {
            $body($crate::device::Device::Cpu);
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $cuda() {
            if let Some(device) = $crate::device::cuda_for_test(stringify!($cuda)) {
                $body(device);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert_eq!(Device::Cuda(3).to_string(), "cuda:3");
        let err = "tpu".parse::<Device>().unwrap_err().to_string();
        assert!(err.contains("cuda:N"), "{err}");
        assert!("cuda:x".parse::<Device>().is_err());
    }

    #[test]
    fn what_the_gpu_cannot_run_is_refused_up_front() {
        let gpu = Device::Cuda(0);
        assert!(Device::Cpu.check(true, true, Format::Dense).is_ok());
        assert!(gpu.check(true, false, Format::Csr).is_err());
        assert!(gpu.check(false, true, Format::Csr).is_err());
        assert!(gpu.check(false, false, Format::Dense).is_err());
        assert!(gpu.check(false, false, Format::Bitmask).is_ok());
    }
}
