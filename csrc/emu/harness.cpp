#include "harness.h"

#include <c10/util/Exception.h>

#include <cstring>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

namespace lorkd::emu {

bool BlockBarrier::arrive_and_wait(bool flag) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (aborted_) throw GridAborted{};
  any_ = any_ || flag;
  if (++arrived_ == parties_) {
    result_ = any_;
    any_ = false;
    arrived_ = 0;
    ++generation_;
    released_.notify_all();
    return result_;
  }
  const uint64_t generation = generation_;
  released_.wait(lock, [&] { return generation_ != generation || aborted_; });
  if (generation_ == generation) throw GridAborted{};   // aborted while waiting
  // result_ cannot be overwritten before this read: the next generation completes only after
  // this thread arrives again.
  return result_;
}

void BlockBarrier::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = true;
  released_.notify_all();
}

void run_grid(const kernels::LaunchShape& shape, const std::function<void(EmuCtx&)>& body) {
  TORCH_CHECK(shape.threads >= 1 && shape.threads <= 1024, "emulated launch with ",
              shape.threads, " threads per block (CUDA allows 1 to 1024)");
  // 16-byte alignment, as CUDA gives dynamic shared memory
  const size_t words = (shape.shared_bytes + 15) / 16 + 1;
  std::unique_ptr<uint64_t[]> storage(new uint64_t[2 * words]);
  char* shared = reinterpret_cast<char*>(storage.get());
  BlockBarrier barrier(shape.threads);
  std::exception_ptr failure;
  std::mutex failure_mutex;

  auto worker = [&](int thread) {
    EmuCtx ctx(shape, thread, shared, &barrier);
    try {
      for (int64_t z = 0; z < shape.grid[2]; ++z) {
        for (int64_t y = 0; y < shape.grid[1]; ++y) {
          for (int64_t x = 0; x < shape.grid[0]; ++x) {
            if (thread == 0) std::memset(shared, 0xFF, shape.shared_bytes);
            barrier.arrive_and_wait(false);   // shared memory poisoned before the block starts
            ctx.set_block(x, y, z);
            body(ctx);
            barrier.arrive_and_wait(false);   // the block ends for every thread together
          }
        }
      }
    } catch (const GridAborted&) {
      // another thread failed; its exception is the one reported
    } catch (...) {
      {
        std::lock_guard<std::mutex> guard(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
      // The other threads may wait at a barrier this thread will never reach: release them.
      barrier.abort();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(shape.threads);
  for (int t = 0; t < shape.threads; ++t) threads.emplace_back(worker, t);
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

void fault_probe(int64_t threads, int64_t failing_thread) {
  TORCH_CHECK_VALUE(threads >= 1 && threads <= 1024, "threads must be in [1, 1024], got ",
                    threads);
  kernels::LaunchShape shape;
  shape.grid[0] = 2;
  shape.threads = static_cast<int>(threads);
  run_grid(shape, [failing_thread](EmuCtx& ctx) {
    ctx.sync();
    TORCH_CHECK(!(ctx.block(0) == 0 && ctx.thread() == failing_thread),
                "emulated kernel thread ", ctx.thread(), " of block 0 failed (fault probe)");
    ctx.sync_or(false);
    ctx.sync();
  });
}

}  // namespace lorkd::emu
