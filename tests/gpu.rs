//! GPU parity: the CPU ops run again on the device, with stated tolerances. (The training-parity tests are one
//! body per device in `tests/devices.rs`.)
//!
//! Without a driver or device every GPU test reports that it was skipped and why, and passes; set
//! `NEUROSPLIT_REQUIRE_GPU=1` (on a GPU machine) to make a skip a failure. The tests that need no GPU (the
//! clean error without a driver) always run.
#![cfg(feature = "cuda")]

use std::io::Write;

use cudarc::driver::CudaSlice;
use neurosplit::data::{Dnf, Task};
use neurosplit::expand::{expand, FpeConfig, Strategy};
use neurosplit::gpu::{self, AdamHyper, Gpu, GpuDataset, GpuTrainer, GpuWeight};
use neurosplit::kernels::{self, loss, Isa};
use neurosplit::nn::{Adam, LayerNorm, Linear, Mlp, Regularizer, TrainConfig};
use neurosplit::rng::stream;
use neurosplit::sparse::{Format, Mask};
use neurosplit::Error;

/// Relative tolerance of one kernel against its CPU twin (f32, different summation order).
const KERNEL_TOL: f32 = 1e-4;

fn report(msg: &str) {
    // Written straight to the process's stderr so that it shows even though the test harness captures
    // `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn gpu(test: &str) -> Option<Gpu> {
    match Gpu::new(0) {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var_os("NEUROSPLIT_REQUIRE_GPU").is_some_and(|v| v == "1") {
                panic!("{test}: NEUROSPLIT_REQUIRE_GPU=1 but no GPU: {e}");
            }
            report(&format!("SKIPPED {test}: {e}"));
            None
        }
    }
}

macro_rules! gpu_or_skip {
    ($name:literal) => {
        match gpu($name) {
            Some(g) => g,
            None => return,
        }
    };
}

fn data(len: usize, seed: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as f32 + seed) * 0.754).sin())
        .collect()
}

fn mask(rows: usize, cols: usize, seed: usize) -> Mask {
    let live: Vec<bool> = (0..rows * cols)
        .map(|i| (i * 7 + seed * 13) % 5 < 2 || i % 11 == 0)
        .collect();
    Mask::from_bools(rows, cols, &live)
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: GPU {g} vs CPU {w} (tol {tol})"
        );
    }
}

fn up<T: cudarc::driver::DeviceRepr>(g: &Gpu, v: &[T]) -> CudaSlice<T> {
    g.stream().clone_htod(v).unwrap()
}

fn down<T: cudarc::driver::DeviceRepr + Default + Clone>(g: &Gpu, v: &CudaSlice<T>) -> Vec<T> {
    g.stream().clone_dtoh(v).unwrap()
}

const SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (3, 5, 17),
    (4, 32, 500),
    (9, 70, 33),
    (16, 129, 15),
    (64, 32, 300),
];

#[test]
fn without_a_driver_opening_a_gpu_is_an_error_not_a_panic() {
    let present = gpu::driver_present();
    match Gpu::new(0) {
        Err(Error::Device(msg)) if !present => {
            assert!(
                msg.contains("libcuda"),
                "message should name the missing library: {msg}"
            );
            report(&format!("no driver here, as expected: {msg}"));
        }
        Ok(_) if !present => panic!("a GPU opened although no driver library was found"),
        Err(e) if !present => panic!("wrong error kind: {e}"),
        Ok(g) => report(&format!("driver present, device {}", g.describe())),
        Err(e) => report(&format!("driver present but no usable device: {e}")),
    }
}

#[test]
fn forward_matches_cpu_for_both_formats() {
    let g = gpu_or_skip!("forward_matches_cpu_for_both_formats");
    for &(n, k, b) in &SHAPES {
        let m = mask(n, k, n + k);
        let mut w = data(n * k, 1.0);
        m.apply(&mut w);
        let (x, bias) = (data(k * b, 2.0), data(n, 4.0));
        for relu in [false, true] {
            let mut want = vec![0.0; n * b];
            kernels::linear_forward(Isa::Scalar, n, k, b, &w, &x, &bias, relu, &mut want);
            for format in [Format::Csr, Format::Bitmask] {
                let dw = GpuWeight::upload(&g, format, n, k, &w, Some(&m)).unwrap();
                let mut y = up(&g, &vec![f32::NAN; n * b]);
                gpu::linear_forward(&g, &dw, b, &up(&g, &x), Some(&up(&g, &bias)), relu, &mut y)
                    .unwrap();
                assert_close(
                    &format!("forward {format:?} {n}x{k}x{b} relu={relu}"),
                    &down(&g, &y),
                    &want,
                    KERNEL_TOL,
                );
            }
        }
    }
}

