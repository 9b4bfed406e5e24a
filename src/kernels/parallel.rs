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

/// Column boundaries `0 = c_0 < ... < c_p = cols` of at most `par.pieces()` near-equal ranges, each inner
/// boundary a multiple of `align` (so that no piece splits a micro-kernel tile).
pub(crate) fn even_cols(cols: usize, par: Par, align: usize) -> Vec<usize> {
    let align = align.max(1);
    let tiles = cols.div_ceil(align);
    let mut bounds: Vec<usize> = split_rows(tiles, par.pieces(), |t| t)
        .into_iter()
        .map(|t| (t * align).min(cols))
        .collect();
    bounds.dedup();
    bounds
}

/// Runs `f(c0, c1, scratch, rows)` for each column range `c0..c1` of `bounds` on a row-major output `out` of
/// row stride `stride` (`out.len()` a multiple of it): `rows` holds that range of every row
/// (`out[i * stride + c0..i * stride + c1]`), `scratch` is the piece's own buffer from `scratch` (at least one
/// per piece, kept by the caller from step to step; only the lists of row pieces, one pointer per row, are
/// built per call). With a single piece, `f` runs on the calling thread.
pub(crate) fn run_col_pieces<F>(
    bounds: &[usize],
    stride: usize,
    out: &mut [f32],
    scratch: &mut [Vec<f32>],
    f: F,
) where
    F: Fn(usize, usize, &mut Vec<f32>, &mut [&mut [f32]]) + Sync,
{
    let pieces = bounds.len() - 1;
    assert!(
        scratch.len() >= pieces && *bounds.last().unwrap() <= stride,
        "run_col_pieces: {pieces} pieces need as many scratch buffers and columns within the stride"
    );
    let mut lists: Vec<Vec<&mut [f32]>> = (0..pieces)
        .map(|_| Vec::with_capacity(out.len() / stride.max(1)))
        .collect();
    for row in out.chunks_exact_mut(stride.max(1)) {
        let mut rest = &mut row[bounds[0]..];
        for (list, w) in lists.iter_mut().zip(bounds.windows(2)) {
            let (piece, tail) = rest.split_at_mut(w[1] - w[0]);
            list.push(piece);
            rest = tail;
        }
    }
    if pieces == 1 {
        return f(bounds[0], bounds[1], &mut scratch[0], &mut lists[0]);
    }
    let f = &f;
    rayon::scope(|s| {
        for ((list, buf), w) in lists
            .iter_mut()
            .zip(scratch.iter_mut())
            .zip(bounds.windows(2))
        {
            let (c0, c1) = (w[0], w[1]);
            s.spawn(move |_| f(c0, c1, buf, list));
        }
    });
}

/// Whether a product `C (m x n) = A (m x inner) B (inner x n)` spread over threads is better cut into ranges
/// of columns of `C` than into ranges of rows. Each piece packs its own part of one operand and the whole of
/// the other: a row piece packs all of `B` (`inner x n`), a column piece all of `A` (`m x inner`), so the cut
/// goes across the larger operand's outer dimension. Decided from the whole product's shape only; either cut
/// computes the same bits.
pub fn split_columns(m: usize, n: usize) -> bool {
    n > m
}
