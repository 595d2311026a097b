#include "harness.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

// AddressSanitizer must be told when the stack changes under it (.ci/run runs the emulated
// kernels under it); without the annotations an exception unwinding a fiber reads as an error.
#if defined(__SANITIZE_ADDRESS__)
#define LORKD_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LORKD_EMU_ASAN 1
#endif
#endif
#ifdef LORKD_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace lorkd::emu {

namespace {

void start_switch([[maybe_unused]] void** fake_stack, [[maybe_unused]] const void* bottom,
                  [[maybe_unused]] size_t size) {
#ifdef LORKD_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
}

void finish_switch([[maybe_unused]] void* fake_stack, [[maybe_unused]] const void** bottom,
                   [[maybe_unused]] size_t* size) {
#ifdef LORKD_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
#endif
}

// Kernel bodies keep a few scalars and small arrays; the sanitizers' frames are larger.
constexpr size_t kStackBytes = size_t{256} << 10;

size_t page_bytes() {
  static const size_t bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

// A fiber's stack, with an inaccessible page below it so that an overflow faults instead of
// writing into the next stack. Pages are committed only when touched.
class FiberStack {
 public:
  FiberStack() {
    void* memory = mmap(nullptr, page_bytes() + kStackBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    TORCH_CHECK(memory != MAP_FAILED, "could not map the stack of an emulated CUDA thread");
    base_ = static_cast<char*>(memory);
    TORCH_CHECK(mprotect(base_, page_bytes(), PROT_NONE) == 0,
                "could not protect the guard page of an emulated CUDA thread's stack");
  }
  ~FiberStack() { munmap(base_, page_bytes() + kStackBytes); }
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;

  char* bottom() const { return base_ + page_bytes(); }

 private:
  char* base_;
};

// The stacks a worker thread's fibers run on, kept across launches: mapping one is a system
// call, and at 256 threads a launch would map hundreds.
std::vector<std::unique_ptr<FiberStack>>& worker_stacks(size_t count) {
  thread_local std::vector<std::unique_ptr<FiberStack>> stacks;
  while (stacks.size() < count) stacks.push_back(std::make_unique<FiberStack>());
  return stacks;
}

// splitmix64: a fresh, well-mixed order of threads for every stretch between barriers.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Each launch shuffles differently, so two runs of the same inputs interleave differently.
std::atomic<uint64_t> launches{0};

// Thrown into the fibers still waiting at a barrier when their block is aborted.
struct BlockAborted {};

}  // namespace

// Runs blocks of one launch on the calling worker thread, one block at a time, its threads as
// fibers.
class BlockScheduler {
 public:
  BlockScheduler(const kernels::LaunchShape& shape, const std::function<void(EmuCtx&)>& body,
                 uint64_t seed)
      : shape_(shape),
        body_(body),
        stacks_(worker_stacks(shape.threads)),
        // 16-byte alignment, as CUDA gives dynamic shared memory
        shared_storage_(new uint64_t[2 * ((shape.shared_bytes + 15) / 16 + 1)]),
        fibers_(shape.threads),
        order_(shape.threads),
        random_(seed) {}

  // Runs every thread of block `index` to its end; rethrows the first exception one threw.
  void run_block(const int64_t (&index)[3]) {
    for (int d = 0; d < 3; ++d) block_[d] = index[d];
    // shared memory poisoned before the block starts
    std::memset(shared(), 0xFF, shape_.shared_bytes);
    const auto self = reinterpret_cast<uintptr_t>(this);
    for (int t = 0; t < shape_.threads; ++t) {
      Fiber& fiber = fibers_[t];
      fiber = Fiber{};
      TORCH_CHECK(getcontext(&fiber.context) == 0, "getcontext failed");
      fiber.context.uc_stack.ss_sp = stacks_[t]->bottom();
      fiber.context.uc_stack.ss_size = kStackBytes;
      fiber.context.uc_link = &scheduler_context_;
      // makecontext passes int arguments only: the pointer travels in two halves
      makecontext(&fiber.context, reinterpret_cast<void (*)()>(&BlockScheduler::entry), 3,
                  static_cast<unsigned>(self >> 32), static_cast<unsigned>(self & 0xFFFFFFFFu),
                  t);
    }
    while (true) {
      run_shuffled();
      int waiting = 0;
      bool any_flag = false;
      std::exception_ptr failure;
      for (const Fiber& fiber : fibers_) {
        waiting += fiber.state == Fiber::kWaiting;
        any_flag = any_flag || (fiber.state == Fiber::kWaiting && fiber.flag);
        if (fiber.error && !failure) failure = fiber.error;
      }
      if (waiting == 0 && !failure) return;
      if (!failure && waiting < shape_.threads) {
        try {
          TORCH_CHECK(false, "emulated block (", block_[0], ", ", block_[1], ", ", block_[2],
                      "): ", shape_.threads - waiting, " of ", shape_.threads,
                      " threads ended while the others wait at a barrier (__syncthreads must be "
                      "reached by every thread of a block)");
        } catch (...) {
          failure = std::current_exception();
        }
      }
      if (failure) {
        abort_waiting();
        std::rethrow_exception(failure);
      }
      for (Fiber& fiber : fibers_) {
        fiber.flag = any_flag;
        fiber.state = Fiber::kReady;
      }
    }
  }

  // The barrier, called on a fiber: back to the scheduler until every thread has arrived.
  bool arrive(int thread, bool flag) {
    Fiber& fiber = fibers_[thread];
    fiber.flag = flag;
    fiber.state = Fiber::kWaiting;
    start_switch(&fiber.fake_stack, scheduler_stack_, scheduler_stack_bytes_);
    swapcontext(&fiber.context, &scheduler_context_);
    finish_switch(fiber.fake_stack, &scheduler_stack_, &scheduler_stack_bytes_);
    if (aborting_) throw BlockAborted{};
    return fiber.flag;   // the OR over the block, set by the scheduler
  }

 private:
  struct Fiber {
    enum State { kReady, kWaiting, kDone };
    ucontext_t context;
    State state = kReady;
    bool flag = false;
    std::exception_ptr error;
    void* fake_stack = nullptr;
  };

  char* shared() const {
    return reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(shared_storage_.get()) + 15) &
                                   ~uintptr_t{15});
  }

