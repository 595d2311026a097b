"""BatchNorm running statistics that do not depend on how a step's shards are spread.

Each shard of a step (a process under DDP, or an accumulated micro-batch) updates the running
statistics from the same starting point; afterwards they are averaged over all shards. So 2
processes × 1 micro-batch and 1 process × 2 micro-batches keep identical running statistics,
as they keep identical weights, and every rank holds the same values (no rank-0 broadcast).
"""

from __future__ import annotations

from typing import List

import torch
import torch.distributed as dist
from torch import nn


class ShardedRunningStats:
    def __init__(self, model: nn.Module, distributed: bool) -> None:
        norms = [
            m
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        ]
        self.stats: List[torch.Tensor] = [
            t for m in norms for t in (m.running_mean, m.running_var) if t is not None
        ]
        self.counters = [m.num_batches_tracked for m in norms if m.num_batches_tracked is not None]
        self.distributed = distributed

    def begin_step(self) -> None:
        self._start = [t.clone() for t in self.stats]
        self._counts = [c.clone() for c in self.counters]
        self._sums = [torch.zeros_like(t) for t in self.stats]
        self._shards = 0

    def begin_shard(self) -> None:
        for t, start in zip(self.stats, self._start):
            t.copy_(start)

    def end_shard(self) -> None:
        for total, t in zip(self._sums, self.stats):
            total.add_(t)
        self._shards += 1

    @torch.no_grad()
    def end_step(self) -> None:
        world = dist.get_world_size() if self.distributed else 1
        for t, total in zip(self.stats, self._sums):
            if self.distributed:
                dist.all_reduce(total)
            t.copy_(total / (self._shards * world))
        for counter, count in zip(self.counters, self._counts):
            counter.copy_(count + 1)
