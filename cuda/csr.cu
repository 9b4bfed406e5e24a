// Sparse linear layer in CSR form: forward with fused bias + ReLU, input gradient, weight gradient on the live
// pattern (SDDMM). Twins of `linear_forward`, `linear_backward_input`, `linear_backward_weight` in
// src/kernels/mod.rs.
//
// The weight W (n x k) is stored as `row_ptr` (n + 1), `col_idx` (nnz), `val` (nnz), rows sorted by column.
// The input gradient needs W^T: its pattern is stored beside it (`t_ptr` (k + 1), `t_row` (nnz), `t_pos` (nnz),
// `t_pos[e]` being the index into `val` of the e-th entry of W^T) so that the values live in one place and the
// optimizer updates them once.
//
// Grids: `x` covers the batch (one thread per sample, coalesced), `y` strides over rows. These are the plain
// kernels; the faster designs are noted at each kernel.
#include "common.cuh"

// Y (n x b) = W X (k x b) + bias, then ReLU if `relu`. `bias` may be null.
//
// Every thread of a block walks the same row, so `col_idx`/`val` loads are broadcasts and the X loads are
// coalesced rows. Faster: stage a row's (col, val) pairs in shared memory and let each thread own 2-4 samples
// (register tiling), or hand wide layers to cuSPARSE SpMM.
extern "C" __global__ void csr_linear_forward(
    int n, int b,
    const unsigned* __restrict__ row_ptr, const unsigned* __restrict__ col_idx, const float* __restrict__ val,
    const float* __restrict__ x, const float* __restrict__ bias, int relu, float* __restrict__ y)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        float acc = 0.0f;
        const unsigned end = row_ptr[r + 1];
        for (unsigned e = row_ptr[r]; e < end; ++e) {
            acc += val[e] * x[(size_t)col_idx[e] * b + s];
        }
        if (bias) acc += bias[r];
        if (relu) acc = fmaxf(acc, 0.0f);
        y[(size_t)r * b + s] = acc;
    }
}

// dX (k x b) = W^T dY (n x b), walking the transposed pattern. If `act` is not null, fuses the ReLU backward of
// the layer below: dX is zeroed wherever `act` (that layer's ReLU output, k x b) is not positive.
extern "C" __global__ void csr_linear_backward_input(
    int k, int b,
    const unsigned* __restrict__ t_ptr, const unsigned* __restrict__ t_row, const unsigned* __restrict__ t_pos,
    const float* __restrict__ val, const float* __restrict__ dy, const float* __restrict__ act,
    float* __restrict__ dx)
{
    const int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= b) return;
    for (int c = blockIdx.y; c < k; c += gridDim.y) {
        float acc = 0.0f;
        const unsigned end = t_ptr[c + 1];
        for (unsigned e = t_ptr[c]; e < end; ++e) {
            acc += val[t_pos[e]] * dy[(size_t)t_row[e] * b + s];
        }
        const size_t i = (size_t)c * b + s;
        if (act && !(act[i] > 0.0f)) acc = 0.0f;
        dx[i] = acc;
    }
}

// dW[e] = sum_s dY[row(e), s] X[col(e), s] for every live entry e (SDDMM: only the pattern's entries are
// computed, so masked gradients never exist). One warp per entry, lanes stride over the batch, then a
// warp reduction. Faster: give a block all the entries of one row, keep dY's row in shared memory and read each
// X row once per block (the cuSPARSE SDDMM design).
extern "C" __global__ void csr_linear_backward_weight(
    int nnz, int b,
    const unsigned* __restrict__ row_idx, const unsigned* __restrict__ col_idx,
    const float* __restrict__ dy, const float* __restrict__ x, float* __restrict__ dw)
{
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= nnz) return;  // warp-uniform: the whole warp leaves together
    const float* __restrict__ g = dy + (size_t)row_idx[warp] * b;
    const float* __restrict__ a = x + (size_t)col_idx[warp] * b;
    float acc = 0.0f;
    for (int s = lane; s < b; s += 32) acc += g[s] * a[s];
    acc = warp_sum(acc);
    if (lane == 0) dw[warp] = acc;
}
