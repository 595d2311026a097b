#include "segments.h"

#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include <atomic>

namespace lorkd {

void check_task_id_range(const at::Tensor& task_ids, int64_t num_tasks) {
  const at::Tensor ids = task_ids.contiguous();
  const int64_t* data = ids.const_data_ptr<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    TORCH_CHECK_INDEX(data[i] >= 0 && data[i] < num_tasks, "task_ids contains ", data[i],
                      " at position ", i, ", outside [0, ", num_tasks, ") (num_tasks = ",
                      num_tasks, ")");
  }
}

namespace {
std::atomic<bool> host_checks{true};
}  // namespace

bool host_task_id_checks() { return host_checks.load(); }

bool set_host_task_id_checks(bool enabled) { return host_checks.exchange(enabled); }

Segments::Segments(const at::Tensor& task_ids, int64_t num_tasks) {
  check_task_id_range(task_ids, num_tasks);
  const at::Tensor ids = task_ids.contiguous();
  const int64_t* data = ids.const_data_ptr<int64_t>();
  const int64_t n = ids.numel();
  std::vector<int64_t> counts(num_tasks, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = data[i];
    ++counts[t];
    if (i > 0 && t < data[i - 1]) sorted_ = false;
  }
  std::vector<int64_t> starts(num_tasks, 0);
  int64_t start = 0;
  for (int64_t t = 0; t < num_tasks; ++t) {
    starts[t] = start;
    if (counts[t] > 0) runs_.push_back({t, start, counts[t]});
    start += counts[t];
  }
  if (!sorted_) {  // counting sort: stable, O(n)
    order_ = at::empty({n}, ids.options());
    int64_t* order = order_.mutable_data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) order[starts[data[i]]++] = i;
  }
}

at::Tensor Segments::indices(const TaskRun& run) const {
  return order_.narrow(0, run.start, run.length);
}

at::Tensor Segments::rows(const at::Tensor& t, const TaskRun& run) const {
  if (sorted_) return t.narrow(0, run.start, run.length);
  return t.index_select(0, indices(run));
}

void Segments::put_rows(at::Tensor& out, const TaskRun& run, const at::Tensor& value) const {
  if (sorted_) {
    out.narrow(0, run.start, run.length).copy_(value);
  } else {
    out.index_copy_(0, indices(run), value);
  }
}

void Segments::add_rows(at::Tensor& out, const TaskRun& run, const at::Tensor& value) const {
  if (sorted_) {
    out.narrow(0, run.start, run.length).add_(value);
  } else {
    out.index_add_(0, indices(run), value);
  }
}

}  // namespace lorkd
