// EKS convolution on CPU, built from ATen convolutions (oneDNN underneath) and batched GEMMs.
//
// merged: W_t = W0 + s * B_t A_t, then either one plain convolution per task present over that
//         task's samples, or, when the weight is small next to the activations (depthwise and
//         other grouped convs; dense ones with few channels on a large map), one grouped
//         convolution with a merged weight per sample (groups N * g: the paper's formulation),
//         which runs near the cost of the plain layer. Backward gets dX and the per-task
//         weight gradient G_t, then dW0 = sum G_t, dB_t = s G_t A_t^T, dA_t = s B_t^T G_t.
// split:  conv(x, W0) over the whole batch (exactly the plain layer's calls) plus the rank-r
//         branch for every sample at once: the shrink is one grouped convolution with each
//         sample's A (groups N * g, r channels per group), the expand one batched GEMM with each
//         sample's B; backward likewise, with dA and dB summed per task by index_add. The extra
//         work is O(r / C_out) of the layer, in a fixed number of calls whatever the task mix.
// stacked split: as split, with the shrink as one dense conv over all tasks' A stacked
//         (T * r channels), each sample keeping its own task's r; O(T r / C_out) extra work in
//         plain convolutions, no per-sample copies of A (dense convs only).
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/convolution.h>
#include <ATen/ops/convolution_backward.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <functional>

#include "../common/base_conv.h"
#include "../common/checks.h"
#include "kernels.h"
#include "../common/segments.h"
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
at::Tensor conv(const at::Tensor& x, const at::Tensor& w, const std::optional<at::Tensor>& bias,
                const ConvConfig& c) {
  return base_conv(x, w, bias, c.stride, c.padding, c.dilation, c.groups);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& w, const ConvConfig& c,
    bool need_input, bool need_weight) {
  return base_conv_backward(grad, x, w, c.stride, c.padding, c.dilation, c.groups,
                            {need_input, need_weight, false});
}

at::Tensor merged_weight(const at::Tensor& weight, const at::Tensor& lora_A,
                         const at::Tensor& lora_B, double scaling, int64_t task) {
  const auto acc = accumulate_type(weight.scalar_type());
  const at::Tensor delta = lora_B[task].to(acc).mm(lora_A[task].to(acc)).mul_(scaling);
  return weight.to(acc).add(delta.view(weight.sizes())).to(weight.scalar_type());
}

// Each sample's rank-r shrink as grouped-conv weights (N*g*r, C_in/g, kh, kw): A[t_n] repeated
// over the g groups, since every group shares the same low-rank update.
at::Tensor per_sample_shrink(const at::Tensor& a_ps, const at::Tensor& weight, int64_t groups) {
  const int64_t n = a_ps.size(0), rank = a_ps.size(1);
  return a_ps.unsqueeze(1)
      .expand({n, groups, rank, a_ps.size(2)})
      .reshape({n * groups * rank, weight.size(1), weight.size(2), weight.size(3)});
}

// x (N, C, H, W) seen as one image with N*C channels, for the per-sample grouped convolutions.
at::Tensor as_one_image(const at::Tensor& t) {
  return t.reshape({1, t.size(0) * t.size(1), t.size(2), t.size(3)});
}

ConvConfig per_sample_config(const ConvConfig& c, int64_t batch) {
  return ConvConfig{c.stride, c.padding, c.dilation, c.groups * batch};
}

// The weight is small enough that one merged copy per sample costs little: depthwise and other
// grouped convolutions whose N copies take at most twice the input, or under 4 MB of floats;
// dense convolutions whose N copies take at most the input (C_out * kh * kw <= H * W: few
// channels on a large map, where the paper's grouped form runs near the plain layer's speed).
bool per_sample_weights_fit(const at::Tensor& x, const at::Tensor& weight, int64_t groups) {
  const int64_t copies = x.size(0) * weight.numel();
  if (groups == 1) return copies <= x.numel();
  return copies <= 2 * x.numel() || copies <= (int64_t{1} << 20);
}

