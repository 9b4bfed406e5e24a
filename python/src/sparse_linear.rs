//! `SparseKernel`: neurosplit's CPU kernels for one masked linear layer, called by
//! `neurosplit.torch.SparseLinear`'s autograd function on numpy views of torch tensors (no copy).
//!
//! Layouts are the engine's feature-major ones (`crate::kernels`): the weight is `[out, in]` row-major (zeros off
//! the mask, as `nn.Linear.weight` holds it), activations are `[features, batch]`. A torch batch `[batch, in]`
//! whose transpose is contiguous is that layout already; the Python side transposes other batches once and
//! returns outputs as transposed views, so nothing is copied between torch and the kernels. The GIL is released
//! while a kernel runs; `threads` pieces run on the engine's worker team.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use neurosplit::kernels::{bitmask, csr, Isa, Par};
use neurosplit::sparse::csr::{gather_into, scatter_from};
use neurosplit::sparse::{Format, Mask, Pattern};

use crate::arrays::{bool_matrix, invalid};

/// Most threads a kernel may be asked to use.
const MAX_THREADS: usize = 1024;

/// The structures of one format.
enum Plan {
    Csr {
        pattern: Pattern,
        pattern_t: Pattern,
        perm: Vec<u32>,
    },
    Bitmask {
        mask: Mask,
        mask_t: Mask,
    },
}

/// Per-call buffers of a CSR plan, kept from call to call.
#[derive(Default)]
struct Scratch {
    /// The live weights in pattern order, gathered from the weight whose key is `key`.
    values: Vec<f32>,
    /// `values` in the transposed pattern's order, valid when `t_fresh`.
    values_t: Vec<f32>,
    t_fresh: bool,
    /// (address, torch version counter) of the weight `values` were gathered from.
    key: Option<(usize, u64)>,
    /// Compact weight gradient.
    grad: Vec<f32>,
}

/// The kernels of one masked `[out, in]` layer: its mask's CSR pattern (or bitmask) built once.
#[pyclass(module = "neurosplit._neurosplit", frozen)]
pub struct SparseKernel {
    rows: usize,
    cols: usize,
    nnz: usize,
    threads: usize,
    plan: Plan,
    scratch: Mutex<Scratch>,
}

/// Runs `f` with `threads` pieces: on the caller for one, else on the engine's team (whose size follows the
/// current rayon pool; a pool of `threads` is made and kept when the global one is smaller).
fn with_threads<R: Send>(threads: usize, f: impl FnOnce(Par) -> R + Send) -> R {
    if threads <= 1 {
        return f(Par::Seq);
    }
    if threads <= rayon::current_num_threads() {
        return f(Par::Rayon(threads));
    }
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pool = {
        let mut pools = POOLS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match pools.get(&threads) {
            Some(p) => Some(p.clone()),
            None => rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .ok()
                .map(|p| pools.entry(threads).or_insert(Arc::new(p)).clone()),
        }
    };
    match pool {
        Some(pool) => pool.install(|| f(Par::Rayon(threads))),
        // No pool could be made: as many pieces as the global pool runs.
        None => f(Par::Rayon(threads)),
    }
}

fn slice<'a>(
    a: &'a PyReadonlyArray2<'_, f32>,
    what: &str,
    shape: [usize; 2],
) -> PyResult<&'a [f32]> {
    if a.shape() != shape {
        return Err(invalid(
            what,
            format!("shape {:?}, expected {shape:?}", a.shape()),
        ));
    }
    a.as_slice()
        .map_err(|_| invalid(what, "must be a C-contiguous float32 array"))
}

fn slice_mut<'a>(
    a: &'a mut PyReadwriteArray2<'_, f32>,
    what: &str,
    shape: [usize; 2],
) -> PyResult<&'a mut [f32]> {
    if a.shape() != shape {
        return Err(invalid(
            what,
            format!("shape {:?}, expected {shape:?}", a.shape()),
        ));
    }
    a.as_slice_mut()
        .map_err(|_| invalid(what, "must be a C-contiguous float32 array"))
}

