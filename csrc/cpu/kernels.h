// CPU kernels of the lorkd ops (schemas in csrc/schema.cpp, registration in register.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>

namespace lorkd::cpu {

using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

at::Tensor eks_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              at::IntArrayRef stride, at::IntArrayRef padding,
                              at::IntArrayRef dilation, int64_t groups, double scaling);

Grads eks_conv2d_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, int64_t groups, double scaling,
                          std::array<bool, 5> output_mask);

at::Tensor eks_linear_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              double scaling);

Grads eks_linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling,
                          std::array<bool, 5> output_mask);

// Reductions over samples accumulate in float32 (float64 for float64 inputs).
inline at::ScalarType accumulate_type(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace lorkd::cpu
