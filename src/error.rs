//! One error type for the whole crate.
//!
//! Following the sprs guidelines: a shape mismatch between a caller's own buffers is a programmer error and
//! panics with a message; bad user input (configuration, arguments, files) is an [`enum@Error`] whose message says
//! what is wrong and how to fix it.

use thiserror::Error;

/// Everything that can go wrong because of user input or the environment.
#[derive(Debug, Error)]
pub enum Error {
    /// A configuration value or command-line argument is out of range or inconsistent with another.
    #[error("invalid {what}: {why}")]
    InvalidArgument {
        /// Which setting is wrong (e.g. `alpha`).
        what: String,
        /// What is wrong with it and how to fix it.
        why: String,
    },
    /// An input asks for more memory or work than the stated bounds allow (see [`crate::limits`]).
    #[error("{what}: {why}")]
    TooLarge {
        /// What would be too large (e.g. `the Gram matrix of layer 0 (50000 x 50000 inputs)`).
        what: String,
        /// How much it needs and what the bound is.
        why: String,
    },
    /// A data generator could not satisfy its constraints (e.g. negatives that never miss every clause).
    #[error("data generation failed: {0}")]
    Data(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model file is unreadable, corrupt, or does not describe a model neurosplit can load.
    #[error("model file {path}: {why}")]
    ModelFile {
        /// The file involved.
        path: String,
        /// What is wrong with it and how to fix it.
        why: String,
    },
    /// Drawing or writing a picture failed.
    #[error("picture {path}: {why}")]
    Plot {
        /// The picture's file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// A GPU was asked for but cannot be used: the binary was built without `--features cuda`, the NVIDIA
    /// driver library or a device is missing, or a CUDA call failed. The message says which.
    #[error("GPU: {0}")]
    Device(String),
    /// Serialising results failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            why: why.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
