// LayerNorm over the features of each sample, feature-major (`x`, `y`: n x b):
//   y[j, s] = (x[j, s] - mean_s) rstd_s gamma[j] + beta[j],  rstd_s = 1 / sqrt(var_s + eps) (biased variance).
// Twins of `layer_norm_forward` / `layer_norm_backward` in src/kernels/norm.rs.
#include "common.cuh"

// One thread per sample; the feature loops read rows of the batch (coalesced). Saves mean and rstd per sample
// for the backward pass. Two passes over x for the variance (no cancellation). Faster for wide n: a block per
// group of samples with the feature loop split across warps.
extern "C" __global__ void layer_norm_forward(
    int n, int b, float eps, const float* __restrict__ x, const float* __restrict__ gamma,
    const float* __restrict__ beta, float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    float mu = 0.0f;
    for (int j = 0; j < n; ++j) mu += x[(size_t)j * b + s];
    mu /= (float)n;
    float var = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float d = x[(size_t)j * b + s] - mu;
        var += d * d;
    }
    var /= (float)n;
    const float rs = 1.0f / sqrtf(var + eps);
    for (int j = 0; j < n; ++j) {
        const size_t i = (size_t)j * b + s;
        y[i] = (x[i] - mu) * rs * gamma[j] + beta[j];
    }
    mean[s] = mu;
    rstd[s] = rs;
}

// dx = rstd (g - mean_j(g) - xhat mean_j(g xhat)), g = dy gamma, xhat = (x - mean) rstd. One thread per sample.
extern "C" __global__ void layer_norm_backward_input(
    int n, int b, const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ gamma,
    const float* __restrict__ mean, const float* __restrict__ rstd, float* __restrict__ dx)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    const float mu = mean[s];
    const float rs = rstd[s];
    float sum_g = 0.0f;
    float sum_gx = 0.0f;
    for (int j = 0; j < n; ++j) {
        const size_t i = (size_t)j * b + s;
        const float g = dy[i] * gamma[j];
        sum_g += g;
        sum_gx += g * (x[i] - mu) * rs;
    }
    const float mg = sum_g / (float)n;
    const float mgx = sum_gx / (float)n;
    for (int j = 0; j < n; ++j) {
        const size_t i = (size_t)j * b + s;
        const float xhat = (x[i] - mu) * rs;
        dx[i] = rs * (dy[i] * gamma[j] - mg - xhat * mgx);
    }
}

// dgamma[j] = sum_s dy xhat, dbeta[j] = sum_s dy: one block per feature row, deterministic block reductions.
extern "C" __global__ void layer_norm_backward_params(
    int n, int b, const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ mean,
    const float* __restrict__ rstd, float* __restrict__ dgamma, float* __restrict__ dbeta)
{
    __shared__ float scratch[32];
    for (int j = blockIdx.x; j < n; j += gridDim.x) {
        float g = 0.0f;
        float bsum = 0.0f;
        for (int s = threadIdx.x; s < b; s += blockDim.x) {
            const size_t i = (size_t)j * b + s;
            g += dy[i] * (x[i] - mean[s]) * rstd[s];
            bsum += dy[i];
        }
        g = block_sum(g, scratch);
        if (threadIdx.x == 0) dgamma[j] = g;
        __syncthreads();
        bsum = block_sum(bsum, scratch);
        if (threadIdx.x == 0) dbeta[j] = bsum;
        __syncthreads();
    }
}
