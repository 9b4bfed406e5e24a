//! Data sets: the paper's Boolean DNF generator (Alg. A2), the FashionMNIST IDX reader, NumPy embeddings, and
//! the in-memory [`Dataset`] every model trains on.

pub mod dataset;
pub mod dnf;
pub mod idx;
pub mod npy;

pub use dataset::{Dataset, Task};
pub use dnf::Dnf;
