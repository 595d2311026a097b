// The CUDA kernels of csrc/kernels run on CPU tensors by the emulation harness (harness.h).
// Same signatures as the CPU kernels (csrc/cpu/kernels.h).
#pragma once

#include "../cpu/kernels.h"

namespace lorkd::emu {

using lorkd::cpu::Grads;

#include "../eks_kernels.inc"

}  // namespace lorkd::emu
