// The CUDA kernels of csrc/kernels, launched on the GPU (eks_ops.cu).
// Same signatures as the CPU kernels (csrc/cpu/kernels.h, declared by csrc/eks_kernels.inc).
#pragma once

#include <array>
#include <optional>

#include "../common/types.h"

namespace lorkd::cuda {

using lorkd::Grads;

#include "../eks_kernels.inc"

}  // namespace lorkd::cuda
