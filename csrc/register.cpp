// Registers the CPU kernels of the lorkd ops: the native ones (csrc/cpu) or, when routed there
// with _set_cpu_kernels("cuda_emu") (LORKD_BACKEND=cuda_emu), the CUDA kernels of csrc/kernels
// run by the emulation harness (csrc/emu). The emulated kernels are also always reachable as
// lorkd::_emu_* ops, so tests can compare them with the reference in any process.
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <atomic>
#include <string>

#include "cpu/kernels.h"
#include "cpu/strategy.h"
#include "emu/kernels.h"
#include "schemas.h"

namespace lorkd {

namespace {

std::atomic<bool> cpu_runs_emulation{false};

// The ops take their inputs already cast (lorkd_kernels.ops follows torch.autocast); the ATen
// calls inside the native kernels must not be cast again op by op, which would mix fp32
// accumulators with half-precision operands.
using NoAutocast = c10::impl::ExcludeDispatchKeyGuard;

at::Tensor conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                          const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, int64_t groups, double scaling) {
  const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
  auto* kernel = cpu_runs_emulation ? &emu::eks_conv2d_forward : &cpu::eks_conv2d_forward;
  return kernel(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                scaling);
}

cpu::Grads conv2d_backward(const at::Tensor& grad_out, const at::Tensor& x,
                           const at::Tensor& weight, const at::Tensor& lora_A,
                           const at::Tensor& lora_B, const at::Tensor& task_ids,
                           at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, int64_t groups, double scaling,
                           std::array<bool, 5> output_mask) {
  const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
  auto* kernel = cpu_runs_emulation ? &emu::eks_conv2d_backward : &cpu::eks_conv2d_backward;
  return kernel(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                scaling, output_mask);
}

at::Tensor linear_forward(const at::Tensor& x, const at::Tensor& weight,
                          const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                          const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling) {
  const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
  auto* kernel = cpu_runs_emulation ? &emu::eks_linear_forward : &cpu::eks_linear_forward;
  return kernel(x, weight, bias, lora_A, lora_B, task_ids, scaling);
}

cpu::Grads linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                           const at::Tensor& weight, const at::Tensor& lora_A,
                           const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling,
                           std::array<bool, 5> output_mask) {
  const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
  auto* kernel = cpu_runs_emulation ? &emu::eks_linear_backward : &cpu::eks_linear_backward;
  return kernel(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask);
}

// "native" or "cuda_emu"; returns the previous setting.
std::string set_cpu_kernels(const std::string& name) {
  TORCH_CHECK_VALUE(name == "native" || name == "cuda_emu",
                    "CPU kernels must be 'native' or 'cuda_emu', got '", name, "'");
  const bool previous = cpu_runs_emulation.exchange(name == "cuda_emu");
  return previous ? "cuda_emu" : "native";
}

}  // namespace

}  // namespace lorkd

TORCH_LIBRARY_IMPL(lorkd, CPU, m) {
  m.impl("eks_conv2d", &lorkd::conv2d_forward);
  m.impl("eks_conv2d_backward", &lorkd::conv2d_backward);
  m.impl("eks_linear", &lorkd::linear_forward);
  m.impl("eks_linear_backward", &lorkd::linear_backward);
}

TORCH_LIBRARY_FRAGMENT(lorkd, m) {
  // Test and benchmark hooks; use lorkd_kernels.backends.conv_strategy() and LORKD_BACKEND
  // rather than calling them directly.
  // Force the native conv strategy (0 auto, 1 merged, 2 split); returns the previous setting.
  m.def("_set_cpu_conv_strategy(int strategy) -> int", &lorkd::cpu::set_conv_strategy);
  m.def("_set_cpu_kernels(str name) -> str", &lorkd::set_cpu_kernels);
  m.def((std::string("_emu_") + lorkd::schemas::kEksConv2d).c_str());
  m.def((std::string("_emu_") + lorkd::schemas::kEksConv2dBackward).c_str());
  m.def((std::string("_emu_") + lorkd::schemas::kEksLinear).c_str());
  m.def((std::string("_emu_") + lorkd::schemas::kEksLinearBackward).c_str());
}

TORCH_LIBRARY_IMPL(lorkd, CPU, m) {
  m.impl("_emu_eks_conv2d", &lorkd::emu::eks_conv2d_forward);
  m.impl("_emu_eks_conv2d_backward", &lorkd::emu::eks_conv2d_backward);
  m.impl("_emu_eks_linear", &lorkd::emu::eks_linear_forward);
  m.impl("_emu_eks_linear_backward", &lorkd::emu::eks_linear_backward);
}
