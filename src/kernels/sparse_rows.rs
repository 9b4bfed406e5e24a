//! Sparse kernel bodies (CSR and bitmask) on the feature-major layout, instantiated per instruction set by
//! [`super::simd`].
//!
//! * **Row products** (forward `Y = W X + bias` and input gradient `dX = W^T dY`): output row `i` is
//!   `init_i + sum_{(w, c) in row i} w * X[c, :]`, so each stored entry drives one SIMD axpy over the batch.
//!   - CSR ([`csr_rows_body`]): blocks of 32 columns (two 16-lane chunks) and groups of four output rows, eight
//!     accumulator chains in registers; the terms of a group are interleaved (one of every row per step) in a
//!     stream built once per call, with the rows sorted by length so that a group's rows have about as many
//!     terms (the shorter ones padded with terms that add `-0.0`). The packed input of a block is 128 bytes an
//!     input row, about the size of L1 at 512 input rows (the CLIP-sized W1'), instead of 512 bytes for a
//!     128-column block, so most of its loads hit L1. At the AVX-512 level the group loop is written with
//!     intrinsics (`dots_x86::csr_group`): the portable loop over four rows of two chunks is split by the
//!     compiler into 256-, 128- and 64-bit pieces with spills.
//!   - Bitmask ([`bits_rows_body`]): the batch is cut into blocks of 128 columns (eight 16-lane accumulators
//!     held in registers), then 64, 48, 32 and 16; the last block may be partly filled (its packed input padded
//!     with zeros), so the batch tail (`b % 16` columns) runs in vector registers too. Rows with many entries
//!     also cut the input rows into tiles (`tile_rows`), so that every row reads one tile of the packed slab
//!     before the next; partial sums go through a line-aligned scratch between tiles.
//!
//!   Every block reads a packed copy of `X` with each lane chunk on its own 64-byte line (rows of `b` floats
//!   are not line-aligned, and a 512-bit load across two lines costs two).
//! * **Sampled products** (weight gradient `dW = dY X^T` on the live pattern only, an SDDMM): each live entry
//!   is a dot product of two rows, `dY[i, :] . X[c, :]`, eight (then four, then one) live entries of a row at a
//!   time so that `dY[i, :]` is loaded once per chunk for several independent chains. `X` is packed once per
//!   call and each `dY` row when its dots start, every row's chunks and its zero-padded tail on their own
//!   64-byte lines; the chunk loop holds one pointer per row and no bounds checks, and at the AVX-512 level the
//!   eight lane sums of a group are reduced together in vector registers (`dots_x86`), with the same pairwise
//!   adds as `dense::reduce`; the tails then run term by term for all dots of the group at once.
//!
//! The packed copies (and the CSR term stream) live in per-thread scratch buffers that grow to the largest
//! size seen and are kept.
//!
//! Every output element is accumulated in one fixed order (terms in ascending column order, one multiply-add
//! each, fused where the instruction set has FMA: [`super::dense::madd`]), whatever the block or the thread
//! that computes it; the weight-gradient dots use the exact order of the dense row kernels ([`super::dense`]).
//! So results do not depend on the thread count, instruction sets differ within the rounding bound of
//! [`super::simd`], and on one instruction set a sparse product equals the dense row kernels' product on the
//! same masked weights up to the sign of zero sums.

use super::dense::{madd, reduce, Term, LANES};

type Lane = [f32; LANES];

/// One lane chunk on its own 64-byte line, so a 512-bit load of it never splits across two cache lines.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Line([f32; LANES]);

