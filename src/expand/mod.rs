//! Fixed Parameter Expansion (Sec. 2.3, Alg. A1): split every hidden neuron into `alpha` children with
//! disjoint input supports, duplicate the outgoing weights, and prune back to the original non-zero budget.

pub mod fpe;
pub mod strategy;

pub use fpe::{expand, FpeConfig, FpeReport};
pub use strategy::{partition, Strategy};
