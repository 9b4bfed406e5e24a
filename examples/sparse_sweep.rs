//! The sparse-kernel sweep behind `docs/PERFORMANCE.md`: batch 500, shapes (d, h') in {(512, 512), (784, 1024),
//! (2048, 2048)}, densities 100 / 50 / 25 / 12.5 / 6 / 3 %, forward, input gradient, weight gradient and a full
//! layer step (forward + both gradients + bias gradient), CSR / bitmask / our dense kernel / `matrixmultiply`
//! sgemm, on 1 and 2 threads. Prints one markdown table: the fastest of several repetitions, useful GFLOP/s
//! (`2 x nnz x batch` per product) and the speed-up over the dense sgemm of the same shape and thread count.
//!
//! ```text
//! cargo run --release --example sparse_sweep                 # the full sweep
//! cargo run --release --example sparse_sweep -- --quick      # one shape, fewer repetitions
//! cargo run --release --example sparse_sweep -- --roofline   # sgemm 2048^3 and a STREAM-like triad
//! cargo run --release --example sparse_sweep -- --shape 512x512 --density 0.25 --threads 1 --ops forward,dW
//! ```
//!
//! `--shape DxH` (repeatable), `--density F` (repeatable), `--threads N` (repeatable) and `--ops a,b` restrict the
//! sweep (e.g. to the issue's targets, or to one kernel under a profiler); `--reps N` sets the repetitions.
//!
//! `--precision bf16` times the bf16 products instead (dense and sparse pair kernels, see
//! `neurosplit::kernels::bf16`) against the fastest fp32 format of the same layer, back to back in the same run,
//! and prints the ratio (bf16 times include making the bf16 copies of their operands).

use std::time::Instant;

use rand::Rng as _;

use neurosplit::kernels::Par;
use neurosplit::kernels::{gemm, Isa, Precision};
use neurosplit::nn::Linear;
use neurosplit::nn::{FormatChoice, LayerExec};
use neurosplit::rng::stream;
use neurosplit::sparse::{Format, Mask};

const BATCH: usize = 500;

/// The fastest of `reps` timed runs after a warm-up: on a machine shared with other jobs, the least disturbed
/// run is the best estimate of the undisturbed time.
/// With `--cpu`, the calling thread's CPU time instead of the wall time (for one-thread runs on a machine whose
/// cores are shared: time slices given to other jobs do not count). The kernel updates a running thread's CPU
/// time only at scheduler ticks, so each measurement then repeats `f` for at least 0.2 s and divides.
fn min_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let cpu = std::env::args().any(|a| a == "--cpu");
    f(); // warm-up
    let inner = if cpu {
        let s = Instant::now();
        f();
        (0.2 / s.elapsed().as_secs_f64().max(1e-6)).ceil() as usize
    } else {
        1
    };
    (0..reps)
        .map(|_| {
            let (s, c) = (Instant::now(), thread_cpu_secs());
            for _ in 0..inner {
                f();
            }
            if cpu {
                (thread_cpu_secs() - c) / inner as f64
            } else {
                s.elapsed().as_secs_f64()
            }
        })
        .fold(f64::INFINITY, f64::min)
}

/// CPU time of the calling thread in seconds (Linux schedstat; 0 elsewhere).
fn thread_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

fn layer(n: usize, k: usize, density: f64, seed: u64) -> Linear {
    let mut rng = stream(seed, &[]);
    let mut w = vec![0f32; n * k];
    let mut mask = Mask::empty(n, k);
    for i in 0..n {
        for j in 0..k {
            if density >= 1.0 || rng.gen_bool(density) {
                mask.set(i, j, true);
                w[i * k + j] = rng.gen_range(-0.1..0.1);
            }
        }
    }
    let mask = (density < 1.0).then_some(mask);
    Linear::from_parts(n, k, w, vec![0.01; n], mask).unwrap()
}

