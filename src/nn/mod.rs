//! The model: a stack of (optionally masked) linear layers with ReLU between them, its optimizer and its
//! training loop.

pub mod exec;
mod exec_bf16;
pub mod layer;
pub mod layernorm;
pub mod mlp;
pub mod optim;
pub mod reg;
pub mod schedule;
pub mod train;

pub use exec::{FormatChoice, LayerExec};
pub use exec_bf16::BF16_DENSE_CROSSOVER;
pub use layer::Linear;
pub use layernorm::LayerNorm;
pub use mlp::{Grads, Mlp, Workspace};
pub use optim::Adam;
pub use reg::Regularizer;
pub use schedule::{PhaseExtras, Warmup, WarmupTarget};
pub use train::{accuracy, TrainConfig, Trainer};
