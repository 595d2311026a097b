// The CUDA kernels of csrc/kernels run on CPU tensors by the emulation harness (harness.h).
// Same signatures as the CPU kernels (csrc/cpu/kernels.h, declared by csrc/eks_kernels.inc).
#pragma once

#include <array>
#include <optional>

#include "../common/types.h"

namespace lorkd::emu {

using lorkd::Grads;

#include "../eks_kernels.inc"

}  // namespace lorkd::emu
