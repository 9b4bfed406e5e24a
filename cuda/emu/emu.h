// A tiny CPU emulator of the CUDA execution model, enough to run this folder's kernels as C++ for testing on
// machines without a GPU: each block's threads run as OS threads (blocks one after the other), __syncthreads
// is a block barrier, warp shuffles exchange through a per-warp buffer between two warp barriers, __shared__
// variables are static (one block runs at a time). It checks the kernels' index arithmetic and reductions, not
// the PTX, the memory model or performance.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

namespace emu {
inline std::unique_ptr<std::barrier<>> block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline std::vector<double> warp_buf;  // 32 per warp

template <class T>
T shfl_xor(T v, int offset) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    warp_buf[warp * 32 + lane] = (double)v;
    warp_barriers[warp]->arrive_and_wait();
    T r = (T)warp_buf[warp * 32 + (lane ^ offset)];
    warp_barriers[warp]->arrive_and_wait();
    return r;
}

// Runs `kernel` on a grid of blocks of `block` threads (x only; block a multiple of 32).
inline void launch(dim3 grid, unsigned block, const std::function<void()>& kernel) {
    if (block % 32 != 0) {
        std::fprintf(stderr, "emu: block size %u is not a multiple of 32\n", block);
        std::exit(2);
    }
    gridDim = grid;
    blockDim = dim3{block, 1, 1};
    for (unsigned by = 0; by < grid.y; ++by) {
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            block_barrier = std::make_unique<std::barrier<>>(block);
            warp_barriers.clear();
            for (unsigned w = 0; w < block / 32; ++w) warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
            warp_buf.assign(block, 0.0);
            std::vector<std::thread> threads;
            for (unsigned t = 0; t < block; ++t) {
                threads.emplace_back([&, t] {
                    threadIdx = dim3{t, 0, 0};
                    blockIdx = dim3{bx, by, 0};
                    kernel();
                });
            }
            for (auto& th : threads) th.join();
        }
    }
}
}  // namespace emu

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int offset) { return emu::shfl_xor(v, offset); }
inline double __shfl_xor_sync(unsigned, double v, int offset) { return emu::shfl_xor(v, offset); }
inline int __ffs(unsigned v) { return __builtin_ffs((int)v); }