/// Runs `f(r0, r1, rows r0..r1 of out)` on `threads` near-equal row ranges as rayon tasks.
fn par_rows(
    threads: usize,
    rows: usize,
    stride: usize,
    out: &mut [f32],
    f: impl Fn(usize, usize, &mut [f32]) + Sync,
) {
    if threads == 1 {
        return f(0, rows, &mut out[..rows * stride]);
    }
    let f = &f;
    rayon::scope(|s| {
        let mut rest = &mut out[..rows * stride];
        for t in 0..threads {
            let (r0, r1) = (rows * t / threads, rows * (t + 1) / threads);
            let (piece, tail) = rest.split_at_mut((r1 - r0) * stride);
            rest = tail;
            s.spawn(move |_| f(r0, r1, piece));
        }
    });
}

struct Bufs {
    x: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Fwd,
    Dx,
    Dw,
    Step,
}

const OPS: [(Op, &str); 4] = [
    (Op::Fwd, "forward"),
    (Op::Dx, "dX"),
    (Op::Dw, "dW"),
    (Op::Step, "step"),
];

fn run_exec(exec: &mut LayerExec, l: &Linear, bufs: &mut Bufs, op: Op, par: Par) {
    let isa = Isa::best();
    let b = BATCH;
    match op {
        Op::Fwd => exec.forward(isa, par, l, &bufs.x, b, true, &mut bufs.y),
        Op::Dx => exec.backward_input(isa, par, l, &bufs.dy, b, &mut bufs.dx),
        Op::Dw => exec.backward_weight(isa, par, l, &bufs.dy, &bufs.x, b, &mut bufs.dw),
        Op::Step => {
            exec.forward(isa, par, l, &bufs.x, b, true, &mut bufs.y);
            exec.backward_weight(isa, par, l, &bufs.dy, &bufs.x, b, &mut bufs.dw);
            neurosplit::kernels::bias_grad(isa, l.out_dim(), b, &bufs.dy, &mut bufs.db);
            exec.backward_input(isa, par, l, &bufs.dy, b, &mut bufs.dx);
        }
    }
}

/// Dense sgemm of each product, rows split over `threads` rayon tasks (the dense baseline).
fn run_gemm(l: &Linear, bufs: &mut Bufs, op: Op, threads: usize) {
    let (n, k, b) = (l.out_dim(), l.in_dim(), BATCH);
    let w = l.weight();
    let fwd = |y: &mut [f32], x: &[f32]| {
        par_rows(threads, n, b, y, |r0, r1, y| {
            gemm::fwd_ref(r1 - r0, k, b, &w[r0 * k..r1 * k], x, y)
        });
    };
    let dx = |dx: &mut [f32], dy: &[f32]| {
        par_rows(threads, k, b, dx, |r0, r1, o| {
            gemm::gemm_strided(
                r1 - r0,
                n,
                b,
                1.0,
                &w[r0..],
                (1, k),
                dy,
                (b, 1),
                0.0,
                o,
                (b, 1),
            )
        });
    };
    let dw = |dw: &mut [f32], dy: &[f32], x: &[f32]| {
        par_rows(threads, n, k, dw, |r0, r1, o| {
            gemm::dw_ref(r1 - r0, k, b, &dy[r0 * b..r1 * b], x, o)
        });
    };
    match op {
        Op::Fwd => fwd(&mut bufs.y, &bufs.x),
        Op::Dx => dx(&mut bufs.dx, &bufs.dy),
        Op::Dw => dw(&mut bufs.dw, &bufs.dy, &bufs.x),
        Op::Step => {
            fwd(&mut bufs.y, &bufs.x);
            dw(&mut bufs.dw, &bufs.dy, &bufs.x);
            dx(&mut bufs.dx, &bufs.dy);
        }
    }
}

