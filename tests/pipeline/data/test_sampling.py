"""Task-balanced sampling: equal task frequency, determinism, sharding; DistributedSampler too."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from lorkd_kernels.pipeline.data import MultiTaskDataset, TaskBalancedSampler, TaskDataset

LENGTHS = (40, 7, 113)


@pytest.fixture(scope="module")
def dataset():
    parts = []
    for task, n in enumerate(LENGTHS):
        images = np.full((n, 4, 4), task, np.uint8)
        parts.append(TaskDataset(images, np.arange(n) % 2, task_id=task))
    return MultiTaskDataset(parts)


def _tasks(dataset, indices):
    return Counter(dataset.task_of_index(i) for i in indices)


def test_tasks_are_drawn_equally_often(dataset):
    sampler = TaskBalancedSampler(dataset, num_samples=3001)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 3001
    counts = _tasks(dataset, indices)
    assert max(counts.values()) - min(counts.values()) <= 1
    # within a task every sample is drawn about as often (the small task repeats)
    for task in range(len(LENGTHS)):
        per_sample = Counter(i for i in indices if dataset.task_of_index(i) == task)
        assert len(per_sample) == LENGTHS[task] or counts[task] < LENGTHS[task]
        assert max(per_sample.values()) - min(per_sample.values()) <= 1


def test_default_epoch_is_the_dataset_length_and_covers_a_small_task(dataset):
    indices = list(TaskBalancedSampler(dataset))
    assert len(indices) == len(dataset)
    assert set(dataset.task_indices(1)) <= set(indices)


def test_order_depends_only_on_seed_and_epoch(dataset):
    first, same = TaskBalancedSampler(dataset, seed=5), TaskBalancedSampler(dataset, seed=5)
    assert list(first) == list(same)
    other_seed = TaskBalancedSampler(dataset, seed=6)
    assert list(first) != list(other_seed)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0
    first.set_epoch(0)
    assert list(first) == epoch0


@pytest.mark.parametrize("replicas,num_samples", [(2, 600), (3, 301), (4, None)])
def test_ranks_take_disjoint_shares_of_one_epoch(dataset, replicas, num_samples):
    shards = [
        TaskBalancedSampler(dataset, num_samples, seed=1, num_replicas=replicas, rank=r)
        for r in range(replicas)
    ]
    for shard in shards:
        shard.set_epoch(3)
    lengths = {len(shard) for shard in shards}
    assert len(lengths) == 1
    whole = shards[0].epoch_indices().tolist()
    assert len(whole) == lengths.pop() * replicas >= (num_samples or len(dataset))
    # every position of the epoch goes to exactly one rank
    interleaved = [None] * len(whole)
    for rank, shard in enumerate(shards):
        interleaved[rank::replicas] = list(shard)
    assert interleaved == whole
    for shard in shards:
        counts = _tasks(dataset, list(shard))
        assert min(counts.values()) >= 0.6 * len(shard) / len(LENGTHS)


def test_loader_with_the_sampler(dataset):
    loader = DataLoader(dataset, batch_size=30, sampler=TaskBalancedSampler(dataset, 90))
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [30, 30, 30]
    tasks = torch.cat([b[2] for b in batches])
    assert torch.bincount(tasks).tolist() == [30, 30, 30]
    # images carry their task id as pixel value, so samples really come from the drawn task
    pixels = torch.cat([b[0][:, 0, 0, 0] for b in batches])
    torch.testing.assert_close(pixels, (tasks.float() / 255 - 0.5) / 0.5)


def test_bad_sampler_arguments(dataset):
    with pytest.raises(ValueError, match="rank"):
        TaskBalancedSampler(dataset, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_samples"):
        TaskBalancedSampler(dataset, num_samples=-1)
    with pytest.raises(TypeError, match="MultiTaskDataset"):
        TaskBalancedSampler(list(range(5)))
    empty = MultiTaskDataset(
        [TaskDataset(np.zeros((0, 4, 4), np.uint8), np.zeros(0, int), 0, name="empty")]
    )
    with pytest.raises(ValueError, match=r"\['empty'\] have no samples"):
        TaskBalancedSampler(empty)


def test_distributed_sampler_works_on_a_multitask_dataset(dataset):
    shards = [
        DistributedSampler(dataset, num_replicas=2, rank=r, shuffle=True, seed=0) for r in range(2)
    ]
    indices = [list(s) for s in shards]
    assert set(indices[0]).isdisjoint(indices[1])
    assert set(indices[0]) | set(indices[1]) == set(range(len(dataset)))
    loader = DataLoader(dataset, batch_size=16, sampler=shards[1])
    images, labels, tasks = next(iter(loader))
    assert images.shape == (16, 3, 4, 4) and labels.dtype == tasks.dtype == torch.int64
    assert tasks.tolist() == [dataset.task_of_index(i) for i in indices[1][:16]]
