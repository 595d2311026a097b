"""Parameters and FLOPs of a run's models: the teacher, the student as it is trained (shared
weights, every task's experts, every head) and each deployed expert, at one input size.

FLOPs are counted, not estimated: the models run under
:class:`torch.utils.flop_counter.FlopCounterMode` with the formulas of
:mod:`lorkd_kernels.flop_formulas` (FLOPs = 2 × multiply-adds; bias adds, normalisation,
activations and pooling not counted).
Forward FLOPs are per sample, averaged over every task's samples (heads differ in size);
training FLOPs are a counted forward and backward pass of the same batch, per sample.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, cast

import torch
from torch import nn

from ..conversion import convert
from ..flop_formulas import counted_flops
from .models import ImageClassifier, build_model
from .models._classifier import task_scope

CONVENTION = (
    "FLOPs = 2 × multiply-adds, counted by torch's FlopCounterMode (EKS layers in "
    "their split form); bias adds, normalisation, activations and pooling not "
    "counted"
)
IN_CHANNELS = 3  # every model takes RGB (gray images are repeated, data/datasets.py)


@dataclass(frozen=True)
class CostSetting:
    """What the costs depend on: a run's ``config.json`` fields plus its tasks and input size."""

    method: str
    student_arch: str
    teacher_arch: str
    tasks: Sequence[str]
    num_classes: Sequence[int]
    image_size: int
    rank: int = 4
    alpha: float = 16.0
    experts_on: str = "all"
    samples_per_epoch: Optional[int] = None

    @property
    def distils(self) -> bool:
        return self.method in ("lorkd", "stl-kd", "mtl-kd")


def run_setting(config, train_set) -> CostSetting:
    """The setting of a run from its ``TrainConfig`` and training set: tasks, class counts,
    the size images reach the model at, the epoch's length in samples."""
    teacher_arch = config.teacher_arch
    if config.teacher_ckpt is not None:  # a given teacher is what its file says it is
        from .training.artifacts import saved_arch

        teacher_arch = saved_arch(Path(config.teacher_ckpt))
    return CostSetting(
        method=config.method,
        student_arch=config.student_arch,
        teacher_arch=teacher_arch,
        tasks=list(train_set.task_names),
        num_classes=list(train_set.num_classes),
        image_size=int(train_set[0][0].shape[-1]),
        rank=config.rank,
        alpha=config.alpha,
        experts_on=config.experts_on,
        samples_per_epoch=len(train_set),
    )


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_flops(
    model: ImageClassifier,
    samples: int,
    image_size: int,
    task_ids: Optional[torch.Tensor],
    training: bool,
) -> int:
    """FLOPs of ``model`` on ``samples`` images: forward, or forward and backward.

    The backbone runs on the meta device (shapes only: no arithmetic, so a ResNet-50 at 224 px
    costs nothing to count) and the head on CPU, where task heads can pick each task's rows
    by value. ``model`` must live on the meta device.
    """
    images = torch.empty(samples, IN_CHANNELS, image_size, image_size, device="meta")
    head = copy.deepcopy(model.fc).to_empty(device="cpu")
    meta_ids = None if task_ids is None else task_ids.to("meta")
    model.train(training)

    def step() -> None:
        with torch.set_grad_enabled(training), task_scope(meta_ids, images):
            features = model.forward_features(images)
        head_input = torch.zeros(features.shape, requires_grad=training)
        with torch.set_grad_enabled(training), task_scope(task_ids, head_input):
            logits = head(head_input)
        if training:
            logits.sum().backward()
            # the backward just above filled the leaf's grad
            features.backward(cast(torch.Tensor, head_input.grad).to("meta"))

    flops = counted_flops(step)
    model.zero_grad(set_to_none=True)
    return flops


def _row(
    role: str,
    models: Sequence[ImageClassifier],
    batches: Sequence[tuple],
    image_size: int,
    training: bool,
) -> Dict:
    """One table row: ``models[i]`` runs on ``batches[i]`` = (samples, task ids); FLOPs per
    sample over all of them."""
    samples = sum(count for count, _ in batches)

    def per_sample(train: bool) -> int:
        return (
            sum(
                model_flops(m, count, image_size, ids, train)
                for m, (count, ids) in zip(models, batches)
            )
            // samples
        )

    row = {
        "model": role,
        "parameters": sum(parameter_count(m) for m in models),
        "forward_flops": per_sample(False),
    }
    if training:
        row["training_flops"] = per_sample(True)
    return row


def _student_models(setting: CostSetting) -> List[ImageClassifier]:
    """The model(s) the method trains: one student per task for stl, else one for all tasks
    (with every task's experts for lorkd)."""
    if setting.method in ("stl", "stl-kd"):
        return [build_model(setting.student_arch, [k]) for k in setting.num_classes]
    model = build_model(setting.student_arch, list(setting.num_classes))
    if setting.method == "lorkd":
        # converted in place: the router's model is this classifier
        model = cast(
            ImageClassifier,
            convert(
                model,
                len(setting.tasks),
                setting.rank,
                setting.alpha,
                experts_on=setting.experts_on,
            ).model,
        )
    return [model]


