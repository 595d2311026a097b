// Registers the CPU kernels for the lorkd ops.
#include <torch/library.h>

#include "kernels.h"
#include "strategy.h"

TORCH_LIBRARY_IMPL(lorkd, CPU, m) {
  m.impl("eks_conv2d", &lorkd::cpu::eks_conv2d_forward);
  m.impl("eks_conv2d_backward", &lorkd::cpu::eks_conv2d_backward);
  m.impl("eks_linear", &lorkd::cpu::eks_linear_forward);
  m.impl("eks_linear_backward", &lorkd::cpu::eks_linear_backward);
}

// Test and benchmark hook: force the conv strategy (0 auto, 1 merged, 2 split); returns the
// previous setting. Use lorkd_kernels.backends.conv_strategy() rather than calling it directly.
TORCH_LIBRARY_FRAGMENT(lorkd, m) {
  m.def("_set_cpu_conv_strategy(int strategy) -> int", &lorkd::cpu::set_conv_strategy);
}
