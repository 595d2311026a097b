// EKS linear layer on CPU, always in the split form: the base GEMM runs once over the whole
// batch, and each task adds s * (x_t A_t^T) B_t^T, which costs r * (in + out) per row instead of
// forming an out x in merged weight per task.
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/zeros.h>

#include "checks.h"
#include "kernels.h"
#include "segments.h"

namespace lorkd::cpu {

namespace {

// Rows per sample of an (N, ..., features) input (explicit, so N = 0 reshapes too).
int64_t positions(const at::Tensor& x) {
  int64_t count = 1;
  for (int64_t d = 1; d + 1 < x.dim(); ++d) count *= x.size(d);
  return count;
}

std::vector<int64_t> output_shape(const at::Tensor& x, const at::Tensor& weight) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = weight.size(0);
  return shape;
}

}  // namespace

at::Tensor eks_linear_forward(const at::Tensor& x, const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                              const at::Tensor& lora_B, const at::Tensor& task_ids,
                              double scaling) {
  check_linear(x, weight, bias, lora_A, lora_B, task_ids);
  const Segments segments(task_ids, lora_A.size(0));
  const int64_t n = x.size(0), in_f = weight.size(1), out_f = weight.size(0);
  at::Tensor y = at::empty(output_shape(x, weight), x.options());
  if (y.numel() == 0) return y;
  const auto acc = accumulate_type(x.scalar_type());
  const int64_t rows_per_sample = positions(x);
  const at::Tensor x3 = x.reshape({n, rows_per_sample, in_f});
  at::Tensor y3 = y.view({n, rows_per_sample, out_f});
  y3.copy_(at::linear(x3, weight, bias));
  for (const TaskRun& run : segments.runs()) {
    const at::Tensor x_t = segments.rows(x3, run).reshape({-1, in_f}).to(acc);
    const at::Tensor update = x_t.mm(lora_A[run.task].to(acc).t())
                                  .mm(lora_B[run.task].to(acc).t())
                                  .mul_(scaling)
                                  .view({run.length, rows_per_sample, out_f});
    const at::Tensor y_t = segments.rows(y3, run).to(acc).add(update);
    segments.put_rows(y3, run, y_t.to(x.scalar_type()));
  }
  return y;
}

Grads eks_linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                          const at::Tensor& weight, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling,
                          std::array<bool, 5> output_mask) {
  check_linear(x, weight, std::nullopt, lora_A, lora_B, task_ids);
  check_grad_out(grad_out, output_shape(x, weight), x);
  const auto [need_x, need_w, need_bias, need_A, need_B] = output_mask;
  const Segments segments(task_ids, lora_A.size(0));
  const auto dtype = x.scalar_type();
  const auto acc = accumulate_type(dtype);
  const int64_t n = x.size(0), in_f = weight.size(1), out_f = weight.size(0);
  const int64_t rows_per_sample = positions(x);
  const at::Tensor x3 = x.reshape({n, rows_per_sample, in_f}).to(acc);
  const at::Tensor gy3 = grad_out.reshape({n, rows_per_sample, out_f}).to(acc);

  at::Tensor grad_x = need_x ? gy3.matmul(weight.to(acc)) : at::Tensor();
  at::Tensor grad_A = at::zeros(lora_A.sizes(), x.options().dtype(acc));
  at::Tensor grad_B = at::zeros(lora_B.sizes(), x.options().dtype(acc));
  for (const TaskRun& run : segments.runs()) {
    const at::Tensor x_t = segments.rows(x3, run).reshape({-1, in_f});
    const at::Tensor gy_t = segments.rows(gy3, run).reshape({-1, out_f});
    const at::Tensor a_t = lora_A[run.task].to(acc), b_t = lora_B[run.task].to(acc);
    const at::Tensor gu = gy_t.mm(b_t).mul_(scaling);   // (rows, r)
    if (need_x) {
      segments.add_rows(grad_x, run, gu.mm(a_t).view({run.length, rows_per_sample, in_f}));
    }
    if (need_A) grad_A[run.task].copy_(gu.t().mm(x_t));
    if (need_B) grad_B[run.task].copy_(gy_t.t().mm(x_t.mm(a_t.t())).mul_(scaling));
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
