//! The dense products on every instruction set this host runs, against `matrixmultiply` sgemm of the same
//! shape, one thread, fastest of 10 timed samples (and the median).
//!
//! * Default / `SIZE`: the forward product `Y = W X + b` (ReLU) of square layers `d x d`, batch 500: the row
//!   kernel ([`simd::rows`]) per instruction set, the layer's dense path ([`kernels::linear_forward`], which
//!   goes through the GEMM micro-kernel where [`gemm::pays`] says so) and plain sgemm.
//! * `--small`: the three products (forward, input gradient, weight gradient) of small layers, row kernels
//!   against the GEMM path, to place [`gemm::pays`]'s thresholds.
//! * `--layers`: the three products of the sweep's dense layers (`d x h` in 512 x 512, 784 x 1024,
//!   2048 x 2048), the row kernels (the dense path before the GEMM micro-kernel: a transposed weight copy per
//!   forward pass, [`simd::rows`], [`simd::dots`]) against the layer's dense path ([`LayerExec`] on
//!   [`Format::Dense`]) and sgemm, with the ratio to sgemm.
//!
//! Every figure is given as wall time and as the thread's CPU time (Linux schedstat), which other jobs on a
//! shared machine inflate much less; GFLOP/s are from the fastest CPU time.
//!
//! ```text
//! cargo run --release --example dense_isa              # d = 512 and 2048
//! cargo run --release --example dense_isa -- 784       # one size
//! cargo run --release --example dense_isa -- --small   # row kernels vs GEMM on small products
//! cargo run --release --example dense_isa -- --layers  # the sweep's dense layers: before / after / sgemm
//! ```

use std::time::Instant;

use neurosplit::kernels::Par;
use neurosplit::kernels::{self, gemm, simd, Isa};
use neurosplit::nn::Linear;
use neurosplit::nn::{FormatChoice, LayerExec};
use neurosplit::sparse::Format;

/// CPU time of the calling thread so far, in seconds (Linux schedstat; 0 elsewhere).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

/// Fastest and median of 10 timed samples, in seconds per call: wall time, and the thread's CPU time.
#[derive(Clone, Copy)]
struct Timing {
    wall: (f64, f64),
    cpu: (f64, f64),
}

