//! The dense row product `Y = W X + b` (ReLU) on every instruction set this host runs, against `matrixmultiply`
//! sgemm of the same shape: square layers of `d x d`, batch 500, one thread, fastest of 10 runs.
//!
//! ```text
//! cargo run --release --example dense_isa            # d = 512 and 2048
//! cargo run --release --example dense_isa -- 784     # one size
//! ```

use std::time::Instant;

use neurosplit::kernels::{gemm, simd, Isa};

fn fastest(mut f: impl FnMut()) -> f64 {
    f();
    (0..10)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let sizes: Vec<usize> = match std::env::args().nth(1) {
        Some(v) => match v.parse() {
            Ok(d) if d > 0 => vec![d],
            _ => {
                eprintln!("dense_isa: expected a positive layer size, got {v:?}");
                std::process::exit(2);
            }
        },
        None => vec![512, 2048],
    };
    let b = 500;
    println!("| d | batch | isa | ms | GFLOP/s |");
    println!("|---|---|---|---|---|");
    for d in sizes {
        let a: Vec<f32> = (0..d * d).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
        let x: Vec<f32> = (0..d * b).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
        let bias = vec![0.1f32; d];
        let mut y = vec![0f32; d * b];
        let flops = 2.0 * (d * d * b) as f64;
        let row = |name: &str, t: f64| {
            println!(
                "| {d} | {b} | {name} | {:.2} | {:.0} |",
                t * 1e3,
                flops / t / 1e9
            );
        };
        for isa in Isa::available() {
            if isa == Isa::Scalar && d > 512 {
                continue; // the libm-FMA oracle path: minutes at this size
            }
            let t = fastest(|| simd::rows(isa, d, d, b, &a, d, &x, Some(&bias), true, &mut y));
            row(&format!("{isa:?}"), t);
        }
        let t = fastest(|| gemm::fwd_ref(d, d, b, &a, &x, &mut y));
        row("sgemm (matrixmultiply)", t);
    }
}
