// Schemas of the lorkd ops. The Python package defines the same strings (lorkd_kernels/ops.py)
// when this library is not loaded; tests/test_ops.py checks that both agree.
#include <torch/library.h>

TORCH_LIBRARY(lorkd, m) {
  m.def(
      "eks_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
      "Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, int groups, "
      "float scaling) -> Tensor");
  m.def(
      "eks_conv2d_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
      "Tensor lora_B, Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, float scaling, bool[5] output_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "eks_linear(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
      "Tensor task_ids, float scaling) -> Tensor");
  m.def(
      "eks_linear_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
      "Tensor lora_B, Tensor task_ids, float scaling, bool[5] output_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}
