//! The one list of storage formats a weight's products can run on, and the rule that picks one from a layer's
//! shape and density. Plain data: the CPU executor ([`crate::nn::LayerExec`]) and the GPU weights both use it.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Storage a layer's products run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Every weight is multiplied (masked ones are zeros).
    Dense,
    /// Dense values, live entries found from the mask's bits.
    Bitmask,
    /// Row pointers, column indices, compact values.
    Csr,
}

/// Density from which a layer runs dense: where the three products of the dense kernel cost what CSR's cost.
/// Measured with `cargo run --release --example sparse_sweep` on the development machine (batch 500, one
/// thread). Where the crossover lies depends on the shape and the machine: `docs/PERFORMANCE.md` ("Format
/// crossover") has today's sweep, in which dense and CSR cost the same nearer 50 % density.
pub const DENSE_CROSSOVER: f64 = 0.7;

impl Format {
    /// All formats.
    pub const ALL: [Format; 3] = [Format::Dense, Format::Bitmask, Format::Csr];

    /// The format expected to be fastest for a `rows x cols` layer with `nnz` live weights: dense at densities
    /// from [`DENSE_CROSSOVER`] up, CSR below.
    pub fn choose(rows: usize, cols: usize, nnz: usize) -> Format {
        let density = nnz as f64 / (rows * cols).max(1) as f64;
        if density >= DENSE_CROSSOVER {
            Format::Dense
        } else {
            Format::Csr
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Dense => "dense",
            Format::Bitmask => "bitmask",
            Format::Csr => "csr",
        })
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "dense" => Ok(Format::Dense),
            "bitmask" => Ok(Format::Bitmask),
            "csr" => Ok(Format::Csr),
            _ => Err(Error::invalid(
                "format",
                format!("`{s}` is not a layer format; use auto, dense, bitmask or csr"),
            )),
        }
    }
}