std::vector<int64_t> output_shape(const at::Tensor& x, const at::Tensor& weight,
                                  const ConvConfig& c) {
  return conv2d_output_shape(x, weight, c.stride, c.padding, c.dilation);
}

// The stacked split needs one conv weight for all tasks' A: a dense conv (groups == 1).
bool stacked_applies(const ConvConfig& c) { return c.groups == 1; }

ConvShape conv_shape(const Segments& segments, const at::Tensor& x, const at::Tensor& weight,
                     const at::Tensor& lora_A, const ConvConfig& c) {
  const std::vector<int64_t> out = output_shape(x, weight, c);
  const bool strided = c.stride[0] > 1 || c.stride[1] > 1;
  const bool stacked = stacked_applies(c);
  const int64_t kernel_area = weight.size(2) * weight.size(3);
  return {x.size(0), c.groups, kernel_area, out[2] * out[3], strided,
          per_sample_weights_fit(x, weight, c.groups), stacked,
          stacked && kernel_area > 1 && 4 * lora_A.size(0) * lora_A.size(1) <= weight.size(0),
          x.size(1), weight.size(0), x.size(2) * x.size(3), lora_A.size(0), lora_A.size(1),
          static_cast<int64_t>(segments.runs().size()), segments.sorted()};
}

ConvPath choose(const Segments& segments, const at::Tensor& x, const at::Tensor& weight,
                const at::Tensor& lora_A, const ConvConfig& c) {
  return choose_path(segments, conv_shape(segments, x, weight, lora_A, c));
}

}  // namespace

