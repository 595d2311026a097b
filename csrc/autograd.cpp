// Autograd of the lorkd forward ops, for every device: the forward op runs below autograd, and
// the backward op is asked for exactly the gradients the graph needs (its output_mask).
// Registered for the public ops and for the private ops of the backends compiled here
// (lorkd::_cpu_*, _cuda_*, _cuda_emu_*).
//
// lorkd_kernels/_autograd.py registers the same formula in Python (torch.library.register_autograd)
// for the ops this library does not hold (the Python backends' private ops, and the public ops
// when the library is not loaded); here it costs no Python per call, which is a good part of a
// small layer's time on CPU (the autograd hop through Python takes longer than many kernels).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <array>
#include <optional>
#include <string>
#include <tuple>

#include "common/signatures.h"

namespace lorkd {


namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Inputs of a forward op in order: x, weight, bias?, lora_A, lora_B, task_ids, config...
// Autograd numbers only the tensors it was given, so the index of lora_A and lora_B depends on
// whether bias was passed.
std::array<bool, 5> output_mask(const AutogradContext* ctx, bool has_bias) {
  const size_t after_bias = has_bias ? 3 : 2;
  return {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
          has_bias && ctx->needs_input_grad(2), ctx->needs_input_grad(after_bias),
          ctx->needs_input_grad(after_bias + 1)};
}

bool defined(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

// With grad mode on inside a backward (create_graph=True: a gradient of this gradient will be
// taken), the backward runs on the torch backend (lorkd_kernels/backends/torch_ops.py), made of
// differentiable torch ops; the kernels' backward ops are not differentiable themselves.
// Looked up on the first such backward only: a program using the library without Python (no
// torch backend) never needs them.
constexpr const char* kDifferentiableConvBackward = "lorkd::_torch_eks_conv2d_backward";
constexpr const char* kDifferentiableLinearBackward = "lorkd::_torch_eks_linear_backward";

template <typename Signature>
const c10::TypedOperatorHandle<Signature>& backward_for_this_pass(
    const c10::TypedOperatorHandle<Signature>& kernels, const char* differentiable_name) {
  if (!at::GradMode::is_enabled()) return kernels;
  TORCH_CHECK(c10::Dispatcher::singleton().findSchema({differentiable_name, ""}).has_value(),
              "a gradient of a gradient (create_graph=True) through the lorkd ops runs ",
              differentiable_name, ", which the Python package defines: import lorkd_kernels");
  // one per Signature, so one per op (conv, linear): the name is that op's
  static const auto differentiable = op_handle<Signature>(differentiable_name);
  return differentiable;
}

// One entry per forward input: the five tensor gradients (undefined where not needed), then
// none for task_ids and each config argument.
variable_list input_grads(const Grads& grads, std::array<bool, 5> mask,
                          size_t num_config_args) {
  const auto& [gx, gw, gb, ga, gB] = grads;
  variable_list out{mask[0] ? gx : at::Tensor(), mask[1] ? gw : at::Tensor(),
                    mask[2] ? gb : at::Tensor(), mask[3] ? ga : at::Tensor(),
                    mask[4] ? gB : at::Tensor()};
  out.resize(out.size() + 1 + num_config_args);
  return out;
}

void save_inputs(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                 const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                 const at::Tensor& lora_B, const at::Tensor& task_ids, double scaling) {
  ctx->save_for_backward({x, weight, lora_A, lora_B, task_ids});
  ctx->saved_data["has_bias"] = defined(bias);
  ctx->saved_data["scaling"] = scaling;
}

// The op names of one family: the public ops ("") or a backend's private ops ("_cpu_", ...).
// Each Function below is instantiated once per family, so each keeps its own op handles.
struct Public { static constexpr const char* prefix = "lorkd::"; };
struct Cpu { static constexpr const char* prefix = "lorkd::_cpu_"; };
struct Cuda { static constexpr const char* prefix = "lorkd::_cuda_"; };
struct CudaEmu { static constexpr const char* prefix = "lorkd::_cuda_emu_"; };

template <typename Signature, typename Family>
c10::TypedOperatorHandle<Signature> family_op(const char* op) {
  return op_handle<Signature>((std::string(Family::prefix) + op).c_str());
}

template <typename Family>
struct EksConv2dFunction : torch::autograd::Function<EksConv2dFunction<Family>> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                            const at::Tensor& lora_B, const at::Tensor& task_ids,
                            at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, int64_t groups, double scaling) {
    save_inputs(ctx, x, weight, bias, lora_A, lora_B, task_ids, scaling);
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    static const auto op =
        family_op<decltype(signatures::eks_conv2d_forward), Family>("eks_conv2d");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                   scaling);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op =
        family_op<decltype(signatures::eks_conv2d_backward), Family>("eks_conv2d_backward");
    const auto saved = ctx->get_saved_variables();
    const auto& data = ctx->saved_data;
    const auto mask = output_mask(ctx, data.at("has_bias").toBool());
    const auto stride = data.at("stride").toIntVector();
    const auto padding = data.at("padding").toIntVector();
    const auto dilation = data.at("dilation").toIntVector();
    const auto& backward_op = backward_for_this_pass(op, kDifferentiableConvBackward);
    const auto grads = backward_op.call(grad_outputs[0], saved[0], saved[1], saved[2], saved[3],
                                        saved[4], stride, padding, dilation,
                                        data.at("groups").toInt(),
                                        data.at("scaling").toDouble(), mask);
    return input_grads(grads, mask, 5);   // stride, padding, dilation, groups, scaling
  }
};

