//! Kernel launchers, named after their CPU twins. Every launcher queues work on [`Gpu::stream`] and returns
//! without waiting; shapes are checked before the launch (a mismatch is a programmer error and panics, as in
//! [`crate::kernels`]), which is what makes the `unsafe` launches sound.
//!
//! Buffers are feature-major with the batch size `b` as row stride; a buffer may be longer than needed (a
//! workspace sized for the largest batch), only its first `rows * b` values are used.

use cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};

use super::context::{ADAM, BITMASK, CSR, ELEMENTWISE, LAYERNORM, LOSS};
use super::{driver_error, Gpu, GpuWeight};
use crate::error::Result;

/// The null device pointer, passed for an absent optional argument (bias, ReLU activation).
static NULL: u64 = 0;

/// Threads per block of the one-thread-per-sample kernels and of the reductions.
const BLOCK: u32 = 256;
/// Largest grid extent used in `y` (the CUDA limit is 65 535); kernels loop over the rest.
const MAX_GRID_Y: usize = 65_535;

/// One thread per sample in `x`, rows in `y` (kernels stride over rows beyond the grid).
fn batch_rows(b: usize, rows: usize) -> LaunchConfig {
    let threads = (b.div_ceil(32) * 32).clamp(32, BLOCK as usize) as u32;
    LaunchConfig {
        grid_dim: (
            (b as u32).div_ceil(threads).max(1),
            rows.clamp(1, MAX_GRID_Y) as u32,
            1,
        ),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One warp per item.
fn warp_per_item(items: usize) -> LaunchConfig {
    let warps_per_block = (BLOCK / 32) as usize;
    LaunchConfig {
        grid_dim: (items.div_ceil(warps_per_block).max(1) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Grid-stride loops over `len` elements.
fn elementwise(len: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (len.div_ceil(BLOCK as usize).clamp(1, 65_535) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block per row (grid-stride over rows).
fn block_per_row(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.clamp(1, 65_535) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn int(v: usize) -> i32 {
    i32::try_from(v).expect("dimension exceeds the 32-bit range of the GPU kernels")
}

fn launched(
    r: std::result::Result<impl Sized, cudarc::driver::DriverError>,
    name: &str,
) -> Result<()> {
    r.map(|_| ())
        .map_err(|e| driver_error(&format!("launching {name}"), e))
}

/// `Y (n x b) = W X (k x b) + bias`, then ReLU if `relu` (GPU twin of [`crate::kernels::linear_forward`]).
pub fn linear_forward(
    gpu: &Gpu,
    w: &GpuWeight,
    b: usize,
    x: &CudaSlice<f32>,
    bias: Option<&CudaSlice<f32>>,
    relu: bool,
    y: &mut CudaSlice<f32>,
) -> Result<()> {
    let (n, k) = (w.rows(), w.cols());
    assert!(
        x.len() >= k * b && y.len() >= n * b,
        "linear_forward: shape mismatch"
    );
    assert!(
        bias.is_none_or(|v| v.len() >= n),
        "linear_forward: bias too short"
    );
    if n == 0 || b == 0 {
        return Ok(());
    }
    let (ni, ki, bi, relu) = (int(n), int(k), int(b), i32::from(relu));
    let cfg = batch_rows(b, n);
    match w {
        GpuWeight::Csr(c) => {
            let f = gpu.function(&CSR, "csr_linear_forward")?;
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&ni)
                .arg(&bi)
                .arg(c.row_ptr())
                .arg(c.col_idx())
                .arg(c.values())
                .arg(x);
            match bias {
                Some(v) => l.arg(v),
                None => l.arg(&NULL),
            };
            l.arg(&relu).arg(y);
            // SAFETY: the argument list matches `csr_linear_forward(int, int, const unsigned*, const unsigned*,
            // const float*, const float*, const float*, int, float*)`; the CSR arrays are private fields of `GpuCsr`,
            // set only by `GpuWeight::upload` from one `CsrPattern::new` (row_ptr has n + 1 entries bounding
            // col_idx/values, columns < k), and the asserts
            // above bound every x, y and bias index the kernel forms.
            launched(unsafe { l.launch(cfg) }, "csr_linear_forward")
        }
        GpuWeight::Bitmask(m) => {
            let f = gpu.function(&BITMASK, "bitmask_linear_forward")?;
            let wpr = int(m.wpr());
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&ni)
                .arg(&ki)
                .arg(&bi)
                .arg(&wpr)
                .arg(m.words())
                .arg(m.values())
                .arg(x);
            match bias {
                Some(v) => l.arg(v),
                None => l.arg(&NULL),
            };
            l.arg(&relu).arg(y);
            // SAFETY: matches `bitmask_linear_forward(int, int, int, int, const unsigned*, const float*,
            // const float*, const float*, int, float*)`; `GpuBitmask`'s private fields, set only by
            // `GpuWeight::upload`, give `words` n * wpr entries with no bit at or past k (`bitmask_words`) and
            // values n * k, and the asserts above bound x, y and bias.
            launched(unsafe { l.launch(cfg) }, "bitmask_linear_forward")
        }
    }
}

/// `dX (k x b) = W^T dY (n x b)`; if `act` is given (the ReLU output of the layer below, `k x b`), `dX` is
/// zeroed where it is not positive: [`crate::kernels::linear_backward_input`] and
/// [`crate::kernels::relu_backward`] fused.
pub fn linear_backward_input(
    gpu: &Gpu,
    w: &GpuWeight,
    b: usize,
    dy: &CudaSlice<f32>,
    act: Option<&CudaSlice<f32>>,
    dx: &mut CudaSlice<f32>,
) -> Result<()> {
    let (n, k) = (w.rows(), w.cols());
    assert!(
        dy.len() >= n * b && dx.len() >= k * b,
        "linear_backward_input: shape mismatch"
    );
    assert!(
        act.is_none_or(|a| a.len() >= k * b),
        "linear_backward_input: act too short"
    );
    if k == 0 || b == 0 {
        return Ok(());
    }
    let (ni, ki, bi) = (int(n), int(k), int(b));
    let cfg = batch_rows(b, k);
    match w {
        GpuWeight::Csr(c) => {
            let f = gpu.function(&CSR, "csr_linear_backward_input")?;
            let (t_ptr, t_row, t_pos) = c.transposed();
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&ki)
                .arg(&bi)
                .arg(t_ptr)
                .arg(t_row)
                .arg(t_pos)
                .arg(c.values())
                .arg(dy);
            match act {
                Some(a) => l.arg(a),
                None => l.arg(&NULL),
            };
            l.arg(dx);
            // SAFETY: matches `csr_linear_backward_input(int, int, const unsigned*, const unsigned*,
            // const unsigned*, const float*, const float*, const float*, float*)`; the transposed pattern (private to
            // `GpuCsr`, from `CsrPattern::new`) has k + 1 pointers, rows < n and positions < nnz; the asserts bound dy, act, dx.
            launched(unsafe { l.launch(cfg) }, "csr_linear_backward_input")
        }
        GpuWeight::Bitmask(m) => {
            let f = gpu.function(&BITMASK, "bitmask_linear_backward_input")?;
            let wpr = int(m.wpr());
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&ni)
                .arg(&ki)
                .arg(&bi)
                .arg(&wpr)
                .arg(m.words())
                .arg(m.values())
                .arg(dy);
            match act {
                Some(a) => l.arg(a),
                None => l.arg(&NULL),
            };
            l.arg(dx);
            // SAFETY: matches `bitmask_linear_backward_input(int, int, int, int, const unsigned*, const float*,
            // const float*, const float*, float*)`; words n * wpr with wpr * 32 >= k, values n * k (invariants of
            // `GpuBitmask`, whose fields are private); the asserts bound dy, act, dx.
            launched(unsafe { l.launch(cfg) }, "bitmask_linear_backward_input")
        }
    }
}

/// `dW = dY (n x b) X^T (b x k)` on the live entries only, written in `w`'s stored layout (`w.stored()` values:
/// CSR order, or dense with exact zeros at masked entries). GPU twin of [`crate::kernels::linear_backward_weight`].
pub fn linear_backward_weight(
    gpu: &Gpu,
    w: &GpuWeight,
    b: usize,
    dy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    dw: &mut CudaSlice<f32>,
) -> Result<()> {
    let (n, k) = (w.rows(), w.cols());
    assert!(
        dy.len() >= n * b && x.len() >= k * b,
        "linear_backward_weight: shape mismatch"
    );
    assert!(
        dw.len() >= w.stored(),
        "linear_backward_weight: dw too short"
    );
    if w.stored() == 0 {
        return Ok(());
    }
    let bi = int(b);
    match w {
        GpuWeight::Csr(c) => {
            let f = gpu.function(&CSR, "csr_linear_backward_weight")?;
            let nnz = int(c.pattern().nnz());
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&nnz)
                .arg(&bi)
                .arg(c.row_idx())
                .arg(c.col_idx())
                .arg(dy)
                .arg(x)
                .arg(dw);
            // SAFETY: matches `csr_linear_backward_weight(int, int, const unsigned*, const unsigned*,
            // const float*, const float*, float*)`; one warp per entry e < nnz, row_idx[e] < n and
            // col_idx[e] < k (invariants of `GpuCsr`'s private pattern), so the dy and x rows read lie within the asserted lengths; dw has nnz values.
            let launch = unsafe { l.launch(warp_per_item(c.pattern().nnz())) };
            launched(launch, "csr_linear_backward_weight")
        }
        GpuWeight::Bitmask(m) => {
            let f = gpu.function(&BITMASK, "bitmask_linear_backward_weight")?;
            let (ni, ki, wpr) = (int(n), int(k), int(m.wpr()));
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&ni)
                .arg(&ki)
                .arg(&bi)
                .arg(&wpr)
                .arg(m.words())
                .arg(dy)
                .arg(x)
                .arg(dw);
            // SAFETY: matches `bitmask_linear_backward_weight(int, int, int, int, const unsigned*,
            // const float*, const float*, float*)`; one warp per entry < n * k = dw's asserted length.
            let launch = unsafe { l.launch(warp_per_item(n * k)) };
            launched(launch, "bitmask_linear_backward_weight")
        }
    }
}

/// `db (n) = row sums of dY (n x b)` (GPU twin of [`crate::kernels::bias_grad`]).
pub fn bias_grad(
    gpu: &Gpu,
    n: usize,
    b: usize,
    dy: &CudaSlice<f32>,
    db: &mut CudaSlice<f32>,
) -> Result<()> {
    assert!(
        dy.len() >= n * b && db.len() >= n,
        "bias_grad: shape mismatch"
    );
    if n == 0 {
        return Ok(());
    }
    let f = gpu.function(&ELEMENTWISE, "bias_grad")?;
    let (ni, bi) = (int(n), int(b));
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&ni).arg(&bi).arg(dy).arg(db);
    // SAFETY: matches `bias_grad(int, int, const float*, float*)`; rows < n, columns < b, within the asserts;
    // the block size is a multiple of 32 as the block reduction requires.
    launched(unsafe { l.launch(block_per_row(n)) }, "bias_grad")
}

/// Zeroes the first `len` entries of `grad` wherever `act` is not positive (GPU twin of
/// [`crate::kernels::relu_backward`]).
pub fn relu_backward(
    gpu: &Gpu,
    len: usize,
    grad: &mut CudaSlice<f32>,
    act: &CudaSlice<f32>,
) -> Result<()> {
    assert!(
        grad.len() >= len && act.len() >= len,
        "relu_backward: shape mismatch"
    );
    if len == 0 {
        return Ok(());
    }
    let f = gpu.function(&ELEMENTWISE, "relu_backward")?;
    let len_i = len as i64;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&len_i).arg(grad).arg(act);
    // SAFETY: matches `relu_backward(long long, float*, const float*)`; indices < len, within both buffers.
    launched(unsafe { l.launch(elementwise(len)) }, "relu_backward")
}

