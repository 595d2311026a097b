// The signatures of the four lorkd ops as C++ function types, for typed dispatcher handles
// (declared only, never defined): decltype(signatures::eks_conv2d_forward) and so on.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>

#include "types.h"

namespace lorkd::signatures {
#include "../eks_kernels.inc"
}  // namespace lorkd::signatures
