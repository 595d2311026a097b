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

bool use_split(const Segments& segments, int64_t batch, int64_t groups, int64_t kernel_area,
               int64_t output_area) {
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
  if (static_cast<int64_t>(segments.runs().size()) * 2 > batch) return true;
  // Dense convs with spatial kernels on small feature maps (8x8 or less): there the per-call
  // cost of running the convolution and its weight gradient once per task dominates, and
  // split's rank-r branches are cheaper (ResNet-18 on 32x32 images, T=6, batch 64: 2x faster per
  // training step). On larger maps merged is faster (3x3 conv at 28x28: 0.94x against 1.7x a
  // plain conv); 1x1 convs merge with a tiny GEMM; grouped and depthwise convs would need A tiled
  // over the groups.
  constexpr int64_t kSmallMap = 64;
  return groups == 1 && kernel_area > 1 && output_area <= kSmallMap;
}

}  // namespace lorkd::cpu
