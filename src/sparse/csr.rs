//! Compressed sparse row storage: a symbolic [`Pattern`] (row pointers and `u32` column indices) and a [`Csr`]
//! matrix (a pattern plus one `f32` per stored entry).
//!
//! The pattern is kept apart from the values: splitting and rewiring change the pattern, an optimizer changes
//! only the values. Values are stored **compactly** (one `f32` per stored entry, in pattern order) rather than as
//! indices into a dense array: the kernels then stream values and column indices side by side, the matrix owns
//! nothing of size `rows x cols`, and it converts to and from `sprs::CsMat` without copying indices twice. A layer
//! that keeps a dense row-major view of its weights refreshes the compact values with [`Csr::gather`] (one read
//! per stored entry, negligible beside the `2 x batch` flops each entry costs in a product).

use crate::error::{Error, Result};

use super::Mask;

/// The symbolic structure of a `rows x cols` CSR matrix.
///
/// Invariants (checked by every constructor, so a `Pattern` that exists is valid):
/// `row_ptr.len() == rows + 1`, `row_ptr[0] == 0`, `row_ptr` non-decreasing, `row_ptr[rows] == col_idx.len()`,
/// and the column indices of every row strictly increasing and `< cols`; `cols` fits in a `u32`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    rows: usize,
    cols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<u32>,
}

impl Pattern {
    /// A pattern from raw parts, validated.
    pub fn new(rows: usize, cols: usize, row_ptr: Vec<usize>, col_idx: Vec<u32>) -> Result<Self> {
        let bad = |why: String| Err(Error::invalid("CSR pattern", why));
        if u32::try_from(cols).is_err() {
            return bad(format!(
                "{cols} columns do not fit u32 column indices; split the matrix"
            ));
        }
        if row_ptr.len() != rows + 1 {
            return bad(format!(
                "{} row pointers for {rows} rows; need rows + 1 = {}",
                row_ptr.len(),
                rows + 1
            ));
        }
        if row_ptr[0] != 0 {
            return bad(format!("row_ptr[0] is {}, must be 0", row_ptr[0]));
        }
        if row_ptr[rows] != col_idx.len() {
            return bad(format!(
                "row_ptr[{rows}] = {} but there are {} column indices",
                row_ptr[rows],
                col_idx.len()
            ));
        }
        for r in 0..rows {
            let (s, e) = (row_ptr[r], row_ptr[r + 1]);
            if s > e {
                return bad(format!("row pointers decrease at row {r} ({s} > {e})"));
            }
            let row = &col_idx[s..e];
            if let Some(&c) = row.iter().find(|&&c| c as usize >= cols) {
                return bad(format!("row {r} has column {c}, out of 0..{cols}"));
            }
            if let Some(w) = row.windows(2).find(|w| w[0] >= w[1]) {
                return bad(format!(
                    "row {r}: column indices must strictly increase, found {} then {}",
                    w[0], w[1]
                ));
            }
        }
        Ok(Pattern {
            rows,
            cols,
            row_ptr,
            col_idx,
        })
    }

    /// The live entries of `mask`.
    pub fn from_mask(mask: &Mask) -> Self {
        let mut row_ptr = Vec::with_capacity(mask.rows() + 1);
        let mut col_idx = Vec::with_capacity(mask.count());
        row_ptr.push(0);
        for r in 0..mask.rows() {
            col_idx.extend(mask.row_iter(r).map(|c| c as u32));
            row_ptr.push(col_idx.len());
        }
        Pattern {
            rows: mask.rows(),
            cols: mask.cols(),
            row_ptr,
            col_idx,
        }
    }

    /// Every entry of a `rows x cols` matrix.
    pub fn full(rows: usize, cols: usize) -> Self {
        Self::from_mask(&Mask::full(rows, cols))
    }

    /// The pattern as a bit mask.
    pub fn to_mask(&self) -> Mask {
        let mut m = Mask::empty(self.rows, self.cols);
        for r in 0..self.rows {
            for &c in self.row(r) {
                m.set(r, c as usize, true);
            }
        }
        m
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// Row pointers (`rows + 1` offsets into [`Pattern::col_idx`]).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// Column indices of all rows, concatenated.
    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }

    /// Column indices of row `r`.
    pub fn row(&self, r: usize) -> &[u32] {
        &self.col_idx[self.row_ptr[r]..self.row_ptr[r + 1]]
    }

