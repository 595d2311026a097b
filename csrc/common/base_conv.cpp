#include "base_conv.h"

#include <ATen/ops/convolution.h>
#include <ATen/ops/convolution_backward.h>

namespace lorkd {

namespace {

constexpr std::array<int64_t, 2> kZero{0, 0};

// torch's CPU bfloat16 convolution (2.13) returns wrong values (forward: some shapes with
// unequal strides; weight gradient: garbage where it should be zero): on CPU it runs in float32.
bool bf16_on_cpu(const at::Tensor& x) {
  return x.scalar_type() == at::kBFloat16 && x.device().is_cpu();
}

// Dilation along a kernel dimension of size 1 changes nothing; setting it to 1 there avoids a
// segfault in torch's CPU float16 convolution (2.13) for such shapes.
std::array<int64_t, 2> effective_dilation(at::IntArrayRef dilation, const at::Tensor& weight) {
  return {weight.size(2) == 1 ? 1 : dilation[0], weight.size(3) == 1 ? 1 : dilation[1]};
}

at::Tensor to(const at::Tensor& t, at::ScalarType type) { return t.defined() ? t.to(type) : t; }

}  // namespace

at::Tensor base_conv(const at::Tensor& x, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  if (bf16_on_cpu(x)) {
    std::optional<at::Tensor> bias32;
    if (bias.has_value() && bias->defined()) bias32 = bias->to(at::kFloat);
    return base_conv(x.to(at::kFloat), weight.to(at::kFloat), bias32, stride, padding, dilation,
                     groups)
        .to(at::kBFloat16);
  }
  return at::convolution(x, weight, bias, stride, padding, effective_dilation(dilation, weight),
                         false, kZero, groups);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> base_conv_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    std::array<bool, 3> mask) {
  if (bf16_on_cpu(x)) {
    auto [gx, gw, gb] = base_conv_backward(grad.to(at::kFloat), x.to(at::kFloat),
                                           weight.to(at::kFloat), stride, padding, dilation,
                                           groups, mask);
    return {to(gx, at::kBFloat16), to(gw, at::kBFloat16), to(gb, at::kBFloat16)};
  }
  const int64_t bias_size[1] = {weight.size(0)};
  std::optional<at::IntArrayRef> bias_sizes;
  if (mask[2]) bias_sizes = at::IntArrayRef(bias_size);
  return at::convolution_backward(grad, x, weight, bias_sizes, stride, padding,
                                  effective_dilation(dilation, weight), false, kZero, groups,
                                  mask);
}

}  // namespace lorkd
