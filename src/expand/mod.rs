//! Fixed Parameter Expansion (Sec. 2.3, Alg. A1): split every hidden neuron into `alpha` children with
//! disjoint input supports, duplicate the outgoing weights, and prune back to the original non-zero budget.

pub mod alpha;
pub mod assignment;
pub mod deep;
pub mod fpe;
pub mod gram;
pub mod rewire;
pub mod strategy;

pub use alpha::Alpha;
pub use assignment::Assignment;
pub use deep::{
    expand_alternating, expand_alternating_with, expanded_layers, DeepInputs, DeepReport,
};
pub use fpe::{
    expand, expand_with, expand_with_rules, ChildBias, FpeConfig, FpeReport, OutColumn, Pruning,
    SplitInputs, SplitRules,
};
pub use rewire::{Decay, RewireConfig, RewireReport, Rewirer};
pub use strategy::{partition, Strategy};