#[test]
fn input_gradient_matches_cpu_with_and_without_fused_relu() {
    let g = gpu_or_skip!("input_gradient_matches_cpu_with_and_without_fused_relu");
    for &(n, k, b) in &SHAPES {
        let m = mask(n, k, 2);
        let mut w = data(n * k, 1.0);
        m.apply(&mut w);
        let (dy, act) = (data(n * b, 3.0), data(k * b, 5.0));
        let mut want = vec![0.0; k * b];
        kernels::linear_backward_input(Isa::Scalar, n, k, b, &w, &dy, &mut want);
        let mut want_relu = want.clone();
        kernels::relu_backward(&mut want_relu, &act);
        for format in [Format::Csr, Format::Bitmask] {
            let dw = GpuWeight::upload(&g, format, n, k, &w, Some(&m)).unwrap();
            let (dy_d, act_d) = (up(&g, &dy), up(&g, &act));
            let mut dx = up(&g, &vec![f32::NAN; k * b]);
            gpu::linear_backward_input(&g, &dw, b, &dy_d, None, &mut dx).unwrap();
            assert_close(
                &format!("dx {format:?} {n}x{k}x{b}"),
                &down(&g, &dx),
                &want,
                KERNEL_TOL,
            );
            gpu::linear_backward_input(&g, &dw, b, &dy_d, Some(&act_d), &mut dx).unwrap();
            assert_close(
                &format!("dx+relu {format:?} {n}x{k}x{b}"),
                &down(&g, &dx),
                &want_relu,
                KERNEL_TOL,
            );
        }
    }
}

#[test]
fn weight_gradient_matches_cpu_and_is_exactly_zero_when_masked() {
    let g = gpu_or_skip!("weight_gradient_matches_cpu_and_is_exactly_zero_when_masked");
    for &(n, k, b) in &SHAPES {
        let m = mask(n, k, 5);
        let (dy, x) = (data(n * b, 3.0), data(k * b, 2.0));
        let mut want = vec![0.0; n * k];
        kernels::linear_backward_weight(Isa::Scalar, n, k, b, &dy, &x, Some(&m), &mut want);
        let w = vec![0.0; n * k];
        for format in [Format::Csr, Format::Bitmask] {
            let dw = GpuWeight::upload(&g, format, n, k, &w, Some(&m)).unwrap();
            let mut gw = up(&g, &vec![f32::NAN; dw.stored()]);
            gpu::linear_backward_weight(&g, &dw, b, &up(&g, &dy), &up(&g, &x), &mut gw).unwrap();
            let got = dw.to_dense(&down(&g, &gw));
            assert_close(
                &format!("dW {format:?} {n}x{k}x{b}"),
                &got,
                &want,
                KERNEL_TOL,
            );
            for (i, v) in got.iter().enumerate() {
                assert!(m.get_flat(i) || v.to_bits() == 0, "masked dW[{i}] = {v}");
            }
        }
    }
}