namespace {

// ---------------------------------------------------------------------------- split

// A 1x1 conv without padding is a GEMM over the pixels it reads (every stride-th one): its
// shrink runs as one batched GEMM on those pixels, much cheaper than oneDNN's grouped
// convolution with r channels per group.
bool shrink_is_gemm(const at::Tensor& weight, const ConvConfig& c) {
  return weight.size(2) == 1 && weight.size(3) == 1 && c.padding[0] == 0 && c.padding[1] == 0;
}

bool strided(const ConvConfig& c) { return c.stride[0] > 1 || c.stride[1] > 1; }

// The pixels a padding-free 1x1 conv reads: x itself, or every stride-th row and column.
at::Tensor read_pixels(const at::Tensor& x, const ConvConfig& c) {
  if (!strided(c)) return x;
  return x.slice(2, 0, x.size(2), c.stride[0]).slice(3, 0, x.size(3), c.stride[1]).contiguous();
}

// The pixels of a padding-free 1x1 conv as (N*g, C_in/g, OH*OW), for the GEMM form of its shrink.
at::Tensor pixels_by_group(const at::Tensor& x, const ConvConfig& c) {
  const at::Tensor pixels = read_pixels(x, c);
  return pixels.reshape({x.size(0) * c.groups, x.size(1) / c.groups, -1});
}

// u = each sample's shrink conv (N*g, r, OH*OW); `shrink` is per_sample_shrink's result.
at::Tensor shrink_all(const at::Tensor& x, const at::Tensor& shrink, const ConvConfig& cfg,
                      const at::Tensor& weight) {
  const int64_t n = x.size(0), rank = shrink.size(0) / (n * cfg.groups);
  if (shrink_is_gemm(weight, cfg)) {
    return at::bmm(shrink.reshape({n * cfg.groups, rank, -1}), pixels_by_group(x, cfg));
  }
  const at::Tensor u = conv(as_one_image(x), shrink, std::nullopt, per_sample_config(cfg, n));
  return u.reshape({n * cfg.groups, rank, -1});
}

// B[t_n] split per group: (N*g, C_out/g, r)
at::Tensor expand_all(const at::Tensor& b_ps, int64_t groups) {
  const int64_t n = b_ps.size(0);
  return b_ps.reshape({n * groups, b_ps.size(1) / groups, b_ps.size(2)});
}

at::Tensor forward_split(const at::Tensor& x, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                         const at::Tensor& lora_B, const at::Tensor& ids, const ConvConfig& cfg,
                         double scaling) {
  at::Tensor y = conv(x, weight, bias, cfg).contiguous();
  const at::Tensor u = shrink_all(x, per_sample_shrink(lora_A.index_select(0, ids), weight,
                                                       cfg.groups), cfg, weight);
  const at::Tensor b_ps = expand_all(lora_B.index_select(0, ids), cfg.groups);
  at::Tensor y3 = y.view({u.size(0), b_ps.size(1), u.size(2)});
  y3.baddbmm_(b_ps, u, 1.0, scaling);
  return y;
}

// ---------------------------------------------------------------------------- stacked split
// As split, but the shrink runs for every task at once as one dense conv with all tasks' A
// stacked into a (T*r, C_in, kh, kw) weight, and each sample keeps its own task's r channels;
// backward scatters s B^T dY into those channels and runs that conv's backward, which sums dA
// per task by itself. T*r/C_out of the layer's work in plain oneDNN calls, and no per-sample
// copies of A (the grouped shrink's N*r*C_in*kh*kw weights and their gradient).

at::Tensor stacked_shrink_weight(const at::Tensor& lora_A, const at::Tensor& weight) {
  return lora_A.reshape({lora_A.size(0) * lora_A.size(1), weight.size(1), weight.size(2),
                         weight.size(3)});
}

// Where each sample's own r channels sit in a (N, T, r*OH*OW) view of the stacked shrink.
at::Tensor own_channels_index(const at::Tensor& ids, int64_t values) {
  return ids.to(at::kLong).view({ids.size(0), 1, 1}).expand({ids.size(0), 1, values});
}

// u (N, r, OH*OW): each sample's own task's channels of the stacked shrink.
at::Tensor stacked_shrink_own(const at::Tensor& x, const at::Tensor& lora_A,
                              const at::Tensor& weight, const at::Tensor& ids,
                              const ConvConfig& cfg) {
  const int64_t n = x.size(0), tasks = lora_A.size(0), rank = lora_A.size(1);
  const at::Tensor u_all = conv(x, stacked_shrink_weight(lora_A, weight), std::nullopt, cfg);
  const int64_t values = rank * u_all.size(2) * u_all.size(3);
  return u_all.reshape({n, tasks, values})
      .gather(1, own_channels_index(ids, values))
      .view({n, rank, -1});
}

at::Tensor forward_stacked_split(const at::Tensor& x, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                                 const at::Tensor& lora_B, const at::Tensor& ids,
                                 const ConvConfig& cfg, double scaling) {
  at::Tensor y = conv(x, weight, bias, cfg).contiguous();
  const at::Tensor u = stacked_shrink_own(x, lora_A, weight, ids, cfg);
  at::Tensor y3 = y.view({x.size(0), weight.size(0), u.size(2)});
  y3.baddbmm_(lora_B.index_select(0, ids), u, 1.0, scaling);
  return y;
}

// ---------------------------------------------------------------------------- merged

// W0 + s * B[t_n] A[t_n] for every sample, as grouped-conv weights (N*C_out, C_in/g, kh, kw).
at::Tensor per_sample_merged_weights(const at::Tensor& weight, const at::Tensor& lora_A,
                                     const at::Tensor& lora_B, const at::Tensor& ids,
                                     double scaling) {
  const auto acc = accumulate_type(weight.scalar_type());
  const at::Tensor delta = at::bmm(lora_B.index_select(0, ids).to(acc),
                                   lora_A.index_select(0, ids).to(acc));   // (N, C_out, K)
  return delta.mul_(scaling)
      .add_(weight.to(acc).reshape({1, weight.size(0), -1}))
      .to(weight.scalar_type())
      .reshape({ids.size(0) * weight.size(0), weight.size(1), weight.size(2), weight.size(3)});
}

at::Tensor forward_merged_per_sample(const at::Tensor& x, const at::Tensor& weight,
                                     const std::optional<at::Tensor>& bias,
                                     const at::Tensor& lora_A, const at::Tensor& lora_B,
                                     const at::Tensor& ids, const ConvConfig& cfg,
                                     double scaling) {
  const int64_t n = x.size(0);
  const at::Tensor w_ps = per_sample_merged_weights(weight, lora_A, lora_B, ids, scaling);
  std::optional<at::Tensor> bias_ps;
  if (bias.has_value() && bias->defined()) bias_ps = bias->repeat({n});
  const at::Tensor y = conv(as_one_image(x), w_ps, bias_ps, per_sample_config(cfg, n));
  return y.reshape({n, weight.size(0), y.size(2), y.size(3)});
}

at::Tensor forward_merged_per_task(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias,
                                   const at::Tensor& lora_A, const at::Tensor& lora_B,
                                   const Segments& segments, const ConvConfig& cfg,
                                   double scaling) {
  at::Tensor y = at::empty(output_shape(x, weight, cfg), x.options());
  for (const TaskRun& run : segments.runs()) {
    const at::Tensor w_t = merged_weight(weight, lora_A, lora_B, scaling, run.task);
    segments.put_rows(y, run, conv(segments.rows(x, run), w_t, bias, cfg));
  }
  return y;
}

}  // namespace

