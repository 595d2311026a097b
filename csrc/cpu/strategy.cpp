#include "strategy.h"

#include <c10/util/Exception.h>

#include <ATen/ops/empty.h>

#include <atomic>
#include <map>
#include <mutex>

namespace lorkd::cpu {

namespace {
std::atomic<int64_t> g_strategy{static_cast<int64_t>(ConvStrategy::kAuto)};
std::atomic<bool> g_measuring{false};
std::mutex g_table_mutex;
std::map<MeasureKey, ConvPath> g_table;   // guarded by g_table_mutex
}  // namespace

bool set_conv_measuring(bool enabled) { return g_measuring.exchange(enabled); }

bool conv_measuring() {
  return g_measuring.load() &&
         static_cast<ConvStrategy>(g_strategy.load()) == ConvStrategy::kAuto;
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
    TORCH_CHECK_VALUE(path >= 0 && path <= 3, "a measured-strategy table row names path ", path,
                      " (expected 0, 1, 2 or 3)");
    g_table[MeasureKey(data, data + width - 1)] = static_cast<ConvPath>(path);
  }
}

void clear_measured_table() {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  g_table.clear();
}

int64_t conv_strategy() { return g_strategy.load(); }

int64_t set_conv_strategy(int64_t strategy) {
  TORCH_CHECK_VALUE(strategy >= 0 && strategy <= 3,
                    "strategy must be 0 (auto), 1 (merged), 2 (split) or 3 (stacked), got ",
                    strategy);
  return g_strategy.exchange(strategy);
}

ConvPath choose_path(const Segments& segments, const ConvShape& shape) {
  const ConvPath merged =
      shape.per_sample_weights_fit ? ConvPath::kMergedPerSample : ConvPath::kMergedPerTask;
  switch (static_cast<ConvStrategy>(g_strategy.load())) {
    case ConvStrategy::kMerged:
      return merged;
    case ConvStrategy::kSplit:
      return ConvPath::kSplit;
    case ConvStrategy::kStacked:
      return shape.stacked_applies ? ConvPath::kStackedSplit : ConvPath::kSplit;
    case ConvStrategy::kAuto:
      break;
  }
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

}  // namespace lorkd::cpu