thread_local! {
    /// Per-thread scratch for the packed input slab of the widest block (grown on demand, never shrunk).
    static SLAB: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Per-thread scratch for the per-tile entry offsets of a CSR row product on few rows.
    static TILE_STARTS: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Per-thread scratch for the partial sums of a row product between input tiles (see `rows_generic`).
    static ACC: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[inline(always)]
fn lane(s: &[f32], at: usize) -> &Lane {
    s[at..at + LANES].try_into().expect("lane in bounds")
}

/// Input rows per tile for a row product whose rows hold `per_row` stored entries on average over `inner`
/// input rows.
///
/// A tile of `kt` input rows and one 128-column block is `kt x 512` bytes; at [`L1_TILE_ROWS`] it fits in L1
/// beside the accumulator traffic, so each stored weight's eight 512-bit loads hit L1 instead of L2. Tiling costs
/// one load and one store of the accumulators per row and tile, which competes with those loads for the same
/// ports, so tiles are widened until a row has about [`TILE_ENTRIES`] entries in each; at low density a row is
/// one tile.
fn tile_rows(inner: usize, per_row: f64) -> usize {
    let inner = inner.max(1);
    let max_tiles = inner.div_ceil(L1_TILE_ROWS);
    let tiles = ((per_row / TILE_ENTRIES as f64) as usize).clamp(1, max_tiles);
    inner.div_ceil(tiles).div_ceil(16) * 16
}

/// Input rows per tile at which a packed 128-column tile (`32 x 8` lines, 16 KiB) stays in a 32 KiB L1.
const L1_TILE_ROWS: usize = 32;
/// Stored entries per row and tile below which tiles are widened (see [`tile_rows`]).
const TILE_ENTRIES: usize = 32;

/// The generic row product: `y[i, :] = init_i + sum_{(w, c) in row i} w * x[c, :]`, then ReLU if `relu`.
///
/// `terms(i, t, lo, hi)` yields the terms `(w, c)` of row `i` whose column `c` lies in tile `t`, i.e. in
/// `lo..hi` with `lo = t * kt`, in ascending column order. Input rows are cut into tiles of `kt` rows; for each
/// block of columns the tiles are the outer loop and rows the inner one, the partial sums going through `y`
/// between tiles. Each output element still sees its terms in ascending column order on one `f32` accumulator,
/// so the result does not depend on `kt`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_generic<const F: bool, T, I>(
    rows: usize,
    b: usize,
    kt: usize,
    terms: T,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) where
    T: Fn(usize, usize, usize, usize) -> I,
    I: Iterator<Item = (f32, usize)>,
{
    assert!(y.len() >= rows * b, "sparse rows: output too short");
    assert!(kt > 0, "sparse rows: tile of zero rows");
    if let Some(bs) = bias {
        assert!(bs.len() >= rows, "sparse rows: bias too short");
    }
    let init = |i: usize| bias.map_or(0.0, |bs| bs[i]);
    let inner = x.len().checked_div(b).unwrap_or(0);
    let ntiles = inner.div_ceil(kt).max(1);
    let tile = |t: usize| (t * kt, ((t + 1) * kt).min(inner));
    let mut c0 = 0;
    // Taken out of the thread-local rather than used inside `with`: a closure would not inherit the caller's
    // target features, and its FMAs would become libm calls.
    let mut slab = SLAB.take();
    if slab.len() < inner.max(1) * 8 {
        slab.resize(inner.max(1) * 8, Line([0.0; LANES]));
    }
    let mut acc = ACC.take();
    if ntiles > 1 && acc.len() < rows * 8 {
        acc.resize(rows * 8, Line([0.0; LANES]));
    }
    // One pass over the tiles and rows for each block of `N` lane chunks, with `N` named accumulators (named
    // locals stay in registers; an array of lane arrays would spill). Each block reads a packed copy of its
    // input slab, packed once per block: activations have a row stride of `b` floats, so in place most 512-bit
    // loads would straddle two cache lines. Between tiles the partial sums go through `acc`, line-aligned like
    // the slab (through `y`, with its row stride, most of those loads and stores would straddle lines too).
    macro_rules! block {
        ($($acc:ident $j:literal),+) => {{
            const N: usize = [$($j),+].len();
            const W: usize = LANES * N;
            // A block runs while the columns left fill its `N` lane chunks, the last one possibly in part:
            // the packed copy pads that chunk with zeros and only the `valid` columns are written back.
            while (b - c0).div_ceil(LANES) >= N {
                let valid = (b - c0).min(W);
                for (c, dst) in slab[..inner * N].chunks_exact_mut(N).enumerate() {
                    if valid == W {
                        for (j, d) in dst.iter_mut().enumerate() {
                            d.0 = *lane(x, c * b + c0 + j * LANES);
                        }
                    } else {
                        let src = &x[c * b + c0..c * b + c0 + valid];
                        for (j, d) in dst.iter_mut().enumerate() {
                            for (l, v) in d.0.iter_mut().enumerate() {
                                *v = src.get(j * LANES + l).copied().unwrap_or(0.0);
                            }
                        }
                    }
                }
                for t in 0..ntiles {
                    let (lo, hi) = tile(t);
                    let (first, last) = (t == 0, t + 1 == ntiles);
                    for i in 0..rows {
                        let it = terms(i, t, lo, hi);
                        $(let mut $acc: Lane = if first {
                            [init(i); LANES]
                        } else {
                            acc[i * N + $j].0
                        };)+
                        for (w, c) in it {
                            let xs: &[Line; N] = slab[c * N..c * N + N].try_into().unwrap();
                            for l in 0..LANES {
                                $($acc[l] = madd::<F>(w, xs[$j].0[l], $acc[l]);)+
                            }
                        }
                        if last {
                            let mut tmp = [0f32; W];
                            let out: &mut [f32; W] = if valid == W {
                                (&mut y[i * b + c0..i * b + c0 + W]).try_into().unwrap()
                            } else {
                                &mut tmp
                            };
                            for l in 0..LANES {
                                $(out[$j * LANES + l] = if relu { $acc[l].max(0.0) } else { $acc[l] };)+
                            }
                            if valid < W {
                                y[i * b + c0..i * b + c0 + valid].copy_from_slice(&tmp[..valid]);
                            }
                        } else {
                            $(acc[i * N + $j].0 = $acc;)+
                        }
                    }
                }
                c0 += valid;
            }
        }};
    }
    block!(a0 0, a1 1, a2 2, a3 3, a4 4, a5 5, a6 6, a7 7);
    block!(a0 0, a1 1, a2 2, a3 3);
    block!(a0 0, a1 1, a2 2);
    block!(a0 0, a1 1);
    block!(a0 0);
    ACC.set(acc);
    SLAB.set(slab);
    debug_assert_eq!(c0, b, "sparse rows: every column in a block");
}

/// Output rows a CSR row product runs at once.
const GROUP: usize = 4;
/// Below this many rows a CSR row product runs one row at a time ([`csr_rows_small`]): building, sorting and
/// re-reading the term stream cost more there than the narrower blocks save (the case-study model's first
/// layer, 16 rows, ran slower in `examples/step_time`).
const SMALL_ROWS: usize = 64;
/// Lane chunks of a CSR row product's column block (so `GROUP * CHUNKS` accumulator chains).
const CHUNKS: usize = 2;

thread_local! {
    /// Per-thread scratch for the interleaved terms of a CSR row product (see [`csr_rows_body`]).
    static TERMS: std::cell::RefCell<Vec<Term>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Per-thread scratch for a CSR row product's row order and the step counts of its segments.
    static PLAN: std::cell::RefCell<(Vec<usize>, Vec<usize>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Bytes of packed input that one tile of a CSR row product may hold: 1.4 times the first-level data cache
/// (read from sysfs once where Linux reports it, else 32 KiB). Measured on a 48 KiB L1 (512 input rows, 64 KiB
/// a block): one tile that mostly stays in L1 ran faster than two that fit (`examples/sparse_sweep.rs`), as
/// each tile costs its rows' padding and a store and load of the partial sums.
fn l1_tile_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        let l1 = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index0/size")
            .ok()
            .and_then(|s| {
                let s = s.trim();
                let (num, mul) = match s.strip_suffix('K') {
                    Some(n) => (n, 1024),
                    None => (s, 1),
                };
                num.parse::<usize>().ok().map(|n| n * mul)
            })
            .filter(|&n| (16 * 1024..=1024 * 1024).contains(&n))
            .unwrap_or(32 * 1024);
        l1 * 7 / 5
    })
}