#[test]
fn bias_grad_relu_backward_and_losses_match_cpu() {
    let g = gpu_or_skip!("bias_grad_relu_backward_and_losses_match_cpu");
    for &(n, _, b) in &SHAPES {
        let dy = data(n * b, 3.0);
        let mut want = vec![0.0; n];
        kernels::bias_grad(Isa::Scalar, n, b, &dy, &mut want);
        let mut db = up(&g, &vec![f32::NAN; n]);
        gpu::bias_grad(&g, n, b, &up(&g, &dy), &mut db).unwrap();
        assert_close("bias_grad", &down(&g, &db), &want, KERNEL_TOL);

        let act = data(n * b, 7.0);
        let mut want = dy.clone();
        kernels::relu_backward(&mut want, &act);
        let mut gd = up(&g, &dy);
        gpu::relu_backward(&g, n * b, &mut gd, &up(&g, &act)).unwrap();
        assert_eq!(down(&g, &gd), want, "relu_backward is exact");
    }
    for b in [1usize, 7, 500, 1000] {
        let z: Vec<f32> = data(b, 1.0).iter().map(|v| v * 30.0).collect();
        let y: Vec<u32> = (0..b).map(|i| (i % 3 == 0) as u32).collect();
        let mut want = vec![0.0; b];
        let total = loss::bce_with_logits(&z, &y, &mut want);
        let (mut grad, mut per) = (up(&g, &vec![0f32; b]), up(&g, &vec![0f32; b]));
        gpu::bce_with_logits(&g, b, &up(&g, &z), &up(&g, &y), &mut grad, &mut per).unwrap();
        assert_close("bce grad", &down(&g, &grad), &want, 1e-5);
        let mut out = up(&g, &[0f64; 2]);
        gpu::ops::sum_into(&g, b, &per, &mut out, 1).unwrap();
        let got = down(&g, &out)[1] as f32;
        assert!(
            (got - total).abs() <= 1e-4 * (1.0 + total.abs()),
            "bce total {got} vs {total}"
        );

        let classes = 5;
        let z: Vec<f32> = data(b * classes, 2.0).iter().map(|v| v * 20.0).collect();
        let y: Vec<u32> = (0..b).map(|i| (i * 7 % classes) as u32).collect();
        let mut want = vec![0.0; b * classes];
        let total = loss::softmax_ce(&z, &y, classes, &mut want);
        let mut grad = up(&g, &vec![0f32; b * classes]);
        gpu::softmax_ce(
            &g,
            b,
            classes,
            &up(&g, &z),
            &up(&g, &y),
            &mut grad,
            &mut per,
        )
        .unwrap();
        assert_close("softmax grad", &down(&g, &grad), &want, 1e-5);
        gpu::ops::sum_into(&g, b, &per, &mut out, 0).unwrap();
        let got = down(&g, &out)[0] as f32;
        assert!(
            (got - total).abs() <= 1e-4 * (1.0 + total.abs()),
            "softmax total {got} vs {total}"
        );
    }
}

#[test]
fn adam_with_penalty_matches_cpu_and_never_touches_masked_weights() {
    let g = gpu_or_skip!("adam_with_penalty_matches_cpu_and_never_touches_masked_weights");
    let (n, k) = (9, 70);
    let m = mask(n, k, 1);
    let layer = Linear::from_parts(n, k, data(n * k, 1.0), data(n, 2.0), Some(m.clone())).unwrap();
    let model = Mlp::from_layers(
        vec![
            layer,
            Linear::from_parts(1, n, data(n, 3.0), vec![0.1], None).unwrap(),
        ],
        Task::Binary,
    )
    .unwrap();
    let reg = Regularizer {
        l1_first: 1e-3,
        l2: 1e-2,
    };
    let lr = 1e-2;
    for format in [Format::Csr, Format::Bitmask] {
        let mut cpu = model.clone();
        let mut adam = Adam::new(&cpu, lr);
        let mut w =
            GpuWeight::upload(&g, format, n, k, model.layers()[0].weight(), Some(&m)).unwrap();
        let mut bias = up(&g, model.layers()[0].bias());
        let s = w.stored();
        let (mut mw, mut vw) = (up(&g, &vec![0f32; s]), up(&g, &vec![0f32; s]));
        let (mut mb, mut vb) = (up(&g, &vec![0f32; n]), up(&g, &vec![0f32; n]));
        for t in 1..=5u32 {
            let mut grads = cpu.zero_grads();
            grads.w[0] = data(n * k, t as f32 * 10.0);
            m.apply(&mut grads.w[0]);
            grads.b[0] = data(n, t as f32 * 20.0);
            // The GPU gets the raw data gradient in its stored layout; the penalty is fused into the update.
            let gw = match &w {
                GpuWeight::Csr(c) => up(&g, &c.pattern().gather(&grads.w[0])),
                GpuWeight::Bitmask(_) => up(&g, &grads.w[0]),
            };
            let gb = up(&g, &grads.b[0]);
            reg.add_grad(&cpu, &mut grads);
            adam.step(&mut cpu, &grads);
            let h = AdamHyper::new(lr, t);
            gpu::ops::adam_update_weight(
                &g,
                &h.with_penalty(reg.l1_first, reg.l2),
                &mut w,
                &gw,
                &mut mw,
                &mut vw,
            )
            .unwrap();
            gpu::adam_update(
                &g,
                &h.with_penalty(0.0, reg.l2),
                &mut bias,
                &gb,
                &mut mb,
                &mut vb,
            )
            .unwrap();
        }
        let mut got = vec![f32::NAN; n * k];
        w.download(&g, &mut got).unwrap();
        assert_close(
            &format!("Adam weights {format:?}"),
            &got,
            cpu.layers()[0].weight(),
            1e-5,
        );
        assert_close(
            &format!("Adam biases {format:?}"),
            &down(&g, &bias),
            cpu.layers()[0].bias(),
            1e-5,
        );
        for (i, v) in got.iter().enumerate() {
            assert!(m.get_flat(i) || v.to_bits() == 0, "masked weight {i} = {v}");
        }
    }
}

