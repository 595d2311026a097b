// Types every implementation of the lorkd ops shares (CPU, CUDA, emulated CUDA, autograd).
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

namespace lorkd {

// (grad_x, grad_weight, grad_bias, grad_lora_A, grad_lora_B) of a backward op; an entry the
// output mask did not ask for is an empty (0,) tensor.
using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// Reductions over samples accumulate in float32 (float64 for float64 inputs).
inline at::ScalarType accumulate_type(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace lorkd
