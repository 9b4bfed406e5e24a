//! Data sets: the paper's Boolean DNF generator (Alg. A2), the FashionMNIST IDX reader, NumPy embeddings, a user's own files
//! (npz, npy, IDX, CSV), and
//! the in-memory [`Dataset`] every model trains on.

pub mod dataset;
pub mod dnf;
pub mod files;
pub mod idx;
pub mod npy;

pub use dataset::{Dataset, Task};
pub use dnf::Dnf;
pub use files::{hold_out, load_data, read_csv_columns, DataOptions, Splits};
