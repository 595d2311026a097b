// The public lorkd ops on CPU and CUDA tensors: a route table says which backend serves each
// device, and the kernels registered here send every call there. Also registers the CPU
// backends' private ops (lorkd::_cpu_*, lorkd::_cuda_emu_*), so each backend can be called
// explicitly whatever the routes.
//
// lorkd_kernels/backends sets the routes when the package loads (from LORKD_BACKEND and what is
// installed) and changes them inside backends.use(). The native CPU kernels and the emulated
// CUDA kernels are called directly (no second dispatch on the hot path); any other backend is
// reached through its private op, lorkd::_<backend>_<op>, which may be a Python kernel.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/segments.h"
#include "common/settings.h"
#include "common/types.h"
#include "cpu/kernels.h"
#include "cpu/strategy.h"
#include "emu/harness.h"
#include "emu/kernels.h"

namespace lorkd {

namespace {

enum Device : int { kCpuDevice = 0, kCudaDevice = 1 };
constexpr std::array<const char*, 2> kDevices = {"cpu", "cuda"};

// The four ops a backend implements, in the order of Route::ops.
constexpr std::array<const char*, 4> kOps = {"eks_conv2d", "eks_conv2d_backward", "eks_linear",
                                             "eks_linear_backward"};
enum Op : int { kConv2d = 0, kConv2dBackward = 1, kLinear = 2, kLinearBackward = 3 };

// Where a device's public ops go: the native CPU kernels and the emulated ones are called
// directly; any other backend through its private ops lorkd::_<backend>_<op>, looked up by name
// on the route's first call (a Python backend defines them after this library loads). The Python
// registry (lorkd_kernels/backends/registry.py) names the backends; this file keeps no list.
class Route {
 public:
  enum Kind { kNative, kEmulated, kPrivateOps };

  explicit Route(std::string backend)
      : backend_(std::move(backend)),
        kind_(backend_ == "cpu" ? kNative : backend_ == "cuda_emu" ? kEmulated : kPrivateOps) {}

  const std::string& backend() const { return backend_; }
  Kind kind() const { return kind_; }

  const c10::OperatorHandle& op(Op op) const {
    std::call_once(resolved_, [this] {
      for (size_t i = 0; i < kOps.size(); ++i) {
        const std::string name = "lorkd::_" + backend_ + "_" + kOps[i];
        ops_[i] = c10::Dispatcher::singleton().findSchema({name, ""});
        TORCH_CHECK_VALUE(ops_[i].has_value(), "no lorkd backend '", backend_, "': its op ",
                          name, " is not defined (lorkd_kernels/backends/registry.py lists the "
                          "backends)");
      }
    });
    return *ops_[op];
  }

 private:
  const std::string backend_;
  const Kind kind_;
  mutable std::once_flag resolved_;   // a failed lookup leaves it unset: the next call retries
  mutable std::array<std::optional<c10::OperatorHandle>, 4> ops_;
};

int device_index(const std::string& name) {
  for (size_t i = 0; i < kDevices.size(); ++i) {
    if (name == kDevices[i]) return static_cast<int>(i);
  }
  TORCH_CHECK_VALUE(false, "lorkd routes exist for 'cpu' and 'cuda', not '", name, "'");
  return -1;
}

// Routes are set rarely and read on every call: each route set is kept (a few in a process), so
// a call reads one atomic pointer and never sees a route freed under it.
std::mutex routes_mutex;
std::deque<Route> kept_routes;   // guarded by routes_mutex
std::array<std::atomic<const Route*>, 2> routes = {nullptr, nullptr};

const Route& route_of(int device) {
  const Route* route = routes[device].load();
  if (route != nullptr) return *route;
  // Until the Python package sets them: the native kernels on CPU, the CUDA C++ kernels on CUDA.
  std::lock_guard<std::mutex> lock(routes_mutex);
  route = routes[device].load();
  if (route == nullptr) {
    route = &kept_routes.emplace_back(device == kCpuDevice ? "cpu" : "cuda");
    routes[device].store(route);
  }
  return *route;
}

// Route `device`'s public ops to `backend`; returns the previous backend.
std::string set_route(const std::string& device, const std::string& backend) {
  const int d = device_index(device);
  TORCH_CHECK_VALUE(!backend.empty(), "a lorkd route names a backend");
  TORCH_CHECK_VALUE(d == kCpuDevice || Route(backend).kind() == Route::kPrivateOps, "the ",
                    backend, " backend runs on CPU tensors only");
  const std::string previous = route_of(d).backend();
  std::lock_guard<std::mutex> lock(routes_mutex);
  routes[d].store(&kept_routes.emplace_back(backend));
  return previous;
}

std::string get_route(const std::string& device) {
  return route_of(device_index(device)).backend();
}

// The ops take their inputs already cast (lorkd_kernels.ops follows torch.autocast); the ATen
// calls inside the native kernels must not be cast again op by op, which would mix fp32
// accumulators with half-precision operands.
using NoAutocast = c10::impl::ExcludeDispatchKeyGuard;

// Calls the routed backend's private op `op` with `args`, boxed: a Python backend's op may
// declare int[] where the public schema says int[2] (triton_op infers its schema from
// annotations), which a typed call would reject. Returns the op's outputs.
template <typename... Args>
torch::jit::Stack call_private_op(const Route& route, Op op, const Args&... args) {
  torch::jit::Stack stack;
  stack.reserve(sizeof...(args));
  (stack.emplace_back(c10::IValue(args)), ...);
  route.op(op).callBoxed(&stack);
  return stack;
}

Grads as_grads(const torch::jit::Stack& outputs) {
  return {outputs[0].toTensor(), outputs[1].toTensor(), outputs[2].toTensor(),
          outputs[3].toTensor(), outputs[4].toTensor()};
}

// The native (csrc/cpu) and emulated (csrc/emu) kernels behind the autocast guard.
template <bool Emulated>
struct CpuKernels {
  static at::Tensor conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias,
                                   const at::Tensor& lora_A, const at::Tensor& lora_B,
                                   const at::Tensor& task_ids, at::IntArrayRef stride,
                                   at::IntArrayRef padding, at::IntArrayRef dilation,
                                   int64_t groups, double scaling) {
    const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
    auto* kernel = Emulated ? &emu::eks_conv2d_forward : &cpu::eks_conv2d_forward;
    return kernel(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                  scaling);
  }

