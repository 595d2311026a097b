// EKS linear layer on CPU in the split form, with a fixed number of calls whatever the task mix:
// the base GEMM once over the whole batch plus the rank-r branch s * (x A_t^T) B_t^T, in one of
// two exact forms:
//   stacked:    every task's A stacked into one (T*r, in) matrix and B into one (out, T*r):
//               the branch is plain GEMMs over all rows, with each row's u masked to its own
//               task's r columns; T*r/out of the base GEMM's work, no per-sample copies.
//   per sample: each sample's A and B gathered (N r (in + out) extra values), the branch as
//               batched GEMMs; less work when T*r is large against `out` (one expert per
//               sample), but the gathered A costs N r in values of memory.
// On the students' classifiers both forms run at the same speed; the stacked one peaks at 1.3x
// the plain layer's memory against 4.5x (benchmarks/README.md).
// Gradients of A and B are summed per task (stacked: by the masked GEMMs; per sample: by
// index_add).
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/zeros.h>

#include "../common/checks.h"
#include "kernels.h"
#include "../common/segments.h"

namespace lorkd::cpu {

namespace {

// The stacked form's extra work is T*r/out of the base GEMM's: taken while that is at most one
// more base GEMM, so one expert per sample (T*r >> out) keeps the per-sample form.
bool use_stacked(const at::Tensor& lora_A, int64_t out_features) {
  return lora_A.size(0) * lora_A.size(1) <= out_features;
}

// The stacked form's operands in the accumulation type: A as (T*r, in), B as (out, T*r), and the
// mask that keeps each row's own task's r columns of u = x A^T.
struct Stacked {
  at::Tensor a, b, mask;

  Stacked(const at::Tensor& lora_A, const at::Tensor& lora_B, const at::Tensor& ids,
          int64_t rows_per_sample, at::ScalarType acc) {
    const int64_t tasks = lora_A.size(0), rank = lora_A.size(1);
    a = lora_A.to(acc).reshape({tasks * rank, lora_A.size(2)});
    b = lora_B.to(acc).permute({1, 0, 2}).reshape({lora_B.size(1), tasks * rank});
    const int64_t n = ids.size(0);
    const at::Tensor one_hot = at::zeros({n, 1, tasks, 1}, a.options())
                                   .scatter_(2, ids.view({n, 1, 1, 1}), 1.0);
    mask = one_hot.expand({n, rows_per_sample, tasks, rank})
               .reshape({n * rows_per_sample, tasks * rank});
  }

  // u = x A^T with each row's other tasks' columns zeroed: (rows, T*r)
  at::Tensor shrink(const at::Tensor& x2) const { return x2.mm(a.t()).mul_(mask); }
};

}  // namespace


at::Tensor eks_linear_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              double scaling) {
  check_linear(x, weight, bias, lora_A, lora_B, task_ids);
  check_task_id_range(task_ids, lora_A.size(0));
  const int64_t n = x.size(0), in_f = weight.size(1), out_f = weight.size(0);
  if (x.numel() == 0 || out_f == 0) return at::empty(linear_output_shape(x, weight), x.options());
  const auto dtype = x.scalar_type();
  const auto acc = accumulate_type(dtype);
  const at::Tensor ids = task_ids.contiguous();
  const at::Tensor x3 = x.reshape({n, linear_positions(x), in_f});
  if (use_stacked(lora_A, out_f)) {
    const Stacked st(lora_A, lora_B, ids, x3.size(1), acc);
    const at::Tensor x2 = x3.reshape({-1, in_f}).to(acc);
    at::Tensor y2 = at::linear(x3, weight, bias).to(acc).reshape({-1, out_f}).contiguous();
    y2.addmm_(st.shrink(x2), st.b.t(), 1.0, scaling);
    return y2.to(dtype).view(linear_output_shape(x, weight));
  }
  const at::Tensor a_ps = lora_A.index_select(0, ids).to(acc);   // (N, r, in)
  const at::Tensor b_ps = lora_B.index_select(0, ids).to(acc);   // (N, out, r)
  const at::Tensor u = at::bmm(x3.to(acc), a_ps.transpose(1, 2));   // (N, L, r), fp32
  at::Tensor y3 = at::linear(x3, weight, bias).to(acc).contiguous();
  y3.baddbmm_(u, b_ps.transpose(1, 2), 1.0, scaling);
  return y3.to(dtype).view(linear_output_shape(x, weight));
}

