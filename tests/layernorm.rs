//! LayerNorm before hidden activations: gradients (weights, biases, gains, LayerNorm biases) against central
//! finite differences, and the forward pass against a direct evaluation of the formula.

use neurosplit::data::{Dataset, Task};
use neurosplit::nn::{Adam, Mlp, Regularizer};
use neurosplit::rng::stream;
use neurosplit::sparse::Mask;
use rand::Rng as _;

/// Same tolerances as `tests/gradcheck.rs`: f32 losses give ~1e-4 of finite-difference noise.
const TOL_ABS: f64 = 1e-3;
const TOL_REL: f64 = 2e-2;

fn batch(d: usize, b: usize, task: Task, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = stream(seed, &[99]);
    let x: Vec<f32> = (0..b * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let classes = task.outputs().max(2) as u32;
    let y: Vec<u32> = (0..b).map(|_| rng.gen_range(0..classes)).collect();
    let data = Dataset::new(x, y, d, task).unwrap();
    let (mut xt, mut yt) = (vec![0f32; b * d], vec![0u32; b]);
    data.gather_t(0..b, &mut xt, &mut yt);
    (xt, yt)
}

fn loss(model: &Mlp, xt: &[f32], y: &[u32], b: usize, reg: &Regularizer) -> f64 {
    let mut ws = model.workspace(b);
    let mut grads = model.zero_grads();
    model.backward(xt, y, b, &mut ws, &mut grads) as f64 / b as f64 + reg.loss(model)
}

/// Which parameter: (layer, kind, index); kind 0 = weight, 1 = bias, 2 = LayerNorm gain, 3 = LayerNorm bias.
fn param(model: &Mlp, l: usize, kind: u8, i: usize) -> f32 {
    match kind {
        0 => model.layers()[l].weight()[i],
        1 => model.layers()[l].bias()[i],
        2 => model.norms()[l].as_ref().unwrap().gain[i],
        _ => model.norms()[l].as_ref().unwrap().bias[i],
    }
}

/// Sets the parameter [`param`] reads.
fn set_param(model: &mut Mlp, l: usize, kind: u8, i: usize, v: f32) {
    match kind {
        0 => model.update_weights(l, |w| w[i] = v),
        1 => model.bias_mut(l)[i] = v,
        2 => model.norm_mut(l).unwrap().gain[i] = v,
        _ => model.norm_mut(l).unwrap().bias[i] = v,
    }
}

fn check(dims: &[usize], task: Task, masked: bool, seed: u64) {
    let b = 29;
    let (xt, yt) = batch(dims[0], b, task, seed);
    let mut model = Mlp::new(dims, task, &mut stream(seed, &[1]))
        .unwrap()
        .with_layernorm();
    let mut rng = stream(seed, &[2]);
    // Non-trivial gains and biases, so that their gradients and their effect on the input gradient show.
    for l in 0..model.layers().len() {
        let Some(norm) = model.norm_mut(l) else {
            continue;
        };
        norm.gain
            .iter_mut()
            .for_each(|g| *g = rng.gen_range(0.5..1.5));
        norm.bias
            .iter_mut()
            .for_each(|v| *v = rng.gen_range(-0.3..0.3));
    }
    if masked {
        for l in 0..model.layers().len() {
            let (out, inp) = (model.layers()[l].out_dim(), model.layers()[l].in_dim());
            let live: Vec<bool> = (0..out * inp).map(|_| rng.gen_bool(0.7)).collect();
            model
                .set_mask(l, Some(Mask::from_bools(out, inp, &live)))
                .unwrap();
        }
    }
    let reg = Regularizer {
        l1_first: 0.0,
        l2: 1e-3,
    };
    let mut ws = model.workspace(b);
    let mut grads = model.zero_grads();
    model.backward(&xt, &yt, b, &mut ws, &mut grads);
    reg.add_grad(&model, &mut grads);
    let eps = 1e-3f32;
    let f0 = loss(&model, &xt, &yt, b, &reg);
    let (mut checked, mut total, mut worst) = (0usize, 0usize, 0f64);
    let mut norm_checked = 0usize;
    for l in 0..model.layers().len() {
        let counts = [
            model.layers()[l].weight().len(),
            model.layers()[l].bias().len(),
            model.norms()[l].as_ref().map_or(0, |n| n.width),
            model.norms()[l].as_ref().map_or(0, |n| n.width),
        ];
        for (kind, &count) in counts.iter().enumerate() {
            for i in 0..count {
                let analytic = match kind {
                    0 => grads.w[l][i],
                    1 => grads.b[l][i],
                    2 => grads.norm_gain[l][i],
                    _ => grads.norm_bias[l][i],
                } as f64;
                if kind == 0 {
                    let (r, c) = (
                        i / model.layers()[l].in_dim(),
                        i % model.layers()[l].in_dim(),
                    );
                    if !model.layers()[l].is_live(r, c) {
                        assert_eq!(analytic, 0.0, "masked weight has a gradient");
                        continue;
                    }
                }
                total += 1;
                let p0 = param(&model, l, kind as u8, i);
                set_param(&mut model, l, kind as u8, i, p0 + eps);
                let up = loss(&model, &xt, &yt, b, &reg);
                set_param(&mut model, l, kind as u8, i, p0 - eps);
                let down = loss(&model, &xt, &yt, b, &reg);
                set_param(&mut model, l, kind as u8, i, p0);
                let (right, left) = ((up - f0) / eps as f64, (f0 - down) / eps as f64);
                if (right - left).abs() > 0.05 * (1e-2 + right.abs().max(left.abs())) {
                    continue; // a ReLU changed sides
                }
                let numeric = (up - down) / (2.0 * eps as f64);
                let err = (numeric - analytic).abs() / (TOL_ABS + TOL_REL * numeric.abs());
                worst = worst.max(err);
                checked += 1;
                if kind >= 2 {
                    norm_checked += 1;
                }
            }
        }
    }
    assert!(
        checked * 10 >= total * 8,
        "only {checked} of {total} away from a kink"
    );
    assert!(norm_checked > 0);
    assert!(
        worst <= 1.0,
        "{dims:?} masked={masked}: worst error {worst} of tolerance"
    );
}

#[test]
fn gradients_one_hidden_layer() {
    check(&[6, 5, 1], Task::Binary, false, 1);
}

#[test]
fn gradients_three_hidden_layers_masked_multiclass() {
    check(&[7, 6, 5, 6, 3], Task::Multiclass(3), true, 2);
}

#[test]
fn forward_matches_the_formula() {
    let (d, h, b) = (5, 4, 7);
    let (xt, _) = batch(d, b, Task::Binary, 3);
    let mut model = Mlp::new(&[d, h, 1], Task::Binary, &mut stream(3, &[1]))
        .unwrap()
        .with_layernorm();
    let norm = model.norm_mut(0).unwrap();
    norm.gain = vec![0.5, 1.0, 1.5, 2.0];
    norm.bias = vec![0.1, -0.2, 0.3, 0.0];
    let mut ws = model.workspace(b);
    let logits = model.forward(&xt, b, &mut ws).to_vec();
    let (l0, l1) = (&model.layers()[0], &model.layers()[1]);
    let norm = model.norms()[0].as_ref().unwrap();
    for s in 0..b {
        let z: Vec<f64> = (0..h)
            .map(|r| {
                l0.bias()[r] as f64
                    + (0..d)
                        .map(|c| l0.weight()[r * d + c] as f64 * xt[c * b + s] as f64)
                        .sum::<f64>()
            })
            .collect();
        let mean = z.iter().sum::<f64>() / h as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
        let a: Vec<f64> = (0..h)
            .map(|r| {
                let y =
                    norm.gain[r] as f64 * (z[r] - mean) / (var + 1e-5).sqrt() + norm.bias[r] as f64;
                y.max(0.0)
            })
            .collect();
        let want = l1.bias()[0] as f64 + (0..h).map(|r| l1.weight()[r] as f64 * a[r]).sum::<f64>();
        assert!(
            (logits[s] as f64 - want).abs() < 1e-4,
            "sample {s}: {} vs {want}",
            logits[s]
        );
    }
}

#[test]
fn adam_trains_the_layernorm_parameters() {
    let (d, b) = (6, 32);
    let (xt, yt) = batch(d, b, Task::Binary, 4);
    let mut model = Mlp::new(&[d, 5, 1], Task::Binary, &mut stream(4, &[1]))
        .unwrap()
        .with_layernorm();
    let before = model.norms()[0].clone().unwrap();
    let mut adam = Adam::new(&model, 1e-2);
    let mut ws = model.workspace(b);
    let mut grads = model.zero_grads();
    let first = model.backward(&xt, &yt, b, &mut ws, &mut grads);
    for _ in 0..50 {
        model.backward(&xt, &yt, b, &mut ws, &mut grads);
        adam.step(&mut model, &grads);
    }
    let after = model.norms()[0].as_ref().unwrap();
    assert_ne!(after.gain, before.gain);
    assert_ne!(after.bias, before.bias);
    let last = model.backward(&xt, &yt, b, &mut ws, &mut grads);
    assert!(last < first, "loss {first} -> {last}");
}
