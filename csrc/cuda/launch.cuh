// GPU side of the execution context (csrc/kernels/exec.h): a __global__ entry point per kernel
// body and a launcher on the current CUDA stream that checks every launch.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include "../kernels/exec.h"

namespace lorkd::cuda {

class CudaCtx {
 public:
  __device__ explicit CudaCtx(char* shared) : shared_(shared) {}
  __device__ __forceinline__ int64_t block(int d) const {
    return d == 0 ? blockIdx.x : (d == 1 ? blockIdx.y : blockIdx.z);
  }
  __device__ __forceinline__ int64_t grid(int d) const {
    return d == 0 ? gridDim.x : (d == 1 ? gridDim.y : gridDim.z);
  }
  __device__ __forceinline__ int thread() const { return threadIdx.x; }
  __device__ __forceinline__ int threads() const { return blockDim.x; }
  __device__ __forceinline__ char* shared() const { return shared_; }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
  __device__ __forceinline__ bool sync_or(bool flag) const { return __syncthreads_or(flag) != 0; }

 private:
  char* shared_;
};

template <class Kernel, class Args>
__global__ void __launch_bounds__(Kernel::kThreads) entry(const Args args) {
  extern __shared__ float4 shared_memory[];   // float4: 16-byte alignment
  CudaCtx ctx(reinterpret_cast<char*>(shared_memory));
  Kernel::run(ctx, args);
}

struct CudaLauncher {
  template <class Kernel, class Args>
  static void launch(const kernels::LaunchShape& s, const Args& args) {
    if (s.grid[0] == 0 || s.grid[1] == 0 || s.grid[2] == 0) return;
    const dim3 grid(static_cast<unsigned>(s.grid[0]), static_cast<unsigned>(s.grid[1]),
                    static_cast<unsigned>(s.grid[2]));
    if (s.shared_bytes > 48 * 1024) opt_in_shared<Kernel, Args>(s.shared_bytes);
    entry<Kernel, Args><<<grid, s.threads, s.shared_bytes,
                          c10::cuda::getCurrentCUDAStream()>>>(args);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }

  // Above 48 KiB of dynamic shared memory a kernel must opt in, up to the device's own limit.
  template <class Kernel, class Args>
  static void opt_in_shared(size_t bytes) {
    int device = 0, limit = 0;
    C10_CUDA_CHECK(cudaGetDevice(&device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    TORCH_CHECK_VALUE(bytes <= static_cast<size_t>(limit), "an EKS kernel needs ", bytes,
                      " bytes of shared memory per block, more than this GPU gives one (", limit,
                      "); use a smaller rank");
    C10_CUDA_CHECK(cudaFuncSetAttribute(entry<Kernel, Args>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)));
  }

  // Reading task ids on the host syncs the stream, which a CUDA graph capture forbids.
  static bool host_may_read(const at::Tensor&) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    C10_CUDA_CHECK(cudaStreamIsCapturing(c10::cuda::getCurrentCUDAStream(), &status));
    return status == cudaStreamCaptureStatusNone;
  }
};

}  // namespace lorkd::cuda
