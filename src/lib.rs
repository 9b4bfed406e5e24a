//! # neurosplit
//!
//! A CPU-first engine for **Fixed Parameter Expansion** (FPE), from *Expand Neurons, Not Parameters*
//! (Kong, Subramanian, Shavit, Adler, Alistarh, Shavit; arXiv 2510.04500).
//!
//! ## The idea
//!
//! A small MLP `z = W_2 ReLU(W_1 x + b_1) + b_2` with `h` hidden neurons must represent more features than it
//! has neurons, so features share neurons and interfere (*superposition*, *polysemanticity*). FPE widens the
//! hidden layer to `h' = alpha h` neurons **without adding non-zero weights**:
//!
//! 1. each neuron `p` becomes `alpha` children `p*alpha + j` whose input supports are disjoint and together cover
//!    the parent's support: `W_1'[p*alpha+j, :] = m_{p,j} ⊙ W_1[p, :]` with `sum_j m_{p,j} = 1`;
//! 2. every child copies the parent's bias, and `W_2'[:, p*alpha+j] = W_2[:, p]` (outgoing weights duplicated);
//! 3. the budget `P = nnz(W_1) + nnz(W_2)` is restored exactly by pruning the `(alpha - 1) nnz(W_2)`
//!    smallest-magnitude live weights jointly over `W_1'` and `W_2'`;
//! 4. training goes on with the masks fixed: a masked weight, its gradient and its Adam moments stay exactly 0.
//!
//! Features that shared a parent now reach different children, so their interference drops while the number
//! of non-zero weights is unchanged. On the paper's Boolean task (a read-once 4-DNF, one feature per clause) the
//! clause-aligned split gives every clause a child of its own.
//!
//! ## Map of the crate
//!
//! | module | what |
//! |---|---|
//! | [`data`] | the DNF generator of Alg. A2, the [`data::Dataset`] type |
//! | [`nn`] | layers with optional masks, the MLP's forward/backward, the per-layer executor (dense / bitmask / CSR), mask-aware Adam, LayerNorm, L1/L2, the training loop |
//! | [`kernels`] | the dense and sparse (CSR, bitmask) products, fused bias + activation, losses in logits form |
//! | [`sparse`] | plain storage: bit-packed support masks, CSR patterns and matrices, the one [`sparse::Format`] list |
//! | [`expand`] | FPE itself, its split strategies (random, clause, gram, 2:4, custom), alternating expansion of deep nets, mask rewiring |
//! | [`theory`] | coverage and collision probabilities of random FPE nets (Sec. 2.5, A.5): exact, approximate, Monte Carlo |
//! | `gpu` | with `--features cuda`: the same training on an NVIDIA GPU (CSR / bitmask kernels, PTX checked in) |
//! | [`experiment`] | the paper's experiments as TOML specs: resumable, sharded runner, reports with Welch tests, figures |
//! | [`metrics`] | Gram matrix, feature capacity, neuron cosine similarity, relative improvement |
//! | [`plot`] | the paper's pictures (PNG, SVG): Fig. 2 weight/Gram heatmaps, curves with error bars, heatmaps |
//! | [`io`] | model files (safetensors: weights, biases, masks, provenance) |
//! | [`rng`] | seed derivation: every trial and purpose has its own stream |
//!
//! ## Example
//!
//! ```
//! use neurosplit::data::Dnf;
//! use neurosplit::expand::{expand, FpeConfig, Strategy};
//! use neurosplit::nn::{accuracy, Mlp, TrainConfig, Trainer};
//! use neurosplit::rng::stream;
//!
//! # fn main() -> neurosplit::Result<()> {
//! let dnf = Dnf::with_clauses(8, 4)?; // 32 literals, 8 clauses of 4
//! let train = dnf.generate(2000, &mut stream(0, &[1]))?;
//! let test = dnf.generate(500, &mut stream(0, &[2]))?;
//! let mut dense = Mlp::new(&[32, 8, 1], train.task, &mut stream(0, &[3]))?;
//! let cfg = TrainConfig { epochs: 5, ..TrainConfig::default() };
//! Trainer::new(&dense, cfg)?.fit(&mut dense, &train, &mut stream(0, &[4]), |_, _| {});
//!
//! let fpe = FpeConfig { alpha: 2, strategy: Strategy::Clause, layer: 0 };
//! let (mut wide, report) = expand(&dense, &fpe, train.groups.as_deref(), &mut stream(0, &[5]))?;
//! assert_eq!(wide.nnz(), dense.nnz()); // same non-zero budget, twice the neurons
//! assert_eq!(report.width_after, 16);
//! Trainer::new(&wide, cfg)?.fit(&mut wide, &train, &mut stream(0, &[6]), |_, _| {});
//! assert_eq!(wide.nnz(), dense.nnz());
//! println!("test accuracy {:.3}", accuracy(&wide, &test));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod data;
pub mod device;
pub mod error;
pub mod expand;
pub mod experiment;
pub mod floats;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod limits;
pub mod metrics;
pub mod nn;
pub mod pipeline;
pub mod plot;
pub mod provenance;
pub mod rng;
pub mod sparse;
pub mod stats;
pub mod theory;

pub use error::{Error, Result};
