#include "segments.h"

#include "settings.h"

#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>

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
std::atomic<int64_t> host_reads{0};

struct RangeNote {
  c10::weak_intrusive_ptr<c10::TensorImpl> ids;
  uint32_t version;
  int64_t low, high;
};

// A few recent notes: a forward pass has one batch (two with a teacher), so eight is plenty;
// the oldest is dropped first.
constexpr size_t kMaxNotes = 8;
std::mutex notes_mutex;
std::deque<RangeNote> notes;

uint32_t version_of(const at::Tensor& t) {
  return t.unsafeGetTensorImpl()->version_counter().current_version();
}
}  // namespace

bool host_task_id_checks() { return current_settings().host_task_id_checks; }

void note_task_id_range(const at::Tensor& task_ids, int64_t low, int64_t high) {
  const std::lock_guard<std::mutex> lock(notes_mutex);
  std::erase_if(notes, [](const RangeNote& note) { return note.ids.expired(); });
  if (notes.size() >= kMaxNotes) notes.pop_front();
  notes.push_back({c10::weak_intrusive_ptr<c10::TensorImpl>(task_ids.getIntrusivePtr()),
                   version_of(task_ids), low, high});
}

bool check_noted_task_id_range(const at::Tensor& task_ids, int64_t num_tasks) {
  int64_t low = 0, high = 0;
  {
    const std::lock_guard<std::mutex> lock(notes_mutex);
    const auto it = std::find_if(notes.begin(), notes.end(), [&](const RangeNote& note) {
      const auto ids = note.ids.lock();
      return ids.get() == task_ids.unsafeGetTensorImpl() &&
             note.version == version_of(task_ids);
    });
    if (it == notes.end()) return false;
    low = it->low;
    high = it->high;
  }
  const int64_t bad = low < 0 ? low : high;
  TORCH_CHECK_INDEX(low >= 0 && high < num_tasks, "task_ids contains ", bad, ", outside [0, ",
                    num_tasks, ") (num_tasks = ", num_tasks, ")");
  return true;
}

int64_t host_task_id_reads() { return host_reads.load(); }

void count_host_task_id_read() { ++host_reads; }

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