namespace {

// The measured table's key of a call (strategy.h): direction is 0 for the forward, else
// 1 + the backward's output mask bits.
MeasureKey measure_key(int64_t direction, const Segments& segments, const at::Tensor& x,
                       const at::Tensor& weight, const ConvConfig& c) {
  MeasureKey key{direction, static_cast<int64_t>(x.scalar_type()), x.size(0), x.size(1),
                 x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3),
                 c.stride[0], c.stride[1], c.padding[0], c.padding[1], c.dilation[0],
                 c.dilation[1], c.groups, static_cast<int64_t>(segments.runs().size()),
                 segments.sorted() ? 1 : 0,
                 x.is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0};
  TORCH_INTERNAL_ASSERT(static_cast<int64_t>(key.size()) == kMeasureKeyLength);
  return key;
}

// The paths a measurement times: those that apply, within the memory cap.
std::vector<ConvPath> candidate_paths(const Segments& segments, const at::Tensor& x,
                                      const at::Tensor& weight, const at::Tensor& lora_A,
                                      const ConvConfig& c) {
  const ConvShape shape = conv_shape(segments, x, weight, lora_A, c);
  return keep_within_memory_cap(applicable_paths(shape), shape);
}

at::Tensor forward_with(ConvPath path, const at::Tensor& x, const at::Tensor& weight,
                        const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                        const at::Tensor& lora_B, const at::Tensor& ids, const Segments& segments,
                        const ConvConfig& cfg, double scaling) {
  switch (path) {
    case ConvPath::kSplit:
      return forward_split(x, weight, bias, lora_A, lora_B, ids, cfg, scaling);
    case ConvPath::kMergedPerSample:
      return forward_merged_per_sample(x, weight, bias, lora_A, lora_B, ids, cfg, scaling);
    case ConvPath::kStackedSplit:
      return forward_stacked_split(x, weight, bias, lora_A, lora_B, ids, cfg, scaling);
    case ConvPath::kMergedPerTask:
      break;
  }
  return forward_merged_per_task(x, weight, bias, lora_A, lora_B, segments, cfg, scaling);
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
  const at::Tensor ids = task_ids.contiguous();
  const std::function<at::Tensor(ConvPath)> run = [&](ConvPath path) {
    return forward_with(path, x, weight, bias, lora_A, lora_B, ids, segments, cfg, scaling);
  };
  if (!conv_measuring()) return run(choose(segments, x, weight, lora_A, cfg));
  const MeasureKey key = measure_key(0, segments, x, weight, cfg);
  if (const auto known = measured_path(key)) return run(*known);
  auto [fastest, y] = time_candidates(candidate_paths(segments, x, weight, lora_A, cfg), run);
  record_measured_path(key, fastest);
  return y;
}

