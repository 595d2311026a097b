// CPU kernels of the lorkd ops (schemas in csrc/schema.cpp, registration in register.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>

#include "../common/types.h"

namespace lorkd::cpu {

#include "../eks_kernels.inc"

}  // namespace lorkd::cpu