  static void entry(unsigned high, unsigned low, int thread) {
    auto* self = reinterpret_cast<BlockScheduler*>((static_cast<uintptr_t>(high) << 32) | low);
    finish_switch(nullptr, &self->scheduler_stack_, &self->scheduler_stack_bytes_);
    Fiber& fiber = self->fibers_[thread];
    try {
      EmuCtx ctx(self->shape_, thread, self->shared(), self);
      ctx.set_block(self->block_);
      self->body_(ctx);
    } catch (const BlockAborted&) {
      // another thread failed; its exception is the one reported
    } catch (...) {
      fiber.error = std::current_exception();
    }
    fiber.state = Fiber::kDone;
    // This fiber ends: uc_link resumes the scheduler.
    start_switch(nullptr, self->scheduler_stack_, self->scheduler_stack_bytes_);
  }

  void resume(int thread) {
    start_switch(&scheduler_fake_stack_, stacks_[thread]->bottom(), kStackBytes);
    swapcontext(&scheduler_context_, &fibers_[thread].context);
    finish_switch(scheduler_fake_stack_, nullptr, nullptr);
  }

  // Runs every ready thread up to its next barrier or its end, in a random order.
  void run_shuffled() {
    int count = 0;
    for (int t = 0; t < shape_.threads; ++t) {
      if (fibers_[t].state == Fiber::kReady) order_[count++] = t;
    }
    for (int i = count - 1; i > 0; --i) {
      std::swap(order_[i], order_[next_random(random_) % static_cast<uint64_t>(i + 1)]);
    }
    for (int i = 0; i < count; ++i) resume(order_[i]);
  }

  // Resumes the threads waiting at a barrier so that they unwind; none runs on afterwards.
  void abort_waiting() {
    aborting_ = true;
    for (int t = 0; t < shape_.threads; ++t) {
      if (fibers_[t].state == Fiber::kWaiting) resume(t);
    }
    aborting_ = false;
  }

  const kernels::LaunchShape& shape_;
  const std::function<void(EmuCtx&)>& body_;
  std::vector<std::unique_ptr<FiberStack>>& stacks_;
  std::unique_ptr<uint64_t[]> shared_storage_;
  std::vector<Fiber> fibers_;
  std::vector<int> order_;
  uint64_t random_;
  int64_t block_[3] = {0, 0, 0};
  bool aborting_ = false;
  ucontext_t scheduler_context_;
  void* scheduler_fake_stack_ = nullptr;
  const void* scheduler_stack_ = nullptr;
  size_t scheduler_stack_bytes_ = 0;
};

bool EmuCtx::arrive(bool flag) { return scheduler_->arrive(thread_, flag); }

void run_grid(const kernels::LaunchShape& shape, const std::function<void(EmuCtx&)>& body) {
  TORCH_CHECK(shape.threads >= 1 && shape.threads <= 1024, "emulated launch with ",
              shape.threads, " threads per block (CUDA allows 1 to 1024)");
  const int64_t blocks = shape.grid[0] * shape.grid[1] * shape.grid[2];
  uint64_t launch = launches.fetch_add(1);
  const uint64_t seed = next_random(launch);
  std::atomic<bool> failed{false};
  // A chunk of blocks per worker thread: blocks are independent on a GPU too.
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    BlockScheduler scheduler(shape, body, seed ^ static_cast<uint64_t>(begin));
    for (int64_t b = begin; b < end && !failed.load(); ++b) {
      const int64_t index[3] = {b % shape.grid[0], (b / shape.grid[0]) % shape.grid[1],
                                b / (shape.grid[0] * shape.grid[1])};
      try {
        scheduler.run_block(index);
      } catch (...) {
        failed = true;
        throw;
      }
    }
  });
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

int64_t race_probe(int64_t threads, bool with_barrier) {
  TORCH_CHECK_VALUE(threads >= 2 && threads <= 1024, "threads must be in [2, 1024], got ",
                    threads);
  kernels::LaunchShape shape;
  shape.threads = static_cast<int>(threads);
  shape.shared_bytes = static_cast<size_t>(threads) * sizeof(int32_t);
  std::vector<int32_t> read(threads);
  run_grid(shape, [&read, with_barrier](EmuCtx& ctx) {
    auto* words = reinterpret_cast<int32_t*>(ctx.shared());
    const int i = ctx.thread();
    words[i] = i;
    if (with_barrier) ctx.sync();
    read[i] = words[(i + 1) % ctx.threads()];
  });
  int64_t unwritten = 0;
  for (int64_t i = 0; i < threads; ++i) unwritten += read[i] != (i + 1) % threads;
  return unwritten;
}

}  // namespace lorkd::emu
