//! Times the GPU kernels and the GPU training loop (needs `--features cuda` and an NVIDIA GPU):
//!
//! ```sh
//! cargo run --release --features cuda --example gpu_kernels            # full grid
//! cargo run --release --features cuda --example gpu_kernels -- quick   # two shapes
//! ```
//!
//! For each shape (`batch x in x out`, density of the mask) and format it prints the time of one forward,
//! input-gradient and weight-gradient (SDDMM) launch and the useful GFLOP/s, `2 nnz b / t` (the dense
//! equivalent would count `2 in out b`). The device is synchronised before and after each timed loop. Beside the
//! CSR rows it times the vendor baselines on the same operands, cuSPARSE SpMM (forward without bias) and SDDMM,
//! and checks that they agree with this crate's kernels; each shape also gets one dense cuBLAS SGEMM (its
//! GFLOP/s counted as `2 in out b`). Then it
//! times the case-study training (8 clauses x 4 literals, h = 16, 10 000 samples, batch 500) per epoch on the
//! GPU and on the CPU engine.

mod baseline;

use std::time::Instant;

use baseline::Baselines;
use cudarc::driver::CudaSlice;
use neurosplit::data::Dnf;
use neurosplit::gpu::{self, Gpu, GpuDataset, GpuTrainer, GpuWeight};
use neurosplit::nn::{Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;
use neurosplit::sparse::Format;
use neurosplit::sparse::Mask;
use neurosplit::Result;

fn time_ms(gpu: &Gpu, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up (module load, JIT)
    gpu.synchronize()?;
    let start = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    gpu.synchronize()?;
    Ok(start.elapsed().as_secs_f64() * 1e3 / reps as f64)
}

fn random_mask(rows: usize, cols: usize, density: f64, seed: u64) -> Mask {
    // A fixed-seed hash decides each entry: reproducible without pulling in an RNG here.
    let live: Vec<bool> = (0..rows * cols)
        .map(|i| {
            let h = (i as u64 ^ seed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(29);
            (h % 1_000_000) as f64 / 1e6 < density
        })
        .collect();
    Mask::from_bools(rows, cols, &live)
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs() / (1.0 + q.abs()))
        .fold(0.0, f32::max)
}

fn kernels(gpu: &Gpu, quick: bool) -> Result<()> {
    let base = match Baselines::new(gpu) {
        Ok(b) => Some(b),
        Err(e) => {
            println!("vendor baselines skipped: {e}");
            None
        }
    };
    let b = 500;
    let sizes: &[usize] = if quick {
        &[1024]
    } else {
        &[512, 1024, 2048, 4096]
    };
    let densities: &[f64] = if quick {
        &[1.0, 0.1]
    } else {
        &[1.0, 0.5, 0.25, 0.1, 0.03]
    };
    println!("| b x in x out | density | format | forward ms | GFLOP/s | input grad ms | GFLOP/s | SDDMM ms | GFLOP/s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let s = gpu.stream();
    let dev = |v: Vec<f32>| -> Result<CudaSlice<f32>> {
        s.clone_htod(&v)
            .map_err(|e| neurosplit::Error::Device(format!("upload: {e}")))
    };
    for &k in sizes {
        let n = k;
        let x = dev((0..k * b).map(|i| (i as f32 * 0.37).sin()).collect())?;
        let dy = dev((0..n * b).map(|i| (i as f32 * 0.11).cos()).collect())?;
        let bias = dev(vec![0.1; n])?;
        let mut y = dev(vec![0.0; n * b])?;
        let mut dx = dev(vec![0.0; k * b])?;
        if let Some(base) = &base {
            let wd = dev((0..n * k).map(|i| (i as f32 * 0.013).sin()).collect())?;
            let ms = time_ms(gpu, 20, || base.dense_forward(n, k, b, &wd, &x, &mut y))?;
            let gf = 2.0 * (n * k * b) as f64 / (ms * 1e-3) / 1e9;
            println!("| {b} x {k} x {n} | dense | cuBLAS SGEMM | {ms:.3} | {gf:.1} | | | | |");
        }
        for &density in densities {
            let mask = random_mask(n, k, density, 7);
            let mut w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.013).sin()).collect();
            mask.apply(&mut w);
            let flops = 2.0 * mask.count() as f64 * b as f64;
            for format in [Format::Csr, Format::Bitmask] {
                let weight = GpuWeight::upload(gpu, format, n, k, &w, Some(&mask))?;
                let mut dw = dev(vec![0.0; weight.stored()])?;
                let reps = 20;
                let f = time_ms(gpu, reps, || {
                    gpu::linear_forward(gpu, &weight, b, &x, Some(&bias), true, &mut y)
                })?;
                let i = time_ms(gpu, reps, || {
                    gpu::linear_backward_input(gpu, &weight, b, &dy, None, &mut dx)
                })?;
                let g = time_ms(gpu, reps, || {
                    gpu::linear_backward_weight(gpu, &weight, b, &dy, &x, &mut dw)
                })?;
                let gf = |ms: f64| flops / (ms * 1e-3) / 1e9;
                println!(
                    "| {b} x {k} x {n} | {density} | {format:?} | {f:.3} | {:.1} | {i:.3} | {:.1} | {g:.3} | {:.1} |",
                    gf(f),
                    gf(i),
                    gf(g)
                );
                if let (Some(base), GpuWeight::Csr(csr)) = (&base, &weight) {
                    let mut y_ref = dev(vec![0.0; n * b])?;
                    let mut dw_ref = dev(vec![0.0; weight.stored()])?;
                    let f = time_ms(gpu, reps, || base.spmm_forward(gpu, csr, b, &x, &mut y_ref))?;
                    let g = time_ms(gpu, reps, || {
                        base.sddmm_weight(gpu, csr, b, &dy, &x, &mut dw_ref)
                    })?;
                    gpu::linear_forward(gpu, &weight, b, &x, None, false, &mut y)?;
                    gpu::linear_backward_weight(gpu, &weight, b, &dy, &x, &mut dw)?;
                    let read = |v: &CudaSlice<f32>| {
                        s.clone_dtoh(v)
                            .map_err(|e| neurosplit::Error::Device(format!("download: {e}")))
                    };
                    let dy_ours = max_rel_diff(&read(&y)?, &read(&y_ref)?);
                    let dw_ours = max_rel_diff(&read(&dw)?, &read(&dw_ref)?);
                    println!(
                        "| {b} x {k} x {n} | {density} | cuSPARSE | {f:.3} | {:.1} | | | {g:.3} | {:.1} |",
                        gf(f),
                        gf(g)
                    );
                    if dy_ours > 1e-3 || dw_ours > 1e-3 {
                        println!("MISMATCH with cuSPARSE: forward {dy_ours:e}, SDDMM {dw_ours:e} (max relative difference)");
                    }
                }
            }
        }
    }
    Ok(())
}

