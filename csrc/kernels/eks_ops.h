// Host side of the CUDA and emulated kernels: validation, output allocation, launch shapes and
// the kernel sequence of each op. Templated on a Launcher, so the GPU build (csrc/cuda, which
// launches __global__ wrappers on the current stream) and the CPU emulation (csrc/emu, which runs
// the same bodies on fibers) share every line of it. A Launcher provides
//     template <class Kernel, class Args> static void launch(const LaunchShape&, const Args&);
//     static bool host_may_read(const at::Tensor& t);   // false while capturing a CUDA graph
// Launch shapes depend only on tensor shapes, never on task ids.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/any.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ge.h>
#include <ATen/ops/logical_or.h>
#include <ATen/ops/lt.h>
#include <ATen/ops/masked_fill.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <vector>

#include "../common/base_conv.h"
#include "../common/checks.h"
#include "../common/segments.h"
#include "../common/types.h"
#include "../cpu/strategy.h"
#include "eks_conv2d.h"
#include "eks_linear.h"
#include "eks_split.h"

namespace lorkd::kernels {


namespace detail {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// CUDA limits gridDim.y and gridDim.z to 65535; the x dimension is not a concern here.
// The most dynamic shared memory a block may use on the GPUs these kernels target (sm_90's opt-in
// maximum, 227 KiB; sm_80 allows 163 KiB, and the CUDA launcher checks the device's own limit).
// Above 48 KiB the CUDA launcher opts in with cudaFuncSetAttribute.
inline constexpr size_t kMaxSharedBytes = 227 * 1024;

inline void check_shared(const LaunchShape& s, const char* what) {
  TORCH_CHECK_VALUE(s.shared_bytes <= kMaxSharedBytes, what, ": needs ", s.shared_bytes,
                    " bytes of shared memory per block, more than a GPU gives one (",
                    kMaxSharedBytes, "); use a smaller rank");
}

inline void check_grid(const LaunchShape& s, const char* what) {
  TORCH_CHECK_VALUE(s.grid[1] <= 65535 && s.grid[2] <= 65535, what, ": launch grid (", s.grid[0],
                    ", ", s.grid[1], ", ", s.grid[2], ") exceeds 65535 along y or z (batch, ",
                    "groups or tasks too large for these kernels)");
}

template <class Kernel, class Args>
LaunchShape shape_for(const Args& args, int64_t gx, int64_t gy, int64_t gz, const char* what) {
  LaunchShape s;
  s.grid[0] = gx;
  s.grid[1] = gy;
  s.grid[2] = gz;
  s.threads = Kernel::kThreads;
  s.shared_bytes = Kernel::shared_bytes(args);
  check_grid(s, what);
  check_shared(s, what);
  return s;
}

// Returns whether every id was checked to lie in [0, num_tasks) (else the kernels' NaN contract
// is all that guards them).
template <class Launcher>
bool check_task_ids(const at::Tensor& task_ids, int64_t num_tasks) {
  // Out-of-range ids get NaN outputs and gradients in the kernels; the readable error comes from
  // here, which needs the ids on the host and is skipped while a CUDA graph is being captured
  // (or when host_task_id_checks() is off).
  if (task_ids.numel() == 0) return true;
  if (!lorkd::host_task_id_checks() || !Launcher::host_may_read(task_ids)) return false;
  // A batch planned by lorkd_kernels (task_ids_context) was read once; compare its range.
  if (lorkd::check_noted_task_id_range(task_ids, num_tasks)) return true;
  lorkd::count_host_task_id_read();
  lorkd::check_task_id_range(task_ids.to(at::kCPU), num_tasks);
  return true;
}

inline std::array<int64_t, 4> strides4(const at::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

template <class T>
ConvArgs<T> conv_args(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& lora_A,
                      const at::Tensor& lora_B, const at::Tensor& task_ids,
                      at::IntArrayRef out_shape, at::IntArrayRef stride, at::IntArrayRef padding,
                      at::IntArrayRef dilation, int64_t groups, double scaling) {
  ConvArgs<T> a;
  a.x = x.const_data_ptr<T>();
  a.weight = weight.const_data_ptr<T>();
  a.lora_A = lora_A.const_data_ptr<T>();
  a.lora_B = lora_B.const_data_ptr<T>();
  a.task_ids = task_ids.const_data_ptr<int64_t>();
  a.batch = x.size(0);
  a.c_in = x.size(1);
  a.in_h = x.size(2);
  a.in_w = x.size(3);
  a.c_out = weight.size(0);
  a.out_h = out_shape[2];
  a.out_w = out_shape[3];
  a.k_h = weight.size(2);
  a.k_w = weight.size(3);
  a.stride_h = stride[0];
  a.stride_w = stride[1];
  a.pad_h = padding[0];
  a.pad_w = padding[1];
  a.dil_h = dilation[0];
  a.dil_w = dilation[1];
  a.groups = groups;
  a.rank = lora_A.size(1);
  a.num_tasks = lora_A.size(0);
  const auto xs = strides4(x);
  std::copy(xs.begin(), xs.end(), a.xs);
  // y / grad_out are contiguous (N, C_out, OH, OW)
  const int64_t ys[4] = {a.c_out * a.out_h * a.out_w, a.out_h * a.out_w, a.out_w, 1};
  std::copy(ys, ys + 4, a.ys);
  a.scaling = static_cast<acc_t<T>>(scaling);
  return a;
}

// dW0, dbias, dA, dB: the per-task G_t (ConvWgrad), then every reduction in one launch
// (ReduceGrads); `a` describes the problem as a conv.
template <class Launcher, class T>
void weight_grads(ConvArgs<T> a, const at::Tensor& x, std::array<bool, 5> mask, at::Tensor& dw,
                  at::Tensor& dbias, at::Tensor& dA, at::Tensor& dB) {
  const auto [need_x, need_w, need_bias, need_A, need_B] = mask;
  (void)need_x;
  at::Tensor G;
  if (need_w || need_A || need_B) {
    // Every element of G is written by exactly one wgrad block (absent tasks write zeros).
    const int64_t K = a.k_dim(), T_ = a.num_tasks;
    G = at::empty({T_, a.c_out, K}, x.options().dtype(c10::CppTypeToScalarType<acc_t<T>>::value));
    a.task_grads = G.mutable_data_ptr<acc_t<T>>();
    const int64_t tiles = ceil_div(a.cout_g(), Tile::BM) * ceil_div(K, Tile::BN);
    Launcher::template launch<ConvWgrad<T>>(
        shape_for<ConvWgrad<T>>(a, tiles, a.groups, T_, "eks wgrad"), a);
  }
  a.grad_weight = need_w ? dw.mutable_data_ptr<T>() : nullptr;
  a.grad_A = need_A ? dA.mutable_data_ptr<T>() : nullptr;
  a.grad_B = need_B ? dB.mutable_data_ptr<T>() : nullptr;
  a.grad_bias = need_bias ? dbias.mutable_data_ptr<T>() : nullptr;
  const int64_t blocks = ReduceGrads<T>::blocks(a).total();
  if (blocks > 0) {
    Launcher::template launch<ReduceGrads<T>>(
        shape_for<ReduceGrads<T>>(a, blocks, 1, 1, "eks weight gradients"), a);
  }
}


inline at::Tensor none_like(const at::Tensor& x) { return at::empty({0}, x.options()); }

// The five gradient outputs; the ones not asked for are empty (0,) tensors.
inline Grads allocate_grads(const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& lora_A, const at::Tensor& lora_B,
                            std::array<bool, 5> mask) {
  auto make = [&](bool need, at::IntArrayRef sizes) {
    return need ? at::empty(sizes, x.options()) : none_like(x);
  };
  return {make(mask[0], x.sizes()), make(mask[1], weight.sizes()),
          make(mask[2], {weight.size(0)}), make(mask[3], lora_A.sizes()),
          make(mask[4], lora_B.sizes())};
}

// The conv's form: the fused kernels (ConvGemm) or the split form (the plain layer's cuDNN
// convolution plus the branch kernels of eks_split.h). The strategy the cpu backend is forced to
// (lorkd_kernels.backends.conv_strategy) forces it: "merged" the fused kernels, "split" and
// "stacked" the split form; "auto" runs dense convs split (cuDNN carries the base GEMM, which the
// scalar fused kernels cannot match) and grouped ones fused (split's rank-r intermediates have
// groups * r channels, r times the output's for a depthwise conv: the split form's traffic,
// lorkd_kernels/backends/triton/costs.py).
inline bool split_form(int64_t groups) {
  switch (static_cast<cpu::ConvStrategy>(cpu::conv_strategy())) {
    case cpu::ConvStrategy::kMerged: return false;
    case cpu::ConvStrategy::kSplit:
    case cpu::ConvStrategy::kStacked: return true;
    default: return groups == 1;
  }
}

template <class T>
SplitArgs<T> split_args(const ConvArgs<T>& a) {
  SplitArgs<T> s;
  static_cast<ConvArgs<T>&>(s) = a;
  return s;
}

inline at::Tensor branch_buffer(const at::Tensor& x, int64_t groups, int64_t rank,
                                at::IntArrayRef out_shape) {
  const auto acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return at::empty({out_shape[0], groups * rank, out_shape[2], out_shape[3]},
                   x.options().dtype(acc));
}

template <class Launcher, class T, bool kDy>
void split_shrink(const SplitArgs<T>& s) {
  using K = SplitShrink<T, kDy>;
  Launcher::template launch<K>(shape_for<K>(s, ceil_div(s.out_pixels(), kSplitThreads), s.groups,
                                            s.batch, "eks split shrink"),
                               s);
}

template <class Launcher>
at::Tensor split_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                         const at::Tensor& lora_A, const at::Tensor& lora_B,
                         const at::Tensor& task_ids, at::IntArrayRef shape,
                         at::IntArrayRef stride, at::IntArrayRef padding,
                         at::IntArrayRef dilation, int64_t groups, double scaling) {
  std::optional<at::Tensor> base_bias;
  if (bias.defined()) base_bias = bias;
  at::Tensor y = base_conv(x, weight, base_bias, stride, padding, dilation, groups).contiguous();
  at::Tensor u = branch_buffer(x, groups, lora_A.size(1), shape);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "eks_conv2d split",
                                  [&] {
    auto s = split_args(conv_args<scalar_t>(x, weight, lora_A, lora_B, task_ids, shape, stride,
                                            padding, dilation, groups, scaling));
    s.u = u.mutable_data_ptr<acc_t<scalar_t>>();
    s.out = y.mutable_data_ptr<scalar_t>();
    split_shrink<Launcher, scalar_t, false>(s);
    using K = SplitExpandY<scalar_t>;
    Launcher::template launch<K>(shape_for<K>(s, ceil_div(s.out_pixels(), kSplitThreads),
                                              s.c_out, s.batch, "eks split expand"),
                                 s);
  });
  return y;
}

template <class Launcher>
Grads split_backward(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight,
                     const at::Tensor& lora_A, const at::Tensor& lora_B,
                     const at::Tensor& task_ids, at::IntArrayRef shape, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                     double scaling, std::array<bool, 5> mask, bool ids_checked) {
  const auto [need_x, need_w, need_bias, need_A, need_B] = mask;
  // The plain layer's backward in one call: dx, dW0, dbias.
  auto [dx, dw, dbias] = base_conv_backward(grad_out, x, weight, stride, padding, dilation,
                                            groups, {need_x, need_w, need_bias});
  auto [none_x, none_w, none_b, dA, dB] = allocate_grads(x, weight, lora_A, lora_B, mask);
  dx = need_x ? dx.contiguous() : none_x;
  dw = need_w ? dw.contiguous() : none_w;
  dbias = need_bias ? dbias.contiguous() : none_b;
  if (!ids_checked && (need_w || need_bias) && task_ids.numel() > 0) {
    // cuDNN's sums leave no sample out: unchecked out-of-range ids make them NaN on the device
    const at::Tensor bad =
        at::any(at::logical_or(at::lt(task_ids, 0), at::ge(task_ids, lora_A.size(0))));
    if (need_w) dw.masked_fill_(bad, NAN);
    if (need_bias) dbias.masked_fill_(bad, NAN);
  }
  if (!(need_x || need_A || need_B)) return {dx, dw, dbias, dA, dB};
  at::Tensor u = branch_buffer(x, groups, lora_A.size(1), shape);
  at::Tensor v = branch_buffer(x, groups, lora_A.size(1), shape);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                  "eks_conv2d split backward", [&] {
    auto s = split_args(conv_args<scalar_t>(x, weight, lora_A, lora_B, task_ids, shape, stride,
                                            padding, dilation, groups, scaling));
    s.grad_out = grad_out.const_data_ptr<scalar_t>();
    s.u = u.mutable_data_ptr<acc_t<scalar_t>>();
    s.v = v.mutable_data_ptr<acc_t<scalar_t>>();
    if (need_x || need_A) split_shrink<Launcher, scalar_t, true>(s);
    if (need_x && x.numel() > 0) {
      s.out = dx.mutable_data_ptr<scalar_t>();
      using K = SplitExpandDx<scalar_t>;
      Launcher::template launch<K>(shape_for<K>(s, ceil_div(s.in_pixels(), kSplitThreads),
                                                s.c_in, s.batch, "eks split expand dx"),
                                   s);
    }
    if (need_B) split_shrink<Launcher, scalar_t, false>(s);
    if (need_A || need_B) {
      s.grad_A = need_A ? dA.mutable_data_ptr<scalar_t>() : nullptr;
      s.grad_B = need_B ? dB.mutable_data_ptr<scalar_t>() : nullptr;
      using K = SplitLoraGrads<scalar_t>;
      const int64_t elems = std::max(s.rank * s.k_dim(), s.c_out * s.rank);
      Launcher::template launch<K>(shape_for<K>(s, ceil_div(elems, kSplitThreads), 1,
                                                s.num_tasks, "eks split dA/dB"),
                                   s);
    }
  });
  return {dx, dw, dbias, dA, dB};
}

}  // namespace detail

