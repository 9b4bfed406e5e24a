// Helpers shared by the kernels of this folder. Included, never compiled on its own.
//
// Layout (as the CPU engine, src/kernels/mod.rs): activations are feature-major, a batch of `b` samples of
// width `n` is a row-major `n x b` matrix, so the batch index is the contiguous one and consecutive threads of a
// warp take consecutive samples (coalesced loads and stores). Weights are row-major `out x in`.
#pragma once

// Sum of `v` over the 32 lanes of a warp; every lane gets the total. Fixed reduction tree: deterministic.
__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    }
    return v;
}

__device__ __forceinline__ double warp_sum_f64(double v) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    }
    return v;
}

// Sum of `v` over a block of `blockDim.x` threads (a multiple of 32, at most 1024); the result is valid in
// thread 0. `scratch` holds at least 32 values. Deterministic for a fixed block size.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const unsigned warps = blockDim.x >> 5;
    v = (threadIdx.x < warps) ? scratch[threadIdx.x] : 0.0f;
    if (warp == 0) v = warp_sum(v);
    return v;
}

__device__ __forceinline__ double block_sum_f64(double v, double* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    v = warp_sum_f64(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const unsigned warps = blockDim.x >> 5;
    v = (threadIdx.x < warps) ? scratch[threadIdx.x] : 0.0;
    if (warp == 0) v = warp_sum_f64(v);
    return v;
}