/// Gathers samples `idx` of a sample-major data set (`x`: `rows x d`, labels `y`) into a feature-major batch
/// (`xt`: `d x b`, `yb`: `b`), `b = idx.len()` (GPU twin of [`crate::data::Dataset::gather_t`]).
/// Every index must be below `y.len()`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather_batch(
    gpu: &Gpu,
    d: usize,
    idx: &CudaView<'_, u32>,
    x: &CudaSlice<f32>,
    y: &CudaSlice<u32>,
    xt: &mut CudaSlice<f32>,
    yb: &mut CudaSlice<u32>,
) -> Result<()> {
    let b = idx.len();
    assert!(x.len() >= y.len() * d, "gather_batch: data shape mismatch");
    assert!(
        xt.len() >= d * b && yb.len() >= b,
        "gather_batch: batch buffers too short"
    );
    if b == 0 {
        return Ok(());
    }
    let f = gpu.function(&ELEMENTWISE, "gather_batch")?;
    let (di, bi) = (int(d), int(b));
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&di).arg(&bi).arg(idx).arg(x).arg(y).arg(xt).arg(yb);
    // SAFETY: matches `gather_batch(int, int, const unsigned*, const float*, const unsigned*, float*,
    // unsigned*)`; the caller's indices are rows of the data set (the trainer uploads a permutation of
    // 0..rows), and the asserts bound xt and yb.
    launched(unsafe { l.launch(batch_rows(b, d)) }, "gather_batch")
}

