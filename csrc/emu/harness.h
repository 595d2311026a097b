// CPU emulation of a CUDA launch, for testing kernel bodies (csrc/kernels) without a GPU.
//
// Every CUDA thread of a block is an OS thread and __syncthreads is a barrier across them, so
// the bodies run with real concurrency: a missing barrier shows up as a result that changes
// from run to run. Blocks run one after another, each starting with shared memory filled with
// 0xFF bytes (NaN as floating point), so reading shared memory before writing it shows too.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "../kernels/exec.h"

namespace lorkd::emu {

// A reusable barrier for a fixed number of threads that also ORs a flag across them
// (__syncthreads_or).
class BlockBarrier {
 public:
  explicit BlockBarrier(int parties) : parties_(parties) {}
  bool arrive_and_wait(bool flag);

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  const int parties_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  bool any_ = false;      // OR of the flags of the current generation
  bool result_ = false;   // OR of the last completed generation
};

class EmuCtx {
 public:
  EmuCtx(const kernels::LaunchShape& shape, int thread, char* shared, BlockBarrier* barrier)
      : shape_(shape), thread_(thread), shared_(shared), barrier_(barrier) {}

  int64_t block(int d) const { return block_[d]; }
  int64_t grid(int d) const { return shape_.grid[d]; }
  int thread() const { return thread_; }
  int threads() const { return shape_.threads; }
  char* shared() const { return shared_; }
  void sync() { barrier_->arrive_and_wait(false); }
  bool sync_or(bool flag) { return barrier_->arrive_and_wait(flag); }

  void set_block(int64_t x, int64_t y, int64_t z) {
    block_[0] = x;
    block_[1] = y;
    block_[2] = z;
  }

 private:
  const kernels::LaunchShape& shape_;
  const int thread_;
  char* const shared_;
  BlockBarrier* const barrier_;
  int64_t block_[3] = {0, 0, 0};
};

// Runs body(ctx) for every thread of every block of `shape`.
void run_grid(const kernels::LaunchShape& shape, const std::function<void(EmuCtx&)>& body);

struct EmuLauncher {
  template <class Kernel, class Args>
  static void launch(const kernels::LaunchShape& shape, const Args& args) {
    run_grid(shape, [&args](EmuCtx& ctx) { Kernel::run(ctx, args); });
  }
  static bool host_may_read(const at::Tensor&) { return true; }
};

}  // namespace lorkd::emu