def count_costs(setting: CostSetting) -> Dict:
    """The cost table of ``setting``, JSON-ready: ``rows`` (one per model), training FLOPs per
    sample of each stage (``stage_flops_per_sample``), the ``setting`` and the ``convention``."""
    tasks, size = len(setting.tasks), setting.image_size
    # two samples of each task: BatchNorm cannot train on one sample with a 1×1 map
    every_task = (2 * tasks, torch.arange(tasks).repeat(2))
    with torch.device("meta"):
        teacher = build_model(setting.teacher_arch, list(setting.num_classes))
        students = _student_models(setting)
        experts = [build_model(setting.student_arch, k) for k in setting.num_classes]
    student_batches = (
        [(2, torch.zeros(2, dtype=torch.long))] * tasks if len(students) > 1 else [every_task]
    )
    rows = [
        _row("teacher", [teacher], [every_task], size, training=True),
        _row("student (training)", students, student_batches, size, training=True),
    ]
    rows += [
        _row(f"expert {name}", [expert], [(1, None)], size, training=False)
        for name, expert in zip(setting.tasks, experts)
    ]
    teacher_row, student_row = rows[0], rows[1]
    # per training sample of each stage: the trained model's forward and backward, plus the
    # frozen teacher's forward when the student is distilled from it
    stages = {
        "teacher": teacher_row["training_flops"],
        "student": student_row["training_flops"]
        + (teacher_row["forward_flops"] if setting.distils else 0),
    }
    return {
        "convention": CONVENTION,
        "setting": {
            **dataclasses.asdict(setting),
            "tasks": list(setting.tasks),
            "num_classes": list(setting.num_classes),
        },
        "rows": rows,
        "stage_flops_per_sample": stages,
    }


# ------------------------------------------------------------------------------- GPU estimate


def epoch_estimate(costs: Dict, samples: int, peak_tflops: float, utilisation: float) -> Dict:
    """Seconds per epoch of each training stage on one GPU: counted FLOPs per epoch divided by
    the assumed achieved throughput ``peak_tflops × utilisation`` (data loading, evaluation
    and kernel launch overheads not included)."""
    achieved = peak_tflops * 1e12 * utilisation
    stages = {
        stage: {"flops_per_epoch": flops * samples, "seconds_per_epoch": flops * samples / achieved}
        for stage, flops in costs["stage_flops_per_sample"].items()
    }
    return {
        "samples_per_epoch": samples,
        "peak_tflops": peak_tflops,
        "utilisation": utilisation,
        "stages": stages,
        "assumption": f"achieved throughput = {utilisation:g} × {peak_tflops:g} TFLOP/s "
        f"(dense BF16 peak) = {achieved / 1e12:g} TFLOP/s; an assumption, not "
        f"a measurement; data loading and overheads not included",
    }


# ------------------------------------------------------------------------------- the table


def _giga(flops: Optional[int]) -> str:
    return "" if flops is None else f"{flops / 1e9:.4g}"


def _millions(count: int) -> str:
    return f"{count / 1e6:.4g}"


def format_costs(costs: Dict, estimate: Optional[Dict] = None) -> str:
    """Markdown: a title line, the table, then the notes (and the GPU estimate when given)."""
    setting = costs["setting"]
    table = [
        "| model | parameters (M) | forward GFLOPs / sample | forward+backward GFLOPs / sample |",
        "|---|---:|---:|---:|",
    ]
    for row in costs["rows"]:
        table.append(
            f"| {row['model']} | {_millions(row['parameters'])} | "
            f"{_giga(row['forward_flops'])} | {_giga(row.get('training_flops'))} |"
        )
    stages = costs["stage_flops_per_sample"]
    notes = [
        f"training GFLOPs per sample: teacher stage {_giga(stages['teacher'])}, student "
        f"stage {_giga(stages['student'])}"
        + (" (with the frozen teacher's forward)" if CostSetting(**setting).distils else ""),
        costs["convention"],
    ]
    if estimate is not None:
        notes.append(
            f"estimated time per epoch on one GPU ({estimate['samples_per_epoch']} "
            f"samples): "
            + ", ".join(
                f"{stage} stage {values['seconds_per_epoch']:.3g} s"
                for stage, values in estimate["stages"].items()
            )
        )
        notes.append(f"ESTIMATE: {estimate['assumption']}")
    title = (
        f"model costs: {setting['method']}, student {setting['student_arch']}, teacher "
        f"{setting['teacher_arch']}, {len(setting['tasks'])} tasks, "
        f"{setting['image_size']}×{setting['image_size']} input"
    )
    # blank lines around the table: a line right after it would render as one of its rows
    return "\n\n".join([title, "\n".join(table), "\n".join(f"- {n}" for n in notes)])


def write_costs(run_dir: Path, costs: Dict) -> str:
    """``DIR/costs.json`` and ``DIR/costs.md``; returns the table."""
    from .atomic_files import atomic_open, write_json

    table = format_costs(costs)
    write_json(Path(run_dir) / "costs.json", costs)
    with atomic_open(Path(run_dir) / "costs.md") as handle:
        handle.write((table + "\n").encode())
    return table