    /// The transposed pattern (`cols x rows`) and, for each of its entries, the position of the same entry in
    /// `self` (so `values_t[q] = values[perm[q]]`). Rows of the transpose list their columns ascending.
    pub fn transpose(&self) -> (Pattern, Vec<u32>) {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in &self.col_idx {
            counts[c as usize + 1] += 1;
        }
        for c in 0..self.cols {
            counts[c + 1] += counts[c];
        }
        let row_ptr = counts.clone();
        let mut next = counts;
        let mut col_idx = vec![0u32; self.nnz()];
        let mut perm = vec![0u32; self.nnz()];
        for r in 0..self.rows {
            for p in self.row_ptr[r]..self.row_ptr[r + 1] {
                let c = self.col_idx[p] as usize;
                col_idx[next[c]] = r as u32;
                perm[next[c]] = p as u32;
                next[c] += 1;
            }
        }
        (
            Pattern {
                rows: self.cols,
                cols: self.rows,
                row_ptr,
                col_idx,
            },
            perm,
        )
    }
}

/// A `rows x cols` CSR matrix: a [`Pattern`] and one value per stored entry, in pattern order.
///
/// Stored entries may hold `0.0` (a live weight that happens to be zero stays in the pattern).
#[derive(Clone, Debug, PartialEq)]
pub struct Csr {
    pattern: Pattern,
    values: Vec<f32>,
}

impl Csr {
    /// A matrix from a pattern and its values (one per stored entry).
    pub fn new(pattern: Pattern, values: Vec<f32>) -> Result<Self> {
        if values.len() != pattern.nnz() {
            return Err(Error::invalid(
                "CSR values",
                format!(
                    "{} values for a pattern of {} entries",
                    values.len(),
                    pattern.nnz()
                ),
            ));
        }
        Ok(Csr { pattern, values })
    }

    /// The non-zero entries of a dense row-major `rows x cols` matrix.
    pub fn from_dense(rows: usize, cols: usize, dense: &[f32]) -> Self {
        assert_eq!(dense.len(), rows * cols, "dense shape mismatch");
        let live: Vec<bool> = dense.iter().map(|&v| v != 0.0).collect();
        Self::from_dense_masked(&Mask::from_bools(rows, cols, &live), dense)
    }

    /// The entries of a dense row-major matrix that `mask` marks live (zeros included).
    pub fn from_dense_masked(mask: &Mask, dense: &[f32]) -> Self {
        let pattern = Pattern::from_mask(mask);
        let mut values = vec![0.0; pattern.nnz()];
        gather_into(&pattern, dense, &mut values);
        Csr { pattern, values }
    }

    /// The symbolic pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The values, in pattern order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The values, mutably (the pattern cannot change through this).
    pub fn values_mut(&mut self) -> &mut [f32] {
        &mut self.values
    }

    /// The pattern and the values, the values mutably (the pattern cannot change through this).
    pub fn parts_mut(&mut self) -> (&Pattern, &mut [f32]) {
        (&self.pattern, &mut self.values)
    }

    /// Splits into pattern and values.
    pub fn into_parts(self) -> (Pattern, Vec<f32>) {
        (self.pattern, self.values)
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.pattern.nnz()
    }

    /// Refreshes the values from a dense row-major view of the same matrix.
    pub fn gather(&mut self, dense: &[f32]) {
        gather_into(&self.pattern, dense, &mut self.values);
    }

    /// Writes the stored values into a dense row-major buffer; entries off the pattern are left untouched.
    pub fn scatter(&self, dense: &mut [f32]) {
        scatter_from(&self.pattern, &self.values, dense);
    }