/// Times `f` in 10 samples of at least about 50 ms each (the kernel's CPU-time accounting advances in
/// scheduler ticks of a few ms), after three warm-up calls that also set how many calls a sample makes.
fn timed(mut f: impl FnMut()) -> Timing {
    let once = (0..3)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let reps = ((0.05 / once.max(1e-9)).ceil() as usize).clamp(1, 100_000);
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..10)
        .map(|_| {
            let (s, c) = (Instant::now(), thread_cpu());
            for _ in 0..reps {
                f();
            }
            let n = reps as f64;
            (s.elapsed().as_secs_f64() / n, (thread_cpu() - c) / n)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Timing {
        wall: (wall[0], wall[5]),
        cpu: (cpu[0], cpu[5]),
    }
}

/// The sweep's dense layers, one thread: row kernels (the previous dense path), the layer's dense path, sgemm.
fn layers() {
    let isa = Isa::best();
    let b = 500;
    println!("isa {isa:?}, batch {b}, one thread; ms per call = fastest of 10 samples (median), CPU time then wall time; GFLOP/s and x sgemm from the fastest CPU times");
    println!();
    println!("| d x h | product | sgemm CPU ms | row kernels CPU ms | dense layer CPU ms | sgemm wall ms | row kernels wall ms | dense layer wall ms | sgemm GFLOP/s | row kernels x sgemm | dense layer x sgemm |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (d, h) in [(512, 512), (784, 1024), (2048, 2048)] {
        let (n, k) = (h, d);
        let l = Linear::from_parts(n, k, data(n * k, 17), vec![0.01; n], None).unwrap();
        let x = data(k * b, 13);
        let dy = data(n * b, 11);
        let (mut y, mut dx, mut dw) = (vec![0f32; n * b], vec![0f32; k * b], vec![0f32; n * k]);
        let mut wt = vec![0f32; n * k];
        let mut e = LayerExec::new(&l, FormatChoice::Force(Format::Dense));
        e.forward(isa, Par::Seq, &l, &x, b, true, &mut y);
        let flops = 2.0 * (n * k * b) as f64;
        for op in ["forward", "dX", "dW"] {
            let sgemm = timed(|| match op {
                "forward" => gemm::fwd_ref(n, k, b, l.weight(), &x, &mut y),
                "dX" => gemm::dx_ref(n, k, b, l.weight(), &dy, &mut dx),
                _ => gemm::dw_ref(n, k, b, &dy, &x, &mut dw),
            });
            let rows = timed(|| match op {
                "forward" => {
                    kernels::dense::transpose(n, k, l.weight(), &mut wt);
                    simd::rows(
                        isa,
                        n,
                        k,
                        b,
                        l.weight(),
                        k,
                        &x,
                        Some(l.bias()),
                        true,
                        &mut y,
                    )
                }
                "dX" => simd::rows(isa, k, n, b, &wt, n, &dy, None, false, &mut dx),
                _ => simd::dots(isa, n, k, b, &dy, &x, None, &mut dw),
            });
            let layer = timed(|| match op {
                "forward" => e.forward(isa, Par::Seq, &l, &x, b, true, &mut y),
                "dX" => e.backward_input(isa, Par::Seq, &l, &dy, b, &mut dx),
                _ => e.backward_weight(isa, Par::Seq, &l, &dy, &x, b, &mut dw),
            });
            let ms = |t: (f64, f64)| format!("{:.2} ({:.2})", t.0 * 1e3, t.1 * 1e3);
            println!(
                "| {d} x {h} | {op} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} |",
                ms(sgemm.cpu),
                ms(rows.cpu),
                ms(layer.cpu),
                ms(sgemm.wall),
                ms(rows.wall),
                ms(layer.wall),
                flops / sgemm.cpu.0 / 1e9,
                sgemm.cpu.0 / rows.cpu.0,
                sgemm.cpu.0 / layer.cpu.0
            );
        }
    }
}

fn data(len: usize, m: usize) -> Vec<f32> {
    (0..len).map(|i| ((i % m) as f32 - 6.0) * 0.01).collect()
}

/// Row kernels against the GEMM path on the three products of small layers (batch 500, best ISA).
fn small() {
    let isa = Isa::best();
    let b = 500;
    println!("isa {isa:?}, batch {b}; us per call = thread CPU time, fastest of 10 samples (median); gemm wins where row / gemm > 1");
    println!();
    println!("| n x k | product | row kernel us | gemm us | row / gemm | gemm::pays |");
    println!("|---|---|---|---|---|---|");
    let shapes = [
        (1, 8),
        (8, 32),
        (16, 32),
        (32, 32),
        (16, 64),
        (64, 64),
        (32, 128),
        (128, 128),
        (16, 512),
        (512, 16),
        (256, 256),
    ];
    for (n, k) in shapes {
        let w = data(n * k, 17);
        let x = data(k * b, 13);
        let dy = data(n * b, 11);
        let bias = vec![0.1f32; n];
        let (mut y, mut dx, mut dw) = (vec![0f32; n * b], vec![0f32; k * b], vec![0f32; n * k]);
        let mut wt = vec![0f32; n * k];
        kernels::dense::transpose(n, k, &w, &mut wt);
        let fwd_row = timed(|| simd::rows(isa, n, k, b, &w, k, &x, Some(&bias), true, &mut y));
        let fwd_gemm = timed(|| gemm::forward_rows(n, k, b, &w, &x, &bias, true, &mut y));
        let dx_row = timed(|| {
            kernels::dense::transpose(n, k, &w, &mut wt);
            simd::rows(isa, k, n, b, &wt, n, &dy, None, false, &mut dx)
        });
        let dx_gemm = timed(|| gemm::input_grad_rows(k, n, k, b, &w, &dy, &mut dx));
        let dw_row = timed(|| simd::dots(isa, n, k, b, &dy, &x, None, &mut dw));
        let dw_gemm = timed(|| gemm::weight_grad_rows(0, n, k, b, &dy, &x, None, &mut dw));
        for (name, row, g, pays) in [
            ("forward", fwd_row, fwd_gemm, gemm::pays(isa, n, k, b)),
            (
                "dX (row: with transpose)",
                dx_row,
                dx_gemm,
                gemm::pays(isa, k, n, b),
            ),
            ("dW", dw_row, dw_gemm, gemm::pays(isa, n, b, k)),
        ] {
            let (row, g) = (row.cpu, g.cpu);
            println!(
                "| {n} x {k} | {name} | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.2} | {pays} |",
                row.0 * 1e6,
                row.1 * 1e6,
                g.0 * 1e6,
                g.1 * 1e6,
                row.0 / g.0
            );
        }
    }
}

fn main() {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--small") {
        return small();
    }
    if arg.as_deref() == Some("--layers") {
        return layers();
    }
    let sizes: Vec<usize> = match arg {
        Some(v) => match v.parse() {
            Ok(d) if d > 0 => vec![d],
            _ => {
                eprintln!(
                    "dense_isa: expected a positive layer size, --small or --layers, got {v:?}"
                );
                std::process::exit(2);
            }
        },
        None => vec![512, 2048],
    };
    let b = 500;
    println!("ms per call = fastest of 10 samples (median); GFLOP/s from the fastest");
    println!();
    println!("| d | batch | path | CPU ms | wall ms | GFLOP/s (CPU) | GFLOP/s (wall) |");
    println!("|---|---|---|---|---|---|---|");
    for d in sizes {
        let a = data(d * d, 17);
        let x = data(d * b, 13);
        let bias = vec![0.1f32; d];
        let mut y = vec![0f32; d * b];
        let flops = 2.0 * (d * d * b) as f64;
        let row = |name: &str, t: Timing| {
            println!(
                "| {d} | {b} | {name} | {:.2} ({:.2}) | {:.2} ({:.2}) | {:.0} | {:.0} |",
                t.cpu.0 * 1e3,
                t.cpu.1 * 1e3,
                t.wall.0 * 1e3,
                t.wall.1 * 1e3,
                flops / t.cpu.0 / 1e9,
                flops / t.wall.0 / 1e9
            );
        };
        for isa in Isa::available() {
            let t = timed(|| simd::rows(isa, d, d, b, &a, d, &x, Some(&bias), true, &mut y));
            row(&format!("row kernel {isa:?}"), t);
        }
        let isa = Isa::best();
        let t = timed(|| kernels::linear_forward(isa, d, d, b, &a, &x, &bias, true, &mut y));
        row(
            &format!("dense layer {isa:?} (gemm: {})", gemm::pays(isa, d, d, b)),
            t,
        );
        let t = timed(|| gemm::fwd_ref(d, d, b, &a, &x, &mut y));
        row("sgemm (matrixmultiply)", t);
    }
}
