// Which exact algorithm the CPU conv kernels use (see eks_conv2d.cpp). "auto" picks per call;
// forcing one is for tests and benchmarks (torch.ops.lorkd._set_cpu_conv_strategy).
#pragma once

#include <cstdint>

#include "../common/segments.h"

namespace lorkd::cpu {

enum class ConvStrategy : int64_t { kAuto = 0, kMerged = 1, kSplit = 2 };

// Sets the strategy for later calls in this process; returns the previous one.
int64_t set_conv_strategy(int64_t strategy);

// How one call runs (see eks_conv2d.cpp).
enum class ConvPath { kSplit, kMergedPerTask, kMergedPerSample };

struct ConvShape {
  int64_t batch, groups, kernel_area, output_area;
  bool strided;
  bool per_sample_weights_fit;   // N merged weights are small next to x (grouped convs)
};

// The forced strategy, or for "auto" the cost model below; "merged" takes the per-sample form
// whenever it fits, so forcing it exercises the form auto would pick for that shape.
ConvPath choose_path(const Segments& segments, const ConvShape& shape);

}  // namespace lorkd::cpu
