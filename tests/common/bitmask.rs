//! A [`Bitmask`] matrix: dense row-major values plus one bit per entry ([`Mask`]) saying which entries are live.
//! Test-only: in the library the bitmask format is a layer's own dense weights plus its mask
//! (`neurosplit::nn::Linear`), so the conversions are checked here against CSR.
//!
//! For moderate densities this is the cheaper format to keep: no index arrays, the dense view is the storage,
//! and the kernels decode a row's live columns from its `u64` words with a trailing-zero count per entry.

#![allow(dead_code)]

use neurosplit::sparse::{Csr, Mask};
use neurosplit::{Error, Result};

/// Dense row-major `rows x cols` values with a support mask. Invariant: every masked entry is exactly `0.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bitmask {
    mask: Mask,
    values: Vec<f32>,
}

impl Bitmask {
    /// A matrix from its mask and dense values; a masked entry that is not `0.0` is an error.
    pub fn new(mask: Mask, values: Vec<f32>) -> Result<Self> {
        if values.len() != mask.rows() * mask.cols() {
            return Err(Error::invalid(
                "bitmask values",
                format!(
                    "{} values for a {}x{} mask",
                    values.len(),
                    mask.rows(),
                    mask.cols()
                ),
            ));
        }
        if let Some(i) = (0..values.len()).find(|&i| values[i] != 0.0 && !mask.get_flat(i)) {
            return Err(Error::invalid(
                "bitmask values",
                format!(
                    "entry ({}, {}) is {} but masked; masked entries must be 0",
                    i / mask.cols(),
                    i % mask.cols(),
                    values[i]
                ),
            ));
        }
        Ok(Bitmask { mask, values })
    }

    /// A dense matrix with its non-zero entries live.
    pub fn from_dense(rows: usize, cols: usize, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), rows * cols, "dense shape mismatch");
        let live: Vec<bool> = values.iter().map(|&v| v != 0.0).collect();
        Bitmask {
            mask: Mask::from_bools(rows, cols, &live),
            values,
        }
    }

    /// The same matrix from CSR storage.
    pub fn from_csr(m: &Csr) -> Self {
        Bitmask {
            mask: m.pattern().to_mask(),
            values: m.to_dense(),
        }
    }

    /// The same matrix in CSR storage (live zeros stay stored).
    pub fn to_csr(&self) -> Csr {
        Csr::from_dense_masked(&self.mask, &self.values)
    }

    /// The support.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// The dense row-major values (masked entries are `0.0`).
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Sets the live entries from a dense row-major buffer; masked entries stay `0.0`.
    pub fn set_values(&mut self, dense: &[f32]) {
        assert_eq!(dense.len(), self.values.len(), "dense shape mismatch");
        self.values.copy_from_slice(dense);
        self.mask.apply(&mut self.values);
    }

    /// Splits into mask and dense values.
    pub fn into_parts(self) -> (Mask, Vec<f32>) {
        (self.mask, self.values)
    }

    /// Number of live entries.
    pub fn nnz(&self) -> usize {
        self.mask.count()
    }
}

pub mod tests {
    use super::*;

    /// Called from a `#[test]` of the including file.
    pub fn validated_and_round_trips_through_csr() {
        let mut mask = Mask::empty(2, 3);
        mask.set(0, 1, true);
        mask.set(1, 2, true);
        assert!(Bitmask::new(mask.clone(), vec![0.0, 1.0, 0.0, 0.0, 0.0, 2.0]).is_ok());
        assert!(Bitmask::new(mask.clone(), vec![5.0, 1.0, 0.0, 0.0, 0.0, 2.0]).is_err());
        assert!(Bitmask::new(mask.clone(), vec![0.0; 5]).is_err());
        // A live zero survives the round trip through CSR.
        let b = Bitmask::new(mask, vec![0.0, 0.0, 0.0, 0.0, 0.0, 2.0]).unwrap();
        let c = b.to_csr();
        assert_eq!(c.nnz(), 2);
        assert_eq!(Bitmask::from_csr(&c), b);
        let d = Bitmask::from_dense(2, 3, vec![1.0, 0.0, 0.0, 0.0, 0.0, 3.0]);
        assert_eq!(d.nnz(), 2);
    }
}
