// Registers the CUDA kernels (eks_ops.cu) as the cuda backend's private ops (lorkd::_cuda_*) for
// the CUDA dispatch key. Compiled only when torch has CUDA and a toolkit is found; whether the
// public ops run these or another backend on CUDA tensors is decided by the route table
// (csrc/register.cpp, set from lorkd_kernels/backends).
#include <torch/library.h>

#include "kernels.h"

TORCH_LIBRARY_IMPL(lorkd, CUDA, m) {
  m.impl("_cuda_eks_conv2d", &lorkd::cuda::eks_conv2d_forward);
  m.impl("_cuda_eks_conv2d_backward", &lorkd::cuda::eks_conv2d_backward);
  m.impl("_cuda_eks_linear", &lorkd::cuda::eks_linear_forward);
  m.impl("_cuda_eks_linear_backward", &lorkd::cuda::eks_linear_backward);
}
