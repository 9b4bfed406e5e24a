//! Vendor baselines for the benchmarks (`examples/gpu_kernels`): dense cuBLAS SGEMM and cuSPARSE SpMM / SDDMM on
//! the same CSR pattern as `neurosplit::gpu::GpuCsr`. Benchmark-only, so it lives with the benchmark, outside the
//! library. The libraries are loaded dynamically;
//! [`Baselines::new`] checks for them first and returns [`Error::Device`] when one is missing.

use std::ffi::c_void;
use std::sync::Mutex;

use cudarc::cublas::{sys as blas_sys, CudaBlas, Gemm, GemmConfig};
use cudarc::cusparse::{result as sp_result, sys as sp};
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};

use neurosplit::gpu::{Gpu, GpuCsr};
use neurosplit::{Error, Result};

fn driver_error(what: &str, e: cudarc::driver::DriverError) -> Error {
    Error::Device(format!("{what}: {e}"))
}

/// cuBLAS and cuSPARSE handles bound to [`Gpu::stream`], with a reusable cuSPARSE work buffer.
pub struct Baselines {
    blas: CudaBlas,
    sparse: SparseHandle,
    buffer: Mutex<Option<CudaSlice<u8>>>,
}

impl std::fmt::Debug for Baselines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baselines").finish_non_exhaustive()
    }
}

struct SparseHandle(sp::cusparseHandle_t);

impl Drop for SparseHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `cusparseCreate` in `Baselines::new` and is destroyed once, here.
        let _ = unsafe { sp_result::destroy(self.0) };
    }
}

fn sparse_err(what: &str, status: sp::cusparseStatus_t) -> Result<()> {
    status
        .result()
        .map_err(|e| Error::Device(format!("cuSPARSE {what}: {e:?}")))
}

fn i64_of(v: usize) -> i64 {
    v as i64
}

