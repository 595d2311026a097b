// The lorkd op schemas, shared by their definition (schema.cpp) and the emulation test ops
// (register.cpp). lorkd_kernels/ops.py holds the same strings; tests/test_ops.py checks them.
#pragma once

namespace lorkd::schemas {

inline constexpr const char* kEksConv2d =
    "eks_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
    "Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, int groups, "
    "float scaling) -> Tensor";
inline constexpr const char* kEksConv2dBackward =
    "eks_conv2d_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
    "Tensor lora_B, Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, "
    "int groups, float scaling, bool[5] output_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)";
inline constexpr const char* kEksLinear =
    "eks_linear(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
    "Tensor task_ids, float scaling) -> Tensor";
inline constexpr const char* kEksLinearBackward =
    "eks_linear_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
    "Tensor lora_B, Tensor task_ids, float scaling, bool[5] output_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)";

}  // namespace lorkd::schemas