fn flops(op: Op, nnz: usize) -> f64 {
    let per = 2.0 * nnz as f64 * BATCH as f64;
    match op {
        Op::Step => 3.0 * per,
        _ => per,
    }
}

fn roofline() {
    let n = 2048;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32).collect();
    let mut c = vec![0f32; n * n];
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let t = pool.install(|| {
            min_secs(5, || {
                par_rows(threads, n, n, &mut c, |r0, r1, o| {
                    gemm::fwd_ref(r1 - r0, n, n, &a[r0 * n..r1 * n], &a, o)
                })
            })
        });
        println!(
            "sgemm 2048^3 (matrixmultiply, rows split over {threads} thread(s)): {:.1} ms, {:.0} GFLOP/s",
            t * 1e3,
            2.0 * (n * n * n) as f64 / t / 1e9
        );
    }
    let len = 1 << 25; // 128 MiB per array
    let (b, cc) = (vec![1f32; len], vec![2f32; len]);
    let mut a = vec![0f32; len];
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let t = pool.install(|| {
            min_secs(5, || {
                par_rows(threads, len, 1, &mut a, |r0, r1, o| {
                    for ((o, &x), &y) in o.iter_mut().zip(&b[r0..r1]).zip(&cc[r0..r1]) {
                        *o = x + 3.0 * y;
                    }
                })
            })
        });
        println!(
            "triad a = b + 3 c, 3 x 128 MiB, {threads} thread(s): {:.1} ms, {:.1} GB/s",
            t * 1e3,
            12.0 * len as f64 / t / 1e9
        );
    }
}

/// What `--help` prints.
const USAGE: &str = "\
sparse_sweep: sparse (CSR, bitmask) and dense products against matrixmultiply's sgemm, batch 500