template <class Launcher>
at::Tensor eks_conv2d_forward(const at::Tensor& x_in, const at::Tensor& weight_in,
                              const std::optional<at::Tensor>& bias_in,
                              const at::Tensor& lora_A_in, const at::Tensor& lora_B_in,
                              const at::Tensor& task_ids_in, at::IntArrayRef stride,
                              at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                              double scaling) {
  lorkd::check_conv2d(x_in, weight_in, bias_in, lora_A_in, lora_B_in, task_ids_in, stride,
                           padding, dilation, groups);
  detail::check_task_ids<Launcher>(task_ids_in, lora_A_in.size(0));
  const auto shape = lorkd::conv2d_output_shape(x_in, weight_in, stride, padding, dilation);
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
  const at::Tensor lora_A = lora_A_in.contiguous(), lora_B = lora_B_in.contiguous();
  const at::Tensor task_ids = task_ids_in.contiguous();
  at::Tensor y = at::empty(shape, x.options());
  if (y.numel() == 0) return y;
  at::Tensor bias;
  if (bias_in.has_value()) bias = bias_in->contiguous();
  if (detail::split_form(groups)) {
    return detail::split_forward<Launcher>(x, weight, bias, lora_A, lora_B, task_ids, shape,
                                           stride, padding, dilation, groups, scaling);
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "eks_conv2d", [&] {
    auto a = detail::conv_args<scalar_t>(x, weight, lora_A, lora_B, task_ids, shape, stride,
                                         padding, dilation, groups, scaling);
    a.bias = bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr;
    a.out = y.mutable_data_ptr<scalar_t>();
    using K = ConvGemm<scalar_t, false>;
    const int64_t tiles = detail::ceil_div(a.cout_g(), Tile::BM) *
                          detail::ceil_div(a.out_pixels(), Tile::BN);
    Launcher::template launch<K>(detail::shape_for<K>(a, tiles, groups, a.batch, "eks_conv2d"),
                                 a);
  });
  return y;
}

