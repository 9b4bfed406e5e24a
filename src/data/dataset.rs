//! The in-memory data set: row-major `f32` features and integer labels.

use crate::error::{Error, Result};

/// What the model predicts, which fixes the output width and the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Task {
    /// One logit, sigmoid + binary cross-entropy; labels are 0 or 1.
    Binary,
    /// `C` logits, softmax cross-entropy; labels are `0..C`.
    Multiclass(usize),
}

impl Task {
    /// Width of the output layer.
    pub fn outputs(self) -> usize {
        match self {
            Task::Binary => 1,
            Task::Multiclass(c) => c,
        }
    }
}

/// `n` samples of `d` features (row-major in `x`), with labels `y` and optional feature groups.
///
/// Feature groups (for DNF data: the clauses) are what the `clause` split strategy keeps whole.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Features, `n x d`, row-major.
    pub x: Vec<f32>,
    /// Labels, one per row.
    pub y: Vec<u32>,
    /// Number of samples.
    pub n: usize,
    /// Number of features.
    pub d: usize,
    /// Binary or multiclass.
    pub task: Task,
    /// Disjoint groups of feature indices that belong together (e.g. DNF clauses), if known.
    pub groups: Option<Vec<Vec<usize>>>,
}

impl Dataset {
    /// Builds a data set after checking that the buffers agree with `n`, `d` and the task.
    pub fn new(x: Vec<f32>, y: Vec<u32>, d: usize, task: Task) -> Result<Self> {
        if d == 0 {
            return Err(Error::invalid("dataset", "feature dimension is 0"));
        }
        if x.len() % d != 0 {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "{} feature values is not a multiple of the dimension {d}",
                    x.len()
                ),
            ));
        }
        let n = x.len() / d;
        if y.len() != n {
            return Err(Error::invalid(
                "dataset",
                format!("{n} rows of features but {} labels", y.len()),
            ));
        }
        let classes = task.outputs().max(2) as u32;
        if let Some(bad) = y.iter().find(|&&c| c >= classes) {
            return Err(Error::invalid(
                "dataset",
                format!("label {bad} is out of range for {task:?}"),
            ));
        }
        Ok(Dataset {
            x,
            y,
            n,
            d,
            task,
            groups: None,
        })
    }

    /// Row `i` of the features.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// Copies the samples `idx` into `xt` feature-major (`d x idx.len()`) and their labels into `y`.
    pub fn gather_t(
        &self,
        idx: impl ExactSizeIterator<Item = usize>,
        xt: &mut [f32],
        y: &mut [u32],
    ) {
        let b = idx.len();
        assert!(
            xt.len() >= b * self.d && y.len() >= b,
            "gather_t: buffers too short"
        );
        for (slot, i) in idx.enumerate() {
            let row = self.row(i);
            for (j, &v) in row.iter().enumerate() {
                xt[j * b + slot] = v;
            }
            y[slot] = self.y[i];
        }
    }

    /// Fraction of rows with label 1 (meaningful for binary tasks).
    pub fn positive_fraction(&self) -> f64 {
        self.y.iter().filter(|&&c| c == 1).count() as f64 / self.n.max(1) as f64
    }
}
