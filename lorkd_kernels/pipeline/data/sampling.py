"""A sampler that visits every task equally often, sharded across distributed replicas."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from .datasets import MultiTaskDataset


class TaskBalancedSampler(Sampler[int]):
    """Indices of a :class:`MultiTaskDataset` with tasks drawn equally often.

    Each epoch holds ``num_samples`` draws in all (default: the dataset's length), split as
    evenly as possible over the tasks; within a task the draws cycle through random
    permutations of its samples, so small tasks repeat and large tasks are subsampled. The
    order depends only on ``seed`` and :meth:`set_epoch`, so every replica computes the same
    epoch and takes every ``num_replicas``-th draw from ``rank`` on, like DistributedSampler.
    """

    def __init__(
        self,
        dataset: MultiTaskDataset,
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        lengths = getattr(dataset, "task_lengths", None)
        if lengths is None:
            raise TypeError(
                "TaskBalancedSampler needs a MultiTaskDataset (with task_lengths), "
                f"got {type(dataset).__name__}"
            )
        empty = [dataset.task_names[t] for t, n in enumerate(lengths) if n == 0]
        if empty:
            raise ValueError(f"task(s) {empty} have no samples to draw")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"need num_replicas >= 1 and 0 <= rank < num_replicas, got "
                f"num_replicas={num_replicas}, rank={rank}"
            )
        total = len(dataset) if num_samples is None else num_samples
        if total < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        self.task_lengths = list(lengths)
        self.seed, self.num_replicas, self.rank, self.epoch = seed, num_replicas, rank, 0
        # Rounded up so every replica takes the same number of draws.
        self.num_samples = math.ceil(total / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def epoch_indices(self) -> torch.Tensor:
        """All ``total_size`` draws of the current epoch, before sharding."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        tasks = len(self.task_lengths)
        counts = torch.full((tasks,), self.total_size // tasks, dtype=torch.int64)
        counts[torch.randperm(tasks, generator=generator)[: self.total_size % tasks]] += 1
        order = torch.repeat_interleave(torch.arange(tasks), counts)
        order = order[torch.randperm(self.total_size, generator=generator)]
        indices = torch.empty(self.total_size, dtype=torch.int64)
        offset = 0
        for task, (length, count) in enumerate(zip(self.task_lengths, counts.tolist())):
            if count:
                draws = torch.cat(
                    [
                        torch.randperm(length, generator=generator)
                        for _ in range(math.ceil(count / length))
                    ]
                )
                indices[order == task] = draws[:count] + offset
            offset += length
        return indices

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.rank :: self.num_replicas].tolist())
