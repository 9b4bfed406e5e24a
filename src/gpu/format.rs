//! Sparse weight formats on the device, built from a dense weight and its [`Mask`].
//!
//! * CSR ([`GpuCsr`]): `row_ptr` / `col_idx` / values of the live entries only, plus the transposed pattern for
//!   the input gradient. Masked weights are not stored, so they cannot become non-zero.
//! * Bitmask ([`GpuBitmask`]): the dense `n x k` values plus one bit per entry in 32-bit words; kernels skip
//!   masked entries and the optimizer never touches them.
//!
//! The host-side [`CsrPattern`] holds the index arrays and is what the tests check without a GPU. It is the
//! device layout (`u32` row pointers, the transposed pattern and the entry-to-row map the SDDMM walks), not a
//! second CPU CSR type: [`crate::sparse::Csr`] is the host storage.
//!
//! The fields of [`CsrPattern`], [`GpuCsr`] and [`GpuBitmask`] are private: they are built only by the checked
//! constructors here ([`CsrPattern::new`], [`GpuWeight::upload`]), so the launchers of [`super::ops`] may rely
//! on their invariants (index arrays consistent with the shape, every index in bounds, device buffers of the
//! stated lengths).

use cudarc::driver::CudaSlice;

use super::{driver_error, Gpu};
use crate::error::{Error, Result};
use crate::sparse::{Format, Mask};

/// The CSR pattern of the live entries of a `rows x cols` weight, and of its transpose.
///
/// Invariants: `row_ptr` has `rows + 1` non-decreasing entries from 0 to `nnz`; within a row `col_idx` is
/// strictly increasing; `row_idx[e]` is the row of entry `e`; `t_ptr`/`t_row` are the same for the transpose
/// (columns of the weight), and `t_pos[e]` is the index in the CSR value array of transposed entry `e`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrPattern {
    rows: usize,
    cols: usize,
    row_ptr: Vec<u32>,
    col_idx: Vec<u32>,
    row_idx: Vec<u32>,
    t_ptr: Vec<u32>,
    t_row: Vec<u32>,
    t_pos: Vec<u32>,
}

impl CsrPattern {
    /// The pattern of `mask`, or of a dense `rows x cols` matrix when `mask` is `None`.
    pub fn new(rows: usize, cols: usize, mask: Option<&Mask>) -> Result<Self> {
        if let Some(m) = mask {
            if m.rows() != rows || m.cols() != cols {
                return Err(Error::invalid(
                    "GPU weight",
                    format!(
                        "a {}x{} mask for a {rows}x{cols} weight",
                        m.rows(),
                        m.cols()
                    ),
                ));
            }
        }
        let nnz = mask.map_or(rows * cols, Mask::count);
        if nnz > u32::MAX as usize || rows >= i32::MAX as usize || cols >= i32::MAX as usize {
            return Err(Error::invalid(
                "GPU weight",
                format!("{rows} x {cols} with {nnz} live entries exceeds the 32-bit indices of the GPU kernels"),
            ));
        }
        let mut row_ptr = Vec::with_capacity(rows + 1);
        let mut col_idx = Vec::with_capacity(nnz);
        let mut row_idx = Vec::with_capacity(nnz);
        row_ptr.push(0u32);
        for r in 0..rows {
            match mask {
                Some(m) => col_idx.extend(m.row_iter(r).map(|c| c as u32)),
                None => col_idx.extend(0..cols as u32),
            }
            row_idx.resize(col_idx.len(), r as u32);
            row_ptr.push(col_idx.len() as u32);
        }
        // Transpose by counting sort over columns; rows come out increasing within each column.
        let mut t_ptr = vec![0u32; cols + 1];
        for &c in &col_idx {
            t_ptr[c as usize + 1] += 1;
        }
        for c in 0..cols {
            t_ptr[c + 1] += t_ptr[c];
        }
        let mut next = t_ptr.clone();
        let mut t_row = vec![0u32; nnz];
        let mut t_pos = vec![0u32; nnz];
        for (e, (&c, &r)) in col_idx.iter().zip(&row_idx).enumerate() {
            let slot = &mut next[c as usize];
            t_row[*slot as usize] = r;
            t_pos[*slot as usize] = e as u32;
            *slot += 1;
        }
        Ok(CsrPattern {
            rows,
            cols,
            row_ptr,
            col_idx,
            row_idx,
            t_ptr,
            t_row,
            t_pos,
        })
    }

    /// Number of live entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// Rows of the weight (`n`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the weight (`k`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Start of each row's entries, `rows + 1` values.
    pub fn row_ptr(&self) -> &[u32] {
        &self.row_ptr
    }

