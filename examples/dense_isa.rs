//! The dense products on every instruction set this host runs, against `matrixmultiply` sgemm of the same
//! shape, one thread, fastest of 10 runs (and the median).
//!
//! * Default / `SIZE`: the forward product `Y = W X + b` (ReLU) of square layers `d x d`, batch 500: the row
//!   kernel ([`simd::rows`]) per instruction set, the layer's dense path ([`kernels::linear_forward`], which
//!   goes through the GEMM micro-kernel where [`gemm::pays`] says so) and plain sgemm.
//! * `--small`: the three products (forward, input gradient, weight gradient) of small layers, row kernels
//!   against the GEMM path, to place [`gemm::pays`]'s thresholds.
//!
//! ```text
//! cargo run --release --example dense_isa              # d = 512 and 2048
//! cargo run --release --example dense_isa -- 784       # one size
//! cargo run --release --example dense_isa -- --small   # row kernels vs GEMM on small products
//! ```

use std::time::Instant;

use neurosplit::kernels::{self, gemm, simd, Isa};

/// Fastest and median of 10 timed runs after a warm-up, in seconds.
fn timed(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut t: Vec<f64> = (0..10)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

fn data(len: usize, m: usize) -> Vec<f32> {
    (0..len).map(|i| ((i % m) as f32 - 6.0) * 0.01).collect()
}

/// Row kernels against the GEMM path on the three products of small layers (batch 500, best ISA).
fn small() {
    let isa = Isa::best();
    let b = 500;
    println!("isa {isa:?}, batch {b}; us = fastest of 10 (median); gemm wins where the last column is > 1");
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
    let sizes: Vec<usize> = match arg {
        Some(v) => match v.parse() {
            Ok(d) if d > 0 => vec![d],
            _ => {
                eprintln!("dense_isa: expected a positive layer size or --small, got {v:?}");
                std::process::exit(2);
            }
        },
        None => vec![512, 2048],
    };
    let b = 500;
    println!("| d | batch | path | ms (median) | GFLOP/s (median) |");
    println!("|---|---|---|---|---|");
    for d in sizes {
        let a = data(d * d, 17);
        let x = data(d * b, 13);
        let bias = vec![0.1f32; d];
        let mut y = vec![0f32; d * b];
        let flops = 2.0 * (d * d * b) as f64;
        let row = |name: &str, (t, med): (f64, f64)| {
            println!(
                "| {d} | {b} | {name} | {:.2} ({:.2}) | {:.0} ({:.0}) |",
                t * 1e3,
                med * 1e3,
                flops / t / 1e9,
                flops / med / 1e9
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
