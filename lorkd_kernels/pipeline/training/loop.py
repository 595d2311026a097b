"""The epoch loop every stage (teacher, students) runs: sharded micro-batches, DDP, AMP,
cosine schedule, progress, per-epoch summaries, and exact resumption from checkpoints.

The global batch is split into ``world_size × grad_accum`` shards ("virtual ranks"); process
``r`` runs shards ``r·accum … r·accum + accum − 1`` one after another. Any split of the same
shards over processes and accumulation steps therefore computes the same update: 2 processes
× 1 step and 1 process × 2 steps train the same weights.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sized, cast

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data import MultiTaskDataset, TaskBalancedSampler
from ...task_ids import sort_by_task
from ...task_plan import planned_on
from . import checkpoint, rng
from .batchnorm import ShardedRunningStats
from .distributed import Distributed
from .objectives import Objective
from .schedule import lr_factor
from .signals import StopRequest, TrainingInterrupted

try:
    from tqdm import tqdm
except ImportError:  # progress bars are a convenience, never a requirement
    tqdm = None


class NonFiniteLoss(RuntimeError):
    """A training step's loss was NaN or infinite: the step's update is not applied and the stage
    stops; the message names the step and the last checkpoint written."""


@dataclass
class Stage:
    """One model to train: ``model`` returns ``(features, logits)`` (see FeaturesAndLogits)."""

    name: str
    model: nn.Module
    objective: Objective
    train_set: Dataset
    epochs: int
    lr: float


@dataclass
class LoopSettings:
    batch_size: int
    grad_accum: int
    momentum: float
    weight_decay: float
    balanced: bool
    seed: int
    amp: str
    workers: int
    progress: str
    resume: bool
    augment: bool = False
    lr_schedule: str = "cosine-step"
    warmup_fraction: float = 0.1


def _shard_sampler(dataset: Dataset, shards: int, shard: int, seed: int, balanced: bool):
    if balanced and isinstance(dataset, MultiTaskDataset) and dataset.num_tasks > 1:
        return TaskBalancedSampler(dataset, seed=seed, num_replicas=shards, rank=shard)
    return DistributedSampler(
        dataset, num_replicas=shards, rank=shard, shuffle=True, seed=seed, drop_last=True
    )


def _epoch_batches(samplers, epoch: int, micro: int) -> List[List[List[int]]]:
    """Per local shard, the epoch's micro-batches (every shard gets the same number)."""
    orders = []
    for sampler in samplers:
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    steps = min(len(order) for order in orders) // micro
    return [[order[s * micro : (s + 1) * micro] for s in range(steps)] for order in orders]


def _flip_some(images: torch.Tensor, seed: int, epoch: int, shard: int, step: int) -> torch.Tensor:
    """Random horizontal flips drawn from (seed, epoch, shard, step) alone: the same samples
    are flipped however the shards are spread over processes, and after a resume."""
    key = np.random.SeedSequence([seed, epoch, shard, step]).generate_state(1)[0]
    flip = torch.rand(images.shape[0], generator=torch.Generator().manual_seed(int(key))) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def _sorted_to(batch, device: torch.device):
    images, labels, task_ids = batch
    order, _ = sort_by_task(task_ids)
    if order is not None:  # one sort here; every EKS layer then sees contiguous tasks
        images, labels, task_ids = images[order], labels[order], task_ids[order]
    # The ids' plan is read here, on the host, so no step syncs the device for it.
    return images.to(device), labels.to(device), planned_on(task_ids, device)


