#include "strategy.h"

#include <c10/util/Exception.h>

#include <ATen/ops/empty.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace lorkd::cpu {

namespace {
std::mutex g_table_mutex;
std::map<MeasureKey, ConvPath> g_table;   // guarded by g_table_mutex
}  // namespace

std::vector<std::string> conv_path_names() {
  return {kConvPathNames.begin(), kConvPathNames.end()};
}

bool conv_measuring() {
  const Settings settings = current_settings();
  return settings.measuring && settings.conv_strategy == ConvStrategy::kAuto;
}

std::optional<ConvPath> measured_path(const MeasureKey& key) {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  const auto found = g_table.find(key);
  if (found == g_table.end()) return std::nullopt;
  return found->second;
}

void record_measured_path(const MeasureKey& key, ConvPath path) {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  g_table[key] = path;
}

at::Tensor measured_table() {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  const int64_t width = kMeasureKeyLength + 1;
  at::Tensor table = at::empty({static_cast<int64_t>(g_table.size()), width}, at::kLong);
  int64_t* row = table.data_ptr<int64_t>();
  for (const auto& [key, path] : g_table) {
    row = std::copy(key.begin(), key.end(), row);
    *row++ = static_cast<int64_t>(path);
  }
  return table;
}

void load_measured_table(const at::Tensor& table) {
  TORCH_CHECK_VALUE(table.dim() == 2 && table.scalar_type() == at::kLong,
                    "a measured-strategy table is a 2-d int64 tensor, got ", table.dim(),
                    "-d ", table.scalar_type());
  const at::Tensor rows = table.contiguous();
  const int64_t width = rows.size(1);
  TORCH_CHECK_VALUE(width == kMeasureKeyLength + 1, "a measured-strategy table row has ", width,
                    " values, this version writes ", kMeasureKeyLength + 1);
  std::lock_guard<std::mutex> lock(g_table_mutex);
  const int64_t* data = rows.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows.size(0); ++i, data += width) {
    const int64_t path = data[width - 1];
    TORCH_CHECK_VALUE(path >= 0 && path < static_cast<int64_t>(kConvPathNames.size()),
                      "a measured-strategy table row names path ", path,
                      " (expected 0, 1, 2 or 3)");
    g_table[MeasureKey(data, data + width - 1)] = static_cast<ConvPath>(path);
  }
}

void clear_measured_table() {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  g_table.clear();
}

int64_t conv_strategy() { return static_cast<int64_t>(current_settings().conv_strategy); }

namespace {

// Elements the plain layer allocates: output, input gradient, weight gradient.
double plain_elements(const ConvShape& s) {
  const double weight = double(s.out_channels) * (s.in_channels / s.groups) * s.kernel_area;
  return double(s.batch) * (s.out_channels * s.output_area + s.in_channels * s.input_area) +
         weight;
}

// Elements of the intermediates `path` allocates beyond the plain layer's (eks_conv2d.cpp).
// Per-sample conv weights count twice (the copy and its gradient), four times for a dense
// layer, whose per-sample weights oneDNN also reorders into copies of both (fitted to the
// profiler-measured peaks of the students' layers: docs/design.md, "Memory cap").
double extra_elements(ConvPath path, const ConvShape& s) {
  const double kPerSampleWeightCopies = s.groups == 1 ? 4 : 2;
  const double n = s.batch, r = s.rank, g = s.groups, c_out = s.out_channels;
  const double k = double(s.in_channels / s.groups) * s.kernel_area;   // one group's A row
  const double x = n * s.in_channels * s.input_area, y = n * c_out * s.output_area;
  switch (path) {
    case ConvPath::kSplit:   // A and B per sample, u (a 1x1 shrink is a GEMM: no reorder)
      return (s.kernel_area == 1 ? 1 : kPerSampleWeightCopies) * n * g * r * k +
             n * c_out * r + n * g * r * s.output_area;
    case ConvPath::kStackedSplit:   // every task's u and v, the own task's, B per sample, dX
      return 2 * n * s.tasks * r * s.output_area + 2 * n * r * s.output_area +
             n * c_out * r + x;
    case ConvPath::kMergedPerSample:   // merged weights per sample, the per-task gradients
      return kPerSampleWeightCopies * n * c_out * k + s.tasks * c_out * k;
    case ConvPath::kMergedPerTask: {   // one task's rows at a time (gathered unless sorted)
      const double rows = n / std::max<int64_t>(s.task_runs, 1);
      const double per_row = (x + y) / std::max(n, 1.0);
      return rows * per_row * (s.sorted ? 1 : 2) + 2 * c_out * k;
    }
  }
  return 0;
}
}  // namespace

double memory_cap() { return current_settings().memory_cap; }

double memory_ratio(ConvPath path, const ConvShape& shape) {
  const double plain = std::max(plain_elements(shape), 1.0);
  return (plain + extra_elements(path, shape)) / plain;
}

bool within_memory_cap(ConvPath path, const ConvShape& shape) {
  // Under 2^16 extra elements (256 KiB of floats) a small layer may take any multiple of its own.
  constexpr double kNegligibleElements = 1 << 16;
  const double cap = memory_cap();
  return cap == 0 || extra_elements(path, shape) < kNegligibleElements ||
         memory_ratio(path, shape) <= cap;
}

