// The plain layer's convolution and its gradients through ATen (cuDNN on a GPU, oneDNN on CPU),
// for the kernels that run the base conv exactly as nn.Conv2d does: the cpu backend's forms and
// the CUDA C++ split form. Steers around faults of torch's own CPU convolution found by the fuzz
// tests (tests/backends/test_torch_faults.py).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>

namespace lorkd {

at::Tensor base_conv(const at::Tensor& x, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups);

// (grad_x, grad_weight, grad_bias), each undefined unless `mask` asks for it.
std::tuple<at::Tensor, at::Tensor, at::Tensor> base_conv_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    std::array<bool, 3> mask);

}  // namespace lorkd
