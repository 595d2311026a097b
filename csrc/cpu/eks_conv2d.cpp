// EKS convolution on CPU, built from ATen convolutions (oneDNN underneath).
//
// merged: per task present, W_t = W0 + s * B_t A_t and one plain convolution over that task's
//         samples; backward gets dX and the task's weight gradient G_t from one
//         convolution_backward call, then dW0 += G_t, dB_t = s G_t A_t^T, dA_t = s B_t^T G_t.
// split:  conv(x, W0) over the whole batch plus, per task, a shrink conv to r channels (A_t tiled
//         over the groups) and a grouped 1x1 expand (B_t). Used when tasks average fewer than two
//         samples each, where merged would run one tiny convolution per sample.
#include <ATen/ops/convolution.h>
#include <ATen/ops/convolution_backward.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include "checks.h"
#include "kernels.h"
#include "segments.h"
#include "strategy.h"

namespace lorkd::cpu {

namespace {

struct ConvConfig {
  at::IntArrayRef stride, padding;
  std::array<int64_t, 2> dilation;
  int64_t groups;
};

// Dilation along a kernel dimension of size 1 changes nothing; setting it to 1 there avoids a
// segfault in torch's CPU float16 convolution (2.13) for such shapes (found by the fuzz tests).
ConvConfig make_config(at::IntArrayRef stride, at::IntArrayRef padding,
                       at::IntArrayRef dilation, int64_t groups, const at::Tensor& weight) {
  return ConvConfig{stride, padding,
                    {weight.size(2) == 1 ? 1 : dilation[0], weight.size(3) == 1 ? 1 : dilation[1]},
                    groups};
}

constexpr std::array<int64_t, 2> kOne{1, 1};
constexpr std::array<int64_t, 2> kZero{0, 0};

// torch's CPU bfloat16 convolution (2.13) returns wrong values (forward: some shapes with
// unequal strides; weight gradient: garbage where it should be zero), found by
// tests/backends/test_fuzz.py: bfloat16 convolutions on CPU run in float32.
bool bf16_on_cpu(const at::Tensor& x) {
  return x.scalar_type() == at::kBFloat16 && x.device().is_cpu();
}

at::Tensor conv(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                const ConvConfig& c) {
  if (bf16_on_cpu(x)) {
    std::optional<at::Tensor> bias32;
    if (bias.has_value() && bias->defined()) bias32 = bias->to(at::kFloat);
    return conv(x.to(at::kFloat), w.to(at::kFloat), bias32, c).to(at::kBFloat16);
  }
  return at::convolution(x, w, bias, c.stride, c.padding, c.dilation, false, kZero, c.groups);
}

at::Tensor conv1x1(const at::Tensor& x, const at::Tensor& w, int64_t groups) {
  return at::convolution(x, w, std::nullopt, kOne, kZero, kOne, false, kZero, groups);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& w, const ConvConfig& c,
    bool need_input, bool need_weight) {
  if (bf16_on_cpu(x)) {
    auto [gx, gw, gb] = conv_backward(grad.to(at::kFloat), x.to(at::kFloat), w.to(at::kFloat),
                                      c, need_input, need_weight);
    return {gx.defined() ? gx.to(at::kBFloat16) : gx, gw.defined() ? gw.to(at::kBFloat16) : gw,
            gb};
  }
  return at::convolution_backward(grad, x, w, std::nullopt, c.stride, c.padding, c.dilation,
                                  false, kZero, c.groups, {need_input, need_weight, false});
}

at::Tensor merged_weight(const at::Tensor& weight, const at::Tensor& lora_A,
                         const at::Tensor& lora_B, double scaling, int64_t task) {
  const auto acc = accumulate_type(weight.scalar_type());
  const at::Tensor delta = lora_B[task].to(acc).mm(lora_A[task].to(acc)).mul_(scaling);
  return weight.to(acc).add(delta.view(weight.sizes())).to(weight.scalar_type());
}

// The split form's conv weights: shrink (groups*r, C_in/groups, kh, kw), expand (C_out, r, 1, 1).
std::pair<at::Tensor, at::Tensor> shrink_expand(const at::Tensor& weight,
                                                const at::Tensor& lora_A,
                                                const at::Tensor& lora_B, int64_t groups,
                                                int64_t task) {
  const int64_t rank = lora_A.size(1);
  at::Tensor shrink = lora_A[task]
                          .reshape({rank, weight.size(1), weight.size(2), weight.size(3)})
                          .repeat({groups, 1, 1, 1});
  at::Tensor expand = lora_B[task].reshape({weight.size(0), rank, 1, 1});
  return {shrink, expand};
}

std::vector<int64_t> output_shape(const at::Tensor& x, const at::Tensor& weight,
                                  const ConvConfig& c) {
  std::vector<int64_t> shape{x.size(0), weight.size(0)};
  for (int d = 0; d < 2; ++d) {
    const int64_t span = c.dilation[d] * (weight.size(2 + d) - 1) + 1;
    shape.push_back((x.size(2 + d) + 2 * c.padding[d] - span) / c.stride[d] + 1);
  }
  return shape;
}

bool choose_split(const Segments& segments, const at::Tensor& x, const at::Tensor& weight,
                  const ConvConfig& c) {
  const std::vector<int64_t> out = output_shape(x, weight, c);
  return use_split(segments, x.size(0), c.groups, weight.size(2) * weight.size(3),
                   out[2] * out[3]);
}

}  // namespace

at::Tensor eks_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              at::IntArrayRef stride, at::IntArrayRef padding,
                              at::IntArrayRef dilation, int64_t groups, double scaling) {
  check_conv2d(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups);
  const ConvConfig cfg = make_config(stride, padding, dilation, groups, weight);
  const Segments segments(task_ids, lora_A.size(0));
  if (x.size(0) == 0) return at::empty(output_shape(x, weight, cfg), x.options());

  if (choose_split(segments, x, weight, cfg)) {
    at::Tensor y = conv(x, weight, bias, cfg).contiguous();
    for (const TaskRun& run : segments.runs()) {
      auto [shrink, expand] = shrink_expand(weight, lora_A, lora_B, groups, run.task);
      const at::Tensor u = conv(segments.rows(x, run), shrink, std::nullopt, cfg);
      segments.add_rows(y, run, conv1x1(u, expand, groups).mul_(scaling));
    }
    return y;
  }
  at::Tensor y = at::empty(output_shape(x, weight, cfg), x.options());
  for (const TaskRun& run : segments.runs()) {
    const at::Tensor w_t = merged_weight(weight, lora_A, lora_B, scaling, run.task);
    segments.put_rows(y, run, conv(segments.rows(x, run), w_t, bias, cfg));
  }
  return y;
}