std::vector<ConvPath> keep_within_memory_cap(const std::vector<ConvPath>& paths,
                                             const ConvShape& shape) {
  std::vector<ConvPath> kept;
  for (const ConvPath path : paths) {
    if (within_memory_cap(path, shape)) kept.push_back(path);
  }
  if (!kept.empty() || paths.empty()) return kept;
  ConvPath smallest = paths.front();
  for (const ConvPath path : paths) {
    if (memory_ratio(path, shape) < memory_ratio(smallest, shape)) smallest = path;
  }
  return {smallest};
}

namespace {
ConvPath cost_model_path(const Segments& segments, const ConvShape& shape);
}  // namespace

ConvPath choose_path(const Segments& segments, const ConvShape& shape) {
  const ConvPath merged =
      shape.per_sample_weights_fit ? ConvPath::kMergedPerSample : ConvPath::kMergedPerTask;
  switch (current_settings().conv_strategy) {
    case ConvStrategy::kMerged:
      return merged;
    case ConvStrategy::kSplit:
      return ConvPath::kSplit;
    case ConvStrategy::kStacked:
      return shape.stacked_applies ? ConvPath::kStackedSplit : ConvPath::kSplit;
    case ConvStrategy::kAuto:
      break;
  }
  const ConvPath modelled = cost_model_path(segments, shape);
  if (within_memory_cap(modelled, shape)) return modelled;
  return keep_within_memory_cap(applicable_paths(shape), shape).front();
}

std::vector<ConvPath> applicable_paths(const ConvShape& shape) {
  std::vector<ConvPath> paths{ConvPath::kSplit, ConvPath::kMergedPerTask};
  if (shape.per_sample_weights_fit) paths.push_back(ConvPath::kMergedPerSample);
  if (shape.stacked_applies) paths.push_back(ConvPath::kStackedSplit);
  return paths;
}

namespace {
ConvPath cost_model_path(const Segments& segments, const ConvShape& shape) {
  // Cost model from fwd+bwd timings of the students' layers (batch 64, T = 10, 2 cores,
  // benchmarks/README.md). Running the convolution once per task pays off only on large feature
  // maps with several samples per task, where oneDNN runs faster on the smaller batches (1x1 at
  // 28x28: 0.87x a plain conv merged against 1.33x split; depthwise 3x3 at 28x28: per task 0.45x,
  // per sample 1.2x). Elsewhere the per-call cost of T convolutions dominates, and the forms
  // with a fixed number of calls win: one grouped convolution over per-sample merged weights
  // where those are small (depthwise at 14x14: 0.94x against 1.8x per task), else split (1x1 at
  // 14x14: 1.30x against 1.50x; 3x3 at 7x7: 1.27x against 1.53x).
  const int64_t tasks = static_cast<int64_t>(segments.runs().size());
  const bool few_per_task = tasks * 2 > shape.batch;
  // Dense convs whose per-sample weights fit (few channels on a large map) run the grouped form
  // when they are unstrided 1x1 (at 64x64 input, batch 64: 24->58 at 16x16 0.84x plain against
  // 1.42x split, 58->58 at 8x8 1.27x against 1.45x); dense spatial and strided kernels lose
  // there (7x7 3->64 /2: 2.5x against 1.8x; 1x1 64->128 /2: 1.80x against 1.60x).
  const bool dense_grouped_wins = shape.kernel_area == 1 && !shape.strided;
  if (shape.per_sample_weights_fit && (shape.groups > 1 || dense_grouped_wins)) {
    const bool many_per_task = tasks * 4 <= shape.batch;
    // (strided depthwise at 56x56 -> 28x28: per task 2.6x, per sample 1.0x)
    return (shape.output_area >= 784 && many_per_task && !shape.strided)
               ? ConvPath::kMergedPerTask
               : ConvPath::kMergedPerSample;
  }
  // Split's shrink is a grouped convolution with r channels per group, slow in oneDNN for
  // grouped spatial kernels: those stay merged.
  if (shape.groups > 1 && shape.kernel_area > 1) return ConvPath::kMergedPerTask;
  // Split with the shrink stacked over all tasks (one dense conv with T*r channels) on spatial
  // kernels where that costs at most a quarter of the layer: against split at batch 64, T = 10,
  // r = 4, 3x3 512->512 at 2x2: 1.12x plain against 1.25x; 256->512 /2: 1.29x both; 256->256 at
  // 4x4: 1.36x against 1.30x, with no per-sample copies of A (split's peak memory there: 4.4x
  // plain). 1x1 convs keep split, whose shrink is a GEMM on x (232->232: 1.62x against 1.99x).
  const ConvPath split = shape.stacked_cheap ? ConvPath::kStackedSplit : ConvPath::kSplit;
  if (few_per_task) return split;
  const bool large_map = shape.output_area >= (shape.kernel_area == 1 ? 784 : 100);
  return large_map ? ConvPath::kMergedPerTask : split;
}
}  // namespace

}  // namespace lorkd::cpu
