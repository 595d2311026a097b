// The ops of csrc/kernels/eks_ops.h instantiated for the GPU: a device guard for the inputs'
// device, then the shared host code with the CUDA launcher.
#include <c10/cuda/CUDAGuard.h>

#include "../kernels/eks_ops.h"
#include "kernels.h"
#include "launch.cuh"

namespace lorkd::cuda {

at::Tensor eks_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              at::IntArrayRef stride, at::IntArrayRef padding,
                              at::IntArrayRef dilation, int64_t groups, double scaling) {
  const c10::cuda::CUDAGuard guard(x.device());
  return kernels::eks_conv2d_forward<CudaLauncher>(x, weight, bias, lora_A, lora_B, task_ids,
                                                   stride, padding, dilation, groups, scaling);
}

Grads eks_conv2d_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, int64_t groups, double scaling,
                          std::array<bool, 5> output_mask) {
  const c10::cuda::CUDAGuard guard(x.device());
  return kernels::eks_conv2d_backward<CudaLauncher>(grad_out, x, weight, lora_A, lora_B,
                                                    task_ids, stride, padding, dilation, groups,
                                                    scaling, output_mask);
}

at::Tensor eks_linear_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              double scaling) {
  const c10::cuda::CUDAGuard guard(x.device());
  return kernels::eks_linear_forward<CudaLauncher>(x, weight, bias, lora_A, lora_B, task_ids,
                                                   scaling);
}

Grads eks_linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling,
                          std::array<bool, 5> output_mask) {
  const c10::cuda::CUDAGuard guard(x.device());
  return kernels::eks_linear_backward<CudaLauncher>(grad_out, x, weight, lora_A, lora_B,
                                                    task_ids, scaling, output_mask);
}

}  // namespace lorkd::cuda
