// Registers the CUDA kernels (eks_ops.cu) for the CUDA dispatch key. Compiled only when torch has
// CUDA and a toolkit is found; which of these or the Triton kernels serve CUDA tensors is decided
// in lorkd_kernels/backends (LORKD_BACKEND=cuda forces these).
#include <torch/library.h>

#include "kernels.h"

TORCH_LIBRARY_IMPL(lorkd, CUDA, m) {
  m.impl("eks_conv2d", &lorkd::cuda::eks_conv2d_forward);
  m.impl("eks_conv2d_backward", &lorkd::cuda::eks_conv2d_backward);
  m.impl("eks_linear", &lorkd::cuda::eks_linear_forward);
  m.impl("eks_linear_backward", &lorkd::cuda::eks_linear_backward);
}