  static Grads conv2d_backward(const at::Tensor& grad_out, const at::Tensor& x,
                               const at::Tensor& weight, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, double scaling,
                               std::array<bool, 5> output_mask) {
    const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
    auto* kernel = Emulated ? &emu::eks_conv2d_backward : &cpu::eks_conv2d_backward;
    return kernel(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding, dilation,
                  groups, scaling, output_mask);
  }

  static at::Tensor linear_forward(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias,
                                   const at::Tensor& lora_A, const at::Tensor& lora_B,
                                   const at::Tensor& task_ids, double scaling) {
    const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
    auto* kernel = Emulated ? &emu::eks_linear_forward : &cpu::eks_linear_forward;
    return kernel(x, weight, bias, lora_A, lora_B, task_ids, scaling);
  }

  static Grads linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                               const at::Tensor& weight, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               double scaling, std::array<bool, 5> output_mask) {
    const NoAutocast no_autocast(c10::autocast_dispatch_keyset);
    auto* kernel = Emulated ? &emu::eks_linear_backward : &cpu::eks_linear_backward;
    return kernel(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask);
  }
};

using Native = CpuKernels<false>;
using Emulated = CpuKernels<true>;

// The public ops' kernel for one device: the routed backend's kernels.
template <Device D>
struct Router {
  static at::Tensor conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias,
                                   const at::Tensor& lora_A, const at::Tensor& lora_B,
                                   const at::Tensor& task_ids, at::IntArrayRef stride,
                                   at::IntArrayRef padding, at::IntArrayRef dilation,
                                   int64_t groups, double scaling) {
    const Route& route = route_of(D);
    if (route.kind() == Route::kNative) {
      return Native::conv2d_forward(x, weight, bias, lora_A, lora_B, task_ids, stride, padding,
                                    dilation, groups, scaling);
    }
    if (route.kind() == Route::kEmulated) {
      return Emulated::conv2d_forward(x, weight, bias, lora_A, lora_B, task_ids, stride, padding,
                                      dilation, groups, scaling);
    }
    return call_private_op(route, kConv2d, x, weight, bias, lora_A, lora_B, task_ids,
                           stride, padding, dilation, groups, scaling)[0]
        .toTensor();
  }

  static Grads conv2d_backward(const at::Tensor& grad_out, const at::Tensor& x,
                               const at::Tensor& weight, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, double scaling,
                               std::array<bool, 5> output_mask) {
    const Route& route = route_of(D);
    if (route.kind() == Route::kNative) {
      return Native::conv2d_backward(grad_out, x, weight, lora_A, lora_B, task_ids, stride,
                                     padding, dilation, groups, scaling, output_mask);
    }
    if (route.kind() == Route::kEmulated) {
      return Emulated::conv2d_backward(grad_out, x, weight, lora_A, lora_B, task_ids, stride,
                                       padding, dilation, groups, scaling, output_mask);
    }
    return as_grads(call_private_op(route, kConv2dBackward, grad_out, x, weight, lora_A,
                                    lora_B, task_ids, stride, padding, dilation, groups, scaling,
                                    output_mask));
  }

  static at::Tensor linear_forward(const at::Tensor& x, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias,
                                   const at::Tensor& lora_A, const at::Tensor& lora_B,
                                   const at::Tensor& task_ids, double scaling) {
    const Route& route = route_of(D);
    if (route.kind() == Route::kNative) {
      return Native::linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling);
    }
    if (route.kind() == Route::kEmulated) {
      return Emulated::linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling);
    }
    return call_private_op(route, kLinear, x, weight, bias, lora_A, lora_B, task_ids,
                           scaling)[0]
        .toTensor();
  }

  static Grads linear_backward(const at::Tensor& grad_out, const at::Tensor& x,
                               const at::Tensor& weight, const at::Tensor& lora_A,
                               const at::Tensor& lora_B, const at::Tensor& task_ids,
                               double scaling, std::array<bool, 5> output_mask) {
    const Route& route = route_of(D);
    if (route.kind() == Route::kNative) {
      return Native::linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling,
                                     output_mask);
    }
    if (route.kind() == Route::kEmulated) {
      return Emulated::linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling,
                                       output_mask);
    }
    return as_grads(call_private_op(route, kLinearBackward, grad_out, x, weight, lora_A,
                                    lora_B, task_ids, scaling, output_mask));
  }
};

}  // namespace

}  // namespace lorkd