/// `acc += w * x`, lane by lane, one multiply-add each.
#[inline(always)]
fn axpy<const F: bool>(acc: &mut Lane, w: f32, x: &Lane) {
    for l in 0..LANES {
        acc[l] = madd::<F>(w, x[l], acc[l]);
    }
}

/// CSR row product: `y[i, :] = bias_i + sum_{p in row i} vals[idx(p)] * x[col[p], :]` for `i < rows`, where
/// `idx(p) = vidx[p]` if given, else `p`. `row_ptr` has `rows + 1` absolute offsets into `col` (and `vidx`);
/// `x` is `inner x b` and `y` is `rows x b`, row-major with row stride `b`.
///
/// The batch goes `CHUNKS` (two) lane chunks at a time, and output rows `GROUP` (four) at a time, each chunk of
/// each row on its own accumulator chain: per step one term of every row of the group, so the chains run side by
/// side. The terms are read from an interleaved stream built once per call (the rows sorted by entry count, so that
/// the rows of a group have about as many terms; a shorter row of a group is padded with `-0.0` times a zero row of
/// the slab, which adds nothing to any sum, `-0.0` included). The packed input of a block is `CHUNKS` 64-byte lines
/// per input row; where those exceed `l1_tile_bytes` (1.4 times L1), the input rows are cut into tiles, the stream
/// holds each tile's terms of every group in turn, and the partial sums go through a line-aligned scratch between
/// tiles. Every output element still sees its terms in ascending column order on one accumulator, whatever the
/// tiles, groups or row order. Below `SMALL_ROWS` rows it runs one row at a time instead (`csr_rows_small`), with
/// the same sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn csr_rows_body<const F: bool, const L: u8>(
    rows: usize,
    b: usize,
    row_ptr: &[usize],
    col: &[u32],
    vals: &[f32],
    vidx: Option<&[u32]>,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    const N: usize = CHUNKS;
    const W: usize = LANES * CHUNKS;
    const ROW_BYTES: usize = std::mem::size_of::<[Line; N]>();
    assert!(row_ptr.len() > rows, "csr rows: row pointers too short");
    assert!(y.len() >= rows * b, "csr rows: output too short");
    if let Some(bs) = bias {
        assert!(bs.len() >= rows, "csr rows: bias too short");
    }
    if rows == 0 || b == 0 {
        return;
    }
    if rows < SMALL_ROWS {
        csr_rows_small::<F>(rows, b, row_ptr, col, vals, vidx, x, bias, relu, y);
        return;
    }
    let inner = x.len() / b;
    assert!(
        (inner + 1) * ROW_BYTES <= u32::MAX as usize,
        "csr rows: too many input rows"
    );
    let kt = (l1_tile_bytes() / ROW_BYTES).max(LANES);
    let ntiles = inner.div_ceil(kt).max(1);
    let kt = inner.div_ceil(ntiles).max(1);
    let groups = rows.div_ceil(GROUP);
    let slots = groups * GROUP;
    let pad = Term {
        off: (inner * ROW_BYTES) as u32,
        w: -0.0,
    };

    // The row order (longest first; ties by index), each slot's cursor into its row, and the stream.
    let (mut order, mut steps) = PLAN.take();
    let mut terms = TERMS.take();
    order.clear();
    order.extend(0..rows);
    order.sort_unstable_by_key(|&i| (std::cmp::Reverse(row_ptr[i + 1] - row_ptr[i]), i));
    steps.clear();
    terms.clear();
    // Cursors live after the order (slots past `rows` are padding rows with no terms).
    order.resize(rows + slots, 0);
    {
        let (ord, cur) = order.split_at_mut(rows);
        for (s, c) in cur.iter_mut().enumerate() {
            *c = ord.get(s).map_or(0, |&i| row_ptr[i]);
        }
        for t in 0..ntiles {
            let hi = ((t + 1) * kt).min(inner);
            for g in 0..groups {
                let mut ends = [0usize; GROUP];
                let mut n = 0;
                for (r, end) in ends.iter_mut().enumerate() {
                    let s = g * GROUP + r;
                    let Some(&i) = ord.get(s) else { continue };
                    let (p, e) = (cur[s], row_ptr[i + 1]);
                    *end = if t + 1 == ntiles {
                        e
                    } else {
                        p + col[p..e].partition_point(|&c| (c as usize) < hi)
                    };
                    n = n.max(*end - p);
                }
                steps.push(n);
                let at = terms.len();
                terms.resize(at + n * GROUP, pad);
                let seg = &mut terms[at..];
                for (r, &end) in ends.iter().enumerate() {
                    let s = g * GROUP + r;
                    if s >= rows {
                        continue;
                    }
                    let p = cur[s];
                    let dst = seg.iter_mut().skip(r).step_by(GROUP);
                    for ((d, &c), q) in dst.zip(&col[p..end]).zip(p..end) {
                        let c = c as usize;
                        assert!(c < inner, "csr rows: column out of range");
                        d.off = (c * ROW_BYTES) as u32;
                        d.w = match vidx {
                            Some(ix) => vals[ix[q] as usize],
                            None => vals[q],
                        };
                    }
                    cur[s] = end;
                }
            }
        }
    }
    let order_rows = &order[..rows];
    let fast = fast_reduce(L);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = fast;

    // Taken out of the thread-local rather than used inside `with`: a closure would not inherit the caller's
    // target features, and its FMAs would become libm calls.
    let mut slab = SLAB.take();
    if slab.len() < (inner + 1) * N {
        slab.resize((inner + 1) * N, Line([0.0; LANES]));
    }
    slab[inner * N..(inner + 1) * N].fill(Line([0.0; LANES]));
    let mut acc = ACC.take();
    if ntiles > 1 && acc.len() < slots * N {
        acc.resize(slots * N, Line([0.0; LANES]));
    }
    let init = |s: usize| match (order_rows.get(s), bias) {
        (Some(&i), Some(bs)) => bs[i],
        _ => 0.0,
    };
    let mut c0 = 0;
    while c0 < b {
        let valid = (b - c0).min(W);
        for (c, dst) in slab[..inner * N].chunks_exact_mut(N).enumerate() {
            if valid == W {
                for (j, d) in dst.iter_mut().enumerate() {
                    d.0 = *lane(x, c * b + c0 + j * LANES);
                }
            } else {
                let src = &x[c * b + c0..c * b + c0 + valid];
                for (j, d) in dst.iter_mut().enumerate() {
                    for (l, v) in d.0.iter_mut().enumerate() {
                        *v = src.get(j * LANES + l).copied().unwrap_or(0.0);
                    }
                }
            }
        }
        let slab = &slab[..(inner + 1) * N];
        let base = slab.as_ptr().cast::<u8>();
        let mut at = 0;
        for t in 0..ntiles {
            let (first, last) = (t == 0, t + 1 == ntiles);
            for g in 0..groups {
                let n = steps[t * groups + g];
                let seg = &terms[at..at + n * GROUP];
                at += n * GROUP;
                macro_rules! group {
                    ($($a:ident $b:ident $r:literal),+) => {{
                        $(let mut $a: Lane = if first {
                            [init(g * GROUP + $r); LANES]
                        } else {
                            acc[(g * GROUP + $r) * N].0
                        };
                        let mut $b: Lane = if first {
                            [init(g * GROUP + $r); LANES]
                        } else {
                            acc[(g * GROUP + $r) * N + 1].0
                        };)+
                        for e in seg.as_chunks::<GROUP>().0 {
                            $(
                            // SAFETY: every `off` of the stream is `c * ROW_BYTES` with `c <= inner` (asserted
                            // when the stream was built, the pad term pointing at row `inner`), and `slab` holds
                            // `(inner + 1) * N` lines, so the `N` lines at `off` are in bounds, initialised and
                            // aligned (`ROW_BYTES` is a multiple of the line alignment).
                            let xs: &[Line; N] = unsafe { &*base.add(e[$r].off as usize).cast::<[Line; N]>() };
                            axpy::<F>(&mut $a, e[$r].w, &xs[0].0);
                            axpy::<F>(&mut $b, e[$r].w, &xs[1].0);
                            )+
                        }
                        if last {
                            $(if let Some(&i) = order_rows.get(g * GROUP + $r) {
                                let mut tmp = [0f32; W];
                                let out: &mut [f32; W] = if valid == W {
                                    (&mut y[i * b + c0..i * b + c0 + W]).try_into().unwrap()
                                } else {
                                    &mut tmp
                                };
                                for l in 0..LANES {
                                    out[l] = if relu { $a[l].max(0.0) } else { $a[l] };
                                    out[LANES + l] = if relu { $b[l].max(0.0) } else { $b[l] };
                                }
                                if valid < W {
                                    y[i * b + c0..i * b + c0 + valid].copy_from_slice(&tmp[..valid]);
                                }
                            })+
                        } else {
                            $(acc[(g * GROUP + $r) * N].0 = $a;
                            acc[(g * GROUP + $r) * N + 1].0 = $b;)+
                        }
                    }};
                }
                #[cfg(target_arch = "x86_64")]
                if fast {
                    let mut a = [[0f32; LANES]; GROUP * N];
                    for (s, ar) in a.chunks_exact_mut(N).enumerate() {
                        let s = g * GROUP + s;
                        for (j, v) in ar.iter_mut().enumerate() {
                            *v = if first {
                                [init(s); LANES]
                            } else {
                                acc[s * N + j].0
                            };
                        }
                    }
                    // SAFETY: `fast` confirmed AVX-512F at run time; every `off` of the stream is
                    // `c * ROW_BYTES` with `c <= inner` (asserted when the stream was built, the pad term
                    // pointing at row `inner`) and `slab` holds `(inner + 1) * N` initialised 64-byte-aligned
                    // lines, so the `ROW_BYTES = 128` bytes at each `off` are in bounds and aligned.
                    unsafe { super::dots_x86::csr_group(&mut a, seg.as_chunks::<GROUP>().0, base) };
                    for (s, ar) in a.chunks_exact(N).enumerate() {
                        let s = g * GROUP + s;
                        if !last {
                            for (j, v) in ar.iter().enumerate() {
                                acc[s * N + j].0 = *v;
                            }
                        } else if let Some(&i) = order_rows.get(s) {
                            let out = &mut y[i * b + c0..i * b + c0 + valid];
                            for (o, v) in out.iter_mut().zip(ar.as_flattened()) {
                                *o = if relu { v.max(0.0) } else { *v };
                            }
                        }
                    }
                    continue;
                }
                group!(a0 b0 0, a1 b1 1, a2 b2 2, a3 b3 3);
            }
        }
        c0 += valid;
    }
    ACC.set(acc);
    SLAB.set(slab);
    TERMS.set(terms);
    PLAN.set((order, steps));
}

