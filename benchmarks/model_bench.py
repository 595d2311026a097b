"""Model-level problems: a LoRKD student's training step and a deployed expert's inference.

The student is ShuffleNetV2 x1.0 with one head per MedMNIST task (10 tasks), converted with
:func:`lorkd_kernels.convert` (rank 4, every conv) and called through its
:class:`~lorkd_kernels.TaskRouter`; the baseline is the same network unconverted (same heads,
task ids routed the same way), and the paper's formulation is the converted network with its EKS
layers swapped (:mod:`benchmarks.paper_model`). Inference compares ``decompose(student, task)``
with the plain single-task ShuffleNetV2 it is deployed as, and the student itself on a mixed batch.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Tuple

import pytest

import torch
from torch import nn

from lorkd_kernels import active_backend, backends, convert, decompose
from lorkd_kernels.pipeline.data.tasks import MEDMNIST_TASKS
from lorkd_kernels.pipeline.losses import task_cross_entropy
from lorkd_kernels.pipeline.models import shufflenet_v2_x1_0

from .common import NUM_TASKS, RANK, SETTINGS, device_name
from .measure import Step, record_peak_memory, time_step
from .paper_model import paper_formulation
from .task_mixes import task_ids as make_task_ids

MODEL = "shufflenet_v2_x1_0"
CLASSES = list(MEDMNIST_TASKS.values())[:NUM_TASKS]
#: (batch, image size) of the model problems, and of a --bench-tiny run's
SIZE, TINY_SIZE = (128, 64), (4, 16)
# eks_measured: the student with the cpu backend's conv algorithms chosen by timing on this
# machine (lorkd_kernels.backends.measuring; CPU only)
TRAIN_PROVIDERS = ("plain", "eks", "eks_measured", "paper")
INFERENCE_PROVIDERS = ("plain", "expert", "eks")
EXPERT_TASK = 0


def problem_size() -> Tuple[int, int]:
    """``(batch, image size)`` of this run's model problems."""
    return TINY_SIZE if SETTINGS.tiny else SIZE


def _train_model(provider: str, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    plain = shufflenet_v2_x1_0(num_classes=CLASSES).to(device)
    if provider == "plain":
        return plain
    student = convert(plain, NUM_TASKS, RANK)
    for module in student.modules():        # non-zero experts, as after some training
        if hasattr(module, "lora_B"):
            nn.init.normal_(module.lora_B, std=0.02)
    return paper_formulation(student) if provider == "paper" else student


def _batch(device: torch.device):
    batch, image_size = problem_size()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen).to(device)
    ids = make_task_ids("uniform", batch, NUM_TASKS).to(device)
    counts = torch.tensor(CLASSES)[ids.cpu()]
    labels = (torch.rand(batch, generator=gen) * counts).long().to(device)
    return images, ids, labels


def train_step(provider: str, device: torch.device) -> Step:
    """Forward, per-task cross-entropy, backward and an SGD step (momentum 0.9, as the paper)."""
    measuring = provider == "eks_measured"
    model = _train_model("eks" if measuring else provider, device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, ids, labels = _batch(device)

    def compute() -> None:
        with backends.measuring() if measuring else contextlib.nullcontext():
            loss = task_cross_entropy(model(images, ids), labels, ids, CLASSES)
            loss.backward()
        optimizer.step()

    return Step(compute, lambda: optimizer.zero_grad(set_to_none=True))


def inference_step(provider: str, device: torch.device) -> Step:
    """A no-grad forward of the plain single-task model, the decomposed expert (same
    architecture), or the student on a mixed batch."""
    images, ids, _ = _batch(device)
    if provider == "plain":
        torch.manual_seed(0)
        model = shufflenet_v2_x1_0(num_classes=CLASSES[EXPERT_TASK]).to(device)
        run = lambda: model(images)                                     # noqa: E731
    else:
        student = _train_model("eks", device)
        if provider == "expert":
            model = decompose(student, EXPERT_TASK)
            run = lambda: model(images)                                 # noqa: E731
        else:
            model = student
            run = lambda: model(images, ids)                            # noqa: E731
    model.eval()

    def compute() -> None:
        with torch.no_grad():
            run()

    return Step(compute)


def model_info(what: str, provider: str, device: torch.device) -> Dict:
    """``benchmark.extra_info`` of a model benchmark (``what``: "train" or "inference")."""
    batch, image_size = problem_size()
    return {
        "suite": "model", "model": MODEL, "what": what, "provider": provider,
        "batch": batch, "image_size": image_size, "num_tasks": NUM_TASKS, "rank": RANK,
        "mix": "uniform",
        "backend": active_backend(device.type) if provider.startswith("eks") else None,
        "device": device_name(device),
    }


def benchmark_group(what: str) -> str:
    """The pytest-benchmark group of ``what`` ("train" or "inference"): its providers side by
    side."""
    batch, image_size = problem_size()
    label = "train step" if what == "train" else what
    return f"{MODEL} {label} b{batch}@{image_size}"


def run_model_benchmark(benchmark, what: str, provider: str) -> None:
    """Time ``provider``'s training step (``what="train"``) or inference."""
    device = SETTINGS.device
    if provider == "eks_measured" and (device.type != "cpu" or not backends.compiled_loaded()):
        pytest.skip("measured conv choices belong to the compiled cpu backend")
    make_step = train_step if what == "train" else inference_step
    benchmark.group = benchmark_group(what)
    time_step(benchmark, make_step(provider, device), device, model_info(what, provider, device))


def run_model_memory(benchmark, provider: str) -> None:
    """Record the peak memory of one training step of ``provider`` (``extra_info``)."""
    device = SETTINGS.device
    benchmark.group = f"memory {benchmark_group('train')}"
    record_peak_memory(benchmark, train_step(provider, device), device,
                       model_info("train", provider, device))