impl SparseKernel {
    /// The CSR values of `w` (keyed by `key`), gathered unless they are already those of that weight.
    fn values<'s>(
        &self,
        s: &'s mut Scratch,
        pattern: &Pattern,
        w: &[f32],
        key: (usize, u64),
    ) -> &'s [f32] {
        if s.key != Some(key) {
            s.values.resize(self.nnz, 0.0);
            gather_into(pattern, w, &mut s.values);
            s.key = Some(key);
            s.t_fresh = false;
        }
        &s.values
    }
}

#[pymethods]
impl SparseKernel {
    /// The kernels for `mask` (bool ``[out, in]``) on ``format`` (``"auto"``: CSR, the engine's choice below
    /// its dense crossover; ``"csr"``; ``"bitmask"``), ``threads`` pieces per product.
    #[new]
    #[pyo3(signature = (mask, format = "auto", threads = 1))]
    fn new(mask: &Bound<'_, PyAny>, format: &str, threads: usize) -> PyResult<Self> {
        if threads == 0 || threads > MAX_THREADS {
            return Err(invalid(
                "threads",
                format!("{threads} is not in 1..={MAX_THREADS}"),
            ));
        }
        let (rows, cols, live) = bool_matrix(mask, "mask")?;
        let mask = Mask::from_bools(rows, cols, &live);
        let nnz = mask.count();
        if u32::try_from(cols).is_err() {
            return Err(invalid(
                "mask",
                format!("{cols} columns do not fit the kernels' u32 indices"),
            ));
        }
        let format = match format {
            "auto" | "csr" => Format::Csr,
            "bitmask" => Format::Bitmask,
            other => {
                return Err(invalid(
                    "format",
                    format!("'{other}' is not auto, csr or bitmask"),
                ))
            }
        };
        let plan = match format {
            Format::Bitmask => {
                let mask_t = mask.transpose();
                Plan::Bitmask { mask, mask_t }
            }
            _ => {
                let pattern = Pattern::from_mask(&mask);
                let (pattern_t, perm) = pattern.transpose();
                Plan::Csr {
                    pattern,
                    pattern_t,
                    perm,
                }
            }
        };
        Ok(SparseKernel {
            rows,
            cols,
            nnz,
            threads,
            plan,
            scratch: Mutex::new(Scratch::default()),
        })
    }

    /// Live entries of the mask.
    #[getter]
    fn nnz(&self) -> usize {
        self.nnz
    }

