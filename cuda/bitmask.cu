// Sparse linear layer as dense values plus a bit-packed support: forward with fused bias + ReLU, input
// gradient, weight gradient on the live pattern. Twins of `linear_forward`, `linear_backward_input`,
// `linear_backward_weight` in src/kernels/mod.rs.
//
// W (n x k) is row-major with masked entries exactly 0. `words` holds `wpr` 32-bit words per row, bit `c % 32` of
// word `c / 32` set when (r, c) is live (the little-endian reading of the CPU `Mask`'s u64 words, so
// `wpr = 2 ceil(k / 64)`). Bits past `k` are zero.
#include "common.cuh"

// Y (n x b) = W X + bias, ReLU if `relu`; only live weights are read. `bias` may be null. The mask words of a
// row are the same for every thread of a block (broadcast loads); X loads are coalesced over the batch.
// Faster: decode a row's live columns once per block into shared memory (as CSR would store them).
extern "C" __global__ void bitmask_linear_forward(
    int n, int k, int b, int wpr,
    const unsigned* __restrict__ words, const float* __restrict__ w,
    const float* __restrict__ x, const float* __restrict__ bias, int relu, float* __restrict__ y)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        float acc = 0.0f;
        const float* __restrict__ wr = w + (size_t)r * k;
        for (int wi = 0; wi < wpr; ++wi) {
            unsigned m = words[(size_t)r * wpr + wi];
            while (m) {
                const int c = wi * 32 + __ffs(m) - 1;
                m &= m - 1;
                acc += wr[c] * x[(size_t)c * b + s];
            }
        }
        if (bias) acc += bias[r];
        if (relu) acc = fmaxf(acc, 0.0f);
        y[(size_t)r * b + s] = acc;
    }
}

// dX (k x b) = W^T dY, skipping masked weights; fused ReLU backward when `act` is not null (see csr.cu).
// The bit test costs O(n) per output whatever the density. Faster: keep a column-major copy of the mask.
extern "C" __global__ void bitmask_linear_backward_input(
    int n, int k, int b, int wpr,
    const unsigned* __restrict__ words, const float* __restrict__ w,
    const float* __restrict__ dy, const float* __restrict__ act, float* __restrict__ dx)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    for (int c = blockIdx.y; c < k; c += gridDim.y) {
        const int wi = c >> 5;
        const unsigned bit = 1u << (c & 31);
        float acc = 0.0f;
        for (int r = 0; r < n; ++r) {
            if (words[(size_t)r * wpr + wi] & bit) acc += w[(size_t)r * k + c] * dy[(size_t)r * b + s];
        }
        const size_t i = (size_t)c * b + s;
        if (act && !(act[i] > 0.0f)) acc = 0.0f;
        dx[i] = acc;
    }
}

// dW (n x k) = dY X^T on live entries, exactly 0 on masked ones. One warp per entry of the dense matrix
// (masked entries exit after one word load). Faster: enumerate live entries from a prefix sum of the words'
// popcounts, then run the CSR SDDMM.
extern "C" __global__ void bitmask_linear_backward_weight(
    int n, int k, int b, int wpr,
    const unsigned* __restrict__ words,
    const float* __restrict__ dy, const float* __restrict__ x, float* __restrict__ dw)
{
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= (long long)n * k) return;  // warp-uniform
    const int r = (int)(warp / k);
    const int c = (int)(warp % k);
    if (!((words[(size_t)r * wpr + (c >> 5)] >> (c & 31)) & 1u)) {
        if (lane == 0) dw[warp] = 0.0f;
        return;
    }
    const float* __restrict__ g = dy + (size_t)r * b;
    const float* __restrict__ a = x + (size_t)c * b;
    float acc = 0.0f;
    for (int s = lane; s < b; s += 32) acc += g[s] * a[s];
    acc = warp_sum(acc);
    if (lane == 0) dw[warp] = acc;
}
