// Registers the CPU kernels for the lorkd ops.
#include <torch/library.h>

#include "kernels.h"

TORCH_LIBRARY_IMPL(lorkd, CPU, m) {
  m.impl("eks_conv2d", &lorkd::cpu::eks_conv2d_forward);
  m.impl("eks_conv2d_backward", &lorkd::cpu::eks_conv2d_backward);
  m.impl("eks_linear", &lorkd::cpu::eks_linear_forward);
  m.impl("eks_linear_backward", &lorkd::cpu::eks_linear_backward);
}
