#include "settings.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <mutex>
#include <tuple>

namespace lorkd {

namespace {
std::mutex defaults_mutex;
Settings defaults;   // guarded by defaults_mutex
thread_local std::optional<Settings> thread_override;
}  // namespace

Settings current_settings() {
  if (thread_override) return *thread_override;
  std::lock_guard<std::mutex> lock(defaults_mutex);
  return defaults;
}

std::vector<std::string> conv_strategy_names() {
  return {kConvStrategyNames.begin(), kConvStrategyNames.end()};
}

void set_settings(int64_t conv_strategy, bool measuring, bool host_task_id_checks,
                  double memory_cap, bool this_thread) {
  TORCH_CHECK_VALUE(conv_strategy >= 0 &&
                        conv_strategy < static_cast<int64_t>(kConvStrategyNames.size()),
                    "conv strategy code ", conv_strategy, " is not one of 0 to ",
                    kConvStrategyNames.size() - 1);
  TORCH_CHECK_VALUE(std::isfinite(memory_cap) && (memory_cap == 0 || memory_cap >= 1),
                    "memory cap must be 0 (no cap) or at least 1, got ", memory_cap);
  const Settings settings{static_cast<ConvStrategy>(conv_strategy), measuring,
                          host_task_id_checks, memory_cap};
  if (this_thread) {
    thread_override = settings;
    return;
  }
  std::lock_guard<std::mutex> lock(defaults_mutex);
  defaults = settings;
}

void clear_thread_settings() { thread_override.reset(); }

std::tuple<int64_t, bool, bool, double> settings_tuple() {
  const Settings s = current_settings();
  return {static_cast<int64_t>(s.conv_strategy), s.measuring, s.host_task_id_checks,
          s.memory_cap};
}

}  // namespace lorkd