fn training(gpu: &Gpu) -> Result<()> {
    let dnf = Dnf::with_clauses(8, 4)?;
    let train = dnf.generate(10_000, &mut stream(0, &[1]))?;
    let model = Mlp::new(&[train.d, 16, 1], train.task, &mut stream(0, &[2]))?;
    let cfg = TrainConfig {
        epochs: 20,
        ..TrainConfig::default()
    };
    let data = GpuDataset::upload(gpu, &train)?;
    let mut t = GpuTrainer::new(gpu, &model, cfg, Format::Csr)?;
    t.epoch(&data, &mut stream(0, &[3]))?; // warm-up
    let start = Instant::now();
    t.fit(&data, &mut stream(0, &[3]), |_, _| {})?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3 / cfg.epochs as f64;
    let mut cpu_model = model.clone();
    let mut cpu = Trainer::new(&cpu_model, cfg)?;
    let start = Instant::now();
    cpu.fit(&mut cpu_model, &train, &mut stream(0, &[3]), |_, _| {});
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3 / cfg.epochs as f64;
    println!("case-study epoch (10 000 samples, [32, 16, 1], batch 500): GPU {gpu_ms:.2} ms, CPU {cpu_ms:.2} ms");
    Ok(())
}

fn main() -> Result<()> {
    let quick = std::env::args().nth(1).is_some_and(|a| a == "quick");
    let gpu = Gpu::new(0)?;
    println!("device: {}", gpu.describe());
    kernels(&gpu, quick)?;
    training(&gpu)
}