    /// The format the kernels run on (``"csr"`` or ``"bitmask"``).
    #[getter]
    fn format(&self) -> &'static str {
        match self.plan {
            Plan::Csr { .. } => "csr",
            Plan::Bitmask { .. } => "bitmask",
        }
    }

    /// Pieces each product is cut into.
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    /// ``y[out, b] = w x + bias`` for a feature-major batch ``x[in, b]``; ``w`` is ``[out, in]`` (read only at
    /// the mask's entries), ``version`` identifies its contents (torch's ``_version``) so that the backward pass
    /// on the same weight reuses the values gathered here.
    #[pyo3(signature = (w, version, x, bias, y))]
    fn forward(
        &self,
        py: Python<'_>,
        w: PyReadonlyArray2<'_, f32>,
        version: u64,
        x: PyReadonlyArray2<'_, f32>,
        bias: Option<PyReadonlyArray1<'_, f32>>,
        mut y: PyReadwriteArray2<'_, f32>,
    ) -> PyResult<()> {
        let (n, k) = (self.rows, self.cols);
        let b = x.shape()[1];
        let ws = slice(&w, "weight", [n, k])?;
        let xs = slice(&x, "input", [k, b])?;
        let zeros;
        let bs: &[f32] = match &bias {
            Some(bias) => {
                let s = bias
                    .as_slice()
                    .map_err(|_| invalid("bias", "must be a contiguous float32 array"))?;
                if s.len() != n {
                    return Err(invalid("bias", format!("length {}, expected {n}", s.len())));
                }
                s
            }
            None => {
                zeros = vec![0.0; n];
                &zeros
            }
        };
        let ys = slice_mut(&mut y, "output", [n, b])?;
        let key = (ws.as_ptr() as usize, version);
        py.detach(|| {
            let isa = Isa::best();
            match &self.plan {
                Plan::Csr { pattern, .. } => {
                    let mut s = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
                    // Always gathered here: a weight changed through `.data` keeps its version counter.
                    s.key = None;
                    let values = self.values(&mut s, pattern, ws, key);
                    with_threads(self.threads, |par| {
                        csr::csr_forward(isa, par, pattern, values, xs, b, bs, false, ys)
                    });
                }
                Plan::Bitmask { mask, .. } => with_threads(self.threads, |par| {
                    bitmask::bitmask_forward(isa, par, mask, ws, xs, b, bs, false, ys)
                }),
            }
        });
        Ok(())
    }

    /// The backward pass for a feature-major output gradient ``dy[out, b]``: the input gradient
    /// ``dx[in, b] = w^T dy`` when ``dx`` is given, the weight gradient ``dw[out, in] = dy x^T`` on the mask's
    /// entries when ``dw`` is given (its other entries are left as they are: pass zeros).
    #[pyo3(signature = (w, version, x, dy, dx = None, dw = None))]
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        py: Python<'_>,
        w: PyReadonlyArray2<'_, f32>,
        version: u64,
        x: PyReadonlyArray2<'_, f32>,
        dy: PyReadonlyArray2<'_, f32>,
        dx: Option<PyReadwriteArray2<'_, f32>>,
        dw: Option<PyReadwriteArray2<'_, f32>>,
    ) -> PyResult<()> {
        let (n, k) = (self.rows, self.cols);
        let b = dy.shape()[1];
        let ws = slice(&w, "weight", [n, k])?;
        let xs = slice(&x, "input", [k, b])?;
        let dys = slice(&dy, "output gradient", [n, b])?;
        let mut dx = dx;
        let mut dw = dw;
        let dxs = match dx.as_mut() {
            Some(a) => Some(slice_mut(a, "input gradient", [k, b])?),
            None => None,
        };
        let dws = match dw.as_mut() {
            Some(a) => Some(slice_mut(a, "weight gradient", [n, k])?),
            None => None,
        };
        let key = (ws.as_ptr() as usize, version);
        py.detach(|| {
            let isa = Isa::best();
            match &self.plan {
                Plan::Csr {
                    pattern,
                    pattern_t,
                    perm,
                } => {
                    let mut guard = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
                    let s = &mut *guard;
                    if let Some(dxs) = dxs {
                        self.values(s, pattern, ws, key);
                        if !s.t_fresh {
                            s.values_t.resize(self.nnz, 0.0);
                            csr::transpose_values(perm, &s.values, &mut s.values_t);
                            s.t_fresh = true;
                        }
                        let vt = &s.values_t;
                        with_threads(self.threads, |par| {
                            csr::csr_backward_input(isa, par, pattern_t, None, vt, dys, b, dxs)
                        });
                    }
                    if let Some(dws) = dws {
                        s.grad.resize(self.nnz, 0.0);
                        let g = &mut s.grad;
                        with_threads(self.threads, |par| {
                            csr::csr_backward_weight(isa, par, pattern, dys, xs, b, g)
                        });
                        scatter_from(pattern, &s.grad, dws);
                    }
                }
                Plan::Bitmask { mask, mask_t } => {
                    if let Some(dxs) = dxs {
                        with_threads(self.threads, |par| {
                            bitmask::bitmask_backward_input(isa, par, mask_t, ws, dys, b, dxs)
                        });
                    }
                    if let Some(dws) = dws {
                        with_threads(self.threads, |par| {
                            bitmask::bitmask_backward_weight(isa, par, mask, dys, xs, b, dws)
                        });
                    }
                }
            }
        });
        Ok(())
    }

    /// ``dst[c, r] = src[r, c]``: a batch-major ``[b, in]`` batch as the kernels' feature-major ``[in, b]``
    /// (and back), blocked for the caches.
    #[staticmethod]
    fn transpose(
        py: Python<'_>,
        src: PyReadonlyArray2<'_, f32>,
        mut dst: PyReadwriteArray2<'_, f32>,
    ) -> PyResult<()> {
        let [r, c] = [src.shape()[0], src.shape()[1]];
        let s = slice(&src, "source", [r, c])?;
        let d = slice_mut(&mut dst, "destination", [c, r])?;
        py.detach(|| neurosplit::kernels::dense::transpose(r, c, s, d));
        Ok(())
    }
}
