// Losses in logits form on feature-major logits, gradient written in the same pass. Twins of
// `bce_with_logits` and `softmax_ce` in src/kernels/loss.rs: the gradient is that of the mean loss (per-sample
// gradient / b); the per-sample losses go to `loss` and `sum_into` reduces them on the device, so the host
// reads a loss back only when it wants one.
#include "common.cuh"

// l = max(z, 0) - z y + ln(1 + e^{-|z|}), dl/dz = sigmoid(z) - y; one thread per sample.
extern "C" __global__ void bce_with_logits(
    int b, const float* __restrict__ logits, const unsigned* __restrict__ labels,
    float* __restrict__ grad, float* __restrict__ loss)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    const float z = logits[s];
    const float y = (float)labels[s];
    const float e = expf(-fabsf(z));
    loss[s] = fmaxf(z, 0.0f) - z * y + log1pf(e);
    const float sig = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    grad[s] = (sig - y) * (1.0f / (float)b);
}

// l = logsumexp(z) - z_y, dl/dz = softmax(z) - onehot(y); logits and grad are `classes x b`. One thread per
// sample; the class loop reads rows, so loads stay coalesced over the batch.
extern "C" __global__ void softmax_ce(
    int b, int classes, const float* __restrict__ logits, const unsigned* __restrict__ labels,
    float* __restrict__ grad, float* __restrict__ loss)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    const float inv_b = 1.0f / (float)b;
    float mx = -INFINITY;
    for (int c = 0; c < classes; ++c) mx = fmaxf(mx, logits[(size_t)c * b + s]);
    float sum = 0.0f;
    for (int c = 0; c < classes; ++c) {
        const float e = expf(logits[(size_t)c * b + s] - mx);
        grad[(size_t)c * b + s] = e;
        sum += e;
    }
    const unsigned y = labels[s];
    const float inv = inv_b / sum;
    for (int c = 0; c < classes; ++c) grad[(size_t)c * b + s] *= inv;
    // A label outside 0..classes (the host checks labels when it loads data) makes the sample's loss NaN, so
    // the epoch's loss shows it, and is never used as an index.
    if (y >= (unsigned)classes) {
        loss[s] = NAN;
        return;
    }
    loss[s] = mx + logf(sum) - logits[(size_t)y * b + s];
    grad[(size_t)y * b + s] -= inv_b;
}

// out[slot] = sum of v[0..len) in double, by a single block (blockDim.x a multiple of 32). Deterministic.
// The training loop writes one slot per step and reads the slots back once per epoch.
extern "C" __global__ void sum_into(int len, const float* __restrict__ v, double* __restrict__ out, int slot)
{
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) acc += (double)v[i];
    acc = block_sum_f64(acc, scratch);
    if (threadIdx.x == 0) out[slot] = acc;
}