    /// Column of each entry.
    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }

    /// Row of each entry (the SDDMM walks entries, not rows).
    pub fn row_idx(&self) -> &[u32] {
        &self.row_idx
    }

    /// Start of each column's entries in the transposed pattern, `cols + 1` values.
    pub fn t_ptr(&self) -> &[u32] {
        &self.t_ptr
    }

    /// Row of each transposed entry, increasing within a column.
    pub fn t_row(&self) -> &[u32] {
        &self.t_row
    }

    /// Index into the CSR values of each transposed entry.
    pub fn t_pos(&self) -> &[u32] {
        &self.t_pos
    }

    /// The live entries of a row-major `rows x cols` weight, in CSR order.
    pub fn gather(&self, weight: &[f32]) -> Vec<f32> {
        assert_eq!(weight.len(), self.rows * self.cols, "weight shape mismatch");
        self.row_idx
            .iter()
            .zip(&self.col_idx)
            .map(|(&r, &c)| weight[r as usize * self.cols + c as usize])
            .collect()
    }

    /// Writes CSR `values` into a row-major weight; entries outside the pattern are set to `0.0`.
    pub fn scatter(&self, values: &[f32], weight: &mut [f32]) {
        assert_eq!(values.len(), self.nnz(), "value count mismatch");
        assert_eq!(weight.len(), self.rows * self.cols, "weight shape mismatch");
        weight.fill(0.0);
        for ((&r, &c), &v) in self.row_idx.iter().zip(&self.col_idx).zip(values) {
            weight[r as usize * self.cols + c as usize] = v;
        }
    }
}

/// The support of a `rows x cols` weight as 32-bit words, `wpr` per row: bit `c % 32` of word `c / 32` of a row
/// is set when `(r, c)` is live. Returns `(wpr, words)`; `wpr = 2 ceil(cols / 64)` (each `u64` word of [`Mask`]
/// split into its low and high halves).
pub fn bitmask_words(rows: usize, cols: usize, mask: Option<&Mask>) -> (usize, Vec<u32>) {
    let full;
    let m = match mask {
        Some(m) => {
            assert!(m.rows() == rows && m.cols() == cols, "mask shape mismatch");
            m
        }
        None => {
            full = Mask::full(rows, cols);
            &full
        }
    };
    let wpr = 2 * cols.div_ceil(64);
    let mut words = Vec::with_capacity(rows * wpr);
    for r in 0..rows {
        for &w in m.row_words(r) {
            words.push(w as u32);
            words.push((w >> 32) as u32);
        }
    }
    (wpr, words)
}

/// A masked weight in CSR form on the device, built by [`GpuWeight::upload`].
///
/// Invariants: each device index array is a copy of the host [`CsrPattern`]'s (same length and contents), and
/// `values` holds `pattern.nnz()` values in CSR order.
#[derive(Debug)]
pub struct GpuCsr {
    pattern: CsrPattern,
    row_ptr: CudaSlice<u32>,
    col_idx: CudaSlice<u32>,
    row_idx: CudaSlice<u32>,
    t_ptr: CudaSlice<u32>,
    t_row: CudaSlice<u32>,
    t_pos: CudaSlice<u32>,
    values: CudaSlice<f32>,
}

impl GpuCsr {
    /// The pattern, kept on the host to scatter values back.
    pub fn pattern(&self) -> &CsrPattern {
        &self.pattern
    }

    /// Row pointers on the device (`rows + 1`).
    pub fn row_ptr(&self) -> &CudaSlice<u32> {
        &self.row_ptr
    }

    /// Column indices on the device (`nnz`).
    pub fn col_idx(&self) -> &CudaSlice<u32> {
        &self.col_idx
    }

    /// Row of each entry on the device (`nnz`).
    pub(crate) fn row_idx(&self) -> &CudaSlice<u32> {
        &self.row_idx
    }

    /// The transposed pattern on the device: column pointers (`cols + 1`), rows and value positions (`nnz`).
    pub(crate) fn transposed(&self) -> (&CudaSlice<u32>, &CudaSlice<u32>, &CudaSlice<u32>) {
        (&self.t_ptr, &self.t_row, &self.t_pos)
    }

    /// Values of the live entries, in CSR order (`nnz`).
    pub fn values(&self) -> &CudaSlice<f32> {
        &self.values
    }

    /// The values, for the optimizer: the buffer must keep its length (`nnz`).
    pub(crate) fn values_mut(&mut self) -> &mut CudaSlice<f32> {
        &mut self.values
    }
}

