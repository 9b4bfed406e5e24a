//! How a kernel spreads its work: [`Par`], and the one row-splitting helper every parallel kernel uses.
//!
//! The output rows are cut into contiguous ranges of about equal cost, one per task on the current rayon pool.
//! Each output element is computed by exactly one task in the same order as sequentially, so results are
//! bit-identical whatever the thread count.

use std::sync::{Mutex, PoisonError};

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
    let pieces = bounds
        .windows(2)
        .scan(&mut out[offset(first)..offset(last)], |rest, w| {
            let (piece, tail) = std::mem::take(rest).split_at_mut(offset(w[1]) - offset(w[0]));
            *rest = tail;
            Some((w[0], w[1], piece))
        })
        .collect();
    for_each_piece(pieces, |(r0, r1, piece)| f(r0, r1, piece));
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
    let pieces = lists
        .iter_mut()
        .zip(scratch.iter_mut())
        .zip(bounds.windows(2))
        .map(|((list, buf), w)| (w[0], w[1], buf, list))
        .collect();
    for_each_piece(pieces, |(c0, c1, buf, list)| f(c0, c1, buf, list));
}

/// Whether a product `C (m x n) = A (m x inner) B (inner x n)` spread over threads is better cut into ranges
/// of columns of `C` than into ranges of rows. Each piece packs its own part of one operand and the whole of
/// the other: a row piece packs all of `B` (`inner x n`), a column piece all of `A` (`m x inner`), so the cut
/// goes across the larger operand's outer dimension. Decided from the whole product's shape only; either cut
/// computes the same bits.
pub fn split_columns(m: usize, n: usize) -> bool {
    n > m
}

/// Runs `f` on every piece, each piece once, spread over the threads [`run_tasks`] uses.
pub(crate) fn for_each_piece<T: Send>(pieces: Vec<T>, f: impl Fn(T) + Sync) {
    let slots: Vec<Mutex<Option<T>>> = pieces.into_iter().map(|p| Mutex::new(Some(p))).collect();
    run_tasks(slots.len(), &|i| {
        let piece = slots[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(piece) = piece {
            f(piece);
        }
    });
}

/// Runs `task(i)` once for every `i` in `0..tasks`, on up to `rayon::current_num_threads()` threads (the
/// calling thread among them), and returns when all have finished. Which thread runs which index is not fixed,
/// so `task` must give the same result wherever it runs. A panic of any task is raised again here once every
/// task has finished.
pub fn run_tasks(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    let Some(log) = log::start(tasks) else {
        return launch(tasks, task);
    };
    let caller = std::thread::current().id();
    let first_helper = std::sync::atomic::AtomicU64::new(u64::MAX);
    launch(tasks, &|i| {
        if std::thread::current().id() != caller {
            first_helper.fetch_min(log::now(), std::sync::atomic::Ordering::Relaxed);
        }
        task(i)
    });
    log::end(log, first_helper.into_inner());
}

fn launch(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    rayon::scope(|s| {
        for i in 0..tasks {
            s.spawn(move |_| task(i));
        }
    });
}

/// An optional log of the hand-offs: with `NEUROSPLIT_HANDOFF_LOG` set, every call of [`run_tasks`] with two or
/// more tasks is timed (the serial time since the previous call returned, and the call's own time), and a
/// summary of each 1000 calls is printed to standard error.
mod log {
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Instant;

    struct Log {
        last_end: u64,
        /// (serial gap ns, call ns, ns until another thread started a task or `u64::MAX`) of the calls since
        /// the last summary.
        calls: Vec<(u64, u64, u64)>,
    }

    fn log() -> Option<&'static Mutex<Log>> {
        static LOG: OnceLock<Option<Mutex<Log>>> = OnceLock::new();
        LOG.get_or_init(|| {
            std::env::var_os("NEUROSPLIT_HANDOFF_LOG").map(|_| {
                Mutex::new(Log {
                    last_end: 0,
                    calls: Vec::with_capacity(1000),
                })
            })
        })
        .as_ref()
    }

    /// Nanoseconds since the log was opened.
    pub(super) fn now() -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    /// The start of a call of `tasks` tasks, if it is logged.
    pub(super) fn start(tasks: usize) -> Option<u64> {
        log().filter(|_| tasks > 1)?;
        Some(now())
    }

    /// The end of a call that started at `t0` and in which another thread first started a task at `helper`.
    pub(super) fn end(t0: u64, helper: u64) {
        let Some(log) = log() else {
            return;
        };
        let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
        let t1 = now();
        let gap = t0.saturating_sub(l.last_end);
        l.calls.push((
            gap,
            t1 - t0,
            if helper == u64::MAX {
                helper
            } else {
                helper.saturating_sub(t0)
            },
        ));
        if l.calls.len() == 1000 {
            let mut gaps: Vec<u64> = l.calls.iter().map(|c| c.0).collect();
            let mut calls: Vec<u64> = l.calls.iter().map(|c| c.1).collect();
            gaps.sort_unstable();
            calls.sort_unstable();
            let edges = [
                5_000u64, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
            ];
            let hist: Vec<String> = std::iter::once(0)
                .chain(edges)
                .zip(edges.iter().map(Some).chain([None]))
                .map(|(lo, hi)| {
                    let n = gaps
                        .iter()
                        .filter(|&&g| g >= lo && hi.is_none_or(|&h| g < h))
                        .count();
                    match hi {
                        Some(h) => format!("{}-{}us:{n}", lo / 1000, h / 1000),
                        None => format!(">={}us:{n}", lo / 1000),
                    }
                })
                .collect();
            let mut wake: Vec<u64> = l
                .calls
                .iter()
                .map(|c| c.2)
                .filter(|&w| w != u64::MAX)
                .collect();
            wake.sort_unstable();
            let q = |v: &[u64], p: usize| {
                v.get(v.len() * p / 100)
                    .map_or(f64::NAN, |&x| x as f64 / 1e3)
            };
            eprintln!(
                "handoff log: 1000 calls; serial gap before a call us p10/p50/p90 {:.1}/{:.1}/{:.1}, sum {:.0}; \
                 gaps {}; call us p10/p50/p90 {:.1}/{:.1}/{:.1}, sum {:.0}; \
                 another thread took part in {} calls, starting after us p10/p50/p90 {:.1}/{:.1}/{:.1}, sum {:.0}",
                q(&gaps, 10),
                q(&gaps, 50),
                q(&gaps, 90),
                gaps.iter().sum::<u64>() as f64 / 1e3,
                hist.join(" "),
                q(&calls, 10),
                q(&calls, 50),
                q(&calls, 90),
                calls.iter().sum::<u64>() as f64 / 1e3,
                wake.len(),
                q(&wake, 10),
                q(&wake, 50),
                q(&wake, 90),
                wake.iter().sum::<u64>() as f64 / 1e3,
            );
            l.calls.clear();
        }
        l.last_end = now();
    }
}