impl Baselines {
    /// Loads cuBLAS and cuSPARSE and binds them to `gpu`'s stream.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        // SAFETY: both checks only try to open the library with `dlopen`.
        let (blas_ok, sparse_ok) =
            unsafe { (blas_sys::is_culib_present(), sp::is_culib_present()) };
        if !blas_ok || !sparse_ok {
            return Err(Error::Device(format!(
                "the baselines need libcublas ({}) and libcusparse ({}) from a CUDA 13 toolkit or the \
                 nvidia-cublas / nvidia-cusparse pip packages on LD_LIBRARY_PATH",
                if blas_ok { "found" } else { "missing" },
                if sparse_ok { "found" } else { "missing" }
            )));
        }
        let blas = CudaBlas::new(gpu.stream().clone())
            .map_err(|e| Error::Device(format!("cuBLAS: {e:?}")))?;
        let handle = sp_result::create().map_err(|e| Error::Device(format!("cuSPARSE: {e:?}")))?;
        let sparse = SparseHandle(handle);
        // SAFETY: `handle` is live; the stream belongs to `gpu`'s context and outlives every call made through
        // these baselines (they take `gpu` by reference).
        sparse_err("set stream", unsafe {
            sp::cusparseSetStream(sparse.0, gpu.stream().cu_stream() as sp::cudaStream_t)
        })?;
        Ok(Baselines {
            blas,
            sparse,
            buffer: Mutex::new(None),
        })
    }

    /// `Y (n x b) = W (n x k) X (k x b)`, all dense row-major, by cuBLAS SGEMM (column-major view: `Y^T = X^T W^T`).
    #[allow(clippy::too_many_arguments)]
    pub fn dense_forward(
        &self,
        n: usize,
        k: usize,
        b: usize,
        w: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        assert!(
            w.len() >= n * k && x.len() >= k * b && y.len() >= n * b,
            "dense_forward: shape mismatch"
        );
        let cfg = GemmConfig {
            transa: blas_sys::cublasOperation_t::CUBLAS_OP_N,
            transb: blas_sys::cublasOperation_t::CUBLAS_OP_N,
            m: b as i32,
            n: n as i32,
            k: k as i32,
            alpha: 1.0f32,
            lda: b as i32,
            ldb: k as i32,
            beta: 0.0f32,
            ldc: b as i32,
        };
        // SAFETY: column-major A = X^T (b x k, ld b), B = W^T (k x n, ld k), C = Y^T (b x n, ld b); the asserts
        // above cover every element these shapes address.
        unsafe { self.blas.gemm(cfg, x, w, y) }
            .map_err(|e| Error::Device(format!("cuBLAS SGEMM: {e:?}")))
    }

    /// `Y (n x b) = W X (k x b)` with `W` in CSR, by cuSPARSE SpMM (row-major dense operands).
    pub fn spmm_forward(
        &self,
        gpu: &Gpu,
        w: &GpuCsr,
        b: usize,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let (n, k, nnz) = (w.pattern().rows(), w.pattern().cols(), w.pattern().nnz());
        assert!(
            x.len() >= k * b && y.len() >= n * b,
            "spmm_forward: shape mismatch"
        );
        let s = gpu.stream();
        let (rp, _g1) = w.row_ptr().device_ptr(s);
        let (ci, _g2) = w.col_idx().device_ptr(s);
        let (vals, _g3) = w.values().device_ptr(s);
        let (xp, _g4) = x.device_ptr(s);
        let (yp, _g5) = y.device_ptr_mut(s);
        let (alpha, beta) = (1.0f32, 0.0f32);
        let f32t = sp::cudaDataType::CUDA_R_32F;
        let op = sp::cusparseOperation_t::CUSPARSE_OPERATION_NON_TRANSPOSE;
        let alg = sp::cusparseSpMMAlg_t::CUSPARSE_SPMM_ALG_DEFAULT;
        let mut a = std::ptr::null_mut();
        let mut bm = std::ptr::null_mut();
        let mut cm = std::ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: the descriptors point at device buffers that stay alive for this call (the guards above); the
        // CSR arrays are consistent (`CsrPattern::new`, 32-bit indices, base 0), the dense operands are row-major
        // with leading dimension b and the asserted lengths; descriptors are destroyed before returning.
        unsafe {
            sparse_err(
                "create CSR",
                sp::cusparseCreateCsr(
                    &mut a,
                    i64_of(n),
                    i64_of(k),
                    i64_of(nnz),
                    rp as *mut c_void,
                    ci as *mut c_void,
                    vals as *mut c_void,
                    sp::cusparseIndexType_t::CUSPARSE_INDEX_32I,
                    sp::cusparseIndexType_t::CUSPARSE_INDEX_32I,
                    sp::cusparseIndexBase_t::CUSPARSE_INDEX_BASE_ZERO,
                    f32t,
                ),
            )?;
            sparse_err(
                "create X",
                sp::cusparseCreateDnMat(
                    &mut bm,
                    i64_of(k),
                    i64_of(b),
                    i64_of(b),
                    xp as *mut c_void,
                    f32t,
                    sp::cusparseOrder_t::CUSPARSE_ORDER_ROW,
                ),
            )?;
            sparse_err(
                "create Y",
                sp::cusparseCreateDnMat(
                    &mut cm,
                    i64_of(n),
                    i64_of(b),
                    i64_of(b),
                    yp as *mut c_void,
                    f32t,
                    sp::cusparseOrder_t::CUSPARSE_ORDER_ROW,
                ),
            )?;
            let alpha_p = &alpha as *const f32 as *const c_void;
            let beta_p = &beta as *const f32 as *const c_void;
            sparse_err(
                "SpMM buffer size",
                sp::cusparseSpMM_bufferSize(
                    self.sparse.0,
                    op,
                    op,
                    alpha_p,
                    a,
                    bm,
                    beta_p,
                    cm,
                    f32t,
                    alg,
                    &mut size,
                ),
            )?;
            let buf = self.buffer_ptr(gpu, size)?;
            let r = sp::cusparseSpMM(
                self.sparse.0,
                op,
                op,
                alpha_p,
                a,
                bm,
                beta_p,
                cm,
                f32t,
                alg,
                buf as *mut c_void,
            );
            sp::cusparseDestroyDnMat(cm);
            sp::cusparseDestroyDnMat(bm);
            sp::cusparseDestroySpMat(a);
            sparse_err("SpMM", r)
        }
    }

    /// `dW = dY (n x b) X^T` on `w`'s pattern, in CSR order, by cuSPARSE SDDMM (`X`, row-major `k x b`, is read
    /// as the column-major `b x k` matrix it is in memory).
    pub fn sddmm_weight(
        &self,
        gpu: &Gpu,
        w: &GpuCsr,
        b: usize,
        dy: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        dw: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let (n, k, nnz) = (w.pattern().rows(), w.pattern().cols(), w.pattern().nnz());
        assert!(
            dy.len() >= n * b && x.len() >= k * b && dw.len() >= nnz,
            "sddmm_weight: shape mismatch"
        );
        let s = gpu.stream();
        let (rp, _g1) = w.row_ptr().device_ptr(s);
        let (ci, _g2) = w.col_idx().device_ptr(s);
        let (dwp, _g3) = dw.device_ptr_mut(s);
        let (dyp, _g4) = dy.device_ptr(s);
        let (xp, _g5) = x.device_ptr(s);
        let (alpha, beta) = (1.0f32, 0.0f32);
        let f32t = sp::cudaDataType::CUDA_R_32F;
        let op = sp::cusparseOperation_t::CUSPARSE_OPERATION_NON_TRANSPOSE;
        let alg = sp::cusparseSDDMMAlg_t::CUSPARSE_SDDMM_ALG_DEFAULT;
        let mut c = std::ptr::null_mut();
        let mut am = std::ptr::null_mut();
        let mut bm = std::ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: as in `spmm_forward`: live buffers for the call, consistent CSR pattern, dense operands
        // described with the asserted shapes (dY row-major n x b; X as column-major b x k, leading dimension b).
        unsafe {
            sparse_err(
                "create CSR",
                sp::cusparseCreateCsr(
                    &mut c,
                    i64_of(n),
                    i64_of(k),
                    i64_of(nnz),
                    rp as *mut c_void,
                    ci as *mut c_void,
                    dwp as *mut c_void,
                    sp::cusparseIndexType_t::CUSPARSE_INDEX_32I,
                    sp::cusparseIndexType_t::CUSPARSE_INDEX_32I,
                    sp::cusparseIndexBase_t::CUSPARSE_INDEX_BASE_ZERO,
                    f32t,
                ),
            )?;
            sparse_err(
                "create dY",
                sp::cusparseCreateDnMat(
                    &mut am,
                    i64_of(n),
                    i64_of(b),
                    i64_of(b),
                    dyp as *mut c_void,
                    f32t,
                    sp::cusparseOrder_t::CUSPARSE_ORDER_ROW,
                ),
            )?;
            sparse_err(
                "create X^T",
                sp::cusparseCreateDnMat(
                    &mut bm,
                    i64_of(b),
                    i64_of(k),
                    i64_of(b),
                    xp as *mut c_void,
                    f32t,
                    sp::cusparseOrder_t::CUSPARSE_ORDER_COL,
                ),
            )?;
            let alpha_p = &alpha as *const f32 as *const c_void;
            let beta_p = &beta as *const f32 as *const c_void;
            sparse_err(
                "SDDMM buffer size",
                sp::cusparseSDDMM_bufferSize(
                    self.sparse.0,
                    op,
                    op,
                    alpha_p,
                    am,
                    bm,
                    beta_p,
                    c,
                    f32t,
                    alg,
                    &mut size,
                ),
            )?;
            let buf = self.buffer_ptr(gpu, size)?;
            let r = sp::cusparseSDDMM(
                self.sparse.0,
                op,
                op,
                alpha_p,
                am,
                bm,
                beta_p,
                c,
                f32t,
                alg,
                buf as *mut c_void,
            );
            sp::cusparseDestroyDnMat(bm);
            sp::cusparseDestroyDnMat(am);
            sp::cusparseDestroySpMat(c);
            sparse_err("SDDMM", r)
        }
    }

    /// A device work buffer of at least `size` bytes (grown, never shrunk), as a raw pointer valid until the next
    /// call that grows it.
    fn buffer_ptr(&self, gpu: &Gpu, size: usize) -> Result<u64> {
        let mut slot = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|b| b.len() < size.max(1)) {
            *slot = Some(
                gpu.stream()
                    .alloc_zeros::<u8>(size.max(1))
                    .map_err(|e| driver_error("allocating", e))?,
            );
        }
        let buf = slot.as_ref().expect("allocated above");
        let (p, _g) = buf.device_ptr(gpu.stream());
        Ok(p)
    }
}