template <typename Family>
struct EksLinearFunction : torch::autograd::Function<EksLinearFunction<Family>> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                            const at::Tensor& lora_B, const at::Tensor& task_ids,
                            double scaling) {
    save_inputs(ctx, x, weight, bias, lora_A, lora_B, task_ids, scaling);
    static const auto op =
        family_op<decltype(signatures::eks_linear_forward), Family>("eks_linear");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(x, weight, bias, lora_A, lora_B, task_ids, scaling);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op =
        family_op<decltype(signatures::eks_linear_backward), Family>("eks_linear_backward");
    const auto saved = ctx->get_saved_variables();
    const auto& data = ctx->saved_data;
    const auto mask = output_mask(ctx, data.at("has_bias").toBool());
    const auto& backward_op = backward_for_this_pass(op, kDifferentiableLinearBackward);
    const auto grads = backward_op.call(grad_outputs[0], saved[0], saved[1], saved[2], saved[3],
                                        saved[4], data.at("scaling").toDouble(), mask);
    return input_grads(grads, mask, 1);   // scaling
  }
};

template <typename Family>
at::Tensor eks_conv2d_autograd(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, double scaling) {
  return EksConv2dFunction<Family>::apply(x, weight, bias, lora_A, lora_B, task_ids, stride,
                                          padding, dilation, groups, scaling);
}

template <typename Family>
at::Tensor eks_linear_autograd(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               double scaling) {
  return EksLinearFunction<Family>::apply(x, weight, bias, lora_A, lora_B, task_ids, scaling);
}

}  // namespace

}  // namespace lorkd

TORCH_LIBRARY_IMPL(lorkd, Autograd, m) {
  using namespace lorkd;
  m.impl("eks_conv2d", &eks_conv2d_autograd<Public>);
  m.impl("eks_linear", &eks_linear_autograd<Public>);
  m.impl("_cpu_eks_conv2d", &eks_conv2d_autograd<Cpu>);
  m.impl("_cpu_eks_linear", &eks_linear_autograd<Cpu>);
  m.impl("_cuda_eks_conv2d", &eks_conv2d_autograd<Cuda>);
  m.impl("_cuda_eks_linear", &eks_linear_autograd<Cuda>);
  m.impl("_cuda_emu_eks_conv2d", &eks_conv2d_autograd<CudaEmu>);
  m.impl("_cuda_emu_eks_linear", &eks_linear_autograd<CudaEmu>);
}