usage: sparse_sweep [--quick] [--shape DxH]... [--density F[,F..]] [--threads N[,N..]]
                    [--ops forward,dX,dW,step] [--reps N] [--cpu]
       sparse_sweep --roofline     sgemm 2048^3 and a STREAM-like triad on 1 and 2 threads

  --shape DxH    D inputs, H outputs (repeatable; default 512x512, 784x1024, 2048x2048)
  --density F    live fraction of the weight (default 1, 0.5, 0.25, 0.125, 0.06, 0.03)
  --threads N    thread counts (default 1, 2)
  --ops LIST     products to time (default all four)
  --reps N       timed repetitions per figure (the fastest is printed)
  --cpu          time by the thread's CPU time instead of wall time (one-thread runs on a shared machine)
  --precision P  fp32 (default) or bf16: bf16 products against the fastest fp32 format
  --quick        one shape, fewer repetitions";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let valued = [
        "--shape",
        "--density",
        "--threads",
        "--ops",
        "--reps",
        "--precision",
    ];
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if valued.contains(&a) {
            i += 2;
            continue;
        }
        if !["--roofline", "--quick", "--cpu"].contains(&a) {
            eprintln!("sparse_sweep: unknown argument `{a}`\n\n{USAGE}");
            std::process::exit(2);
        }
        i += 1;
    }
    if args.iter().any(|a| a == "--roofline") {
        return roofline();
    }
    let quick = args.iter().any(|a| a == "--quick");
    let values = |flag: &str| -> Vec<String> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .flat_map(|w| w[1].split(',').map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let mut shapes: Vec<(usize, usize)> = values("--shape")
        .iter()
        .map(|s| {
            let (d, h) = s.split_once('x').expect("--shape DxH");
            (d.parse().expect("--shape D"), h.parse().expect("--shape H"))
        })
        .collect();
    if shapes.is_empty() {
        shapes = if quick {
            vec![(512, 512)]
        } else {
            vec![(512, 512), (784, 1024), (2048, 2048)]
        };
    }
    let mut densities: Vec<f64> = values("--density")
        .iter()
        .map(|s| s.parse().expect("--density F"))
        .collect();
    if densities.is_empty() {
        densities = vec![1.0, 0.5, 0.25, 0.125, 0.06, 0.03];
    }
    let mut thread_counts: Vec<usize> = values("--threads")
        .iter()
        .map(|s| s.parse().expect("--threads N"))
        .collect();
    if thread_counts.is_empty() {
        thread_counts = vec![1, 2];
    }
    let ops: Vec<String> = values("--ops");
    let reps_arg: Option<usize> = values("--reps")
        .first()
        .map(|s| s.parse().expect("--reps N"));
    let bf16 = match values("--precision")
        .first()
        .map(|p| p.parse::<Precision>())
    {
        None | Some(Ok(Precision::Fp32)) => false,
        Some(Ok(Precision::Bf16)) => {
            if let Err(e) = Precision::Bf16.check_supported() {
                eprintln!("sparse_sweep: {e}");
                std::process::exit(2);
            }
            true
        }
        Some(Err(e)) => {
            eprintln!("sparse_sweep: {e}");
            std::process::exit(2);
        }
    };
    if bf16 {
        return bf16_sweep(&shapes, &densities, &thread_counts, &ops, reps_arg, quick);
    }
    println!("isa {:?}, batch {BATCH}; GFLOP/s = 2 x nnz x batch per product / time; x gemm = time of dense sgemm / time", Isa::best());
    println!();
    println!("| d x h' | threads | density | op | gemm ms | dense ms | bitmask ms | csr ms | csr GFLOP/s | bitmask GFLOP/s | best sparse x gemm |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &(d, h) in &shapes {
        let (n, k) = (h, d);
        let reps = reps_arg.unwrap_or(if quick || n * k > 1 << 21 { 3 } else { 7 });
        let mut bufs = Bufs {
            x: (0..k * BATCH)
                .map(|i| ((i % 13) as f32 - 6.0) * 0.1)
                .collect(),
            y: vec![0.0; n * BATCH],
            dy: (0..n * BATCH)
                .map(|i| ((i % 11) as f32 - 5.0) * 0.01)
                .collect(),
            dx: vec![0.0; k * BATCH],
            dw: vec![0.0; n * k],
            db: vec![0.0; n],
        };
        for &threads in &thread_counts {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par = if threads == 1 {
                Par::Seq
            } else {
                Par::Rayon(threads)
            };
            let full = layer(n, k, 1.0, 1);
            let mut gemm_ms = [0.0; 4];
            let wanted =
                |name: &str| ops.is_empty() || ops.iter().any(|o| o.eq_ignore_ascii_case(name));
            for (o, &(op, name)) in OPS.iter().enumerate() {
                if !wanted(name) {
                    continue;
                }
                gemm_ms[o] = pool
                    .install(|| min_secs(reps, || run_gemm(&full, &mut bufs, op, threads)))
                    * 1e3;
            }
            for &density in &densities {
                let l = layer(n, k, density, 2);
                let nnz = l.nnz();
                let mut execs: Vec<LayerExec> = Format::ALL
                    .iter()
                    .map(|&f| LayerExec::new(&l, FormatChoice::Force(f)))
                    .collect();
                // A forward pass first so the CSR values are gathered for the input gradient.
                for e in &mut execs {
                    run_exec(e, &l, &mut bufs, Op::Fwd, par);
                }
                for (o, &(op, name)) in OPS.iter().enumerate() {
                    if !wanted(name) {
                        continue;
                    }
                    let ms: Vec<f64> = execs
                        .iter_mut()
                        .map(|e| {
                            pool.install(|| min_secs(reps, || run_exec(e, &l, &mut bufs, op, par)))
                                * 1e3
                        })
                        .collect();
                    let (dense, bitmask, csr) = (ms[0], ms[1], ms[2]);
                    let gf = |t: f64| flops(op, nnz) / (t * 1e-3) / 1e9;
                    println!(
                        "| {d} x {h} | {threads} | {:.1}% | {name} | {:.2} | {dense:.2} | {bitmask:.2} | {csr:.2} | {:.0} | {:.0} | {:.2} |",
                        density * 100.0,
                        gemm_ms[o],
                        gf(csr),
                        gf(bitmask),
                        gemm_ms[o] / csr.min(bitmask)
                    );
                }
            }
        }
    }
}

