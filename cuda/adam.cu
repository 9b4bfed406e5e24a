// Adam as torch.optim.Adam, with the L1/L2 penalties of src/nn/reg.rs fused in. Twin of `Adam::step` in
// src/nn/optim.rs (and `Regularizer::add_grad`).
//
//   g <- g + (2 l2 p + l1 sign(p));  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//   p <- p - step_size m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t)
//
// The host computes `step_size` and `bc2_sqrt` in f32 exactly as the CPU optimizer does.
#include "common.cuh"

__device__ __forceinline__ void adam_one(
    float* p, float g, float* m, float* v,
    float step_size, float bc2_sqrt, float b1, float b2, float eps, float l1, float two_l2)
{
    const float w = *p;
    const float sign = w > 0.0f ? 1.0f : (w < 0.0f ? -1.0f : 0.0f);
    g = g + (two_l2 * w + l1 * sign);
    const float mm = b1 * *m + (1.0f - b1) * g;
    const float vv = b2 * *v + (1.0f - b2) * g * g;
    *m = mm;
    *v = vv;
    *p = w - step_size * mm / (sqrtf(vv) / bc2_sqrt + eps);
}

// Every entry of `p` is live: CSR values (masked weights are not stored, so they stay 0), dense weights, biases.
extern "C" __global__ void adam_update(
    long long len, float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
    float* __restrict__ v, float step_size, float bc2_sqrt, float b1, float b2, float eps, float l1, float two_l2)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < len;
         i += (long long)gridDim.x * blockDim.x) {
        adam_one(p + i, g[i], m + i, v + i, step_size, bc2_sqrt, b1, b2, eps, l1, two_l2);
    }
}

// Dense `n x k` values with a bitmask (layout in bitmask.cu): masked entries, their moments and values are
// never touched, so they stay exactly 0.
extern "C" __global__ void adam_update_bitmask(
    int n, int k, int wpr, const unsigned* __restrict__ words,
    float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
    float step_size, float bc2_sqrt, float b1, float b2, float eps, float l1, float two_l2)
{
    const long long len = (long long)n * k;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < len;
         i += (long long)gridDim.x * blockDim.x) {
        const int r = (int)(i / k);
        const int c = (int)(i % k);
        if ((words[(size_t)r * wpr + (c >> 5)] >> (c & 31)) & 1u) {
            adam_one(p + i, g[i], m + i, v + i, step_size, bc2_sqrt, b1, b2, eps, l1, two_l2);
        }
    }
}
