//! Data sets: the paper's Boolean DNF generator (Alg. A2) and the in-memory [`Dataset`] every model trains on.

pub mod dataset;
pub mod dnf;

pub use dataset::{Dataset, Task};
pub use dnf::Dnf;
