"""What a run leaves behind besides checkpoints: the teacher, and one plain expert per task.

Each file holds the architecture's name and class count(s) next to the state dict, so it can
be rebuilt without the run's configuration. The teacher is a ``torch.save`` file read with
``weights_only=True``; experts, the files people deploy and share, are ``safetensors`` files
(tensors plus a header of strings, nothing executable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, TypeVar, cast

from torch import nn

from ...nn import TaskHeads
from ...deploy.weights_file import WeightsFileError, load_state, read_weights, save_weights
from ..models import ImageClassifier, build_model
from . import checkpoint

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _save_model(path: Path, arch: str, num_classes, model: nn.Module, **extra) -> None:
    checkpoint.save(
        {"arch": arch, "num_classes": num_classes, "state_dict": model.state_dict(), **extra}, path
    )


def _read(path: Path) -> dict:
    try:
        return checkpoint.load(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # arbitrary bytes fail inside the unpickler in many ways
        # One line, and never torch's advice to load with weights_only=False: that would run
        # whatever code the file holds.
        backup = checkpoint.previous_path(path)
        hint = f"; its previous version {backup} is intact" if backup.exists() else ""
        raise checkpoint.CheckpointError(
            f"{path} is not a model file written by lorkd_kernels.train: it is corrupt, or holds "
            f"more than tensors and plain values{hint}"
        ) from err


def _load_model(path: Path, state: Optional[dict] = None) -> ImageClassifier:
    state = _read(path) if state is None else state
    missing = {"arch", "num_classes", "state_dict"} - set(state)
    if missing:
        raise checkpoint.CheckpointError(
            f"{path} lacks {sorted(missing)}: not a model file written by lorkd_kernels.train"
        )
    model = build_model(state["arch"], state["num_classes"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise checkpoint.CheckpointError(f"{path} does not fit {state['arch']}: {err}") from err
    return model.eval()


def expert_path(run_dir: Path, task: str) -> Path:
    return Path(run_dir) / "experts" / f"{task}.safetensors"


def save_expert(run_dir: Path, task: str, arch: str, model: nn.Module) -> None:
    head = cast(nn.Linear, model.fc)  # an expert has one label space: a plain linear head
    save_weights(
        model.state_dict(),
        expert_path(run_dir, task),
        {"arch": arch, "num_classes": str(head.out_features), "task": task},
    )


def load_expert(
    run_dir: Path, task: str, arch: Optional[str] = None, num_classes: Optional[int] = None
) -> nn.Module:
    """The saved expert of ``task``; ``arch`` / ``num_classes``, when given, must match it."""
    path = expert_path(run_dir, task)
    if not path.is_file():
        raise FileNotFoundError(f"no expert for task {task!r}: {path} is missing")
    try:
        state, header = read_weights(path)
        saved_arch, saved_classes = header.get("arch"), header.get("num_classes", "")
        if saved_arch is None or not saved_classes.isdigit():
            raise WeightsFileError(
                f"{path} lacks the arch / num_classes header of an expert "
                f"written by lorkd_kernels.train"
            )
        if header.get("task", task) != task:
            raise WeightsFileError(
                f"{path} holds the expert of task {header['task']!r}, not of {task!r}"
            )
        if (arch is not None and arch != saved_arch) or (
            num_classes is not None and num_classes != int(saved_classes)
        ):
            raise WeightsFileError(
                f"{path} holds a {saved_arch} with {saved_classes} classes, "
                f"the run expects a {arch or saved_arch} with "
                f"{num_classes or saved_classes}"
            )
        model = load_state(build_model(saved_arch, int(saved_classes)), state, path)
    except ValueError as err:  # WeightsFileError, or build_model's unknown arch
        message = str(err) if str(path) in str(err) else f"{path}: {err}"
        raise checkpoint.CheckpointError(message) from err
    return model.eval()


def save_teacher(
    path: Path, arch: str, num_classes: Sequence[int], model: nn.Module, tasks: Sequence[str]
) -> None:
    _save_model(path, arch, list(num_classes), model, tasks=list(tasks))


def load_teacher(
    path: Path,
    num_classes: Optional[Sequence[int]],
    tasks: Optional[Sequence[str]] = None,
    arch: Optional[str] = None,
    state: Optional[dict] = None,
) -> ImageClassifier:
    """A saved multi-task teacher. ``arch``, when given, must be the file's architecture. With
    ``tasks`` its heads are matched by task name to that order (a task the file lacks is
    refused; a file without a task list is matched by position); then its label spaces must be
    ``num_classes`` (unchecked for ``num_classes=None``: a use that replaces the heads).
    ``state``: the file's contents when :func:`read_teacher_file` read them already."""
    path = Path(path)
    state = _read(path) if state is None else state
    _check_teacher(state, path, tasks, arch)
    saved_tasks = state.get("tasks")
    model = _load_model(path, state)
    # a teacher file holds one label space per task: its fc is a TaskHeads
    if tasks is not None and saved_tasks is not None and list(saved_tasks) != list(tasks):
        model.fc = cast(TaskHeads, model.fc).select([list(saved_tasks).index(t) for t in tasks])
    heads = cast(TaskHeads, model.fc)
    if num_classes is not None and list(heads.num_classes) != list(num_classes):
        raise checkpoint.CheckpointError(
            f"teacher {path} was trained for class counts {heads.num_classes}, but the "
            f"chosen tasks have {list(num_classes)}"
        )
    return model


def _check_teacher(
    state: dict, path: Path, tasks: Optional[Sequence[str]], arch: Optional[str]
) -> None:
    if arch is not None and state.get("arch", arch) != arch:
        raise checkpoint.CheckpointError(
            f"teacher {path} is a {state['arch']}, but the run's teacher architecture is "
            f"{arch}: pass --teacher-arch {state['arch']}"
        )
    saved_tasks = state.get("tasks")
    if tasks is not None and saved_tasks is not None:
        missing = [t for t in tasks if t not in saved_tasks]
        if missing:
            raise checkpoint.CheckpointError(
                f"teacher {path} has no head for task(s) {missing}: it was trained on "
                f"{list(saved_tasks)}"
            )


def read_teacher_file(path: Path, tasks: Optional[Sequence[str]], arch: Optional[str]) -> dict:
    """A teacher file's contents, refused for what :func:`load_teacher` refuses that can be told
    without the data: an unreadable file, another architecture, a missing task (run before any
    data is read or generated; pass the result to :func:`load_teacher`, not to read it twice)."""
    state = _read(Path(path))
    _check_teacher(state, Path(path), tasks, arch)
    return state


def saved_arch(path: Path) -> str:
    """The architecture a saved teacher (or student) file was built as."""
    state = _read(Path(path))
    if "arch" not in state:
        raise checkpoint.CheckpointError(
            f"{path} lacks 'arch': not a model file written by lorkd_kernels.train"
        )
    return state["arch"]


def freeze(model: ModuleT) -> ModuleT:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
