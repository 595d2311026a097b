// CPU emulation of a CUDA launch, for testing kernel bodies (csrc/kernels) without a GPU.
//
// Every CUDA thread of a block is an OS thread and __syncthreads is a barrier across them, so
// the bodies run with real concurrency: a missing barrier shows up as a result that changes
// from run to run. Blocks run one after another, each starting with shared memory filled with
// 0xFF bytes (NaN as floating point), so reading shared memory before writing it shows too.
// A thread that throws aborts the grid: its barrier releases every waiting thread, the grid
// stops, and run_grid rethrows the first exception (a CUDA kernel cannot throw; a body that does
// must fail the test, not hang it).
#pragma once

#include <ATen/record_function.h>
#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "../kernels/exec.h"

namespace lorkd::emu {

// Thrown by a barrier of an aborted grid into the threads that wait at it or reach it later.
struct GridAborted {};

// A reusable barrier for a fixed number of threads that also ORs a flag across them
// (__syncthreads_or). abort() releases it for good: waiting and later arrivals throw GridAborted.
class BlockBarrier {
 public:
  explicit BlockBarrier(int parties) : parties_(parties) {}
  bool arrive_and_wait(bool flag);
  void abort();

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  const int parties_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  bool any_ = false;      // OR of the flags of the current generation
  bool result_ = false;   // OR of the last completed generation
  bool aborted_ = false;
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

// Runs body(ctx) for every thread of every block of `shape`; rethrows the first exception a
// thread threw (after every thread has stopped).
void run_grid(const kernels::LaunchShape& shape, const std::function<void(EmuCtx&)>& body);

// Runs two blocks of `threads` threads through barriers, thread `failing_thread` of the first
// block throwing between two of them: the check that a throwing kernel thread fails the launch
// instead of hanging the harness (tests/backends/test_emulator_harness.py).
void fault_probe(int64_t threads, int64_t failing_thread);

struct EmuLauncher {
  template <class Kernel, class Args>
  static void launch(const kernels::LaunchShape& shape, const Args& args) {
    if (shape.grid[0] == 0 || shape.grid[1] == 0 || shape.grid[2] == 0) return;   // as on a GPU
    // Named in profiler traces, so host-work counts see each launch a GPU would make
    // (tests/host_work.py).
    RECORD_FUNCTION("cuda_emu::launch", std::vector<c10::IValue>());
    run_grid(shape, [&args](EmuCtx& ctx) { Kernel::run(ctx, args); });
  }
  // The host may always read CPU tensors; host_task_id_checks(false) stands in for a CUDA-graph
  // capture (csrc/kernels/eks_ops.h).
  static bool host_may_read(const at::Tensor&) { return true; }
};

}  // namespace lorkd::emu
