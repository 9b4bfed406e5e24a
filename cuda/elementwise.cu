// Bias gradient, ReLU backward and the mini-batch gather. Twins of `bias_grad`, `relu_backward` in
// src/kernels/mod.rs and `Dataset::gather_t` in src/data/dataset.rs.
#include "common.cuh"

// db[r] = sum_s dY[r, s]: one block per row (blockDim.x a multiple of 32), coalesced strided loads, fixed
// reduction tree (deterministic).
extern "C" __global__ void bias_grad(int n, int b, const float* __restrict__ dy, float* __restrict__ db)
{
    __shared__ float scratch[32];
    for (int r = blockIdx.x; r < n; r += gridDim.x) {
        const float* __restrict__ row = dy + (size_t)r * b;
        float acc = 0.0f;
        for (int s = threadIdx.x; s < b; s += blockDim.x) acc += row[s];
        acc = block_sum(acc, scratch);
        if (threadIdx.x == 0) db[r] = acc;
        __syncthreads();  // scratch is reused by the next row
    }
}

// grad[i] = 0 wherever act[i] (a ReLU output) is not positive.
extern "C" __global__ void relu_backward(long long len, float* __restrict__ grad, const float* __restrict__ act)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < len;
         i += (long long)gridDim.x * blockDim.x) {
        if (!(act[i] > 0.0f)) grad[i] = 0.0f;
    }
}

// Gathers samples `idx[0..b)` of a sample-major data set (`x`: rows of `d` features, `y`: labels) into a
// feature-major batch `xt` (d x b) and labels `yb` (b). Thread (s, j) reads x[idx[s], j]: scattered reads of a
// small table, coalesced writes. Faster: keep the data set feature-major on the device and gather rows.
extern "C" __global__ void gather_batch(
    int d, int b, const unsigned* __restrict__ idx,
    const float* __restrict__ x, const unsigned* __restrict__ y,
    float* __restrict__ xt, unsigned* __restrict__ yb)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    const size_t row = (size_t)idx[s] * d;
    for (int j = blockIdx.y; j < d; j += gridDim.y) xt[(size_t)j * b + s] = x[row + j];
    if (blockIdx.y == 0) yb[s] = y[idx[s]];
}
