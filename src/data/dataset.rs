//! The in-memory data set: row-major `f32` features and integer labels.

use crate::error::{Error, Result};
use crate::kernels;

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
        if !x.len().is_multiple_of(d) {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "{} feature values is not a multiple of the dimension {d}",
                    x.len()
                ),
            ));
        }
        let n = x.len() / d;
        if n == 0 {
            return Err(Error::invalid(
                "dataset",
                "it has no rows: a data set needs at least one sample",
            ));
        }
        if y.len() != n {
            return Err(Error::invalid(
                "dataset",
                format!("{n} rows of features but {} labels", y.len()),
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "feature {} of row {} is {}: features must be finite numbers (drop or impute NaN/Inf first)",
                    i % d,
                    i / d,
                    x[i]
                ),
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
    ///
    /// The transpose runs in blocks of 16 samples: their rows are read once into L1 and every feature's 16
    /// values are written as one contiguous run, instead of one scattered store per value. While a block is
    /// transposed, the rows of the next block are prefetched one cache line per row and tile, so their memory
    /// latency overlaps the current block's work.
    pub fn gather_t(
        &self,
        mut idx: impl ExactSizeIterator<Item = usize>,
        xt: &mut [f32],
        y: &mut [u32],
    ) {
        const BLOCK: usize = 16;
        let (b, d) = (idx.len(), self.d);
        assert!(
            xt.len() >= b * d && y.len() >= b,
            "gather_t: buffers too short"
        );
        // The rows of the samples `start..` (at most a block) and how many there are.
        let mut take = |start: usize| {
            let mut next: [&[f32]; BLOCK] = [&[]; BLOCK];
            let n = BLOCK.min(b.saturating_sub(start));
            for (k, row) in next.iter_mut().enumerate().take(n) {
                let i = idx.next().expect("iterator shorter than its len()");
                *row = self.row(i);
                y[start + k] = self.y[i];
            }
            (n, next)
        };
        let (mut n_next, mut next) = take(0);
        // A BLOCK x BLOCK tile read along the samples' rows (one cache line of each) and written along the
        // features' rows, so neither side walks memory with a stride.
        let mut tile = [[0f32; BLOCK]; BLOCK];
        let mut start = 0;
        while start < b {
            let (n, rows) = (n_next, next);
            (n_next, next) = take(start + n);
            for j0 in (0..d).step_by(BLOCK) {
                for row in &next[..n_next] {
                    kernels::prefetch::prefetch(&row[j0]);
                }
                let m = BLOCK.min(d - j0);
                for (t, row) in tile.iter_mut().zip(&rows[..n]) {
                    if m == BLOCK {
                        *t = row[j0..j0 + BLOCK].try_into().expect("a full block");
                    } else {
                        t[..m].copy_from_slice(&row[j0..j0 + m]);
                    }
                }
                for jj in 0..m {
                    let out = &mut xt[(j0 + jj) * b + start..(j0 + jj) * b + start + n];
                    for (o, t) in out.iter_mut().zip(&tile[..n]) {
                        *o = t[jj];
                    }
                }
            }
            start += n;
        }
    }

    /// Fraction of rows with label 1 (meaningful for binary tasks).
    pub fn positive_fraction(&self) -> f64 {
        self.y.iter().filter(|&&c| c == 1).count() as f64 / self.n.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_t_transposes_the_chosen_rows_at_every_block_size() {
        let (n, d) = (40, 7);
        let x: Vec<f32> = (0..n * d).map(|v| v as f32).collect();
        let y: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let data = Dataset::new(x, y, d, Task::Binary).unwrap();
        for b in [1, 15, 16, 17, 33, 40] {
            let idx: Vec<usize> = (0..b).map(|s| (s * 13 + 5) % n).collect();
            let mut xt = vec![-1.0; b * d];
            let mut yt = vec![9; b];
            data.gather_t(idx.iter().copied(), &mut xt, &mut yt);
            for (slot, &i) in idx.iter().enumerate() {
                assert_eq!(yt[slot], data.y[i]);
                for j in 0..d {
                    assert_eq!(
                        xt[j * b + slot],
                        data.row(i)[j],
                        "b={b} slot={slot} feature={j}"
                    );
                }
            }
        }
    }
}
