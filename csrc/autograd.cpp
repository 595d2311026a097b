// Autograd of the lorkd forward ops, for every device: the forward op runs below autograd, and
// the backward op is asked for exactly the gradients the graph needs (its output_mask).
//
// lorkd_kernels/ops.py registers the same formula in Python (torch.library.register_autograd)
// when this library is not loaded; here it costs no Python per call, which is a good part of a
// small layer's time on CPU (the autograd hop through Python takes longer than many kernels).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <array>
#include <optional>
#include <tuple>

namespace lorkd {

namespace signatures {
// The op signatures, for typed dispatcher handles (declared only, never defined).
using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
#include "eks_kernels.inc"
}  // namespace signatures

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

// One entry per forward input: the five tensor gradients (undefined where not needed), then
// none for task_ids and each config argument.
variable_list input_grads(const signatures::Grads& grads, std::array<bool, 5> mask,
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

struct EksConv2dFunction : torch::autograd::Function<EksConv2dFunction> {
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
    static const auto op = op_handle<decltype(signatures::eks_conv2d_forward)>("lorkd::eks_conv2d");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                   scaling);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op =
        op_handle<decltype(signatures::eks_conv2d_backward)>("lorkd::eks_conv2d_backward");
    const auto saved = ctx->get_saved_variables();
    const auto& data = ctx->saved_data;
    const auto mask = output_mask(ctx, data.at("has_bias").toBool());
    const auto stride = data.at("stride").toIntVector();
    const auto padding = data.at("padding").toIntVector();
    const auto dilation = data.at("dilation").toIntVector();
    const auto grads = op.call(grad_outputs[0], saved[0], saved[1], saved[2], saved[3], saved[4],
                               stride, padding, dilation, data.at("groups").toInt(),
                               data.at("scaling").toDouble(), mask);
    return input_grads(grads, mask, 5);   // stride, padding, dilation, groups, scaling
  }
};

struct EksLinearFunction : torch::autograd::Function<EksLinearFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                            const at::Tensor& lora_B, const at::Tensor& task_ids,
                            double scaling) {
    save_inputs(ctx, x, weight, bias, lora_A, lora_B, task_ids, scaling);
    static const auto op = op_handle<decltype(signatures::eks_linear_forward)>("lorkd::eks_linear");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(x, weight, bias, lora_A, lora_B, task_ids, scaling);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op =
        op_handle<decltype(signatures::eks_linear_backward)>("lorkd::eks_linear_backward");
    const auto saved = ctx->get_saved_variables();
    const auto& data = ctx->saved_data;
    const auto mask = output_mask(ctx, data.at("has_bias").toBool());
    const auto grads = op.call(grad_outputs[0], saved[0], saved[1], saved[2], saved[3], saved[4],
                               data.at("scaling").toDouble(), mask);
    return input_grads(grads, mask, 1);   // scaling
  }
};

at::Tensor eks_conv2d_autograd(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, double scaling) {
  return EksConv2dFunction::apply(x, weight, bias, lora_A, lora_B, task_ids, stride, padding,
                                  dilation, groups, scaling);
}

at::Tensor eks_linear_autograd(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               double scaling) {
  return EksLinearFunction::apply(x, weight, bias, lora_A, lora_B, task_ids, scaling);
}

}  // namespace

}  // namespace lorkd

TORCH_LIBRARY_IMPL(lorkd, Autograd, m) {
  m.impl("eks_conv2d", &lorkd::eks_conv2d_autograd);
  m.impl("eks_linear", &lorkd::eks_linear_autograd);
}
