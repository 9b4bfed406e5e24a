//! One finished trial as the results file stores it: what the trial pipeline produced for one cell and trial,
//! plus where it was computed. The runner writes these, the store reads and deduplicates them, the report
//! summarises them; this file imports none of those.

use serde::{Deserialize, Serialize};

use crate::pipeline::trial::{ModelRecord, Protocol};
use crate::provenance::Provenance;

/// One finished trial: one line of the results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The spec's name.
    pub spec: String,
    /// The spec's [`Spec::fingerprint`](crate::experiment::spec::Spec::fingerprint), hex.
    pub fingerprint: String,
    /// The cell's [`Cell::key`](crate::experiment::runner::Cell::key).
    pub cell: String,
    /// Trial index within the cell.
    pub trial: usize,
    /// The cell-and-trial seed every stream derives from.
    pub seed: u64,
    /// Dense test accuracy after pre-training.
    pub pre_test_acc: f64,
    /// Dense live weights (the budget).
    pub pre_nnz: usize,
    /// Post-split models: `dense`, then one per alpha x strategy.
    pub models: Vec<ModelRecord>,
    /// Seconds for data and pre-training.
    pub pre_seconds: f64,
    /// The protocol the trial ran under (absent in records written before it was recorded: the paper's).
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Training samples (absent in records written before it was recorded).
    #[serde(default)]
    pub n_train: Option<usize>,
    /// Test samples (absent in records written before it was recorded).
    #[serde(default)]
    pub n_test: Option<usize>,
    /// Where the record comes from: version, commit, instruction set, machine, threads, data checksums (absent
    /// in records written before it was recorded; not part of the result proper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl TrialRecord {
    /// The record with its timings zeroed: what must be bit-identical between runs.
    pub fn without_timings(&self) -> TrialRecord {
        let mut r = self.clone();
        r.pre_seconds = 0.0;
        r.provenance = None;
        r.models.iter_mut().for_each(|m| m.seconds = 0.0);
        r
    }
}