/// [`csr_rows_body`] for few rows: one row at a time on blocks of up to 128 columns through [`rows_generic`],
/// with no term stream to build. The same sums in the same order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn csr_rows_small<const F: bool>(
    rows: usize,
    b: usize,
    row_ptr: &[usize],
    col: &[u32],
    vals: &[f32],
    vidx: Option<&[u32]>,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    assert!(row_ptr.len() > rows, "csr rows: row pointers too short");
    let inner = x.len().checked_div(b).unwrap_or(0);
    let per_row = (row_ptr[rows] - row_ptr[0]) as f64 / rows.max(1) as f64;
    let kt = tile_rows(inner, per_row);
    let ntiles = inner.div_ceil(kt).max(1);
    // Where each row's entries of each tile start: `starts[i * (ntiles + 1) + t]`, the last one the row's end.
    let mut starts = TILE_STARTS.take();
    starts.clear();
    for i in 0..rows {
        let (mut p, e) = (row_ptr[i], row_ptr[i + 1]);
        starts.push(p);
        for t in 1..ntiles {
            while p < e && (col[p] as usize) < t * kt {
                p += 1;
            }
            starts.push(p);
        }
        starts.push(e);
    }
    {
        let starts = &starts[..];
        let terms = |i: usize, t: usize, _lo: usize, _hi: usize| {
            let at = i * (ntiles + 1) + t;
            (starts[at]..starts[at + 1]).map(move |p| {
                let v = match vidx {
                    Some(ix) => vals[ix[p] as usize],
                    None => vals[p],
                };
                (v, col[p] as usize)
            })
        };
        rows_generic::<F, _, _>(rows, b, kt, terms, x, bias, relu, y);
    }
    TILE_STARTS.set(starts);
}

