// The settings the kernels read on every call: the CPU conv strategy (which also picks the CUDA
// C++ form), measuring, the GPU kernels' host task-id check and the CPU forms' memory cap.
//
// lorkd_kernels/backends/settings.py owns them and mirrors them here in one place: the
// process-wide defaults, and per thread the override of the Python context that entered a
// settings block on it last. Each call reads them on the thread that makes it, so a block on one
// thread does not reach another (autograd's CUDA threads see the defaults).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lorkd {

// The CPU conv strategy: "auto" picks a form per call (cost model, or measured); the others
// force one. Python reads the names (in code order) from conv_strategy_names().
enum class ConvStrategy : int64_t { kAuto = 0, kMerged = 1, kSplit = 2, kStacked = 3 };
inline constexpr std::array<const char*, 4> kConvStrategyNames = {"auto", "merged", "split",
                                                                  "stacked"};

struct Settings {
  ConvStrategy conv_strategy = ConvStrategy::kAuto;
  bool measuring = false;             // "auto" times its candidates (cpu/strategy.h)
  bool host_task_id_checks = true;    // common/segments.h
  double memory_cap = 2.0;            // cpu/strategy.h; 0: no cap
};

// This thread's override, else the process-wide defaults.
Settings current_settings();

std::vector<std::string> conv_strategy_names();

// From Python (torch.ops.lorkd._set_settings / _clear_thread_settings): validated, then either
// the defaults or this thread's override.
void set_settings(int64_t conv_strategy, bool measuring, bool host_task_id_checks,
                  double memory_cap, bool this_thread);
void clear_thread_settings();
// (conv strategy, measuring, host task-id checks, memory cap) as this thread reads them.
std::tuple<int64_t, bool, bool, double> settings_tuple();

}  // namespace lorkd
