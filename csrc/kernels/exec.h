// The execution context that kernel bodies are written against.
//
// A kernel body is a struct with
//     static constexpr int kThreads;                      // threads per block (1-D blocks)
//     static size_t shared_bytes(const Params&);          // dynamic shared memory per block
//     template <class Ctx> LORKD_DEVICE static void run(Ctx& ctx, const Params& p);
// and touches the machine only through `ctx`:
//     ctx.block(d)       blockIdx along d (0, 1, 2)       ctx.grid(d)     gridDim along d
//     ctx.thread()       threadIdx.x                      ctx.threads()   blockDim.x
//     ctx.shared()       the block's dynamic shared memory (char*, 16-byte aligned)
//     ctx.sync()         __syncthreads()
//     ctx.sync_or(p)     __syncthreads_or(p): barrier, then true in every thread if any p was
// The same body is instantiated by a __global__ wrapper on the GPU (csrc/cuda/launch.cuh) and by
// the CPU harness (csrc/emu/harness.h), which runs each CUDA thread of a block as a fiber.
#pragma once

// LORKD_DEVICE: kernel code; LORKD_HOST_DEVICE: small helpers the host code also calls.
#if defined(__CUDACC__)
#define LORKD_DEVICE __device__ __forceinline__
#define LORKD_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define LORKD_DEVICE inline
#define LORKD_HOST_DEVICE inline
#endif

#include <cstdint>

namespace lorkd::kernels {

// A launch shape; the host orchestration (eks_ops.h) computes it from static shapes only.
struct LaunchShape {
  int64_t grid[3] = {1, 1, 1};
  int threads = 1;
  size_t shared_bytes = 0;
};

}  // namespace lorkd::kernels
