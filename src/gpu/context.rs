//! The CUDA context, its stream and the lazily loaded PTX modules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;

use super::driver_error;
use crate::error::{Error, Result};

/// One PTX module: its name (the `.cu` file's stem) and text.
pub(crate) struct PtxModule {
    pub name: &'static str,
    pub ptx: &'static str,
}

macro_rules! ptx_module {
    ($ident:ident, $name:literal) => {
        pub(crate) const $ident: PtxModule = PtxModule {
            name: $name,
            ptx: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/cuda/ptx/",
                $name,
                ".ptx"
            )),
        };
    };
}

ptx_module!(CSR, "csr");
ptx_module!(BITMASK, "bitmask");
ptx_module!(ELEMENTWISE, "elementwise");
ptx_module!(LOSS, "loss");
ptx_module!(ADAM, "adam");
ptx_module!(LAYERNORM, "layernorm");

/// Every module, for tests that load them all.
pub(crate) const ALL_MODULES: [PtxModule; 6] = [CSR, BITMASK, ELEMENTWISE, LOSS, ADAM, LAYERNORM];

/// Whether the NVIDIA driver library can be loaded (a GPU may still be missing: see [`Gpu::new`]).
pub fn driver_present() -> bool {
    // SAFETY: `is_culib_present` only tries to open the driver library with `dlopen`; it calls nothing in it.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// A CUDA device: its context, the stream every launch goes to, and the kernels loaded so far.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(&'static str, &'static str), CudaFunction>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("ordinal", &self.ctx.ordinal())
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens device `ordinal`. Fails with [`Error::Device`] (never panics) when the driver library cannot be
    /// loaded, no device is present, or the context cannot be created.
    pub fn new(ordinal: usize) -> Result<Self> {
        if !driver_present() {
            return Err(Error::Device(
                "the NVIDIA driver library (libcuda.so.1) was not found: install the NVIDIA driver (580 or newer \
                 for CUDA 13.0) or add its folder to LD_LIBRARY_PATH"
                    .into(),
            ));
        }
        let count = CudaContext::device_count()
            .map_err(|e| driver_error("the driver could not count the devices", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!(
                "device {ordinal} requested but the driver sees {count} CUDA device(s)"
            )));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| driver_error(&format!("creating a context on device {ordinal}"), e))?;
        let stream = ctx.default_stream();
        Ok(Gpu {
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
        })
    }

    /// The device's name and compute capability, e.g. `NVIDIA H100 (sm_90)`.
    pub fn describe(&self) -> String {
        let name = self.ctx.name().unwrap_or_else(|_| "unknown device".into());
        match self.ctx.compute_capability() {
            Ok((major, minor)) => format!("{name} (sm_{major}{minor})"),
            Err(_) => name,
        }
    }

    /// The stream every launch and copy of this crate goes to (in order).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits for every queued launch and copy to finish.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| driver_error("synchronising the stream", e))
    }

    /// Loads every PTX module now instead of at first use, so that a driver too old for PTX ISA 9.0 (CUDA 13.0,
    /// driver 580) or a device older than sm_80 is reported at start-up.
    pub fn load_all_modules(&self) -> Result<()> {
        for m in &ALL_MODULES {
            self.module(m)?;
        }
        Ok(())
    }

    fn module(&self, module: &PtxModule) -> Result<Arc<CudaModule>> {
        let mut modules = lock(&self.modules);
        if let Some(m) = modules.get(module.name) {
            return Ok(m.clone());
        }
        let m = self
            .ctx
            .load_module(Ptx::from_src(module.ptx))
            .map_err(|e| {
                driver_error(
                    &format!("loading PTX module {} (PTX ISA 9.0, sm_80)", module.name),
                    e,
                )
            })?;
        modules.insert(module.name, m.clone());
        Ok(m)
    }

    /// Kernel `name` of `module`, loading the module on first use.
    pub(crate) fn function(&self, module: &PtxModule, name: &'static str) -> Result<CudaFunction> {
        let key = (module.name, name);
        if let Some(f) = lock(&self.functions).get(&key) {
            return Ok(f.clone());
        }
        let f = self
            .module(module)?
            .load_function(name)
            .map_err(|e| driver_error(&format!("kernel {name} in module {}", module.name), e))?;
        lock(&self.functions).insert(key, f.clone());
        Ok(f)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