/// Binary cross-entropy with logits on `b` samples: writes `d loss_mean / d logits` into `grad` and each
/// sample's loss into `loss` (GPU twin of [`crate::kernels::loss::bce_with_logits`]; reduce with [`sum_into`]).
pub fn bce_with_logits(
    gpu: &Gpu,
    b: usize,
    logits: &CudaSlice<f32>,
    labels: &CudaSlice<u32>,
    grad: &mut CudaSlice<f32>,
    loss: &mut CudaSlice<f32>,
) -> Result<()> {
    assert!(
        logits.len() >= b && labels.len() >= b && grad.len() >= b && loss.len() >= b,
        "bce_with_logits: shape mismatch"
    );
    if b == 0 {
        return Ok(());
    }
    let f = gpu.function(&LOSS, "bce_with_logits")?;
    let bi = int(b);
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&bi).arg(logits).arg(labels).arg(grad).arg(loss);
    // SAFETY: matches `bce_with_logits(int, const float*, const unsigned*, float*, float*)`; indices < b.
    launched(unsafe { l.launch(batch_rows(b, 1)) }, "bce_with_logits")
}

/// Softmax cross-entropy on feature-major logits (`classes x b`); labels must be below `classes` (GPU twin of
/// [`crate::kernels::loss::softmax_ce`]).
pub fn softmax_ce(
    gpu: &Gpu,
    b: usize,
    classes: usize,
    logits: &CudaSlice<f32>,
    labels: &CudaSlice<u32>,
    grad: &mut CudaSlice<f32>,
    loss: &mut CudaSlice<f32>,
) -> Result<()> {
    assert!(
        logits.len() >= b * classes
            && grad.len() >= b * classes
            && labels.len() >= b
            && loss.len() >= b,
        "softmax_ce: shape mismatch"
    );
    assert!(classes > 0, "softmax_ce: no classes");
    if b == 0 {
        return Ok(());
    }
    let f = gpu.function(&LOSS, "softmax_ce")?;
    let (bi, ci) = (int(b), int(classes));
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&bi)
        .arg(&ci)
        .arg(logits)
        .arg(labels)
        .arg(grad)
        .arg(loss);
    // SAFETY: matches `softmax_ce(int, int, const float*, const unsigned*, float*, float*)`; indices
    // < classes * b within the asserts: the kernel indexes by a label only after checking it is < classes.
    launched(unsafe { l.launch(batch_rows(b, 1)) }, "softmax_ce")
}

