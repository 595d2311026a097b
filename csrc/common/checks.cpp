#include "checks.h"

#include <c10/util/Exception.h>

#include <string>

namespace lorkd {

namespace {

// dtype as Python spells it, so messages read the same from both sides ("torch.float32").
std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return "torch.float16";
    case at::kBFloat16: return "torch.bfloat16";
    case at::kFloat: return "torch.float32";
    case at::kDouble: return "torch.float64";
    case at::kLong: return "torch.int64";
    case at::kInt: return "torch.int32";
    case at::kShort: return "torch.int16";
    case at::kChar: return "torch.int8";
    case at::kByte: return "torch.uint8";
    case at::kBool: return "torch.bool";
    default: return std::string("torch.") + c10::toString(t);
  }
}

bool is_float(at::ScalarType t) {
  return t == at::kHalf || t == at::kBFloat16 || t == at::kFloat || t == at::kDouble;
}

void check_same(const at::Tensor& t, const char* name, const at::Tensor& x) {
  TORCH_CHECK_TYPE(t.scalar_type() == x.scalar_type(), name, " has dtype ",
                   dtype_name(t.scalar_type()), " but x has dtype ", dtype_name(x.scalar_type()),
                   "; they must match");
  TORCH_CHECK_VALUE(t.device() == x.device(), name, " is on ", t.device(), " but x is on ",
                    x.device());
}

}  // namespace

void check_common(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                  const at::Tensor& lora_B, const at::Tensor& task_ids, int64_t out_dim,
                  int64_t k_dim) {
  TORCH_CHECK_TYPE(is_float(x.scalar_type()),
                   "x must be a floating tensor (float16, bfloat16, float32, float64), got ",
                   dtype_name(x.scalar_type()));
  check_same(weight, "weight", x);
  if (bias.has_value()) {
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == out_dim, "bias must have shape (",
                      out_dim, ",), got ", bias->sizes());
    check_same(*bias, "bias", x);
  }
  TORCH_CHECK_TYPE(task_ids.scalar_type() == at::kLong,
                   "task_ids must be an int64 tensor, got dtype ",
                   dtype_name(task_ids.scalar_type()));
  TORCH_CHECK_VALUE(task_ids.dim() == 1, "task_ids must be 1-D (batch,), got shape ",
                    task_ids.sizes());
  TORCH_CHECK_VALUE(task_ids.size(0) == x.size(0), "task_ids has ", task_ids.size(0),
                    " entries but the batch has ", x.size(0), " samples");
  TORCH_CHECK_VALUE(task_ids.device() == x.device(), "task_ids is on ", task_ids.device(),
                    " but x is on ", x.device());
  TORCH_CHECK_VALUE(lora_A.dim() == 3, "lora_A must be 3-D (num_tasks, rank, K), got shape ",
                    lora_A.sizes());
  TORCH_CHECK_VALUE(lora_B.dim() == 3, "lora_B must be 3-D (num_tasks, out, rank), got shape ",
                    lora_B.sizes());
  const int64_t num_tasks = lora_A.size(0), rank = lora_A.size(1);
  TORCH_CHECK_VALUE(num_tasks >= 1, "lora_A must hold at least one task");
  TORCH_CHECK_VALUE(lora_A.size(2) == k_dim, "lora_A has ", lora_A.size(2),
                    " columns but the weight has K = ", k_dim);
  TORCH_CHECK_VALUE(lora_B.size(0) == num_tasks && lora_B.size(1) == out_dim &&
                        lora_B.size(2) == rank,
                    "lora_B must have shape (", num_tasks, ", ", out_dim, ", ", rank,
                    ") to match lora_A and the weight, got ", lora_B.sizes());
  check_same(lora_A, "lora_A", x);
  check_same(lora_B, "lora_B", x);
}

