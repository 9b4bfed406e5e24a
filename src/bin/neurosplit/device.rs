//! `--device cpu|cuda`: where `neurosplit train` runs its training phases.

use clap::ValueEnum;

use neurosplit::data::Dataset;
use neurosplit::kernels::Par;
use neurosplit::nn::FormatChoice;
use neurosplit::nn::{Mlp, TrainConfig, Trainer};
use neurosplit::rng::Rng;
#[cfg(not(feature = "cuda"))]
use neurosplit::Error;
use neurosplit::Result;

/// The device a command trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// The CPU engine (the reference).
    Cpu,
    /// An NVIDIA GPU (needs a binary built with `--features cuda` and the NVIDIA driver).
    Cuda,
}

/// How `--device cuda` stores the masked weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GpuFormat {
    /// Compressed sparse rows of the live weights.
    Csr,
    /// Dense values with a bit-packed mask.
    Bitmask,
}

/// An opened device.
pub enum Backend {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(neurosplit::gpu::Gpu, neurosplit::sparse::Format),
}

impl Backend {
    /// Opens `device`, failing with a clear message (never a panic) when it cannot be used.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn open(device: Device, format: GpuFormat) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Backend::Cpu),
            #[cfg(feature = "cuda")]
            Device::Cuda => {
                let gpu = neurosplit::gpu::Gpu::new(0)?;
                gpu.load_all_modules()?;
                println!("device: {} ({format:?} weights)", gpu.describe());
                let format = match format {
                    GpuFormat::Csr => neurosplit::sparse::Format::Csr,
                    GpuFormat::Bitmask => neurosplit::sparse::Format::Bitmask,
                };
                Ok(Backend::Cuda(gpu, format))
            }
            #[cfg(not(feature = "cuda"))]
            Device::Cuda => Err(Error::Device(
                "this neurosplit was built without --features cuda; rebuild with \
                 `cargo build --release --features cuda` (or `cargo install --path . --features cuda`) to use \
                 --device cuda"
                    .into(),
            )),
        }
    }

    /// Trains `model` on `data` for `cfg.epochs` epochs, shuffling with `rng`, calling `on_epoch(epoch, loss)`;
    /// on the CPU with the layer formats and kernel parallelism `cpu`. Returns the format of each layer.
    pub fn fit(
        &self,
        model: &mut Mlp,
        data: &Dataset,
        cfg: TrainConfig,
        rng: &mut Rng,
        on_epoch: impl FnMut(usize, f32),
        cpu: (FormatChoice, Par),
    ) -> Result<Vec<String>> {
        match self {
            Backend::Cpu => {
                let mut trainer = Trainer::new(model, cfg)?.with_format(model, cpu.0, cpu.1);
                let formats = trainer.formats().iter().map(ToString::to_string).collect();
                trainer.fit(model, data, rng, on_epoch);
                Ok(formats)
            }
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu, format) => {
                use neurosplit::gpu::{GpuDataset, GpuTrainer};
                let dev_data = GpuDataset::upload(gpu, data)?;
                let mut trainer = GpuTrainer::new(gpu, model, cfg, *format)?;
                trainer.fit(&dev_data, rng, on_epoch)?;
                trainer.download(model)?;
                let name = format!("gpu {format:?}").to_lowercase();
                Ok(vec![name; model.layers().len()])
            }
        }
    }
}