/// The set bits of a row's words, ascending.
#[inline(always)]
fn bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    bits_in(words, 0, words.len() * 64)
}

/// The set bits of a row's words that lie in `lo..hi`, ascending.
#[inline(always)]
fn bits_in(words: &[u64], lo: usize, hi: usize) -> impl Iterator<Item = usize> + '_ {
    let (w0, w1) = (lo / 64, hi.div_ceil(64).min(words.len()));
    words[w0.min(w1)..w1]
        .iter()
        .enumerate()
        .flat_map(move |(wj, &w)| {
            let wi = w0 + wj;
            let mut w = w;
            if wi * 64 < lo {
                w &= u64::MAX << (lo - wi * 64);
            }
            if hi < wi * 64 + 64 {
                w &= (1u64 << (hi - wi * 64)) - 1;
            }
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + bit)
            })
        })
}

/// Bitmask row product: `y[i, :] = bias_i + sum_{c live in row i} a[i*ars + c*acs] * x[c, :]` for `i < rows`.
/// `words` holds the mask rows (`wpr` words each, starting at row 0 of this call).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn bits_rows_body<const F: bool>(
    rows: usize,
    b: usize,
    words: &[u64],
    wpr: usize,
    a: &[f32],
    ars: usize,
    acs: usize,
    x: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    assert!(words.len() >= rows * wpr, "bitmask rows: mask too short");
    let inner = x.len().checked_div(b).unwrap_or(0);
    let live: usize = words[..rows * wpr]
        .iter()
        .map(|w| w.count_ones() as usize)
        .sum();
    let kt = tile_rows(inner, live as f64 / rows.max(1) as f64);
    let terms = |i: usize, _t: usize, lo: usize, hi: usize| {
        bits_in(&words[i * wpr..(i + 1) * wpr], lo, hi).map(move |c| (a[i * ars + c * acs], c))
    };
    rows_generic::<F, _, _>(rows, b, kt, terms, x, bias, relu, y);
}

/// One row of `b` floats as the sampled products read it: its `b / 16` full lane chunks, then its tail
/// (`b % 16` floats).
type Row<'a> = (&'a [Line], &'a [f32]);

/// Rows of `x` packed for the sampled products: each row's full lane chunks on their own cache lines
/// (`nl = b / 16`), then, if `b % 16 > 0`, its tail on one more line padded with zeros. So no 512-bit load
/// splits across two lines, and a dot reads its tail from the line after its last chunk instead of from the
/// unpacked row. Each `dy` row is packed the same way, when its dots start, into one row of lines after `x`'s
/// (it stays in L1 while its dots read it).
struct Packed<'a> {
    lines: &'a [Line],
    /// Full lane chunks a row.
    nl: usize,
    /// Lines a row: `nl`, plus one for the tail.
    stride: usize,
    /// `b % 16`.
    tail: usize,
}

impl Packed<'_> {
    #[inline(always)]
    fn row(&self, r: usize) -> Row<'_> {
        packed_row(
            &self.lines[r * self.stride..(r + 1) * self.stride],
            self.nl,
            self.tail,
        )
    }
}

/// A packed row (`stride` lines) as its full chunks and its tail.
#[inline(always)]
fn packed_row(lines: &[Line], nl: usize, tail: usize) -> Row<'_> {
    let full = &lines[..nl];
    if tail > 0 {
        (full, &lines[nl].0[..tail])
    } else {
        (full, &[])
    }
}

/// Packs one row of `b = src.len()` floats into `dst` (`b.div_ceil(16)` lines; see [`Packed`]).
#[inline(always)]
fn pack_row(dst: &mut [Line], src: &[f32]) {
    let (full, rest) = src.as_chunks::<LANES>();
    for (d, s) in dst.iter_mut().zip(full) {
        d.0 = *s;
    }
    if !rest.is_empty() {
        // Element by element with a fixed count, written in place: a copy of `rest.len()` floats would be a
        // `memcpy` call into a stack line and a 512-bit reload that cannot forward from its narrower stores.
        let t = &mut dst[full.len()].0;
        for (l, d) in t.iter_mut().enumerate() {
            *d = rest.get(l).copied().unwrap_or(0.0);
        }
    }
}

/// Packs the `x_rows` rows of `x` (`x_rows x b`) into `lines` (see [`Packed`]) and returns them with the
/// lines for one packed `dy` row.
#[inline(always)]
fn pack_rows<'a>(
    lines: &'a mut Vec<Line>,
    x: &[f32],
    x_rows: usize,
    b: usize,
) -> (Packed<'a>, &'a mut [Line]) {
    let (nl, tail) = (b / LANES, b % LANES);
    let stride = nl + usize::from(tail > 0);
    let need = (x_rows + 1) * stride;
    if lines.len() < need {
        lines.resize(need, Line([0.0; LANES]));
    }
    let (xl, gl) = lines[..need].split_at_mut(x_rows * stride);
    if stride > 0 {
        for (dst, src) in xl.chunks_exact_mut(stride).zip(x.chunks_exact(b)) {
            pack_row(dst, src);
        }
    }
    let p = Packed {
        lines: xl,
        nl,
        stride,
        tail,
    };
    (p, gl)
}