void check_conv2d(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                  const at::Tensor& lora_B, const at::Tensor& task_ids, at::IntArrayRef stride,
                  at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  TORCH_CHECK_VALUE(x.dim() == 4, "x must be 4-D (N, C_in, H, W), got shape ", x.sizes());
  TORCH_CHECK_VALUE(weight.dim() == 4,
                    "weight must be 4-D (C_out, C_in/groups, kh, kw), got shape ",
                    weight.sizes());
  TORCH_CHECK_VALUE(groups >= 1, "groups must be >= 1, got ", groups);
  TORCH_CHECK_VALUE(x.size(1) == weight.size(1) * groups, "x has ", x.size(1),
                    " channels but weight expects ", weight.size(1) * groups,
                    " (C_in/groups = ", weight.size(1), ", groups = ", groups, ")");
  TORCH_CHECK_VALUE(weight.size(0) % groups == 0, "out channels (", weight.size(0),
                    ") must be divisible by groups (", groups, ")");
  TORCH_CHECK_VALUE(stride.size() == 2 && stride[0] >= 1 && stride[1] >= 1,
                    "stride must be two integers >= 1, got ", stride);
  TORCH_CHECK_VALUE(padding.size() == 2 && padding[0] >= 0 && padding[1] >= 0,
                    "padding must be two integers >= 0, got ", padding);
  TORCH_CHECK_VALUE(dilation.size() == 2 && dilation[0] >= 1 && dilation[1] >= 1,
                    "dilation must be two integers >= 1, got ", dilation);
  for (int d = 0; d < 2; ++d) {
    const int64_t span = dilation[d] * (weight.size(2 + d) - 1) + 1;
    TORCH_CHECK_VALUE(x.size(2 + d) + 2 * padding[d] >= span, "x spatial size ",
                      x.sizes().slice(2), " (padded by ", padding,
                      ") is smaller than the dilated kernel (", span, " along dim ", d + 2, ")");
  }
  check_common(x, weight, bias, lora_A, lora_B, task_ids, weight.size(0),
               weight.size(1) * weight.size(2) * weight.size(3));
}

void check_linear(const at::Tensor& x, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                  const at::Tensor& lora_B, const at::Tensor& task_ids) {
  TORCH_CHECK_VALUE(x.dim() >= 2, "x must be at least 2-D (N, ..., in_features), got shape ",
                    x.sizes());
  TORCH_CHECK_VALUE(weight.dim() == 2,
                    "weight must be 2-D (out_features, in_features), got shape ", weight.sizes());
  TORCH_CHECK_VALUE(x.size(-1) == weight.size(1), "x has ", x.size(-1),
                    " features in its last dim but weight expects ", weight.size(1));
  check_common(x, weight, bias, lora_A, lora_B, task_ids, weight.size(0), weight.size(1));
}

std::vector<int64_t> conv2d_output_shape(const at::Tensor& x, const at::Tensor& weight,
                                         at::IntArrayRef stride, at::IntArrayRef padding,
                                         at::IntArrayRef dilation) {
  std::vector<int64_t> shape{x.size(0), weight.size(0)};
  for (int d = 0; d < 2; ++d) {
    const int64_t span = dilation[d] * (weight.size(2 + d) - 1) + 1;
    shape.push_back((x.size(2 + d) + 2 * padding[d] - span) / stride[d] + 1);
  }
  return shape;
}

int64_t linear_positions(const at::Tensor& x) {
  int64_t count = 1;   // explicit, so N = 0 reshapes too
  for (int64_t d = 1; d + 1 < x.dim(); ++d) count *= x.size(d);
  return count;
}

std::vector<int64_t> linear_output_shape(const at::Tensor& x, const at::Tensor& weight) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = weight.size(0);
  return shape;
}

void check_grad_out(const at::Tensor& grad_out, at::IntArrayRef expected_shape,
                    const at::Tensor& x) {
  TORCH_CHECK_VALUE(grad_out.sizes() == expected_shape, "grad_out has shape ", grad_out.sizes(),
                    " but the forward output has shape ", expected_shape);
  check_same(grad_out, "grad_out", x);
}

}  // namespace lorkd