/// `out[slot] = sum of v[..len]`, accumulated in `f64` by one block (deterministic).
pub fn sum_into(
    gpu: &Gpu,
    len: usize,
    v: &CudaSlice<f32>,
    out: &mut CudaSlice<f64>,
    slot: usize,
) -> Result<()> {
    assert!(
        v.len() >= len && slot < out.len(),
        "sum_into: shape mismatch"
    );
    let f = gpu.function(&LOSS, "sum_into")?;
    let (li, si) = (int(len), int(slot));
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&li).arg(v).arg(out).arg(&si);
    let cfg = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: matches `sum_into(int, const float*, double*, int)`; reads v[..len], writes out[slot], both
    // asserted in bounds; one block of a multiple of 32 threads.
    launched(unsafe { l.launch(cfg) }, "sum_into")
}

/// Adam hyper-parameters of one step, with the bias corrections computed as [`crate::nn::Adam`] does, and
/// the penalties of [`crate::nn::Regularizer`] for the parameter being updated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    /// `lr / (1 - beta1^t)`.
    pub step_size: f32,
    /// `sqrt(1 - beta2^t)`.
    pub bc2_sqrt: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// L1 coefficient (only the first layer's weights carry one).
    pub l1: f32,
    /// Twice the L2 coefficient.
    pub two_l2: f32,
}

impl AdamHyper {
    /// Step `t` (from 1) with PyTorch's defaults (`beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`) and no penalty.
    pub fn new(lr: f32, t: u32) -> Self {
        let (beta1, beta2) = (0.9f32, 0.999f32);
        AdamHyper {
            step_size: lr / (1.0 - beta1.powi(t as i32)),
            bc2_sqrt: (1.0 - beta2.powi(t as i32)).sqrt(),
            beta1,
            beta2,
            eps: 1e-8,
            l1: 0.0,
            two_l2: 0.0,
        }
    }

