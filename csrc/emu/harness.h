// CPU emulation of a CUDA launch, for testing kernel bodies (csrc/kernels) without a GPU.
//
// Every CUDA thread of a block is a fiber (its own stack, switched in user space) and
// __syncthreads is the point where a fiber hands control back to its block's scheduler. Between
// two barriers the threads run one at a time, in an order shuffled afresh for every stretch and
// every launch, so a missing barrier shows up as a read of a value not yet written (shared memory
// starts every block as 0xFF bytes, NaN as floating point) or as results that move from run to
// run. Where the threads' dependencies form a cycle (thread i reads what thread i+1 wrote) some
// thread always reads first, so that case fails on every run. Blocks are shared out between the
// host's worker threads (at::parallel_for), so blocks run concurrently too.
//
// A thread that throws aborts its block: the fibers still waiting at a barrier are resumed only
// to unwind, and run_grid rethrows the first exception (a CUDA kernel cannot throw; a body that
// does must fail the test, not hang it). Threads that leave a block while others still wait at a
// barrier are an error too (on a GPU that barrier may never release).
#pragma once

#include <ATen/record_function.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

#include "../kernels/exec.h"

namespace lorkd::emu {

class BlockScheduler;

class EmuCtx {
 public:
  EmuCtx(const kernels::LaunchShape& shape, int thread, char* shared, BlockScheduler* block)
      : shape_(shape), thread_(thread), shared_(shared), scheduler_(block) {}

  int64_t block(int d) const { return block_[d]; }
  int64_t grid(int d) const { return shape_.grid[d]; }
  int thread() const { return thread_; }
  int threads() const { return shape_.threads; }
  char* shared() const { return shared_; }
  void sync() { arrive(false); }
  bool sync_or(bool flag) { return arrive(flag); }

  void set_block(const int64_t (&index)[3]) {
    for (int d = 0; d < 3; ++d) block_[d] = index[d];
  }

 private:
  bool arrive(bool flag);   // the barrier: back to the scheduler until every thread arrived

  const kernels::LaunchShape& shape_;
  const int thread_;
  char* const shared_;
  BlockScheduler* const scheduler_;
  int64_t block_[3] = {0, 0, 0};
};

// Runs body(ctx) for every thread of every block of `shape`; rethrows the first exception a
// thread threw (after every thread of its block has stopped).
void run_grid(const kernels::LaunchShape& shape, const std::function<void(EmuCtx&)>& body);

// Runs two blocks of `threads` threads through barriers, thread `failing_thread` of the first
// block throwing between two of them: the check that a throwing kernel thread fails the launch
// instead of hanging the harness (tests/backends/test_emulator_harness.py).
void fault_probe(int64_t threads, int64_t failing_thread);

// One block in which thread i writes shared word i and then reads word (i + 1) mod threads,
// with a barrier between the two steps or not; returns how many threads read a word not yet
// written. The check that the harness exposes a missing barrier (the same test file).
int64_t race_probe(int64_t threads, bool with_barrier);

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