TORCH_LIBRARY_IMPL(lorkd, CPU, m) {
  using lorkd::Router;
  m.impl("eks_conv2d", &Router<lorkd::kCpuDevice>::conv2d_forward);
  m.impl("eks_conv2d_backward", &Router<lorkd::kCpuDevice>::conv2d_backward);
  m.impl("eks_linear", &Router<lorkd::kCpuDevice>::linear_forward);
  m.impl("eks_linear_backward", &Router<lorkd::kCpuDevice>::linear_backward);
  m.impl("_cpu_eks_conv2d", &lorkd::Native::conv2d_forward);
  m.impl("_cpu_eks_conv2d_backward", &lorkd::Native::conv2d_backward);
  m.impl("_cpu_eks_linear", &lorkd::Native::linear_forward);
  m.impl("_cpu_eks_linear_backward", &lorkd::Native::linear_backward);
  m.impl("_cuda_emu_eks_conv2d", &lorkd::Emulated::conv2d_forward);
  m.impl("_cuda_emu_eks_conv2d_backward", &lorkd::Emulated::conv2d_backward);
  m.impl("_cuda_emu_eks_linear", &lorkd::Emulated::linear_forward);
  m.impl("_cuda_emu_eks_linear_backward", &lorkd::Emulated::linear_backward);
}

TORCH_LIBRARY_IMPL(lorkd, CUDA, m) {
  using lorkd::Router;
  m.impl("eks_conv2d", &Router<lorkd::kCudaDevice>::conv2d_forward);
  m.impl("eks_conv2d_backward", &Router<lorkd::kCudaDevice>::conv2d_backward);
  m.impl("eks_linear", &Router<lorkd::kCudaDevice>::linear_forward);
  m.impl("eks_linear_backward", &Router<lorkd::kCudaDevice>::linear_backward);
}

TORCH_LIBRARY_FRAGMENT(lorkd, m) {
  // Set by lorkd_kernels/backends; call backends.use() rather than these.
  m.def("_set_route(str device, str backend) -> str", &lorkd::set_route);
  m.def("_get_route(str device) -> str", &lorkd::get_route);
  // The settings the kernels read per call (common/settings.h), mirrored from
  // lorkd_kernels/backends/settings.py: the defaults, or this thread's override. The conv
  // strategy is a code, the index of its name in _conv_strategy_names.
  m.def("_conv_strategy_names() -> str[]", &lorkd::conv_strategy_names);
  m.def("_set_settings(int conv_strategy, bool measuring, bool host_task_id_checks, "
        "float memory_cap, bool this_thread) -> ()",
        &lorkd::set_settings);
  m.def("_clear_thread_settings() -> ()", &lorkd::clear_thread_settings);
  m.def("_current_settings() -> (int, bool, bool, float)", &lorkd::settings_tuple);
  // The measured choices of the CPU conv path (strategy.h); use lorkd_kernels.backends.measured
  // (save_choices / load_choices, LORKD_STRATEGY_CACHE).
  m.def("_cpu_conv_path_names() -> str[]", &lorkd::cpu::conv_path_names);
  m.def("_cpu_measured_table() -> Tensor", &lorkd::cpu::measured_table);
  m.def("_cpu_load_measured_table(Tensor table) -> ()", &lorkd::cpu::load_measured_table);
  m.def("_cpu_clear_measured_table() -> ()", &lorkd::cpu::clear_measured_table);
  // The range of a batch's ids, read once by lorkd_kernels/task_plan.py, for the GPU kernels'
  // host check (common/segments.h); and how often that check still copied ids to the host.
  m.def("_note_task_id_range(Tensor task_ids, int low, int high) -> ()",
        [](const at::Tensor& task_ids, int64_t low, int64_t high) {
          lorkd::note_task_id_range(task_ids, low, high);
        });
  m.def("_host_task_id_reads() -> int", &lorkd::host_task_id_reads);
  // The emulation harness's own checks: a throwing kernel thread fails the launch ...
  m.def("_cuda_emu_fault_probe(int threads, int failing_thread) -> ()", &lorkd::emu::fault_probe);
  // ... and a missing barrier is exposed: the count of reads of words not yet written.
  m.def("_cuda_emu_race_probe(int threads, bool with_barrier) -> int", &lorkd::emu::race_probe);
}
