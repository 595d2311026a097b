// Argument validation for every compiled implementation (CPU, CUDA, emulated CUDA). Mirrors lorkd_kernels/_checks.py so that callers of
// torch.ops.lorkd.* who bypass the Python API still get errors that name the argument, raised
// before any memory is touched. TORCH_CHECK_VALUE / _TYPE / _INDEX map to Python's ValueError /
// TypeError / IndexError.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace lorkd {

// Shapes, dtypes and devices shared by conv and linear; out_dim is the weight's first dim and
// k_dim the column count of the matricized weight.
void check_common(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                  const at::Tensor& lora_B, const at::Tensor& task_ids, int64_t out_dim,
                  int64_t k_dim);

void check_conv2d(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                  const at::Tensor& lora_B, const at::Tensor& task_ids, at::IntArrayRef stride,
                  at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups);

void check_linear(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                  const at::Tensor& lora_B, const at::Tensor& task_ids);

// Output shape of the conv (N, C_out, OH, OW); the arguments must have passed check_conv2d.
std::vector<int64_t> conv2d_output_shape(const at::Tensor& x, const at::Tensor& weight,
                                         at::IntArrayRef stride, at::IntArrayRef padding,
                                         at::IntArrayRef dilation);

// Rows per sample of a linear input (N, ..., in): the product of the middle dims (1 for 2-D).
int64_t linear_positions(const at::Tensor& x);

// Output shape of the linear layer: x's shape with the last dim out_features.
std::vector<int64_t> linear_output_shape(const at::Tensor& x, const at::Tensor& weight);

// grad_out must have the shape of the forward output.
void check_grad_out(const at::Tensor& grad_out, at::IntArrayRef expected_shape,
                    const at::Tensor& x);

}  // namespace lorkd
