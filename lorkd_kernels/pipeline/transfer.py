"""Downstream transfer: a trained model on a new data set, its classifier replaced by a fresh
head for that data set's classes, then trained in one of two ways:

* ``linear``: a linear probe, the backbone frozen (in eval mode, so its BatchNorm statistics
  stay too); its features are computed once and only the head is trained;
* ``finetune``: every weight trained.

Both run a fixed schedule (SGD with momentum, cosine learning rate, ``epochs`` epochs) and are
scored on the test split after the last epoch: nothing is chosen on the test split.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Sized, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .evaluation import evaluate_task
from .models import ImageClassifier
from .training import rng

MODES = ("linear", "finetune")


@dataclass(frozen=True)
class TransferSettings:
    epochs: int = 5
    finetune_lr: float = 0.01
    linear_lr: float = 0.1  # a frozen backbone's head learns faster at a larger rate
    batch_size: int = 32
    momentum: float = 0.9
    weight_decay: float = 1e-4
    eval_batch_size: int = 256
    seed: int = 0


def with_new_head(model: ImageClassifier, num_classes: int, seed: int) -> ImageClassifier:
    """A copy of ``model`` whose classifier is a fresh ``nn.Linear`` for ``num_classes``
    (initialised from ``seed`` alone)."""
    model = copy.deepcopy(model)
    rng.seed_for(seed, "transfer-head")
    model.fc = nn.Linear(model.num_features, num_classes)
    return model


def _fit(
    forward: Callable[[torch.Tensor], torch.Tensor],
    parameters: Iterable[nn.Parameter],
    data: Dataset,
    lr: float,
    settings: TransferSettings,
    device: torch.device,
) -> None:
    """Cross-entropy, SGD with momentum and a cosine schedule over every step. Batches are
    shuffled from the seed; a short last batch is dropped when there is more than one batch
    (BatchNorm cannot train on a single sample)."""
    generator = torch.Generator().manual_seed(settings.seed)
    loader = DataLoader(
        data,
        batch_size=settings.batch_size,
        shuffle=True,
        generator=generator,
        drop_last=len(cast(Sized, data)) > settings.batch_size,
    )
    optimizer = torch.optim.SGD(
        list(parameters), lr=lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(settings.epochs * len(loader), 1)
    )
    for _ in range(settings.epochs):
        for inputs, labels, *_ in loader:
            loss = F.cross_entropy(forward(inputs.to(device)), labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()


@torch.no_grad()
def _features(
    model: ImageClassifier, data: Dataset, batch_size: int, device: torch.device
) -> TensorDataset:
    features, labels = [], []
    for images, batch_labels, _ in DataLoader(data, batch_size=batch_size, shuffle=False):
        features.append(model.forward_features(images.to(device)).float())
        labels.append(batch_labels)
    return TensorDataset(torch.cat(features), torch.cat(labels).to(device))


def train_new_head(
    model: ImageClassifier, mode: str, train_set, settings: TransferSettings, device: torch.device
) -> ImageClassifier:
    """A copy of ``model`` with a new head for ``train_set`` (one task), trained as ``mode``
    says: the head alone on frozen features (``linear``) or every weight (``finetune``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    model = with_new_head(model, train_set.num_classes, settings.seed).to(device)
    if mode == "linear":
        model.eval().requires_grad_(False)
        model.fc.requires_grad_(True)
        features = _features(model, train_set, settings.eval_batch_size, device)
        _fit(model.fc, model.fc.parameters(), features, settings.linear_lr, settings, device)
    else:
        model.train()
        _fit(model, model.parameters(), train_set, settings.finetune_lr, settings, device)
    return model.eval()


def transfer(
    model: ImageClassifier,
    mode: str,
    train_set,
    test_set,
    settings: TransferSettings,
    device: torch.device,
) -> Dict[str, float]:
    """:func:`train_new_head`, then ``{"accuracy", "auc", "samples"}`` on every sample of
    ``test_set``."""
    trained = train_new_head(model, mode, train_set, settings, device)
    return evaluate_task(trained, test_set, test_set.num_classes, settings.eval_batch_size, device)