/// The dot product of two rows, bit-identical to `dense::dot` on the original rows: lane-wise products
/// accumulated per lane over the full chunks, reduced pairwise, then the tail in order.
#[inline(always)]
fn dot1<const F: bool>(g: Row<'_>, x: Row<'_>) -> f32 {
    let (n, t) = (g.0.len(), g.1.len());
    let (x0, xt) = (&x.0[..n], &x.1[..t]);
    let mut acc = [0f32; LANES];
    for (gl, xl) in g.0.iter().zip(x0) {
        let (gl, xl) = (&gl.0, &xl.0);
        for l in 0..LANES {
            acc[l] = madd::<F>(gl[l], xl[l], acc[l]);
        }
    }
    let mut s = reduce(&acc);
    for (a, b) in g.1.iter().zip(xt) {
        s = madd::<F>(*a, *b, s);
    }
    s
}

/// Four dot products of `g` with `x0..x3`, each bit-identical to `dense::dot`.
///
/// Every `x` row is first cut to `g`'s chunk count, so the chunk loop indexes all five rows with one counter
/// and no bounds checks (five row pointers, four accumulators).
#[inline(always)]
fn dot1x4<const F: bool>(g: Row<'_>, x: [Row<'_>; 4]) -> [f32; 4] {
    let (n, t) = (g.0.len(), g.1.len());
    let [r0, r1, r2, r3] = x;
    let (x0, x1, x2, x3) = (&r0.0[..n], &r1.0[..n], &r2.0[..n], &r3.0[..n]);
    let z = [0f32; LANES];
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    for c in 0..n {
        let g0 = g.0[c].0;
        let (y0, y1, y2, y3) = (x0[c].0, x1[c].0, x2[c].0, x3[c].0);
        for l in 0..LANES {
            a0[l] = madd::<F>(g0[l], y0[l], a0[l]);
            a1[l] = madd::<F>(g0[l], y1[l], a1[l]);
            a2[l] = madd::<F>(g0[l], y2[l], a2[l]);
            a3[l] = madd::<F>(g0[l], y3[l], a3[l]);
        }
    }
    let mut out = [reduce(&a0), reduce(&a1), reduce(&a2), reduce(&a3)];
    // The tails term by term for the four dots at once, as in `dot1x8`.
    let (t0, t1, t2, t3) = (&r0.1[..t], &r1.1[..t], &r2.1[..t], &r3.1[..t]);
    for (c, &gv) in g.1.iter().enumerate() {
        let xs = [t0[c], t1[c], t2[c], t3[c]];
        for (o, xv) in out.iter_mut().zip(xs) {
            *o = madd::<F>(gv, xv, *o);
        }
    }
    out
}

/// Whether the instantiation at `level` (see `simd`'s `madd_level` entries) reduces eight dots at once in
/// AVX-512 registers ([`reduce8`]): only at the AVX-512 level, and only once the feature is confirmed at run time.
#[inline(always)]
fn fast_reduce(level: u8) -> bool {
    #[cfg(target_arch = "x86_64")]
    return super::dots_x86::reduce8_ready(level);
    #[cfg(not(target_arch = "x86_64"))]
    return {
        let _ = level;
        false
    };
}

