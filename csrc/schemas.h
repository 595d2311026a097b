// The lorkd op schemas, shared by their definition (schema.cpp) and the per-backend private ops.
// lorkd_kernels/ops.py holds the same strings; tests/test_ops.py checks them.
#pragma once

#include <string>

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

inline constexpr const char* kAll[] = {kEksConv2d, kEksConv2dBackward, kEksLinear,
                                       kEksLinearBackward};

// The backends whose kernels this library holds. Each has private ops with the public schemas
// under the name _<backend>_<op> (e.g. lorkd::_cpu_eks_conv2d), so every backend can be called
// explicitly in one process; lorkd_kernels/backends/registry.py lists every backend.
inline constexpr const char* kCompiledBackends[] = {"cpu", "cuda", "cuda_emu"};

// "_<backend>_<schema>"
inline std::string private_schema(const char* backend, const char* schema) {
  return std::string("_") + backend + "_" + schema;
}

}  // namespace lorkd::schemas
