//! Training parity on every device: one test body, instantiated by `neurosplit::test_device!` for the CPU and,
//! with `--features cuda`, for GPU 0. The reference is always the CPU engine's `Trainer` with the layers'
//! automatic formats; the body trains through the library's `Backend` on the device under test with each
//! weight storage (CSR, bitmask): on the CPU that checks the formats against each other, on a GPU the device
//! against the CPU. Without a GPU the CUDA variants say that they could not run, and fail instead when
//! `NEUROSPLIT_REQUIRE_GPU=1`.

use neurosplit::data::{Dataset, Dnf, Task};
use neurosplit::device::{Backend, Device};
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::kernels::Par;
use neurosplit::nn::FormatChoice;
use neurosplit::nn::{accuracy, Mlp, TrainConfig, Trainer};
use neurosplit::rng::stream;
use neurosplit::sparse::Format;
use neurosplit::test_device;

fn report(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn data(len: usize, seed: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as f32 + seed) * 0.754).sin())
        .collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: device {g} vs CPU reference {w} (tol {tol})"
        );
    }
}

/// The device opened with weights stored as `format` (on the CPU: every layer forced to it).
fn backend(device: Device, format: Format) -> Backend {
    Backend::open(device, FormatChoice::Force(format), Par::Seq, format).unwrap()
}

/// A short case-study run on both devices from the same seeds: dense training from the same initial model, then
/// retraining of the same clause-split FPE model (expanded once, from the CPU's dense model, so that both
/// devices start the second phase from identical masks). Tolerances: epoch losses within 2% relative, test
/// accuracy within 2 points, masked weights exactly 0, budget unchanged.
fn case_study_training_matches_the_cpu_engine(device: Device) {
    let dnf = Dnf::with_clauses(8, 4).unwrap();
    let train = dnf.generate(4000, &mut stream(0, &[1])).unwrap();
    let test = dnf.generate(1000, &mut stream(0, &[2])).unwrap();
    let cfg = TrainConfig {
        epochs: 30,
        ..TrainConfig::default()
    };
    let run_cpu = |model: &mut Mlp, seed: u64| {
        let mut losses = Vec::new();
        Trainer::new(model, cfg)
            .unwrap()
            .fit(model, &train, &mut stream(0, &[seed]), |_, l| {
                losses.push(l)
            });
        losses
    };
    let run_gpu = |model: &mut Mlp, seed: u64, format: Format| {
        backend(device, format)
            .train(
                model,
                &train,
                cfg,
                &mut stream(0, &[seed]),
                None,
                0,
                |_, _, _| {},
            )
            .unwrap()
            .losses
            .iter()
            .map(|&(_, l)| l)
            .collect::<Vec<f32>>()
    };
    let init = Mlp::new(&[train.d, 8, 1], train.task, &mut stream(0, &[3])).unwrap();
    let mut cpu = init.clone();
    let cpu_dense = run_cpu(&mut cpu, 4);
    let fpe = FpeConfig {
        alpha: 2,
        strategy: Strategy::Clause,
        layer: 0,
    };
    let (wide_init, _) = expand(&cpu, &fpe, train.groups.as_deref(), &mut stream(0, &[5])).unwrap();
    let budget = wide_init.nnz();
    let mut cpu_wide = wide_init.clone();
    let cpu_post = run_cpu(&mut cpu_wide, 6);
    for format in [Format::Csr, Format::Bitmask] {
        let mut gm = init.clone();
        let gpu_dense = run_gpu(&mut gm, 4, format);
        assert_close(
            &format!("dense epoch losses {format:?}"),
            &gpu_dense,
            &cpu_dense,
            2e-2,
        );
        let mut wide = wide_init.clone();
        let gpu_post = run_gpu(&mut wide, 6, format);
        assert_close(
            &format!("FPE epoch losses {format:?}"),
            &gpu_post,
            &cpu_post,
            2e-2,
        );
        assert_eq!(wide.nnz(), budget);
        for l in wide.layers() {
            if let Some(m) = &l.mask() {
                assert!(l
                    .weight()
                    .iter()
                    .enumerate()
                    .all(|(i, w)| m.get_flat(i) || w.to_bits() == 0));
            }
        }
        let (a_gpu, a_cpu) = (accuracy(&wide, &test), accuracy(&cpu_wide, &test));
        report(&format!(
            "case study on {device} {format:?}: test accuracy {a_gpu:.4}, reference CPU {a_cpu:.4}"
        ));
        assert!(
            (a_gpu - a_cpu).abs() <= 0.02,
            "accuracy GPU {a_gpu} vs CPU {a_cpu}"
        );
    }
}

/// Multiclass training runs the softmax path end to end.
fn multiclass_training_matches_cpu(device: Device) {
    let (n, d, c) = (600, 10, 3);
    let x = data(n * d, 9.0);
    let y: Vec<u32> = (0..n)
        .map(|i| ((x[i * d] + x[i * d + 1] > 0.0) as u32) + (x[i * d + 2] > 0.5) as u32)
        .collect();
    let set = Dataset::new(x, y, d, Task::Multiclass(c)).unwrap();
    let model = Mlp::new(&[d, 12, c], set.task, &mut stream(2, &[1])).unwrap();
    let cfg = TrainConfig {
        epochs: 10,
        batch_size: 128,
        ..TrainConfig::default()
    };
    let mut cpu = model.clone();
    let mut want = Vec::new();
    Trainer::new(&cpu, cfg)
        .unwrap()
        .fit(&mut cpu, &set, &mut stream(2, &[2]), |_, l| want.push(l));
    let mut got = Vec::new();
    let mut gm = model.clone();
    backend(device, Format::Csr)
        .train(
            &mut gm,
            &set,
            cfg,
            &mut stream(2, &[2]),
            None,
            0,
            |_, l, _| got.push(l),
        )
        .unwrap();
    assert_close("multiclass epoch losses", &got, &want, 1e-2);
    assert_close(
        "multiclass weights",
        gm.layers()[1].weight(),
        cpu.layers()[1].weight(),
        1e-2,
    );
}

test_device!(
    case_study_training_matches_the_cpu_engine,
    case_study_training_matches_the_cpu_engine_on_cpu,
    case_study_training_matches_the_cpu_engine_on_cuda
);
test_device!(
    multiclass_training_matches_cpu,
    multiclass_training_matches_cpu_on_cpu,
    multiclass_training_matches_cpu_on_cuda
);