/// A masked weight as dense values and a bitmask on the device, built by [`GpuWeight::upload`].
///
/// Invariants: `words` holds `rows * wpr` words with `wpr = 2 ceil(cols / 64)` (from `bitmask_words`),
/// `values` holds `rows * cols` values, and `rows`, `cols` fit an `i32`.
#[derive(Debug)]
pub struct GpuBitmask {
    rows: usize,
    cols: usize,
    wpr: usize,
    words: CudaSlice<u32>,
    values: CudaSlice<f32>,
}

impl GpuBitmask {
    /// Rows (`n`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (`k`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// 32-bit words per row.
    pub fn wpr(&self) -> usize {
        self.wpr
    }

    /// The support on the device, `rows * wpr` words.
    pub(crate) fn words(&self) -> &CudaSlice<u32> {
        &self.words
    }

    /// Dense row-major values; masked entries are `0.0`.
    pub fn values(&self) -> &CudaSlice<f32> {
        &self.values
    }

    /// The words and the values, for the optimizer: the value buffer must keep its length (`rows * cols`).
    pub(crate) fn words_values_mut(&mut self) -> (&CudaSlice<u32>, &mut CudaSlice<f32>) {
        (&self.words, &mut self.values)
    }
}

/// A weight on the device in [`Format::Csr`] or [`Format::Bitmask`].
#[derive(Debug)]
pub enum GpuWeight {
    /// CSR form (boxed: it carries the host-side pattern).
    Csr(Box<GpuCsr>),
    /// Bitmask form.
    Bitmask(GpuBitmask),
}

impl GpuWeight {
    /// Uploads a row-major `rows x cols` weight with its optional mask (masked entries must be `0.0`, as
    /// [`crate::nn::Linear`] guarantees).
    pub fn upload(
        gpu: &Gpu,
        format: Format,
        rows: usize,
        cols: usize,
        weight: &[f32],
        mask: Option<&Mask>,
    ) -> Result<Self> {
        if weight.len() != rows * cols {
            return Err(Error::invalid(
                "GPU weight",
                format!("{} values for a {rows}x{cols} weight", weight.len()),
            ));
        }
        let s = gpu.stream();
        let up = |v: &[u32]| s.clone_htod(v).map_err(|e| driver_error("upload", e));
        match format {
            Format::Csr => {
                let p = CsrPattern::new(rows, cols, mask)?;
                let values = s
                    .clone_htod(&p.gather(weight))
                    .map_err(|e| driver_error("upload", e))?;
                Ok(GpuWeight::Csr(Box::new(GpuCsr {
                    row_ptr: up(&p.row_ptr)?,
                    col_idx: up(&p.col_idx)?,
                    row_idx: up(&p.row_idx)?,
                    t_ptr: up(&p.t_ptr)?,
                    t_row: up(&p.t_row)?,
                    t_pos: up(&p.t_pos)?,
                    values,
                    pattern: p,
                })))
            }
            Format::Dense => Err(Error::invalid(
                "GPU format",
                "the GPU kernels store a weight as csr or bitmask, not dense",
            )),
            Format::Bitmask => {
                if rows >= i32::MAX as usize || cols >= i32::MAX as usize {
                    return Err(Error::invalid("GPU weight", "too many rows or columns"));
                }
                if let Some(m) = mask {
                    if m.rows() != rows || m.cols() != cols {
                        return Err(Error::invalid("GPU weight", "mask shape mismatch"));
                    }
                }
                let (wpr, words) = bitmask_words(rows, cols, mask);
                Ok(GpuWeight::Bitmask(GpuBitmask {
                    rows,
                    cols,
                    wpr,
                    words: up(&words)?,
                    values: s
                        .clone_htod(weight)
                        .map_err(|e| driver_error("upload", e))?,
                }))
            }
        }
    }

    /// Rows (`n`, outputs).
    pub fn rows(&self) -> usize {
        match self {
            GpuWeight::Csr(c) => c.pattern.rows,
            GpuWeight::Bitmask(b) => b.rows,
        }
    }

    /// Columns (`k`, inputs).
    pub fn cols(&self) -> usize {
        match self {
            GpuWeight::Csr(c) => c.pattern.cols,
            GpuWeight::Bitmask(b) => b.cols,
        }
    }

    /// Number of stored values (`nnz` for CSR, `rows * cols` for the bitmask form): the length of a gradient or
    /// optimizer-moment buffer for this weight.
    pub fn stored(&self) -> usize {
        match self {
            GpuWeight::Csr(c) => c.pattern.nnz(),
            GpuWeight::Bitmask(b) => b.rows * b.cols,
        }
    }

