//! Sparse storage as plain data: the symbolic support of a weight matrix and the formats its values are kept
//! in. Nothing here computes a product or knows about layers; this module imports only [`crate::error`].
//!
//! * [`Mask`]: the support of a weight matrix, one bit per entry, kept apart from its values: splitting and
//!   rewiring change the pattern, the optimizer changes only values;
//! * [`Csr`]: a [`Pattern`] (row pointers, `u32` column indices) plus compact values, for low densities;
//! * [`Format`]: which storage a layer's products run on (dense, bitmask or CSR), and [`Format::choose`].
//!
//! The bitmask format is a [`Mask`] over the layer's own dense weights (zeros where masked), so it has no value
//! type of its own. The products are in [`crate::kernels::csr`] and [`crate::kernels::bitmask`]; the per-layer
//! executor that picks and runs them is [`crate::nn::LayerExec`].

pub mod csr;
pub mod format;
pub mod mask;

pub use csr::{Csr, Pattern};
pub use format::{Format, DENSE_CROSSOVER};
pub use mask::Mask;
