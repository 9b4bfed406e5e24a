//! Gradients of the hand-written backward pass against central finite differences, for dense and masked
//! layers, binary and multiclass heads, one and two hidden layers, with the L1/L2 penalty included.

use neurosplit::data::{Dataset, Task};
use neurosplit::nn::{Mlp, Regularizer};
use neurosplit::rng::stream;
use neurosplit::sparse::Mask;
use rand::Rng as _;

/// A gradient passes when `|numeric - analytic| <= TOL_ABS + TOL_REL |numeric|`: the loss is evaluated in f32,
/// so central differences carry ~1e-4 of rounding noise; a wrong gradient (sign, factor, missing term) is off by
/// far more.
const TOL_ABS: f64 = 1e-3;
const TOL_REL: f64 = 2e-2;

/// Total loss (mean data loss + penalty) in f64 for a feature-major batch.
fn total_loss(model: &Mlp, xt: &[f32], y: &[u32], b: usize, reg: &Regularizer) -> f64 {
    let mut ws = model.workspace(b);
    let mut grads = model.zero_grads();
    let sum = model.backward(xt, y, b, &mut ws, &mut grads);
    sum as f64 / b as f64 + reg.loss(model)
}

fn check(dims: &[usize], task: Task, masked: bool, seed: u64) {
    let mut rng = stream(seed, &[99]);
    let b = 37;
    let d = dims[0];
    let x: Vec<f32> = (0..b * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let classes = task.outputs().max(2) as u32;
    let y: Vec<u32> = (0..b).map(|_| rng.gen_range(0..classes)).collect();
    let data = Dataset::new(x, y, d, task).unwrap();
    let mut xt = vec![0f32; b * d];
    let mut yt = vec![0u32; b];
    data.gather_t(0..b, &mut xt, &mut yt);

    let mut model = Mlp::new(dims, task, &mut stream(seed, &[1])).unwrap();
    if masked {
        for l in 0..model.layers().len() {
            let (out, inp) = (model.layers()[l].out_dim(), model.layers()[l].in_dim());
            let live: Vec<bool> = (0..out * inp).map(|_| rng.gen_bool(0.6)).collect();
            model
                .set_mask(l, Some(Mask::from_bools(out, inp, &live)))
                .unwrap();
        }
    }
    // Strong penalties so their gradient is visible next to the data gradient.
    let reg = Regularizer {
        l1_first: 1e-3,
        l2: 1e-2,
    };
    let mut ws = model.workspace(b);
    let mut grads = model.zero_grads();
    model.backward(&xt, &yt, b, &mut ws, &mut grads);
    reg.add_grad(&model, &mut grads);

    let eps = 1e-3f32;
    let f0 = total_loss(&model, &xt, &yt, b, &reg);
    let mut checked = 0;
    let mut worst = 0.0f64;
    for l in 0..model.layers().len() {
        for i in 0..model.layers()[l].weight().len() {
            let (r, c) = (
                i / model.layers()[l].in_dim(),
                i % model.layers()[l].in_dim(),
            );
            if !model.layers()[l].is_live(r, c) {
                assert_eq!(
                    grads.w[l][i], 0.0,
                    "masked weight ({l}, {r}, {c}) has a gradient"
                );
                continue;
            }
            let w0 = model.layers()[l].weight()[i];
            if w0.abs() < 2.0 * eps {
                continue; // L1 kink
            }
            model.update_weights(l, |w| w[i] = w0 + eps);
            let up = total_loss(&model, &xt, &yt, b, &reg);
            model.update_weights(l, |w| w[i] = w0 - eps);
            let down = total_loss(&model, &xt, &yt, b, &reg);
            model.update_weights(l, |w| w[i] = w0);
            if kink(up, f0, down, eps) {
                continue;
            }
            let numeric = (up - down) / (2.0 * eps as f64);
            let err = (numeric - grads.w[l][i] as f64).abs() / (TOL_ABS + TOL_REL * numeric.abs());
            worst = worst.max(err);
            checked += 1;
        }
        for i in 0..model.layers()[l].bias().len() {
            let b0 = model.layers()[l].bias()[i];
            model.bias_mut(l)[i] = b0 + eps;
            let up = total_loss(&model, &xt, &yt, b, &reg);
            model.bias_mut(l)[i] = b0 - eps;
            let down = total_loss(&model, &xt, &yt, b, &reg);
            model.bias_mut(l)[i] = b0;
            if kink(up, f0, down, eps) {
                continue;
            }
            let numeric = (up - down) / (2.0 * eps as f64);
            let err = (numeric - grads.b[l][i] as f64).abs() / (TOL_ABS + TOL_REL * numeric.abs());
            worst = worst.max(err);
            checked += 1;
        }
    }
    let live: usize = model
        .layers()
        .iter()
        .map(|l| l.nnz() + l.bias().len())
        .sum();
    assert!(
        checked * 10 >= live * 8,
        "only {checked} of {live} parameters were away from a kink"
    );
    assert!(worst <= 1.0, "{dims:?} {task:?} masked={masked}: worst error {worst} tolerances (|err| <= {TOL_ABS} + {TOL_REL} |g|)");
}

/// Whether the loss bends between `w - eps` and `w + eps` (a ReLU changed sides): the one-sided slopes differ.
fn kink(up: f64, f0: f64, down: f64, eps: f32) -> bool {
    let (right, left) = ((up - f0) / eps as f64, (f0 - down) / eps as f64);
    (right - left).abs() > 0.05 * (1e-2 + right.abs().max(left.abs()))
}

#[test]
fn dense_binary() {
    check(&[6, 5, 1], Task::Binary, false, 1);
}

#[test]
fn masked_binary() {
    check(&[6, 5, 1], Task::Binary, true, 2);
}

#[test]
fn dense_multiclass_two_hidden_layers() {
    check(&[7, 6, 5, 4], Task::Multiclass(4), false, 3);
}

#[test]
fn masked_multiclass_wide_batch_tails() {
    check(&[20, 19, 3], Task::Multiclass(3), true, 4);
}
