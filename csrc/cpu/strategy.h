// Which exact algorithm the CPU conv kernels use (see eks_conv2d.cpp). "auto" picks per call,
// from the cost model below or, with measuring on, from timings taken on this machine; forcing
// one is for tests and benchmarks (the settings, common/settings.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../common/segments.h"
#include "../common/settings.h"

namespace lorkd::cpu {

using ::lorkd::ConvStrategy;

// The strategy in force for this call (a ConvStrategy code); the CUDA C++ kernels read it too
// (eks_ops.h).
int64_t conv_strategy();

// How one call runs (see eks_conv2d.cpp). Python reads the names, in code order (a measured
// table stores the code), from conv_path_names().
enum class ConvPath { kSplit = 0, kMergedPerTask = 1, kMergedPerSample = 2, kStackedSplit = 3 };
inline constexpr std::array<const char*, 4> kConvPathNames = {"split", "merged per task",
                                                              "merged per sample",
                                                              "stacked split"};
std::vector<std::string> conv_path_names();

struct ConvShape {
  int64_t batch, groups, kernel_area, output_area;
  bool strided;
  bool per_sample_weights_fit;   // N merged weights are small next to x
  bool stacked_applies;          // groups == 1: every task's A is one conv weight
  bool stacked_cheap;            // ... with a spatial kernel, and T*r at most a quarter of C_out
  // for the memory estimate below
  int64_t in_channels, out_channels, input_area, tasks, rank, task_runs;
  bool sorted;
};

// The forced strategy, or for "auto" the cost model below; "merged" takes the per-sample form
// whenever it fits, and "stacked" the stacked split wherever it applies (else split), so forcing
// them exercises the forms auto would pick. Auto keeps to the memory cap (below).
ConvPath choose_path(const Segments& segments, const ConvShape& shape);
// The forms that compute this shape: the per-sample form only where its N weight copies are
// small, the stacked split only for dense convs. A measurement times these, within the cap.
std::vector<ConvPath> applicable_paths(const ConvShape& shape);

// ---------------------------------------------------------------------------- memory
// A form's peak memory over a forward and backward, estimated from the elements of the
// intermediates it allocates (per-sample copies of A, B or merged weights, rank-r activations,
// gathered rows) plus what the plain layer allocates (output, input gradient, weight gradient),
// relative to the plain layer's. Auto and the measured choice skip forms whose estimate exceeds
// the cap (unless they add under 2^16 elements), taking the form with the smallest estimate when
// none is within it; forced strategies ignore it. Default 2; 0 turns the cap off.
double memory_cap();
double memory_ratio(ConvPath path, const ConvShape& shape);
bool within_memory_cap(ConvPath path, const ConvShape& shape);
// Of `paths`, those within the cap, or the one with the smallest estimate when none is.
std::vector<ConvPath> keep_within_memory_cap(const std::vector<ConvPath>& paths,
                                             const ConvShape& shape);

// ---------------------------------------------------------------------------- measuring
// With measuring on and the strategy "auto", the first call of each key (the call's shapes,
// dtype, direction and task mix) times every candidate path on the call's own inputs and keeps
// the fastest for later calls, as cudnn.benchmark does. Off by default: the choice then depends
// on timings, so two processes may round differently.
bool conv_measuring();   // on, and the strategy is "auto"

// direction, dtype, N, C_in, H, W, C_out, kh, kw, stride (2), padding (2), dilation (2), groups,
// task runs, sorted, channels_last: see measure_key in eks_conv2d.cpp.
inline constexpr int64_t kMeasureKeyLength = 19;
using MeasureKey = std::vector<int64_t>;
std::optional<ConvPath> measured_path(const MeasureKey& key);
void record_measured_path(const MeasureKey& key, ConvPath path);

// The table of measured choices as a (rows, key length + 1) int64 tensor, the path last; and
// the inverse, which adds rows (a saved table loaded into a new process). Keys of another
// length are rejected.
at::Tensor measured_table();
void load_measured_table(const at::Tensor& table);
void clear_measured_table();

// Runs `run(path)` for each candidate: once to warm up (oneDNN builds its primitive on the
// first call of a shape), then `kTimedRuns` times; returns the fastest path and its result.
inline constexpr int kTimedRuns = 2;
template <class Run>
auto time_candidates(const std::vector<ConvPath>& candidates, Run&& run)
    -> std::pair<ConvPath, decltype(run(ConvPath::kSplit))> {
  using Clock = std::chrono::steady_clock;
  std::optional<decltype(run(ConvPath::kSplit))> best;
  ConvPath best_path = candidates.front();
  double best_seconds = std::numeric_limits<double>::infinity();
  for (const ConvPath path : candidates) {
    auto result = run(path);
    double fastest = std::numeric_limits<double>::infinity();
    for (int i = 0; i < kTimedRuns; ++i) {
      const auto start = Clock::now();
      result = run(path);
      fastest = std::min(fastest, std::chrono::duration<double>(Clock::now() - start).count());
    }
    if (fastest < best_seconds) {
      best_seconds = fastest;
      best_path = path;
      best = std::move(result);
    }
  }
  return {best_path, std::move(*best)};
}

}  // namespace lorkd::cpu
