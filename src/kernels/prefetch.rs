//! Software prefetch: a hint that asks the CPU to start loading a cache line that will be read soon, so that
//! a loop over rows scattered in memory (the samples of a shuffled batch) overlaps their DRAM latency with
//! work on the rows already loaded. A hint changes no result; it is a no-op on other architectures.

/// Asks for the cache line holding `*x` to be brought into all cache levels.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, part of every x86_64 CPU; a prefetch reads nothing into the program
        // and cannot fault, and `x` is a valid reference besides.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