class Trainer:
    def __init__(
        self,
        stage: Stage,
        settings: LoopSettings,
        context: Distributed,
        run_dir: Path,
        log: Callable[[Dict], None],
        stop: StopRequest,
    ) -> None:
        self.stage, self.settings, self.context = stage, settings, context
        self.log, self.stop = log, stop
        self.checkpoint_path = run_dir / "checkpoints" / f"{stage.name}.pt"
        shards = context.world_size * settings.grad_accum
        if settings.batch_size % shards:
            raise ValueError(
                f"--batch-size {settings.batch_size} must be divisible by the "
                f"number of processes × --grad-accum = {shards}"
            )
        self.micro = settings.batch_size // shards
        first = context.rank * settings.grad_accum
        self.shards = [first + k for k in range(settings.grad_accum)]
        self.samplers = [
            _shard_sampler(stage.train_set, shards, first + k, settings.seed, settings.balanced)
            for k in range(settings.grad_accum)
        ]
        self.steps_per_epoch = len(_epoch_batches(self.samplers, 0, self.micro)[0])
        if self.steps_per_epoch == 0:
            samples = len(cast(Sized, stage.train_set))  # a map-style dataset
            raise ValueError(
                f"stage {stage.name}: {samples} training samples are "
                f"fewer than one batch of {settings.batch_size}"
            )
        stage.model.to(context.device)
        stage.objective.to(context.device)
        params = [p for p in stage.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(
            params, lr=stage.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lr_factor(
                settings.lr_schedule, settings.warmup_fraction, self.steps_per_epoch, stage.epochs
            ),
        )
        # Buffers are kept equal by ShardedRunningStats, not by rank 0's broadcast.
        self.train_model = (
            DistributedDataParallel(stage.model, broadcast_buffers=False)
            if context.enabled
            else stage.model
        )
        self.running_stats = ShardedRunningStats(stage.model, context.enabled)
        self.epoch, self.step = 0, 0
        self.totals: Dict[str, float] = {}

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> Dict:
        return {
            "stage": self.stage.name,
            "epoch": self.epoch,
            "step": self.step,
            "model": self.stage.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng.capture(),
            "totals": dict(self.totals),
        }

    def _save(self) -> None:
        if self.context.is_main:
            checkpoint.save(self._state(), self.checkpoint_path)
        self.context.barrier()

    def _restore(self) -> bool:
        if not (self.settings.resume and self.checkpoint_path.exists()):
            return False
        state, warning = checkpoint.load_latest(
            self.checkpoint_path, map_location=self.context.device
        )
        if warning is not None and self.context.is_main:
            print(f"[{self.stage.name}] {warning}", file=sys.stderr, flush=True)
        if state.get("stage") != self.stage.name:
            raise checkpoint.CheckpointError(
                f"checkpoint {self.checkpoint_path} belongs to stage {state.get('stage')!r}, "
                f"not {self.stage.name!r}"
            )
        try:
            self.stage.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise checkpoint.CheckpointError(
                f"checkpoint {self.checkpoint_path} was written for another model or "
                f"settings (architecture, tasks, rank?) than this run's; resume with the "
                f"settings in {self.checkpoint_path.parent.parent / 'config.json'} or use "
                f"--overwrite: {str(err).splitlines()[0]}"
            ) from err
        self.scheduler.load_state_dict(state["scheduler"])
        rng.restore(state["rng"])
        self.epoch, self.step, self.totals = state["epoch"], state["step"], state["totals"]
        return True

    # ------------------------------------------------------------------ training
    def run(self) -> nn.Module:
        resumed = self._restore()
        if resumed and self.context.is_main:
            print(
                f"[{self.stage.name}] resuming at epoch {self.epoch + 1}, step {self.step}",
                flush=True,
            )
        while self.epoch < self.stage.epochs:
            self._run_epoch()
        return self.stage.model

    def _run_epoch(self) -> None:
        settings, context = self.settings, self.context
        self.stage.model.train()
        batches = _epoch_batches(self.samplers, self.epoch, self.micro)
        loaders = [
            iter(
                DataLoader(
                    self.stage.train_set,
                    batch_sampler=shard[self.step :],
                    num_workers=settings.workers,
                )
            )
            for shard in batches
        ]
        if self.step == 0:
            self.totals = {
                "loss": 0.0,
                "ce": 0.0,
                "kd": 0.0,
                "correct": 0.0,
                "seen": 0.0,
                "seconds": 0.0,
            }
        start = time.perf_counter()
        bar = self._progress_bar(self.steps_per_epoch - self.step)
        while self.step < self.steps_per_epoch:
            self._train_step(loaders)
            self.step += 1
            if bar is not None:
                bar.update()
            if context.any(self.stop.requested):
                self.totals["seconds"] += time.perf_counter() - start
                self._save()
                raise TrainingInterrupted(self.stop.signum or 15, str(self.checkpoint_path))
        if bar is not None:
            bar.close()
        self.totals["seconds"] += time.perf_counter() - start
        self._report()
        self.epoch, self.step = self.epoch + 1, 0
        self._save()

    def _train_step(self, loaders) -> None:
        accum = len(loaders)
        amp = torch.autocast(
            self.context.device.type, dtype=torch.bfloat16, enabled=self.settings.amp == "bf16"
        )
        self.running_stats.begin_step()
        bad_loss = None  # the step's first non-finite loss on this rank
        for k, loader in enumerate(loaders):
            self.running_stats.begin_shard()
            images, labels, task_ids = next(loader)
            if self.settings.augment:
                images = _flip_some(
                    images, self.settings.seed, self.epoch, self.shards[k], self.step
                )
            images, labels, task_ids = _sorted_to((images, labels, task_ids), self.context.device)
            last = k == accum - 1
            # distributed: train_model is the DistributedDataParallel wrapper
            no_sync = (
                cast(DistributedDataParallel, self.train_model).no_sync()
                if self.context.enabled and not last
                else contextlib.nullcontext()
            )
            with no_sync:
                with amp:
                    loss, stats = self.stage.objective(self.train_model, images, labels, task_ids)
                (loss / accum).backward()
            self.running_stats.end_shard()
            value = self._accumulate(loss, stats, len(labels))
            if bad_loss is None and not math.isfinite(value):
                bad_loss = value
        self.running_stats.end_step()
        if self.context.any(bad_loss is not None):  # before the update: weights stay good
            raise NonFiniteLoss(self._non_finite_message(bad_loss))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _accumulate(self, loss: torch.Tensor, stats: Dict, count: int) -> float:
        """Add the shard's statistics to the epoch's; returns its loss."""
        t = self.totals
        value = loss.item()
        t["loss"] += value * count
        t["ce"] += stats["ce"].item() * count
        t["kd"] += stats["kd"].item() * count if "kd" in stats else 0.0
        t["correct"] += stats["correct"].item()
        t["seen"] += count
        return value

    def _non_finite_message(self, bad_loss: Optional[float]) -> str:
        where = f"[{self.stage.name}] epoch {self.epoch + 1}, step {self.step + 1}"
        loss = f"loss {bad_loss}" if bad_loss is not None else "a non-finite loss on another rank"
        last = (
            f"the last checkpoint is {self.checkpoint_path}"
            if self.checkpoint_path.exists()
            else "no checkpoint of this stage was written"
        )
        return (
            f"{where}: {loss}; training stopped before that update ({last}); lower the "
            f"learning rate or check --alpha/--beta/--temperature and the data"
        )

    def _progress_bar(self, remaining: int):
        mode = self.settings.progress
        show = mode == "on" or (mode == "auto" and sys.stderr.isatty())
        if tqdm is None or not show or not self.context.is_main:
            return None
        return tqdm(
            total=remaining,
            desc=f"{self.stage.name} {self.epoch + 1}/{self.stage.epochs}",
            leave=False,
        )

    def _report(self) -> None:
        keys = ("loss", "ce", "kd", "correct", "seen", "seconds")
        sums = self.context.mean(torch.tensor([self.totals[k] for k in keys]))
        totals = dict(zip(keys, sums.tolist()))
        seen = max(totals["seen"], 1.0)
        row = {
            "stage": self.stage.name,
            "epoch": self.epoch + 1,
            "loss": totals["loss"] / seen,
            "ce": totals["ce"] / seen,
            "kd": totals["kd"] / seen,
            "train_acc": totals["correct"] / seen,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": totals["seconds"],
        }
        if self.context.is_main:
            self.log(row)


def train_stage(
    stage: Stage,
    settings: LoopSettings,
    context: Distributed,
    run_dir: Path,
    log: Callable[[Dict], None],
    stop: StopRequest,
) -> nn.Module:
    """Train ``stage.model`` (resuming from its checkpoint when asked) and return it."""
    return Trainer(stage, settings, context, run_dir, log, stop).run()