    /// The same step with penalties `l1 |p|` and `l2 p^2` added to the loss.
    pub fn with_penalty(self, l1: f32, l2: f32) -> Self {
        AdamHyper {
            l1,
            two_l2: 2.0 * l2,
            ..self
        }
    }
}

/// One Adam step on a weight in its stored layout (`g`, `m`, `v` have `w.stored()` values); masked entries are
/// never touched (GPU twin of [`crate::nn::Adam::step`] for one weight, penalty gradient fused).
pub fn adam_update_weight(
    gpu: &Gpu,
    h: &AdamHyper,
    w: &mut GpuWeight,
    g: &CudaSlice<f32>,
    m: &mut CudaSlice<f32>,
    v: &mut CudaSlice<f32>,
) -> Result<()> {
    match w {
        GpuWeight::Csr(c) => adam_update(gpu, h, c.values_mut(), g, m, v),
        GpuWeight::Bitmask(bm) => {
            let len = bm.rows() * bm.cols();
            assert!(
                g.len() >= len && m.len() >= len && v.len() >= len,
                "adam_update: shape mismatch"
            );
            if len == 0 {
                return Ok(());
            }
            let f = gpu.function(&ADAM, "adam_update_bitmask")?;
            let (ni, ki, wpr) = (int(bm.rows()), int(bm.cols()), int(bm.wpr()));
            let (words, values) = bm.words_values_mut();
            let mut l = gpu.stream().launch_builder(&f);
            l.arg(&ni)
                .arg(&ki)
                .arg(&wpr)
                .arg(words)
                .arg(values)
                .arg(g)
                .arg(m)
                .arg(v);
            l.arg(&h.step_size)
                .arg(&h.bc2_sqrt)
                .arg(&h.beta1)
                .arg(&h.beta2)
                .arg(&h.eps)
                .arg(&h.l1);
            l.arg(&h.two_l2);
            // SAFETY: matches `adam_update_bitmask(int, int, int, const unsigned*, float*, const float*, float*,
            // float*, float x 7)`; indices < n * k, the asserted length of every array, words n * wpr (an
            // invariant of `GpuBitmask`, whose fields are private).
            launched(unsafe { l.launch(elementwise(len)) }, "adam_update_bitmask")
        }
    }
}

/// One Adam step on every entry of `p` (biases, CSR values): see [`adam_update_weight`].
pub fn adam_update(
    gpu: &Gpu,
    h: &AdamHyper,
    p: &mut CudaSlice<f32>,
    g: &CudaSlice<f32>,
    m: &mut CudaSlice<f32>,
    v: &mut CudaSlice<f32>,
) -> Result<()> {
    let len = p.len();
    assert!(
        g.len() >= len && m.len() >= len && v.len() >= len,
        "adam_update: shape mismatch"
    );
    if len == 0 {
        return Ok(());
    }
    let f = gpu.function(&ADAM, "adam_update")?;
    let len_i = len as i64;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&len_i).arg(p).arg(g).arg(m).arg(v);
    l.arg(&h.step_size)
        .arg(&h.bc2_sqrt)
        .arg(&h.beta1)
        .arg(&h.beta2)
        .arg(&h.eps)
        .arg(&h.l1)
        .arg(&h.two_l2);
    // SAFETY: matches `adam_update(long long, float*, const float*, float*, float*, float x 7)`; indices < len,
    // the asserted length of every array.
    launched(unsafe { l.launch(elementwise(len)) }, "adam_update")
}

/// LayerNorm over the `n` features of each of `b` samples (`x`, `y`: `n x b`), saving per-sample mean and
/// inverse standard deviation (GPU twin of [`crate::nn::LayerNorm::forward`]).
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    gpu: &Gpu,
    n: usize,
    b: usize,
    eps: f32,
    x: &CudaSlice<f32>,
    gamma: &CudaSlice<f32>,
    beta: &CudaSlice<f32>,
    y: &mut CudaSlice<f32>,
    mean: &mut CudaSlice<f32>,
    rstd: &mut CudaSlice<f32>,
) -> Result<()> {
    assert!(
        x.len() >= n * b && y.len() >= n * b,
        "layer_norm_forward: shape mismatch"
    );
    assert!(gamma.len() >= n && beta.len() >= n && mean.len() >= b && rstd.len() >= b);
    if b == 0 || n == 0 {
        return Ok(());
    }
    let f = gpu.function(&LAYERNORM, "layer_norm_forward")?;
    let (ni, bi) = (int(n), int(b));
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&ni)
        .arg(&bi)
        .arg(&eps)
        .arg(x)
        .arg(gamma)
        .arg(beta)
        .arg(y)
        .arg(mean)
        .arg(rstd);
    // SAFETY: matches `layer_norm_forward(int, int, float, const float*, const float*, const float*, float*,
    // float*, float*)`; indices < n * b, n and b, as asserted.
    launched(unsafe { l.launch(batch_rows(b, 1)) }, "layer_norm_forward")
}

