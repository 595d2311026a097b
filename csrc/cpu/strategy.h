// Which exact algorithm the CPU conv kernels use (see eks_conv2d.cpp). "auto" picks per call;
// forcing one is for tests and benchmarks (torch.ops.lorkd._set_cpu_conv_strategy).
#pragma once

#include <cstdint>

#include "segments.h"

namespace lorkd::cpu {

enum class ConvStrategy : int64_t { kAuto = 0, kMerged = 1, kSplit = 2 };

// Sets the strategy for later calls in this process; returns the previous one.
int64_t set_conv_strategy(int64_t strategy);

// True when the split form should run for this batch.
bool use_split(const Segments& segments, int64_t batch, int64_t groups, int64_t kernel_area,
               int64_t output_area);

}  // namespace lorkd::cpu