#[test]
fn layer_norm_matches_cpu() {
    let g = gpu_or_skip!("layer_norm_matches_cpu");
    for &(n, b) in &[(1usize, 1usize), (5, 3), (32, 500), (129, 33)] {
        let (x, gamma, beta, dy) = (
            data(n * b, 1.0),
            data(n, 2.0),
            data(n, 3.0),
            data(n * b, 4.0),
        );
        let eps = 1e-5;
        // The oracle is the LayerNorm training uses.
        let cpu = LayerNorm {
            width: n,
            gain: gamma.clone(),
            bias: beta.clone(),
            eps,
        };
        let mut scratch = cpu.scratch(b);
        let mut y = x.clone();
        cpu.forward(&mut y, b, false, &mut scratch);
        let (mut dx, mut dg, mut db) = (dy.clone(), vec![0.0; n], vec![0.0; n]);
        cpu.backward(&mut dx, b, &mut scratch, &mut dg, &mut db);

        let (xd, gd, bd, dyd) = (up(&g, &x), up(&g, &gamma), up(&g, &beta), up(&g, &dy));
        let (mut yd, mut md, mut rd) = (
            up(&g, &vec![0f32; n * b]),
            up(&g, &vec![0f32; b]),
            up(&g, &vec![0f32; b]),
        );
        gpu::layer_norm_forward(&g, n, b, eps, &xd, &gd, &bd, &mut yd, &mut md, &mut rd).unwrap();
        assert_close("layer_norm y", &down(&g, &yd), &y, 1e-4);
        let (mut dxd, mut dgd, mut dbd) = (
            up(&g, &vec![0f32; n * b]),
            up(&g, &vec![0f32; n]),
            up(&g, &vec![0f32; n]),
        );
        gpu::layer_norm_backward(
            &g, n, b, &dyd, &xd, &gd, &md, &rd, &mut dxd, &mut dgd, &mut dbd,
        )
        .unwrap();
        assert_close("layer_norm dx", &down(&g, &dxd), &dx, 1e-3);
        assert_close("layer_norm dgamma", &down(&g, &dgd), &dg, 1e-3);
        assert_close("layer_norm dbeta", &down(&g, &dbd), &db, 1e-4);
    }
}

/// One full-batch epoch on the GPU leaves the gradients of that batch, which must equal the CPU backward
/// pass (the mean gradient does not depend on the sample order).
#[test]
fn trainer_gradients_match_cpu_backward() {
    let g = gpu_or_skip!("trainer_gradients_match_cpu_backward");
    let dnf = Dnf::with_clauses(4, 3).unwrap();
    let train = dnf.generate(300, &mut stream(1, &[1])).unwrap();
    let dense = Mlp::new(&[train.d, 6, 1], train.task, &mut stream(1, &[2])).unwrap();
    let (model, _) = expand(
        &dense,
        &FpeConfig {
            alpha: 2,
            strategy: Strategy::Random,
            layer: 0,
        },
        None,
        &mut stream(1, &[3]),
    )
    .unwrap();
    let mut ws = model.workspace(train.n);
    let mut grads = model.zero_grads();
    let (mut xt, mut yt) = (vec![0.0; train.n * train.d], vec![0u32; train.n]);
    train.gather_t(0..train.n, &mut xt, &mut yt);
    model.backward(&xt, &yt, train.n, &mut ws, &mut grads);
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: train.n,
        lr: 1e-3,
        reg: Regularizer::none(),
        precision: Default::default(),
    };
    for format in [Format::Csr, Format::Bitmask] {
        let data = GpuDataset::upload(&g, &train).unwrap();
        let mut t = GpuTrainer::new(&g, &model, cfg, format).unwrap();
        t.epoch(&data, &mut stream(1, &[4])).unwrap();
        for l in 0..model.layers().len() {
            let (gw, gb) = t.gradients(l).unwrap();
            assert_close(&format!("trainer dW{l} {format:?}"), &gw, &grads.w[l], 1e-4);
            assert_close(&format!("trainer db{l} {format:?}"), &gb, &grads.b[l], 1e-4);
        }
    }
}