template <class Launcher>
Grads eks_conv2d_backward(const at::Tensor& grad_out_in, const at::Tensor& x_in,
                          const at::Tensor& weight_in, const at::Tensor& lora_A_in,
                          const at::Tensor& lora_B_in, const at::Tensor& task_ids_in,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, int64_t groups, double scaling,
                          std::array<bool, 5> mask) {
  lorkd::check_conv2d(x_in, weight_in, std::nullopt, lora_A_in, lora_B_in, task_ids_in,
                           stride, padding, dilation, groups);
  const auto shape = lorkd::conv2d_output_shape(x_in, weight_in, stride, padding, dilation);
  lorkd::check_grad_out(grad_out_in, shape, x_in);
  const bool ids_checked = detail::check_task_ids<Launcher>(task_ids_in, lora_A_in.size(0));
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
  const at::Tensor lora_A = lora_A_in.contiguous(), lora_B = lora_B_in.contiguous();
  const at::Tensor task_ids = task_ids_in.contiguous(), grad_out = grad_out_in.contiguous();
  if (detail::split_form(groups) && x.size(0) > 0) {
    return detail::split_backward<Launcher>(grad_out, x, weight, lora_A, lora_B, task_ids, shape,
                                            stride, padding, dilation, groups, scaling, mask,
                                            ids_checked);
  }
  const auto [need_x, need_w, need_bias, need_A, need_B] = mask;
  auto [dx, dw, dbias, dA, dB] = detail::allocate_grads(x, weight, lora_A, lora_B, mask);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                  "eks_conv2d_backward", [&] {
    auto a = detail::conv_args<scalar_t>(x, weight, lora_A, lora_B, task_ids, shape, stride,
                                         padding, dilation, groups, scaling);
    a.grad_out = grad_out.const_data_ptr<scalar_t>();
    if (need_x && x.numel() > 0) {
      a.out = dx.mutable_data_ptr<scalar_t>();
      using K = ConvGemm<scalar_t, true>;
      const int64_t tiles = detail::ceil_div(a.cin_g(), Tile::BM) *
                            detail::ceil_div(a.in_pixels(), Tile::BN);
      Launcher::template launch<K>(
          detail::shape_for<K>(a, tiles, groups, a.batch, "eks_conv2d dgrad"), a);
    }
    detail::weight_grads<Launcher>(a, x, mask, dw, dbias, dA, dB);
  });
  return {dx, dw, dbias, dA, dB};
}