/// Backward of [`layer_norm_forward`]: `dx` (`n x b`), `dgamma`, `dbeta` (`n`) from `dy` (GPU twin of
/// [`crate::nn::LayerNorm::backward`]).
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    gpu: &Gpu,
    n: usize,
    b: usize,
    dy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    gamma: &CudaSlice<f32>,
    mean: &CudaSlice<f32>,
    rstd: &CudaSlice<f32>,
    dx: &mut CudaSlice<f32>,
    dgamma: &mut CudaSlice<f32>,
    dbeta: &mut CudaSlice<f32>,
) -> Result<()> {
    assert!(
        dy.len() >= n * b && x.len() >= n * b && dx.len() >= n * b,
        "layer_norm_backward: shape mismatch"
    );
    assert!(
        gamma.len() >= n
            && dgamma.len() >= n
            && dbeta.len() >= n
            && mean.len() >= b
            && rstd.len() >= b
    );
    if b == 0 || n == 0 {
        return Ok(());
    }
    let (ni, bi) = (int(n), int(b));
    let f = gpu.function(&LAYERNORM, "layer_norm_backward_input")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&ni)
        .arg(&bi)
        .arg(dy)
        .arg(x)
        .arg(gamma)
        .arg(mean)
        .arg(rstd)
        .arg(dx);
    // SAFETY: matches `layer_norm_backward_input(int, int, const float*, const float*, const float*,
    // const float*, const float*, float*)`; indices < n * b, n and b, as asserted.
    let launch = unsafe { l.launch(batch_rows(b, 1)) };
    launched(launch, "layer_norm_backward_input")?;
    let f = gpu.function(&LAYERNORM, "layer_norm_backward_params")?;
    let mut l = gpu.stream().launch_builder(&f);
    l.arg(&ni)
        .arg(&bi)
        .arg(dy)
        .arg(x)
        .arg(mean)
        .arg(rstd)
        .arg(dgamma)
        .arg(dbeta);
    // SAFETY: matches `layer_norm_backward_params(int, int, const float*, const float*, const float*,
    // const float*, float*, float*)`; rows < n, columns < b, as asserted; block size a multiple of 32.
    let launch = unsafe { l.launch(block_per_row(n)) };
    launched(launch, "layer_norm_backward_params")
}

#[cfg(test)]
mod tests {
    use super::super::context::ALL_MODULES;

    /// Every kernel a launcher asks for is an entry of the PTX module it names, and every module targets
    /// PTX ISA 9.0 / sm_80: checked on the text, so it runs without a GPU.
    #[test]
    fn launchers_name_kernels_that_exist_in_the_checked_in_ptx() {
        let src = include_str!("ops.rs");
        let mut launched = std::collections::BTreeSet::new();
        for call in src.split("gpu.function(&").skip(1) {
            let module = call.split(',').next().unwrap().trim();
            let Some(name) = call.split('"').nth(1) else {
                continue;
            };
            if module.chars().any(|c| !c.is_ascii_uppercase()) {
                continue; // this test's own text
            }
            let ptx = ALL_MODULES
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(module))
                .unwrap_or_else(|| panic!("no PTX module {module}"))
                .ptx;
            assert!(
                ptx.contains(&format!(".visible .entry {name}(")),
                "{name} missing from {module}.ptx"
            );
            launched.insert(name.to_string());
        }
        // ... and every kernel of the PTX has a launcher.
        let entries: std::collections::BTreeSet<String> = ALL_MODULES
            .iter()
            .flat_map(|m| m.ptx.split(".visible .entry ").skip(1))
            .map(|rest| rest.split('(').next().unwrap().to_string())
            .collect();
        assert_eq!(launched, entries);
        for m in ALL_MODULES {
            assert!(
                m.ptx.contains("\n.version 9.0\n"),
                "{}.ptx is not PTX ISA 9.0",
                m.name
            );
            assert!(
                m.ptx.contains("\n.target sm_80\n"),
                "{}.ptx does not target sm_80",
                m.name
            );
        }
    }
}
