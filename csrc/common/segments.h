// A mixed-task batch viewed as one run of samples per task present.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace lorkd {

// IndexError naming the first id outside [0, num_tasks) (task_ids: int64, CPU, contiguous).
void check_task_id_range(const at::Tensor& task_ids, int64_t num_tasks);

// Whether the host side of the GPU kernels (csrc/kernels/eks_ops.h: the cuda and cuda_emu
// backends) reads task ids to range-check them; on by default. Off, or while a CUDA graph is
// captured, out-of-range ids give NaN instead (docs/design.md, "Op contract"). The CPU kernels
// index memory with the ids and always check. A setting (settings.h):
// lorkd_kernels.backends.host_task_id_checks.
bool host_task_id_checks();

// The range of a batch's task ids as the host already read it. lorkd_kernels/task_plan.py reads
// a batch's ids once (its task plan) and notes (min, max) here for the alias of the ids the
// layers receive; the GPU kernels' host check then compares that range instead of copying the
// ids to the host again (a device sync per op call). A note is for one tensor at one version: it
// lapses when the ids change in place or the tensor is freed.
void note_task_id_range(const at::Tensor& task_ids, int64_t low, int64_t high);
// IndexError naming the offending id if the noted range of task_ids leaves [0, num_tasks);
// returns false when there is no note for task_ids (the caller must read the ids).
bool check_noted_task_id_range(const at::Tensor& task_ids, int64_t num_tasks);
// How often the GPU kernels' host check has copied task ids to the host (tests count it).
int64_t host_task_id_reads();
void count_host_task_id_read();

struct TaskRun {
  int64_t task;
  int64_t start;   // offset in the batch sorted by task
  int64_t length;
};

class Segments {
 public:
  // Reads task_ids (int64, CPU) once; throws IndexError for ids outside [0, num_tasks).
  Segments(const at::Tensor& task_ids, int64_t num_tasks);

  const std::vector<TaskRun>& runs() const { return runs_; }
  bool sorted() const { return sorted_; }

  // Rows of `t` (batch-first) that belong to `run`: a view when the batch is sorted by task,
  // else a gathered copy.
  at::Tensor rows(const at::Tensor& t, const TaskRun& run) const;
  // Write `value` into the rows of `out` that belong to `run` (out[idx] = value).
  void put_rows(at::Tensor& out, const TaskRun& run, const at::Tensor& value) const;
  // out[idx] += value for the rows of `run`.
  void add_rows(at::Tensor& out, const TaskRun& run, const at::Tensor& value) const;

 private:
  at::Tensor indices(const TaskRun& run) const;

  std::vector<TaskRun> runs_;
  bool sorted_ = true;
  at::Tensor order_;   // stable sort permutation (int64), defined only when !sorted_
};

}  // namespace lorkd
