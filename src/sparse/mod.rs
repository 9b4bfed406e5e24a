//! Sparsity patterns and sparse storage. A [`Mask`] is the symbolic support of a weight matrix, kept apart from
//! its values: splitting and rewiring change the pattern, the optimizer changes only values.
//!
//! * [`Bitmask`]: dense values plus one bit per entry, for moderate densities;
//! * [`Csr`]: a [`Pattern`] (row pointers, `u32` column indices) plus compact values, for low densities;
//! * [`format`](mod@format): which of dense / bitmask / CSR a layer runs on, and the per-layer execution plan.
//!
//! The kernels for both formats are in [`crate::kernels::csr`].

pub mod bitmask;
pub mod csr;

pub mod mask;

pub use crate::nn::exec::{Format, FormatChoice, LayerExec};
pub use bitmask::Bitmask;
pub use csr::{Csr, Pattern};
pub use mask::Mask;
