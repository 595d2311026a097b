// The CUDA kernels of csrc/kernels, launched on the GPU (eks_ops.cu).
// Same signatures as the CPU kernels (csrc/cpu/kernels.h).
#pragma once

#include "../cpu/kernels.h"

namespace lorkd::cuda {

using lorkd::cpu::Grads;

#include "../eks_kernels.inc"

}  // namespace lorkd::cuda
