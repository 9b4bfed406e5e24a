//! The training loop of [`crate::nn::Trainer`] on the device: forward, loss, backward, penalty and Adam all run
//! as kernels on one stream. Per step the host only queues launches; per epoch it uploads the shuffled order
//! (`n` indices, drawn from the same RNG stream as the CPU trainer, so both see the same batches) and reads back
//! one `f64` loss per step.

use cudarc::driver::CudaSlice;
use rand::seq::SliceRandom;

use super::ops::{self, AdamHyper};
use super::{driver_error, Gpu, GpuWeight};
use crate::data::{Dataset, Task};
use crate::error::{Error, Result};
use crate::nn::{Mlp, TrainConfig};
use crate::rng::Rng;
use crate::sparse::Format;

/// A data set on the device: samples row-major (`n x d`) and labels.
#[derive(Debug)]
pub struct GpuDataset {
    x: CudaSlice<f32>,
    y: CudaSlice<u32>,
    n: usize,
    d: usize,
    task: Task,
}

impl GpuDataset {
    /// Uploads `data`, after checking its labels against its task (its fields are public, so they may have
    /// changed since [`Dataset::new`] checked them).
    pub fn upload(gpu: &Gpu, data: &Dataset) -> Result<Self> {
        let classes = data.task.outputs().max(2) as u32;
        if let Some(bad) = data.y.iter().find(|&&c| c >= classes) {
            return Err(crate::Error::invalid(
                "dataset",
                format!("label {bad} is out of range for {:?}", data.task),
            ));
        }
        let s = gpu.stream();
        Ok(GpuDataset {
            x: s.clone_htod(&data.x)
                .map_err(|e| driver_error("uploading the data", e))?,
            y: s.clone_htod(&data.y)
                .map_err(|e| driver_error("uploading the labels", e))?,
            n: data.n,
            d: data.d,
            task: data.task,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the data set has no sample.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// Device state of one layer: parameters, gradients, Adam moments and activations.
#[derive(Debug)]
struct Layer {
    w: GpuWeight,
    bias: CudaSlice<f32>,
    gw: CudaSlice<f32>,
    gb: CudaSlice<f32>,
    mw: CudaSlice<f32>,
    vw: CudaSlice<f32>,
    mb: CudaSlice<f32>,
    vb: CudaSlice<f32>,
    /// Output (ReLU applied for hidden layers, logits for the last), `out x capacity`.
    act: CudaSlice<f32>,
    /// Gradient of the mean loss with respect to the pre-activation, `out x capacity`.
    dz: CudaSlice<f32>,
}

/// Trains an [`Mlp`] on the GPU with the semantics of [`crate::nn::Trainer`] (mean data loss, L1 on the first
/// layer's weights, L2 on all parameters, torch-style Adam, masks fixed). The model's parameters live on the
/// device until [`GpuTrainer::download`].
#[derive(Debug)]
pub struct GpuTrainer<'g> {
    gpu: &'g Gpu,
    cfg: TrainConfig,
    task: Task,
    input_dim: usize,
    layers: Vec<Layer>,
    t: u32,
    xb: CudaSlice<f32>,
    yb: CudaSlice<u32>,
    loss: CudaSlice<f32>,
    step_losses: CudaSlice<f64>,
    order: Vec<u32>,
    order_dev: Option<CudaSlice<u32>>,
}

impl<'g> GpuTrainer<'g> {
    /// Uploads `model` with its weights in `format` and a fresh Adam state.
    pub fn new(gpu: &'g Gpu, model: &Mlp, cfg: TrainConfig, format: Format) -> Result<Self> {
        cfg.validate()?;
        if model.norms().iter().any(Option::is_some) {
            return Err(Error::Device(
                "the GPU trainer does not run LayerNorm models yet (the kernels exist in cuda/layernorm.cu); \
                 train them with --device cpu"
                    .into(),
            ));
        }
        let s = gpu.stream();
        let cap = cfg.batch_size;
        let zeros = |len: usize| {
            s.alloc_zeros::<f32>(len.max(1))
                .map_err(|e| driver_error("allocating", e))
        };
        let mut layers = Vec::with_capacity(model.layers().len());
        for l in model.layers() {
            let w = GpuWeight::upload(gpu, format, l.out_dim(), l.in_dim(), l.weight(), l.mask())?;
            let stored = w.stored();
            layers.push(Layer {
                bias: s
                    .clone_htod(l.bias())
                    .map_err(|e| driver_error("upload", e))?,
                gw: zeros(stored)?,
                gb: zeros(l.out_dim())?,
                mw: zeros(stored)?,
                vw: zeros(stored)?,
                mb: zeros(l.out_dim())?,
                vb: zeros(l.out_dim())?,
                act: zeros(l.out_dim() * cap)?,
                dz: zeros(l.out_dim() * cap)?,
                w,
            });
        }
        Ok(GpuTrainer {
            gpu,
            cfg,
            task: model.task(),
            input_dim: model.input_dim(),
            layers,
            t: 0,
            xb: zeros(model.input_dim() * cap)?,
            yb: s
                .alloc_zeros::<u32>(cap.max(1))
                .map_err(|e| driver_error("allocating", e))?,
            loss: zeros(cap)?,
            step_losses: s
                .alloc_zeros::<f64>(1)
                .map_err(|e| driver_error("allocating", e))?,
            order: Vec::new(),
            order_dev: None,
        })
    }

    /// Adam steps taken so far.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// Forward, backward and update on the batch in `xb` / `yb` (`b` samples); the summed data loss goes to
    /// `step_losses[slot]` on the device.
    fn step(&mut self, b: usize, slot: usize) -> Result<()> {
        let gpu = self.gpu;
        let last = self.layers.len() - 1;
        for l in 0..=last {
            let (below, here) = self.layers.split_at_mut(l);
            let input = if l == 0 { &self.xb } else { &below[l - 1].act };
            let layer = &mut here[0];
            ops::linear_forward(
                gpu,
                &layer.w,
                b,
                input,
                Some(&layer.bias),
                l != last,
                &mut layer.act,
            )?;
        }
        {
            let out = &mut self.layers[last];
            match self.task {
                Task::Binary => {
                    ops::bce_with_logits(gpu, b, &out.act, &self.yb, &mut out.dz, &mut self.loss)?
                }
                Task::Multiclass(c) => {
                    ops::softmax_ce(gpu, b, c, &out.act, &self.yb, &mut out.dz, &mut self.loss)?
                }
            }
            ops::sum_into(gpu, b, &self.loss, &mut self.step_losses, slot)?;
        }
        for l in (0..=last).rev() {
            let (below, here) = self.layers.split_at_mut(l);
            let layer = &mut here[0];
            let input = if l == 0 { &self.xb } else { &below[l - 1].act };
            ops::linear_backward_weight(gpu, &layer.w, b, &layer.dz, input, &mut layer.gw)?;
            ops::bias_grad(gpu, layer.w.rows(), b, &layer.dz, &mut layer.gb)?;
            if l > 0 {
                let prev = &mut below[l - 1];
                ops::linear_backward_input(
                    gpu,
                    &layer.w,
                    b,
                    &layer.dz,
                    Some(&prev.act),
                    &mut prev.dz,
                )?;
            }
        }
        self.t += 1;
        let h = AdamHyper::new(self.cfg.lr, self.t);
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let l1 = if l == 0 { self.cfg.reg.l1_first } else { 0.0 };
            let hw = h.with_penalty(l1, self.cfg.reg.l2);
            ops::adam_update_weight(
                gpu,
                &hw,
                &mut layer.w,
                &layer.gw,
                &mut layer.mw,
                &mut layer.vw,
            )?;
            let hb = h.with_penalty(0.0, self.cfg.reg.l2);
            ops::adam_update(
                gpu,
                &hb,
                &mut layer.bias,
                &layer.gb,
                &mut layer.mb,
                &mut layer.vb,
            )?;
        }
        Ok(())
    }

    /// One epoch over `data` in an order shuffled by `rng` (the same permutation as [`crate::nn::Trainer`]
    /// draws from the same stream); returns the mean data loss over the epoch (one read-back per epoch).
    pub fn epoch(&mut self, data: &GpuDataset, rng: &mut Rng) -> Result<f32> {
        if data.d != self.input_dim || data.task != self.task {
            return Err(Error::invalid(
                "GPU data set",
                format!(
                    "{} features for a {}-input model, or a different task",
                    data.d, self.input_dim
                ),
            ));
        }
        let s = self.gpu.stream().clone();
        if self.order.len() != data.n {
            self.order = (0..data.n as u32).collect();
        }
        self.order.shuffle(rng);
        let dev = match &mut self.order_dev {
            Some(o) if o.len() == data.n => o,
            slot => slot.insert(
                s.alloc_zeros::<u32>(data.n.max(1))
                    .map_err(|e| driver_error("allocating", e))?,
            ),
        };
        s.memcpy_htod(&self.order, dev)
            .map_err(|e| driver_error("uploading the order", e))?;
        let bs = self.cfg.batch_size;
        let steps = data.n.div_ceil(bs);
        if self.step_losses.len() < steps.max(1) {
            self.step_losses = s
                .alloc_zeros::<f64>(steps)
                .map_err(|e| driver_error("allocating", e))?;
        }
        let order_dev = self.order_dev.take().expect("allocated above");
        let mut result = Ok(());
        for i in 0..steps {
            let start = i * bs;
            let b = bs.min(data.n - start);
            let idx = order_dev.slice(start..start + b);
            result = ops::gather_batch(
                self.gpu,
                data.d,
                &idx,
                &data.x,
                &data.y,
                &mut self.xb,
                &mut self.yb,
            )
            .and_then(|()| self.step(b, i));
            if result.is_err() {
                break;
            }
        }
        self.order_dev = Some(order_dev);
        result?;
        let totals = s
            .clone_dtoh(&self.step_losses.slice(0..steps))
            .map_err(|e| driver_error("reading the losses back", e))?;
        Ok((totals.iter().sum::<f64>() / data.n.max(1) as f64) as f32)
    }

    /// Trains for the configured number of epochs, calling `on_epoch(epoch, mean_loss)` after each.
    pub fn fit(
        &mut self,
        data: &GpuDataset,
        rng: &mut Rng,
        mut on_epoch: impl FnMut(usize, f32),
    ) -> Result<()> {
        for e in 0..self.cfg.epochs {
            let loss = self.epoch(data, rng)?;
            on_epoch(e, loss);
        }
        Ok(())
    }

    /// Copies the trained weights and biases back into `model` (the model this trainer was built from).
    pub fn download(&self, model: &mut Mlp) -> Result<()> {
        assert_eq!(
            model.layers().len(),
            self.layers.len(),
            "download: a different model"
        );
        for (l, dev) in model.layers_mut().iter_mut().zip(&self.layers) {
            assert!(
                l.out_dim() == dev.w.rows() && l.in_dim() == dev.w.cols(),
                "download: a different model"
            );
            l.update_weights(|w| dev.w.download(self.gpu, w))?;
            self.gpu
                .stream()
                .memcpy_dtoh(&dev.bias, l.bias_mut())
                .map_err(|e| driver_error("download", e))?;
        }
        self.gpu.synchronize()
    }

    /// The current gradients of layer `l` (weights as a dense row-major matrix, zeros at masked entries, and
    /// biases), for parity tests against [`crate::nn::Mlp::backward`].
    pub fn gradients(&self, l: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let s = self.gpu.stream();
        let layer = &self.layers[l];
        let gw = s
            .clone_dtoh(&layer.gw)
            .map_err(|e| driver_error("download", e))?;
        let gb = s
            .clone_dtoh(&layer.gb)
            .map_err(|e| driver_error("download", e))?;
        Ok((layer.w.to_dense(&gw[..layer.w.stored()]), gb))
    }
}