Grads eks_conv2d_backward(const at::Tensor& grad_out_in, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, int64_t groups, double scaling,
                          std::array<bool, 5> output_mask) {
  check_conv2d(x, weight, std::nullopt, lora_A, lora_B, task_ids, stride, padding, dilation,
               groups);
  const ConvConfig cfg = make_config(stride, padding, dilation, groups, weight);
  check_grad_out(grad_out_in, output_shape(x, weight, cfg), x);
  const auto [need_x, need_w, need_bias, need_A, need_B] = output_mask;
  const at::Tensor grad_out = grad_out_in.contiguous();
  const auto dtype = x.scalar_type();
  const auto acc = accumulate_type(dtype);
  const auto acc_opts = x.options().dtype(acc);
  const int64_t c_out = weight.size(0), rank = lora_A.size(1);
  const Segments segments(task_ids, lora_A.size(0));

  // Every row of grad_x is written below (the runs cover the batch), so no zero fill.
  at::Tensor grad_x = need_x ? at::empty(x.sizes(), x.options()) : at::Tensor();
  at::Tensor grad_w = at::zeros({c_out, lora_A.size(2)}, acc_opts);
  at::Tensor grad_A = at::zeros(lora_A.sizes(), acc_opts);
  at::Tensor grad_B = at::zeros(lora_B.sizes(), acc_opts);

  if (x.size(0) > 0 && choose_split(segments, x, weight, cfg)) {
    if (need_x || need_w) {
      auto [gx, gw, unused] = conv_backward(grad_out, x, weight, cfg, need_x, need_w);
      if (need_x) grad_x.copy_(gx);
      if (need_w) grad_w.add_(gw.reshape({c_out, -1}).to(acc));
    }
    for (const TaskRun& run : segments.runs()) {
      const at::Tensor x_t = segments.rows(x, run);
      const at::Tensor gy_t = segments.rows(grad_out, run).mul(scaling);
      auto [shrink, expand] = shrink_expand(weight, lora_A, lora_B, groups, run.task);
      const at::Tensor u = conv(x_t, shrink, std::nullopt, cfg);
      const ConvConfig unit{kOne, kZero, kOne, groups};
      auto [gu, g_expand, unused1] = conv_backward(gy_t, u, expand, unit, need_x || need_A, need_B);
      if (need_B) grad_B[run.task].copy_(g_expand.reshape({c_out, rank}));
      if (need_x || need_A) {
        auto [gx_t, g_shrink, unused2] = conv_backward(gu, x_t, shrink, cfg, need_x, need_A);
        if (need_x) segments.add_rows(grad_x, run, gx_t);
        if (need_A) grad_A[run.task].copy_(g_shrink.reshape({groups, rank, -1}).to(acc).sum(0));
      }
    }
  } else {
    const bool need_g = need_w || need_A || need_B;
    for (const TaskRun& run : segments.runs()) {
      const at::Tensor w_t = merged_weight(weight, lora_A, lora_B, scaling, run.task);
      auto [gx_t, g_t, unused] = conv_backward(segments.rows(grad_out, run),
                                               segments.rows(x, run), w_t, cfg, need_x, need_g);
      if (need_x) segments.put_rows(grad_x, run, gx_t);
      if (!need_g) continue;
      const at::Tensor g = g_t.reshape({c_out, -1}).to(acc);
      grad_w.add_(g);
      if (need_B) grad_B[run.task].copy_(g.mm(lora_A[run.task].to(acc).t()).mul_(scaling));
      if (need_A) grad_A[run.task].copy_(lora_B[run.task].to(acc).t().mm(g).mul_(scaling));
    }
  }

  const at::Tensor none = at::empty({0}, x.options());
  return {need_x ? grad_x : none,
          need_w ? grad_w.reshape(weight.sizes()).to(dtype) : none,
          need_bias ? grad_out.sum({0, 2, 3}, false, acc).to(dtype) : none,
          need_A ? grad_A.to(dtype) : none,
          need_B ? grad_B.to(dtype) : none};
}

}  // namespace lorkd::cpu