/// The bf16 sweep: for each layer and product, the fastest fp32 format and the bf16 dense and sparse plans, timed
/// one after the other in the same run.
fn bf16_sweep(
    shapes: &[(usize, usize)],
    densities: &[f64],
    thread_counts: &[usize],
    ops: &[String],
    reps_arg: Option<usize>,
    quick: bool,
) {
    println!("isa {:?} + AVX512-BF16, batch {BATCH}; GFLOP/s = 2 x nnz x batch per product / time (useful work); bf16 x fp32 = fastest fp32 time / fastest bf16 time", Isa::best());
    println!();
    println!("| d x h' | threads | density | op | fp32 best ms (format) | bf16 dense ms | bf16 csr ms | fp32 GFLOP/s | bf16 GFLOP/s | bf16 x fp32 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &(d, h) in shapes {
        let (n, k) = (h, d);
        let reps = reps_arg.unwrap_or(if quick || n * k > 1 << 21 { 3 } else { 7 });
        let mut bufs = Bufs {
            x: (0..k * BATCH)
                .map(|i| ((i % 13) as f32 - 6.0) * 0.1)
                .collect(),
            y: vec![0.0; n * BATCH],
            dy: (0..n * BATCH)
                .map(|i| ((i % 11) as f32 - 5.0) * 0.01)
                .collect(),
            dx: vec![0.0; k * BATCH],
            dw: vec![0.0; n * k],
            db: vec![0.0; n],
        };
        for &threads in thread_counts {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par = if threads == 1 {
                Par::Seq
            } else {
                Par::Rayon(threads)
            };
            let wanted =
                |name: &str| ops.is_empty() || ops.iter().any(|o| o.eq_ignore_ascii_case(name));
            for &density in densities {
                let l = layer(n, k, density, 2);
                let nnz = l.nnz();
                let plan = |f: Format, p: Precision| {
                    LayerExec::with_precision(&l, FormatChoice::Force(f), p)
                };
                let mut execs: Vec<(String, LayerExec)> = Format::ALL
                    .iter()
                    .map(|&f| (f.to_string(), plan(f, Precision::Fp32)))
                    .chain([
                        (
                            "bf16 dense".to_string(),
                            plan(Format::Dense, Precision::Bf16),
                        ),
                        ("bf16 csr".to_string(), plan(Format::Csr, Precision::Bf16)),
                    ])
                    .collect();
                for (_, e) in &mut execs {
                    run_exec(e, &l, &mut bufs, Op::Fwd, par);
                }
                for &(op, name) in OPS.iter() {
                    if !wanted(name) {
                        continue;
                    }
                    let ms: Vec<f64> = execs
                        .iter_mut()
                        .map(|(_, e)| {
                            pool.install(|| min_secs(reps, || run_exec(e, &l, &mut bufs, op, par)))
                                * 1e3
                        })
                        .collect();
                    let (fi, fp32) = ms[..3]
                        .iter()
                        .copied()
                        .enumerate()
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap();
                    let best16 = ms[3].min(ms[4]);
                    let gf = |t: f64| flops(op, nnz) / (t * 1e-3) / 1e9;
                    println!(
                        "| {d} x {h} | {threads} | {:.1}% | {name} | {fp32:.3} ({}) | {:.3} | {:.3} | {:.0} | {:.0} | {:.2} |",
                        density * 100.0,
                        execs[fi].0,
                        ms[3],
                        ms[4],
                        gf(fp32),
                        gf(best16),
                        fp32 / best16
                    );
                }
            }
        }
    }
}
