//! How a kernel spreads its work: [`Par`], and the one row-splitting helper every parallel kernel uses.
//!
//! The output rows are cut into contiguous ranges of about equal cost, one per task on the current rayon pool.
//! Each output element is computed by exactly one task in the same order as sequentially, so results are
//! bit-identical whatever the thread count.

/// How a kernel may spread its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    /// On the calling thread.
    #[default]
    Seq,
    /// Cut into this many pieces run as tasks of the current rayon pool (`Rayon(1)` is sequential).
    Rayon(usize),
}

impl Par {
    /// Number of pieces to cut the work into.
    pub fn pieces(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Rayon(n) => n.max(1),
        }
    }
}

/// Row boundaries `0 = r_0 <= ... <= r_m = rows` of at most `pieces` ranges with about equal `cost`, where
/// `cost(r)` is the cumulative cost of rows `0..r` (non-decreasing).
pub(crate) fn split_rows(rows: usize, pieces: usize, cost: impl Fn(usize) -> usize) -> Vec<usize> {
    let pieces = pieces.clamp(1, rows.max(1));
    let total = cost(rows);
    let mut bounds = vec![0];
    for t in 1..pieces {
        let target = total * t / pieces;
        // First row boundary whose prefix cost reaches the target.
        let (mut lo, mut hi) = (*bounds.last().unwrap(), rows);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cost(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        bounds.push(lo);
    }
    bounds.push(rows);
    bounds.dedup();
    bounds
}

/// Runs `f(r0, r1, out_piece)` for each row range of `bounds`; `offset(r)` is where row `r`'s output starts in
/// `out` (non-decreasing), so the pieces are disjoint slices.
pub(crate) fn run_pieces<O, F>(bounds: &[usize], offset: O, out: &mut [f32], f: F)
where
    O: Fn(usize) -> usize,
    F: Fn(usize, usize, &mut [f32]) + Sync,
{
    let (first, last) = (bounds[0], *bounds.last().unwrap());
    if bounds.len() <= 2 {
        f(first, last, &mut out[offset(first)..offset(last)]);
        return;
    }
    let f = &f;
    let offsets: Vec<usize> = bounds.iter().map(|&r| offset(r)).collect();
    rayon::scope(|s| {
        let mut rest = &mut out[offsets[0]..offsets[offsets.len() - 1]];
        for (w, o) in bounds.windows(2).zip(offsets.windows(2)) {
            let (piece, tail) = rest.split_at_mut(o[1] - o[0]);
            rest = tail;
            let (r0, r1) = (w[0], w[1]);
            s.spawn(move |_| f(r0, r1, piece));
        }
    });
}

/// `par.pieces()` near-equal row ranges of `0..rows` (at most one per row): [`split_rows`] with a unit cost
/// per row.
pub(crate) fn even_rows(rows: usize, par: Par) -> Vec<usize> {
    split_rows(rows, par.pieces(), |r| r)
}
