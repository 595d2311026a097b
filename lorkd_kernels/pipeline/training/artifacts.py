"""What a run leaves behind besides checkpoints: the teacher, and one plain expert per task.

Each file holds the architecture's name and class count(s) next to the state dict, so it can
be rebuilt without the run's configuration; all are read with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torch import nn

from ..models import build_model
from . import checkpoint


def _save_model(path: Path, arch: str, num_classes, model: nn.Module, **extra) -> None:
    checkpoint.save({"arch": arch, "num_classes": num_classes,
                     "state_dict": model.state_dict(), **extra}, path)


def _read(path: Path) -> dict:
    try:
        return checkpoint.load(path)
    except FileNotFoundError:
        raise
    except Exception as err:   # arbitrary bytes fail inside the unpickler in many ways
        # One line, and never torch's advice to load with weights_only=False: that would run
        # whatever code the file holds.
        backup = checkpoint.previous_path(path)
        hint = f"; its previous version {backup} is intact" if backup.exists() else ""
        raise checkpoint.CheckpointError(
            f"{path} is not a model file written by lorkd_kernels.train: it is corrupt, or holds "
            f"more than tensors and plain values{hint}") from err


def _load_model(path: Path) -> nn.Module:
    state = _read(path)
    missing = {"arch", "num_classes", "state_dict"} - set(state)
    if missing:
        raise checkpoint.CheckpointError(f"{path} lacks {sorted(missing)}: not a model file "
                                         f"written by lorkd_kernels.train")
    model = build_model(state["arch"], state["num_classes"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise checkpoint.CheckpointError(f"{path} does not fit {state['arch']}: {err}") from err
    return model.eval()


def expert_path(run_dir: Path, task: str) -> Path:
    return Path(run_dir) / "experts" / f"{task}.pt"


def save_expert(run_dir: Path, task: str, arch: str, model: nn.Module) -> None:
    _save_model(expert_path(run_dir, task), arch, model.fc.out_features, model, task=task)


def load_expert(run_dir: Path, task: str) -> nn.Module:
    path = expert_path(run_dir, task)
    if not path.is_file():
        raise FileNotFoundError(f"no expert for task {task!r}: {path} is missing")
    return _load_model(path)


def save_teacher(path: Path, arch: str, num_classes: Sequence[int], model: nn.Module,
                 tasks: Sequence[str]) -> None:
    _save_model(path, arch, list(num_classes), model, tasks=list(tasks))


def load_teacher(path: Path, num_classes: Sequence[int]) -> nn.Module:
    """A saved multi-task teacher; its label spaces must match the run's tasks."""
    model = _load_model(Path(path))
    if list(model.fc.num_classes) != list(num_classes):
        raise checkpoint.CheckpointError(
            f"teacher {path} was trained for class counts {model.fc.num_classes}, but the "
            f"chosen tasks have {list(num_classes)}")
    return model


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