    /// The dense row-major matrix (zeros off the pattern).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut d = vec![0.0; self.pattern.rows * self.pattern.cols];
        self.scatter(&mut d);
        d
    }

    /// The same matrix as a `sprs` CSR matrix.
    pub fn to_sprs(&self) -> sprs::CsMat<f32> {
        sprs::CsMat::new(
            (self.pattern.rows, self.pattern.cols),
            self.pattern.row_ptr.clone(),
            self.pattern.col_idx.iter().map(|&c| c as usize).collect(),
            self.values.clone(),
        )
    }

    /// A matrix from a `sprs` matrix (CSR or CSC storage).
    pub fn from_sprs(m: &sprs::CsMat<f32>) -> Result<Self> {
        let csr = if m.is_csr() { m.clone() } else { m.to_csr() };
        let (rows, cols) = csr.shape();
        let row_ptr = csr.indptr().to_proper().into_owned();
        let col_idx = csr
            .indices()
            .iter()
            .map(|&c| {
                u32::try_from(c).map_err(|_| {
                    Error::invalid("CSR pattern", format!("column {c} does not fit u32"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Csr::new(
            Pattern::new(rows, cols, row_ptr, col_idx)?,
            csr.data().to_vec(),
        )
    }
}

/// `values[p] = dense[r * cols + col_idx[p]]` over the pattern.
pub fn gather_into(pattern: &Pattern, dense: &[f32], values: &mut [f32]) {
    assert_eq!(
        dense.len(),
        pattern.rows * pattern.cols,
        "dense shape mismatch"
    );
    assert_eq!(values.len(), pattern.nnz(), "values length mismatch");
    for r in 0..pattern.rows {
        let (s, e) = (pattern.row_ptr[r], pattern.row_ptr[r + 1]);
        let drow = &dense[r * pattern.cols..(r + 1) * pattern.cols];
        for (v, &c) in values[s..e].iter_mut().zip(&pattern.col_idx[s..e]) {
            *v = drow[c as usize];
        }
    }
}

/// `dense[r * cols + col_idx[p]] = values[p]` over the pattern; other entries untouched.
pub fn scatter_from(pattern: &Pattern, values: &[f32], dense: &mut [f32]) {
    assert_eq!(
        dense.len(),
        pattern.rows * pattern.cols,
        "dense shape mismatch"
    );
    assert_eq!(values.len(), pattern.nnz(), "values length mismatch");
    for r in 0..pattern.rows {
        let (s, e) = (pattern.row_ptr[r], pattern.row_ptr[r + 1]);
        let drow = &mut dense[r * pattern.cols..(r + 1) * pattern.cols];
        for (&v, &c) in values[s..e].iter().zip(&pattern.col_idx[s..e]) {
            drow[c as usize] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructor_rejects_each_broken_invariant() {
        assert!(Pattern::new(2, 3, vec![0, 1, 2], vec![0, 2]).is_ok());
        assert!(Pattern::new(2, 3, vec![0, 1], vec![0]).is_err()); // too few pointers
        assert!(Pattern::new(2, 3, vec![1, 1, 2], vec![0, 2]).is_err()); // not starting at 0
        assert!(Pattern::new(2, 3, vec![0, 2, 1], vec![0, 2]).is_err()); // decreasing
        assert!(Pattern::new(2, 3, vec![0, 1, 3], vec![0, 2]).is_err()); // end != nnz
        assert!(Pattern::new(2, 3, vec![0, 1, 2], vec![0, 3]).is_err()); // column out of range
        assert!(Pattern::new(1, 3, vec![0, 2], vec![2, 1]).is_err()); // not increasing
        assert!(Pattern::new(1, 3, vec![0, 2], vec![1, 1]).is_err()); // duplicate
        let p = Pattern::new(2, 3, vec![0, 1, 2], vec![0, 2]).unwrap();
        assert!(Csr::new(p.clone(), vec![1.0]).is_err());
        assert!(Csr::new(p, vec![1.0, 2.0]).is_ok());
    }

    #[test]
    fn dense_sprs_and_transpose_round_trip() {
        let (r, c) = (5, 70);
        let dense: Vec<f32> = (0..r * c)
            .map(|i| if i % 3 == 0 { i as f32 } else { 0.0 })
            .collect();
        let m = Csr::from_dense(r, c, &dense);
        assert_eq!(m.nnz(), dense.iter().filter(|&&v| v != 0.0).count());
        assert_eq!(m.to_dense(), dense);
        let s = m.to_sprs();
        assert_eq!(Csr::from_sprs(&s).unwrap(), m);
        assert_eq!(Csr::from_sprs(&s.to_csc()).unwrap(), m);
        assert_eq!(Pattern::from_mask(&m.pattern().to_mask()), *m.pattern());
        let (t, perm) = m.pattern().transpose();
        let vt: Vec<f32> = perm.iter().map(|&p| m.values()[p as usize]).collect();
        let mt = Csr::new(t, vt).unwrap();
        let td = mt.to_dense();
        for i in 0..r {
            for j in 0..c {
                assert_eq!(td[j * r + i], dense[i * c + j]);
            }
        }
        assert_eq!(Csr::from_sprs(&s.transpose_into().to_csr()).unwrap(), mt);
    }
}