namespace detail {


template <class Launcher, class T>
void launch_linear(const LinearArgs<T>& a) {
  using K = LinearFused<T>;
  const int64_t tiles = ceil_div(a.rows, Tile::BM) * ceil_div(a.cols, Tile::BN);
  Launcher::template launch<K>(shape_for<K>(a, tiles, 1, 1, "eks_linear"), a);
}

}  // namespace detail

template <class Launcher>
at::Tensor eks_linear_forward(const at::Tensor& x_in, const at::Tensor& weight_in,
                              const std::optional<at::Tensor>& bias_in,
                              const at::Tensor& lora_A_in, const at::Tensor& lora_B_in,
                              const at::Tensor& task_ids_in, double scaling) {
  lorkd::check_linear(x_in, weight_in, bias_in, lora_A_in, lora_B_in, task_ids_in);
  detail::check_task_ids<Launcher>(task_ids_in, lora_A_in.size(0));
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
  const at::Tensor lora_A = lora_A_in.contiguous(), lora_B = lora_B_in.contiguous();
  const at::Tensor task_ids = task_ids_in.contiguous();
  at::Tensor y = at::empty(lorkd::linear_output_shape(x, weight), x.options());
  if (y.numel() == 0) return y;
  at::Tensor bias;
  if (bias_in.has_value()) bias = bias_in->contiguous();
  const int64_t in_f = weight.size(1), out_f = weight.size(0), rank = lora_A.size(1);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "eks_linear", [&] {
    LinearArgs<scalar_t> a;
    a.in = x.const_data_ptr<scalar_t>();
    a.weight = weight.const_data_ptr<scalar_t>();
    a.shrink = lora_A.const_data_ptr<scalar_t>();
    a.expand = lora_B.const_data_ptr<scalar_t>();
    a.bias = bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr;
    a.task_ids = task_ids.const_data_ptr<int64_t>();
    a.out = y.mutable_data_ptr<scalar_t>();
    a.positions = lorkd::linear_positions(x);
    a.rows = x.size(0) * a.positions;
    a.depth = in_f;
    a.cols = out_f;
    a.rank = rank;
    a.num_tasks = lora_A.size(0);
    a.w_k = 1, a.w_j = in_f;                               // W(k, j) = W0[j, k]
    a.p_t = rank * in_f, a.p_q = in_f, a.p_k = 1;          // P_t = A_t
    a.q_t = out_f * rank, a.q_j = rank, a.q_q = 1;         // Q_t = B_t
    a.scaling = static_cast<acc_t<scalar_t>>(scaling);
    detail::launch_linear<Launcher>(a);
  });
  return y;
}