/// [`reduce`] of eight lane arrays: with `fast` (only ever true where the AVX-512 code may run, see
/// [`fast_reduce`]) as one transposing reduction in vector registers, bit-identical to the eight
/// [`reduce`]s.
#[inline(always)]
fn reduce8(a: &[Lane; 8], fast: bool) -> [f32; 8] {
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` is true only once `reduce8_ready` confirmed AVX-512F at run time.
        return unsafe { super::dots_x86::reduce8(a) };
    }
    let _ = fast;
    [
        reduce(&a[0]),
        reduce(&a[1]),
        reduce(&a[2]),
        reduce(&a[3]),
        reduce(&a[4]),
        reduce(&a[5]),
        reduce(&a[6]),
        reduce(&a[7]),
    ]
}

/// Eight dot products of `g` with `x0..x7`, each bit-identical to `dense::dot`.
///
/// Every `x` row is first cut to `g`'s chunk count, so the chunk loop indexes all nine rows with one counter
/// and no bounds checks: nine row pointers and a counter in general registers, eight accumulators, and per
/// chunk one load of `g` and eight FMAs with a memory operand.
#[inline(always)]
fn dot1x8<const F: bool>(g: Row<'_>, x: [Row<'_>; 8], fast: bool) -> [f32; 8] {
    let (n, t) = (g.0.len(), g.1.len());
    let [r0, r1, r2, r3, r4, r5, r6, r7] = x;
    let (x0, x1, x2, x3) = (&r0.0[..n], &r1.0[..n], &r2.0[..n], &r3.0[..n]);
    let (x4, x5, x6, x7) = (&r4.0[..n], &r5.0[..n], &r6.0[..n], &r7.0[..n]);
    let z = [0f32; LANES];
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let (mut a4, mut a5, mut a6, mut a7) = (z, z, z, z);
    for c in 0..n {
        let g0 = g.0[c].0;
        let (y0, y1, y2, y3) = (x0[c].0, x1[c].0, x2[c].0, x3[c].0);
        let (y4, y5, y6, y7) = (x4[c].0, x5[c].0, x6[c].0, x7[c].0);
        for l in 0..LANES {
            a0[l] = madd::<F>(g0[l], y0[l], a0[l]);
            a1[l] = madd::<F>(g0[l], y1[l], a1[l]);
            a2[l] = madd::<F>(g0[l], y2[l], a2[l]);
            a3[l] = madd::<F>(g0[l], y3[l], a3[l]);
            a4[l] = madd::<F>(g0[l], y4[l], a4[l]);
            a5[l] = madd::<F>(g0[l], y5[l], a5[l]);
            a6[l] = madd::<F>(g0[l], y6[l], a6[l]);
            a7[l] = madd::<F>(g0[l], y7[l], a7[l]);
        }
    }
    let acc = [a0, a1, a2, a3, a4, a5, a6, a7];
    let mut out = reduce8(&acc, fast);
    // The tails, term by term for all eight dots at once (eight independent chains of `t` multiply-adds, in
    // vector lanes), each dot still adding its terms in ascending order after its lane sum.
    let (t0, t1, t2, t3) = (&r0.1[..t], &r1.1[..t], &r2.1[..t], &r3.1[..t]);
    let (t4, t5, t6, t7) = (&r4.1[..t], &r5.1[..t], &r6.1[..t], &r7.1[..t]);
    for (c, &gv) in g.1.iter().enumerate() {
        let xs = [t0[c], t1[c], t2[c], t3[c], t4[c], t5[c], t6[c], t7[c]];
        for (o, xv) in out.iter_mut().zip(xs) {
            *o = madd::<F>(gv, xv, *o);
        }
    }
    out
}

/// The live-entry dots of one output row: `emit(q, g . xrow(q))` for every `q < len`.
///
/// Entries go eight (or, for the last one to four, four) at a time; a short group is padded by repeating its
/// last entry and the padded results are dropped, so even a row with few live entries runs several
/// independent accumulator chains instead of one latency-bound chain. Each result has the order of `dense::dot`.
#[inline(always)]
fn row_dots<'a, const F: bool>(
    fast: bool,
    g: Row<'a>,
    len: usize,
    xrow: impl Fn(usize) -> Row<'a>,
    mut emit: impl FnMut(usize, f32),
) {
    let mut q = 0;
    while q < len {
        let left = len - q;
        let col = |t: usize| xrow(q + t.min(left - 1));
        if left > 4 {
            let d = dot1x8::<F>(
                g,
                [
                    col(0),
                    col(1),
                    col(2),
                    col(3),
                    col(4),
                    col(5),
                    col(6),
                    col(7),
                ],
                fast,
            );
            for (t, &v) in d.iter().enumerate().take(left.min(8)) {
                emit(q + t, v);
            }
            q += 8;
        } else if left > 1 {
            let d = dot1x4::<F>(g, [col(0), col(1), col(2), col(3)]);
            for (t, &v) in d.iter().enumerate().take(left) {
                emit(q + t, v);
            }
            q += 4;
        } else {
            emit(q, dot1::<F>(g, xrow(q)));
            q += 1;
        }
    }
}

/// CSR sampled product (SDDMM): `out[p - row_ptr[0]] = dy[i, :] . x[col[p], :]` for every stored entry `p` of
/// rows `i < rows`. `dy` is `rows x b`, `x` is `inner x b`.
#[inline(always)]
pub fn csr_dots_body<const F: bool, const L: u8>(
    rows: usize,
    b: usize,
    row_ptr: &[usize],
    col: &[u32],
    dy: &[f32],
    x: &[f32],
    out: &mut [f32],
) {
    assert!(row_ptr.len() > rows, "csr dots: row pointers too short");
    assert!(dy.len() >= rows * b, "csr dots: dy too short");
    let base = row_ptr[0];
    assert!(
        out.len() >= row_ptr[rows] - base,
        "csr dots: output too short"
    );
    let fast = fast_reduce(L);
    let inner = x.len().checked_div(b).unwrap_or(0);
    let entries = |i: usize| {
        let (s, e) = (row_ptr[i], row_ptr[i + 1]);
        (&col[s..e], s - base..e - base)
    };
    // Taken out of the thread-local, not used in a closure (which would lose the target features).
    let mut lines = SLAB.take();
    {
        let (p, gl) = pack_rows(&mut lines, x, inner, b);
        for i in 0..rows {
            let (cr, o) = entries(i);
            if cr.is_empty() {
                continue;
            }
            let o = &mut out[o];
            pack_row(gl, &dy[i * b..(i + 1) * b]);
            let xrow = |q: usize| p.row(cr[q] as usize);
            row_dots::<F>(
                fast,
                packed_row(gl, p.nl, p.tail),
                cr.len(),
                xrow,
                |q, v| o[q] = v,
            );
        }
    }
    SLAB.set(lines);
}

/// Bitmask sampled product: `dw[i*k + c] = dy[i, :] . x[c, :]` for every live `(i, c)` of rows `i < rows`;
/// masked entries of `dw` are left untouched. `dw` is `rows x k`, row-major.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn bits_dots_body<const F: bool, const L: u8>(
    rows: usize,
    k: usize,
    b: usize,
    words: &[u64],
    wpr: usize,
    dy: &[f32],
    x: &[f32],
    dw: &mut [f32],
) {
    assert!(words.len() >= rows * wpr, "bitmask dots: mask too short");
    assert!(
        dy.len() >= rows * b && dw.len() >= rows * k && x.len() >= k * b,
        "bitmask dots: buffers too short"
    );
    let fast = fast_reduce(L);
    // The live entries of each row go eight at a time through `row_dots` (a row's last group may be short);
    // `$g` is the row's `dy` (evaluated once per row with live entries).
    macro_rules! rows_of {
        (|$i:ident| $g:expr, $xrow:expr) => {
            let mut cols = [0usize; 8];
            for $i in 0..rows {
                let wr = &words[$i * wpr..($i + 1) * wpr];
                if wr.iter().all(|&w| w == 0) {
                    continue;
                }
                let g = $g;
                let drow = &mut dw[$i * k..($i + 1) * k];
                let mut n = 0;
                for c in bits(wr) {
                    cols[n] = c;
                    n += 1;
                    if n == 8 {
                        let xrow = |q: usize| $xrow(cols[q]);
                        row_dots::<F>(fast, g, 8, xrow, |q, v| drow[cols[q]] = v);
                        n = 0;
                    }
                }
                let xrow = |q: usize| $xrow(cols[q]);
                row_dots::<F>(fast, g, n, xrow, |q, v| drow[cols[q]] = v);
            }
        };
    }
    let mut lines = SLAB.take();
    {
        let (p, gl) = pack_rows(&mut lines, x, k, b);
        let (nl, tail) = (p.nl, p.tail);
        rows_of!(
            |i| {
                pack_row(gl, &dy[i * b..(i + 1) * b]);
                packed_row(gl, nl, tail)
            },
            |c| p.row(c)
        );
    }
    SLAB.set(lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_widen_at_low_density_and_stay_in_l1_at_high() {
        // (inner, entries a row) -> rows a tile; `tests/sparse.rs` checks the products at these shapes.
        assert_eq!(tile_rows(64, 64.0), 32);
        assert_eq!(tile_rows(200, 100.0), 80);
        assert_eq!(tile_rows(150, 135.0), 48);
        assert_eq!(tile_rows(512, 128.0), 128);
        assert_eq!(tile_rows(2048, 2048.0), L1_TILE_ROWS);
        // Fewer than TILE_ENTRIES entries a row: one tile over all input rows.
        assert_eq!(tile_rows(2048, 20.0), 2048);
        assert_eq!(tile_rows(10, 0.0), 16);
        assert_eq!(tile_rows(0, 0.0), 16);
    }

    /// A random CSR pattern of `rows x inner` with rows of very different lengths (some empty).
    fn random_csr(rows: usize, inner: usize, seed: u64) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut rp, mut col, mut vals) = (vec![0], Vec::new(), Vec::new());
        for i in 0..rows {
            let density = [0.0, 0.05, 0.3, 0.9][i % 4];
            for c in 0..inner {
                if (next() % 1000) as f64 / 1000.0 < density {
                    col.push(c as u32);
                    vals.push((next() % 2001) as f32 / 1000.0 - 1.0);
                }
            }
            rp.push(col.len());
        }
        (rp, col, vals)
    }

    #[test]
    fn csr_rows_match_term_by_term_sums_at_every_tail_group_and_tile() {
        // Few rows (one at a time) and many (groups of four: rows not a multiple of the group), batches at every
        // tail of the 32-column block, input rows past one tile (at any L1 size sysfs reports), bias or none,
        // ReLU or none, values through `vidx`.
        for (s, &(rows, inner, b)) in [
            (1, 1, 1),
            (3, 5, 17),
            (64, 40, 32),
            (69, 70, 33),
            (72, 1500, 47),
            (65, 2500, 64),
            (130, 3, 100),
            (66, 20, 5),
        ]
        .iter()
        .enumerate()
        {
            let (rp, col, vals) = random_csr(rows, inner, s as u64 + 1);
            let (_, _, xs) = random_csr(inner, b, s as u64 + 50);
            let x: Vec<f32> = (0..inner * b)
                .map(|q| xs.get(q).copied().unwrap_or(0.5))
                .collect();
            let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.25 - 1.0).collect();
            let vidx: Vec<u32> = (0..col.len() as u32).rev().collect();
            let vals_rev: Vec<f32> = vals.iter().rev().copied().collect();
            for (relu, with_bias, via) in [(false, true, false), (true, false, true)] {
                let bias = with_bias.then_some(&bias[..]);
                let (v, ix) = if via {
                    (&vals_rev[..], Some(&vidx[..]))
                } else {
                    (&vals[..], None)
                };
                let mut want = vec![0f32; rows * b];
                for i in 0..rows {
                    for c in 0..b {
                        let mut a = bias.map_or(0.0, |bs| bs[i]);
                        for p in rp[i]..rp[i + 1] {
                            a = vals[p].mul_add(x[col[p] as usize * b + c], a);
                        }
                        want[i * b + c] = if relu { a.max(0.0) } else { a };
                    }
                }
                // Every level with fused multiply-adds gives the same bits, the AVX-512 code included.
                for level in [0u8, 1, 2] {
                    let mut y = vec![f32::NAN; rows * b];
                    match level {
                        0 => csr_rows_body::<true, 0>(
                            rows, b, &rp, &col, v, ix, &x, bias, relu, &mut y,
                        ),
                        1 => csr_rows_body::<true, 1>(
                            rows, b, &rp, &col, v, ix, &x, bias, relu, &mut y,
                        ),
                        _ => csr_rows_body::<true, 2>(
                            rows, b, &rp, &col, v, ix, &x, bias, relu, &mut y,
                        ),
                    }
                    assert!(
                        y.iter().zip(&want).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "shape {s} level {level} relu {relu}"
                    );
                }
            }
        }
    }

    #[test]
    fn padding_terms_add_nothing_to_any_sum() {
        for a in [
            0.0f32,
            -0.0,
            1.5,
            -2.0,
            f32::INFINITY,
            f32::MIN_POSITIVE / 4.0,
        ] {
            assert_eq!((-0.0f32).mul_add(0.0, a).to_bits(), a.to_bits());
            assert_eq!((-0.0f32 * 0.0 + a).to_bits(), a.to_bits());
        }
    }

    #[test]
    fn bits_in_keeps_exactly_the_set_bits_of_the_range() {
        let words = [0xF0F0_0000_0000_00FFu64, u64::MAX, 0b1011];
        let all: Vec<usize> = (0..192)
            .filter(|&c| words[c / 64] >> (c % 64) & 1 == 1)
            .collect();
        assert_eq!(bits(&words).collect::<Vec<_>>(), all);
        for (lo, hi) in [
            (0, 192),
            (0, 1),
            (3, 70),
            (60, 64),
            (64, 128),
            (100, 131),
            (130, 130),
        ] {
            let want: Vec<usize> = all.iter().copied().filter(|&c| lo <= c && c < hi).collect();
            assert_eq!(
                bits_in(&words, lo, hi).collect::<Vec<_>>(),
                want,
                "{lo}..{hi}"
            );
        }
    }
}
