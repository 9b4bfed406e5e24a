//! The same sparse training on an NVIDIA GPU (`--features cuda`).
//!
//! The CUDA C sources live in `cuda/*.cu`, one file per op family; the PTX generated from them by a pinned
//! `nvcc` (`scripts/gen-ptx.sh`) is checked in under `cuda/ptx/` and compiled into the crate with
//! `include_str!`, so this feature builds on a machine without CUDA. At run time the driver library
//! (`libcuda`) is loaded dynamically; [`Gpu::new`] checks for it first and returns [`Error::Device`] instead
//! of panicking when it, or a device, is missing. A PTX module is loaded into the context the first time one
//! of its kernels is launched, then cached.
//!
//! | here | CPU twin | kernel file |
//! |---|---|---|
//! | [`linear_forward`] | [`crate::kernels::linear_forward`] | `csr.cu`, `bitmask.cu` |
//! | [`linear_backward_input`] | [`crate::kernels::linear_backward_input`] (+ fused [`crate::kernels::relu_backward`]) | `csr.cu`, `bitmask.cu` |
//! | [`linear_backward_weight`] | [`crate::kernels::linear_backward_weight`] (SDDMM on the live pattern) | `csr.cu`, `bitmask.cu` |
//! | [`bias_grad`], [`relu_backward`] | [`crate::kernels::bias_grad`], [`crate::kernels::relu_backward`] | `elementwise.cu` |
//! | [`bce_with_logits`], [`softmax_ce`] | [`crate::kernels::loss`] | `loss.cu` |
//! | [`adam_update`] | [`crate::nn::Adam::step`] with [`crate::nn::Regularizer::add_grad`] fused | `adam.cu` |
//! | [`layer_norm_forward`], [`layer_norm_backward`] | [`crate::nn::LayerNorm`] | `layernorm.cu` |
//! | [`GpuTrainer`] | [`crate::nn::Trainer`] | all |
//!
//! Layouts are the CPU engine's: activations feature-major (`width x batch`, batch contiguous), weights
//! row-major `out x in`. A sparse weight is either CSR ([`GpuCsr`]) or dense values with a bit-packed support
//! ([`GpuBitmask`]), both built from a dense weight and its [`crate::sparse::Mask`]; the format is the crate's one
//! [`crate::sparse::Format`] (`Csr` or `Bitmask`; `Dense` is refused with an error).
//!
//! `unsafe` appears only in the launch functions of [`ops`] (a kernel launch cannot be checked by the
//! compiler) and in the driver probe of [`driver_present`]; each block states why its arguments match the
//! callee's signature and bounds, relying only on asserted lengths and on the invariants of the device types,
//! whose fields are private and set only by their checked constructors. The cuBLAS / cuSPARSE baselines of the
//! benchmarks live in `examples/gpu_kernels/`.

mod context;
mod format;
pub mod ops;
mod train;

pub use context::{driver_present, Gpu};
pub use format::{CsrPattern, GpuBitmask, GpuCsr, GpuWeight};
pub use ops::{
    adam_update, bce_with_logits, bias_grad, layer_norm_backward, layer_norm_forward,
    linear_backward_input, linear_backward_weight, linear_forward, relu_backward, softmax_ce,
    AdamHyper,
};
pub use train::{GpuDataset, GpuTrainer};

use crate::error::Error;

pub(crate) fn driver_error(what: &str, e: cudarc::driver::DriverError) -> Error {
    Error::Device(format!("{what}: {e}"))
}