Grads eks_linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling,
                          std::array<bool, 5> output_mask) {
  check_linear(x, weight, std::nullopt, lora_A, lora_B, task_ids);
  check_grad_out(grad_out, linear_output_shape(x, weight), x);
  check_task_id_range(task_ids, lora_A.size(0));
  const auto [need_x, need_w, need_bias, need_A, need_B] = output_mask;
  const auto dtype = x.scalar_type();
  const auto acc = accumulate_type(dtype);
  const int64_t n = x.size(0), in_f = weight.size(1), out_f = weight.size(0);
  const int64_t rows_per_sample = linear_positions(x);
  const at::Tensor ids = task_ids.contiguous();
  const at::Tensor x3 = x.reshape({n, rows_per_sample, in_f}).to(acc);
  const at::Tensor gy3 = grad_out.reshape({n, rows_per_sample, out_f}).to(acc);

  at::Tensor grad_x = need_x ? gy3.matmul(weight.to(acc)).contiguous() : at::Tensor();
  at::Tensor grad_A, grad_B;   // set below where asked for
  if ((need_x || need_A || need_B) && use_stacked(lora_A, out_f)) {
    const Stacked st(lora_A, lora_B, ids, rows_per_sample, acc);
    const at::Tensor x2 = x3.reshape({-1, in_f}), gy2 = gy3.reshape({-1, out_f});
    const at::Tensor gu = gy2.mm(st.b).mul_(st.mask).mul_(scaling);   // d/du, (rows, T*r)
    if (need_x) grad_x.view({-1, in_f}).addmm_(gu, st.a);
    if (need_A) grad_A = gu.t().mm(x2).view(lora_A.sizes());
    if (need_B) {
      grad_B = gy2.t().mm(st.shrink(x2)).mul_(scaling)
                   .view({out_f, lora_A.size(0), lora_A.size(1)}).permute({1, 0, 2})
                   .contiguous();   // the op's contract (and its fake kernel): dense gradients
    }
  } else if (need_x || need_A || need_B) {
    const at::Tensor a_ps = lora_A.index_select(0, ids).to(acc);   // (N, r, in)
    const at::Tensor b_ps = lora_B.index_select(0, ids).to(acc);   // (N, out, r)
    const at::Tensor gu = at::bmm(gy3, b_ps).mul_(scaling);       // (N, L, r): d/du
    if (need_x) grad_x.baddbmm_(gu, a_ps);
    if (need_A) {
      grad_A = at::zeros(lora_A.sizes(), x.options().dtype(acc))
                   .index_add_(0, ids, at::bmm(gu.transpose(1, 2), x3));
    }
    if (need_B) {
      const at::Tensor u = at::bmm(x3, a_ps.transpose(1, 2));     // (N, L, r)
      grad_B = at::zeros(lora_B.sizes(), x.options().dtype(acc))
                   .index_add_(0, ids, at::bmm(gy3.transpose(1, 2), u), scaling);
    }
  }

  const at::Tensor none = at::empty({0}, x.options());
  const at::Tensor gy2 = gy3.reshape({-1, out_f});
  return {need_x ? grad_x.view(x.sizes()).to(dtype) : none,
          need_w ? gy2.t().mm(x3.reshape({-1, in_f})).to(dtype) : none,
          need_bias ? gy2.sum(0).to(dtype) : none,
          need_A ? grad_A.to(dtype) : none,
          need_B ? grad_B.to(dtype) : none};
}

}  // namespace lorkd::cpu