    /// The stored values.
    pub fn values(&self) -> &CudaSlice<f32> {
        match self {
            GpuWeight::Csr(c) => &c.values,
            GpuWeight::Bitmask(b) => &b.values,
        }
    }

    /// Expands stored values of this weight's layout (e.g. a gradient) into a row-major `rows x cols` matrix,
    /// zeros outside the pattern.
    pub fn to_dense(&self, stored: &[f32]) -> Vec<f32> {
        match self {
            GpuWeight::Csr(c) => {
                let mut out = vec![0.0; c.pattern.rows * c.pattern.cols];
                c.pattern.scatter(stored, &mut out);
                out
            }
            GpuWeight::Bitmask(_) => stored.to_vec(),
        }
    }

    /// Copies the values back into a row-major weight (waits for queued work).
    pub fn download(&self, gpu: &Gpu, weight: &mut [f32]) -> Result<()> {
        let values = gpu
            .stream()
            .clone_dtoh(self.values())
            .map_err(|e| driver_error("download", e))?;
        match self {
            GpuWeight::Csr(c) => c.pattern.scatter(&values, weight),
            GpuWeight::Bitmask(_) => weight.copy_from_slice(&values),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: usize, cols: usize, seed: usize) -> Mask {
        let live: Vec<bool> = (0..rows * cols)
            .map(|i| (i * 7 + seed * 13) % 5 < 2 || i % 11 == 0)
            .collect();
        Mask::from_bools(rows, cols, &live)
    }

    #[test]
    fn csr_pattern_and_its_transpose_describe_the_mask() {
        for &(rows, cols) in &[(1, 1), (3, 70), (16, 32), (5, 129), (4, 0), (0, 4)] {
            let m = mask(rows, cols, rows + cols);
            let p = CsrPattern::new(rows, cols, Some(&m)).unwrap();
            assert_eq!(p.nnz(), m.count());
            assert_eq!(p.row_ptr.len(), rows + 1);
            for r in 0..rows {
                let cols_r: Vec<u32> =
                    p.col_idx[p.row_ptr[r] as usize..p.row_ptr[r + 1] as usize].to_vec();
                assert_eq!(cols_r, m.row_iter(r).map(|c| c as u32).collect::<Vec<_>>());
                assert!(p.row_idx[p.row_ptr[r] as usize..p.row_ptr[r + 1] as usize]
                    .iter()
                    .all(|&x| x as usize == r));
            }
            let mut seen = vec![false; p.nnz()];
            for c in 0..cols {
                let range = p.t_ptr[c] as usize..p.t_ptr[c + 1] as usize;
                let rows_c: Vec<usize> =
                    p.t_row[range.clone()].iter().map(|&r| r as usize).collect();
                let expect: Vec<usize> = (0..rows).filter(|&r| m.get(r, c)).collect();
                assert_eq!(rows_c, expect, "column {c}");
                for e in range {
                    let pos = p.t_pos[e] as usize;
                    assert_eq!(p.col_idx[pos] as usize, c);
                    assert_eq!(p.row_idx[pos], p.t_row[e]);
                    assert!(!seen[pos]);
                    seen[pos] = true;
                }
            }
            assert!(seen.iter().all(|&s| s));

            let mut w: Vec<f32> = (0..rows * cols).map(|i| i as f32 + 0.5).collect();
            m.apply(&mut w);
            let mut back = vec![9.0; rows * cols];
            p.scatter(&p.gather(&w), &mut back);
            assert_eq!(back, w);
        }
        let dense = CsrPattern::new(3, 4, None).unwrap();
        assert_eq!(dense.nnz(), 12);
        assert_eq!(
            dense,
            CsrPattern::new(3, 4, Some(&Mask::full(3, 4))).unwrap()
        );
    }

    #[test]
    fn bitmask_words_match_the_mask() {
        for &(rows, cols) in &[(1, 1), (3, 70), (2, 64), (4, 129)] {
            let m = mask(rows, cols, 3);
            let (wpr, words) = bitmask_words(rows, cols, Some(&m));
            assert_eq!(wpr, 2 * cols.div_ceil(64));
            assert_eq!(words.len(), rows * wpr);
            for r in 0..rows {
                for c in 0..wpr * 32 {
                    let bit = (words[r * wpr + c / 32] >> (c % 32)) & 1 == 1;
                    assert_eq!(bit, c < cols && m.get(r, c), "({r}, {c})");
                }
            }
            let (_, full) = bitmask_words(rows, cols, None);
            assert_eq!(
                full,
                bitmask_words(rows, cols, Some(&Mask::full(rows, cols))).1
            );
        }
    }
}
