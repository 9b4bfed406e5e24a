//! A bit-packed `rows x cols` mask: bit `(r, c)` set means weight `(r, c)` is live (may be non-zero).

/// Bit-packed support of a row-major `rows x cols` matrix, one bit per entry in `u64` words.
///
/// Each row starts on a fresh word (`words_per_row = ceil(cols / 64)`), so a row's bits can be scanned without
/// shifting. Invariant: bits past `cols` in a row's last word are zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    rows: usize,
    cols: usize,
    words_per_row: usize,
    words: Vec<u64>,
}

impl Mask {
    /// A mask with every entry live.
    pub fn full(rows: usize, cols: usize) -> Self {
        let mut m = Self::empty(rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                m.set(r, c, true);
            }
        }
        m
    }

    /// A mask with no live entry.
    pub fn empty(rows: usize, cols: usize) -> Self {
        let words_per_row = cols.div_ceil(64);
        Mask {
            rows,
            cols,
            words_per_row,
            words: vec![0; rows * words_per_row],
        }
    }

    /// Builds a mask from a row-major slice of booleans.
    pub fn from_bools(rows: usize, cols: usize, live: &[bool]) -> Self {
        assert_eq!(live.len(), rows * cols, "mask shape mismatch");
        let mut m = Self::empty(rows, cols);
        for (i, &b) in live.iter().enumerate() {
            if b {
                m.set(i / cols, i % cols, true);
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

    /// Whether entry `(r, c)` is live.
    #[inline]
    pub fn get(&self, r: usize, c: usize) -> bool {
        debug_assert!(r < self.rows && c < self.cols);
        (self.words[r * self.words_per_row + c / 64] >> (c % 64)) & 1 == 1
    }

    /// Whether flat row-major entry `i` is live.
    #[inline]
    pub fn get_flat(&self, i: usize) -> bool {
        self.get(i / self.cols, i % self.cols)
    }

    /// Sets entry `(r, c)` live or masked.
    #[inline]
    pub fn set(&mut self, r: usize, c: usize, live: bool) {
        assert!(
            r < self.rows && c < self.cols,
            "mask index ({r}, {c}) out of {}x{}",
            self.rows,
            self.cols
        );
        let w = &mut self.words[r * self.words_per_row + c / 64];
        let bit = 1u64 << (c % 64);
        if live {
            *w |= bit;
        } else {
            *w &= !bit;
        }
    }

    /// Number of live entries.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Number of live entries in row `r`.
    pub fn row_count(&self, r: usize) -> usize {
        self.row_words(r)
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// Words per row (`ceil(cols / 64)`).
    pub fn words_per_row(&self) -> usize {
        self.words_per_row
    }

    /// All words, row after row ([`Mask::words_per_row`] per row).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The transposed mask (`cols x rows`).
    pub fn transpose(&self) -> Mask {
        let mut t = Mask::empty(self.cols, self.rows);
        for r in 0..self.rows {
            for c in self.row_iter(r) {
                t.set(c, r, true);
            }
        }
        t
    }

    /// The words of row `r`.
    pub fn row_words(&self, r: usize) -> &[u64] {
        &self.words[r * self.words_per_row..(r + 1) * self.words_per_row]
    }

    /// The live column indices of row `r`, ascending.
    pub fn row_iter(&self, r: usize) -> impl Iterator<Item = usize> + '_ {
        self.row_words(r).iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }

    /// Live fraction of the entries.
    pub fn density(&self) -> f64 {
        self.count() as f64 / (self.rows * self.cols).max(1) as f64
    }

    /// Sets every masked entry of `values` (row-major, same shape) to exactly `0.0`.
    pub fn apply(&self, values: &mut [f32]) {
        assert_eq!(values.len(), self.rows * self.cols, "mask shape mismatch");
        for r in 0..self.rows {
            let row = &mut values[r * self.cols..(r + 1) * self.cols];
            for (c, v) in row.iter_mut().enumerate() {
                if !self.get(r, c) {
                    *v = 0.0;
                }
            }
        }
    }

    /// The mask as row-major booleans.
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.rows * self.cols)
            .map(|i| self.get_flat(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_and_iterate() {
        let mut m = Mask::empty(3, 70);
        m.set(0, 0, true);
        m.set(0, 69, true);
        m.set(2, 64, true);
        assert_eq!(m.count(), 3);
        assert_eq!(m.row_iter(0).collect::<Vec<_>>(), vec![0, 69]);
        assert_eq!(m.row_iter(1).count(), 0);
        assert_eq!(m.row_iter(2).collect::<Vec<_>>(), vec![64]);
        m.set(0, 0, false);
        assert_eq!(m.count(), 2);
        assert_eq!(Mask::full(3, 70).count(), 210);
        let b = m.to_bools();
        assert_eq!(Mask::from_bools(3, 70, &b), m);
    }
}
