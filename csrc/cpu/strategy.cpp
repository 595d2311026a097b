#include "strategy.h"

#include <c10/util/Exception.h>

#include <atomic>

namespace lorkd::cpu {

namespace {
std::atomic<int64_t> g_strategy{static_cast<int64_t>(ConvStrategy::kAuto)};
}  // namespace

int64_t set_conv_strategy(int64_t strategy) {
  TORCH_CHECK_VALUE(strategy >= 0 && strategy <= 2,
                    "strategy must be 0 (auto), 1 (merged) or 2 (split), got ", strategy);
  return g_strategy.exchange(strategy);
}

bool use_split(const Segments& segments, int64_t batch) {
  switch (static_cast<ConvStrategy>(g_strategy.load())) {
    case ConvStrategy::kMerged:
      return false;
    case ConvStrategy::kSplit:
      return true;
    case ConvStrategy::kAuto:
      break;
  }
  // Tasks averaging fewer than two samples each: merged would run one tiny convolution per
  // sample, split runs one full-batch convolution plus rank-r branches.
  return static_cast<int64_t>(segments.runs().size()) * 2 > batch;
}

}  // namespace lorkd::cpu