namespace {

// Gradients in the accumulation type `acc`, before the final cast; grad_x in the input dtype.
// A form sets the ones the mask asks for, allocating zeros only where it accumulates.
struct GradState {
  at::ScalarType acc;
  at::Tensor grad_x, grad_w, grad_A, grad_B;

  at::Tensor zeros_like(const at::Tensor& t) const {
    return at::zeros(t.sizes(), t.options().dtype(acc));
  }
};

// dA_t = s B_t^T G_t and dB_t = s G_t A_t^T for every task at once, from G (T, C_out, K).
void lora_grads_from_task_grads(const at::Tensor& G, const at::Tensor& lora_A,
                                const at::Tensor& lora_B, double scaling, bool need_A,
                                bool need_B, GradState& out) {
  const auto acc = G.scalar_type();
  if (need_B) out.grad_B = at::bmm(G, lora_A.to(acc).transpose(1, 2)).mul_(scaling);
  if (need_A) out.grad_A = at::bmm(lora_B.to(acc).transpose(1, 2), G).mul_(scaling);
}

// The plain layer's backward over the whole batch (both split forms): dX, and dW0 into grad_w.
void base_backward(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight,
                   const ConvConfig& cfg, bool need_x, bool need_w, GradState& out) {
  if (!(need_x || need_w)) return;
  auto [gx, gw, unused] = conv_backward(grad_out, x, weight, cfg, need_x, need_w);
  if (need_x) out.grad_x = gx.contiguous();
  if (need_w) out.grad_w = gw.reshape({weight.size(0), -1}).to(out.acc);
}

void backward_split(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight,
                    const at::Tensor& lora_A, const at::Tensor& lora_B, const at::Tensor& ids,
                    const ConvConfig& cfg, double scaling, std::array<bool, 5> mask,
                    GradState& out) {
  const auto [need_x, need_w, need_bias, need_A, need_B] = mask;
  const int64_t n = x.size(0), c_out = weight.size(0), rank = lora_A.size(1);
  const auto acc = out.acc;
  base_backward(grad_out, x, weight, cfg, need_x, need_w, out);
  if (!(need_x || need_A || need_B)) return;
  const at::Tensor shrink = per_sample_shrink(lora_A.index_select(0, ids), weight, cfg.groups);
  const at::Tensor b_ps = expand_all(lora_B.index_select(0, ids), cfg.groups);
  const at::Tensor gy3 = grad_out.reshape({n * cfg.groups, c_out / cfg.groups, -1});
  if (need_B) {   // dB[t_n] += s dY u^T per sample, summed per task
    const at::Tensor u = shrink_all(x, shrink, cfg, weight);
    const at::Tensor db_ps = at::bmm(gy3, u.transpose(1, 2)).reshape({n, c_out, rank});
    out.grad_B = out.zeros_like(lora_B).index_add_(0, ids, db_ps.to(acc), scaling);
  }
  if (need_x || need_A) {   // the shrink's gradient is s B^T dY; back through the shrink conv
    const at::Tensor v = at::bmm(b_ps.transpose(1, 2), gy3).mul_(scaling);   // (N*g, r, OHW)
    at::Tensor gx, g_shrink;
    if (shrink_is_gemm(weight, cfg)) {
      const at::Tensor a3 = shrink.reshape({n * cfg.groups, rank, -1});
      if (need_x && !strided(cfg)) {   // added straight into the base layer's dX
        at::Tensor gx3 = out.grad_x.view({n * cfg.groups, -1, v.size(2)});
        gx3.baddbmm_(a3.transpose(1, 2), v);
      } else if (need_x) {   // into the pixels the conv read, every stride-th one
        const auto out_hw = output_shape(x, weight, cfg);
        out.grad_x.slice(2, 0, x.size(2), cfg.stride[0])
            .slice(3, 0, x.size(3), cfg.stride[1])
            .add_(at::bmm(a3.transpose(1, 2), v).view({n, x.size(1), out_hw[2], out_hw[3]}));
      }
      if (need_A) g_shrink = at::bmm(v, pixels_by_group(x, cfg).transpose(1, 2));
    } else {
      const auto out_hw = output_shape(x, weight, cfg);
      const at::Tensor gu = v.reshape({1, n * cfg.groups * rank, out_hw[2], out_hw[3]});
      std::tie(gx, g_shrink, std::ignore) = conv_backward(
          gu, as_one_image(x), shrink, per_sample_config(cfg, n), need_x, need_A);
    }
    if (need_x && gx.defined()) out.grad_x.add_(gx.reshape(x.sizes()));
    if (need_A) {
      const at::Tensor by_group = g_shrink.reshape({n, cfg.groups, rank, -1});
      const at::Tensor da_ps = (cfg.groups == 1 ? by_group.select(1, 0) : by_group.sum(1)).to(acc);
      out.grad_A = out.zeros_like(lora_A).index_add_(0, ids, da_ps);
    }
  }
}

void backward_stacked_split(const at::Tensor& grad_out, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& lora_A,
                            const at::Tensor& lora_B, const at::Tensor& ids, const ConvConfig& cfg,
                            double scaling, std::array<bool, 5> mask, GradState& out) {
  const auto [need_x, need_w, need_bias, need_A, need_B] = mask;
  const int64_t n = x.size(0), c_out = weight.size(0), tasks = lora_A.size(0);
  const int64_t rank = lora_A.size(1);
  const auto acc = out.acc;
  base_backward(grad_out, x, weight, cfg, need_x, need_w, out);
  if (!(need_x || need_A || need_B)) return;
  const at::Tensor b_ps = lora_B.index_select(0, ids);                  // (N, C_out, r)
  const at::Tensor gy3 = grad_out.reshape({n, c_out, -1});
  if (need_B) {   // dB[t_n] += s dY u^T per sample, summed per task
    const at::Tensor u = stacked_shrink_own(x, lora_A, weight, ids, cfg);
    out.grad_B = out.zeros_like(lora_B).index_add_(0, ids,
                                                   at::bmm(gy3, u.transpose(1, 2)).to(acc),
                                                   scaling);
  }
  if (need_x || need_A) {   // s B^T dY into each sample's own channels, back through the shrink
    const at::Tensor v = at::bmm(b_ps.transpose(1, 2), gy3).mul_(scaling);   // (N, r, OHW)
    const int64_t values = v.size(1) * v.size(2);
    const at::Tensor v_all =
        at::zeros({n, tasks, values}, v.options())
            .scatter_(1, own_channels_index(ids, values), v.view({n, 1, values}))
            .view({n, tasks * rank, grad_out.size(2), grad_out.size(3)});
    auto [gx, ga, unused] = conv_backward(v_all, x, stacked_shrink_weight(lora_A, weight), cfg,
                                          need_x, need_A);
    if (need_x) out.grad_x.add_(gx);
    if (need_A) out.grad_A = ga.reshape(lora_A.sizes()).to(acc);
  }
}

// G (T, C_out, K) in the accumulation type from per-sample weight gradients (N, C_out, K).
at::Tensor task_grads_from_samples(const at::Tensor& g_ps, const at::Tensor& ids,
                                   int64_t num_tasks) {
  at::Tensor G = at::zeros({num_tasks, g_ps.size(1), g_ps.size(2)}, g_ps.options());
  return G.index_add_(0, ids, g_ps);
}

// Every gradient the mask asks for, by `path`, in the accumulation type (grad_x in the input's).
GradState backward_with(ConvPath path, const at::Tensor& grad_out, const at::Tensor& x,
                        const at::Tensor& weight, const at::Tensor& lora_A,
                        const at::Tensor& lora_B, const at::Tensor& ids,
                        const Segments& segments, const ConvConfig& cfg, double scaling,
                        std::array<bool, 5> output_mask) {
  const auto [need_x, need_w, need_bias, need_A, need_B] = output_mask;
  const auto acc = accumulate_type(x.scalar_type());
  const int64_t c_out = weight.size(0), num_tasks = lora_A.size(0), n = x.size(0);
  GradState out{acc};
  const bool need_g = need_w || need_A || need_B;

  if (path == ConvPath::kSplit) {
    backward_split(grad_out, x, weight, lora_A, lora_B, ids, cfg, scaling, output_mask, out);
  } else if (path == ConvPath::kStackedSplit) {
    backward_stacked_split(grad_out, x, weight, lora_A, lora_B, ids, cfg, scaling, output_mask,
                           out);
  } else if (path == ConvPath::kMergedPerSample) {
    const at::Tensor w_ps = per_sample_merged_weights(weight, lora_A, lora_B, ids, scaling);
    auto [gx, g_ps, unused] = conv_backward(as_one_image(grad_out), as_one_image(x), w_ps,
                                            per_sample_config(cfg, n), need_x, need_g);
    if (need_x) out.grad_x = gx.reshape(x.sizes()).contiguous();
    if (need_g) {
      const at::Tensor G = task_grads_from_samples(g_ps.reshape({n, c_out, -1}).to(acc), ids,
                                                   num_tasks);
      out.grad_w = G.sum(0);
      lora_grads_from_task_grads(G, lora_A, lora_B, scaling, need_A, need_B, out);
    }
  } else {
    // Every row of grad_x is written below (the runs cover the batch); absent tasks' rows of
    // grad_A and grad_B stay zero.
    if (need_x) out.grad_x = at::empty(x.sizes(), x.options());
    if (need_g) {
      out.grad_w = at::zeros({c_out, lora_A.size(2)}, x.options().dtype(acc));
      out.grad_A = out.zeros_like(lora_A);
      out.grad_B = out.zeros_like(lora_B);
    }
    for (const TaskRun& run : segments.runs()) {
      const at::Tensor w_t = merged_weight(weight, lora_A, lora_B, scaling, run.task);
      auto [gx_t, g_t, unused] = conv_backward(segments.rows(grad_out, run),
                                               segments.rows(x, run), w_t, cfg, need_x, need_g);
      if (need_x) segments.put_rows(out.grad_x, run, gx_t);
      if (!need_g) continue;
      const at::Tensor g = g_t.reshape({c_out, -1}).to(acc);
      out.grad_w.add_(g);
      if (need_B) out.grad_B[run.task].copy_(g.mm(lora_A[run.task].to(acc).t()).mul_(scaling));
      if (need_A) out.grad_A[run.task].copy_(lora_B[run.task].to(acc).t().mm(g).mul_(scaling));
    }
  }
  return out;
}

}  // namespace

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
  const Segments segments(task_ids, lora_A.size(0));
  const at::Tensor ids = task_ids.contiguous();
  const std::function<GradState(ConvPath)> run = [&](ConvPath path) {
    return backward_with(path, grad_out, x, weight, lora_A, lora_B, ids, segments, cfg, scaling,
                         output_mask);
  };

  GradState out;
  if (x.size(0) == 0 || !conv_measuring()) {
    out = run(x.size(0) > 0 ? choose(segments, x, weight, lora_A, cfg)
                            : ConvPath::kMergedPerTask);
  } else {
    int64_t direction = 1;
    for (size_t i = 0; i < output_mask.size(); ++i) direction += int64_t{output_mask[i]} << (i + 1);
    const MeasureKey key = measure_key(direction, segments, x, weight, cfg);
    if (const auto known = measured_path(key)) {
      out = run(*known);
    } else {
      auto [fastest, grads] = time_candidates(candidate_paths(segments, x, weight, lora_A, cfg), run);
      record_measured_path(key, fastest);
      out = std::move(grads);
    }
  }

  const at::Tensor none = at::empty({0}, x.options());
  return {need_x ? out.grad_x : none,
          need_w ? out.grad_w.reshape(weight.sizes()).to(dtype) : none,
          need_bias ? grad_out.sum({0, 2, 3}, false, acc).to(dtype) : none,
          need_A ? out.grad_A.to(dtype) : none,
          need_B ? out.grad_B.to(dtype) : none};
}

}  // namespace lorkd::cpu
