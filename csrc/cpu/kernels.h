// CPU kernels of the lorkd ops (schemas in csrc/schema.cpp, registration in register.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>

namespace lorkd::cpu {

using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

#include "../eks_kernels.inc"

// Reductions over samples accumulate in float32 (float64 for float64 inputs).
inline at::ScalarType accumulate_type(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace lorkd::cpu
