//! Sparsity patterns. A [`Mask`] is the symbolic support of a weight matrix, kept apart from its values:
//! splitting and rewiring change the pattern, the optimizer changes only values.

pub mod mask;

pub use mask::Mask;