template <class Launcher>
Grads eks_linear_backward(const at::Tensor& grad_out_in, const at::Tensor& x_in,
                          const at::Tensor& weight_in, const at::Tensor& lora_A_in,
                          const at::Tensor& lora_B_in, const at::Tensor& task_ids_in,
                          double scaling, std::array<bool, 5> mask) {
  lorkd::check_linear(x_in, weight_in, std::nullopt, lora_A_in, lora_B_in, task_ids_in);
  lorkd::check_grad_out(grad_out_in, lorkd::linear_output_shape(x_in, weight_in),
                             x_in);
  detail::check_task_ids<Launcher>(task_ids_in, lora_A_in.size(0));
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous();
  const at::Tensor lora_A = lora_A_in.contiguous(), lora_B = lora_B_in.contiguous();
  const at::Tensor task_ids = task_ids_in.contiguous(), grad_out = grad_out_in.contiguous();
  const auto [need_x, need_w, need_bias, need_A, need_B] = mask;
  auto [dx, dw, dbias, dA, dB] = detail::allocate_grads(x, weight, lora_A, lora_B, mask);
  const int64_t in_f = weight.size(1), out_f = weight.size(0), rank = lora_A.size(1);
  const int64_t positions = lorkd::linear_positions(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(),
                                  "eks_linear_backward", [&] {
    using Acc = acc_t<scalar_t>;
    if (need_x && x.numel() > 0) {
      LinearArgs<scalar_t> a;
      a.in = grad_out.const_data_ptr<scalar_t>();
      a.weight = weight.const_data_ptr<scalar_t>();
      a.shrink = lora_B.const_data_ptr<scalar_t>();
      a.expand = lora_A.const_data_ptr<scalar_t>();
      a.task_ids = task_ids.const_data_ptr<int64_t>();
      a.out = dx.mutable_data_ptr<scalar_t>();
      a.positions = positions;
      a.rows = x.size(0) * positions;
      a.depth = out_f;
      a.cols = in_f;
      a.rank = rank;
      a.num_tasks = lora_A.size(0);
      a.w_k = in_f, a.w_j = 1;                            // W(k, j) = W0[k, j]
      a.p_t = out_f * rank, a.p_q = 1, a.p_k = rank;      // P_t(q, k) = B_t[k, q]
      a.q_t = rank * in_f, a.q_j = 1, a.q_q = in_f;       // Q_t(j, q) = A_t[q, j]
      a.scaling = static_cast<Acc>(scaling);
      detail::launch_linear<Launcher>(a);
    }
    // The weight gradients see the layer as a 1x1 conv over (N, features, positions, 1).
    ConvArgs<scalar_t> c;
    c.x = x.const_data_ptr<scalar_t>();
    c.weight = weight.const_data_ptr<scalar_t>();
    c.lora_A = lora_A.const_data_ptr<scalar_t>();
    c.lora_B = lora_B.const_data_ptr<scalar_t>();
    c.task_ids = task_ids.const_data_ptr<int64_t>();
    c.grad_out = grad_out.const_data_ptr<scalar_t>();
    c.batch = x.size(0);
    c.c_in = in_f;
    c.c_out = out_f;
    c.in_h = c.out_h = positions;
    c.in_w = c.out_w = 1;
    c.rank = rank;
    c.num_tasks = lora_A.size(0);
    const int64_t xs[4] = {positions * in_f, 1, in_f, 0}, ys[4] = {positions * out_f, 1, out_f, 0};
    std::copy(xs, xs + 4, c.xs);
    std::copy(ys, ys + 4, c.ys);
    c.scaling = static_cast<Acc>(scaling);
    detail::weight_grads<Launcher>(c, x, mask, dw, dbias, dA, dB);
  });
  return {dx, dw, dbias, dA, dB};
}

}  // namespace lorkd::kernels
