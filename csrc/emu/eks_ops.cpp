// The ops of csrc/kernels/eks_ops.h instantiated with the CPU emulation launcher.
#include "../kernels/eks_ops.h"
#include "harness.h"
#include "kernels.h"

namespace lorkd::emu {

at::Tensor eks_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              at::IntArrayRef stride, at::IntArrayRef padding,
                              at::IntArrayRef dilation, int64_t groups, double scaling) {
  return kernels::eks_conv2d_forward<EmuLauncher>(x, weight, bias, lora_A, lora_B, task_ids,
                                                  stride, padding, dilation, groups, scaling);
}

Grads eks_conv2d_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, int64_t groups, double scaling,
                          std::array<bool, 5> output_mask) {
  return kernels::eks_conv2d_backward<EmuLauncher>(grad_out, x, weight, lora_A, lora_B,
                                                   task_ids, stride, padding, dilation, groups,
                                                   scaling, output_mask);
}

at::Tensor eks_linear_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              double scaling) {
  return kernels::eks_linear_forward<EmuLauncher>(x, weight, bias, lora_A, lora_B, task_ids,
                                                  scaling);
}

Grads eks_linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling,
                          std::array<bool, 5> output_mask) {
  return kernels::eks_linear_backward<EmuLauncher>(grad_out, x, weight, lora_A, lora_B,
                                                   task_ids, scaling, output_mask);
}

}  // namespace lorkd::emu
