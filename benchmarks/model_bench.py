"""Model-level problems: a LoRKD student's training step and a deployed expert's inference.

The students are ShuffleNetV2 x1.0 and ResNet-18 with one head per MedMNIST task (10 tasks),
converted with :func:`lorkd_kernels.convert` (rank 4, every conv) and called through its
:class:`~lorkd_kernels.TaskRouter`; the baseline is the same network unconverted (same heads, task
ids routed the same way), and the paper's formulation is the converted network with its EKS layers
swapped (:mod:`benchmarks.paper_model`). Inference (ShuffleNetV2) compares ``decompose(student,
task)`` with the plain single-task network it is deployed as, and the student itself on a mixed
batch.
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
from lorkd_kernels.pipeline.models import build_model

from .common import NUM_TASKS, RANK, SETTINGS, device_name
from .measure import Step, record_peak_memory, time_step
from .names import MEASURED_TRAIN, MEASURING_TRAIN
from .paper_model import paper_formulation
from .task_mixes import task_ids as make_task_ids

#: the students whose training step is timed; inference is timed on the first
TRAIN_MODELS = ("shufflenet_v2_x1_0", "resnet18")
MODEL = TRAIN_MODELS[0]
CLASSES = list(MEDMNIST_TASKS.values())[:NUM_TASKS]
#: (batch, image size) of the model problems, and of a --bench-tiny run's
SIZE, TINY_SIZE = (128, 64), (4, 16)
# eks_measured: the student with the cpu backend's conv algorithms chosen by timing on this
# machine (lorkd_kernels.backends.measuring; CPU only), the choices kept from the warm-up;
# eks_measuring: the same with the choices cleared before every round, so each round is a first
# step that measures every conv shape (what measuring costs, once per shape)
TRAIN_PROVIDERS = ("plain", "eks", MEASURED_TRAIN, MEASURING_TRAIN, "paper")
INFERENCE_PROVIDERS = ("plain", "expert", "eks")
#: the training steps whose peak memory the memory suite records, per student
MEMORY_PROVIDERS = ("plain", "eks", "paper")
EXPERT_TASK = 0
PAPER_ROUNDS = 3


def problem_size() -> Tuple[int, int]:
    """``(batch, image size)`` of this run's model problems."""
    return TINY_SIZE if SETTINGS.tiny else SIZE


def _train_model(provider: str, device: torch.device, model: str = MODEL) -> nn.Module:
    torch.manual_seed(0)
    plain = build_model(model, CLASSES).to(device)
    if provider == "plain":
        return plain
    student = convert(plain, NUM_TASKS, RANK)
    for module in student.modules():  # non-zero experts, as after some training
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


def train_step(provider: str, device: torch.device, arch: str = MODEL) -> Step:
    """Forward, per-task cross-entropy, backward and an SGD step (momentum 0.9, as the paper)
    of student ``arch``."""
    measuring = provider in (MEASURED_TRAIN, MEASURING_TRAIN)
    model = _train_model("eks" if measuring else provider, device, arch).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, ids, labels = _batch(device)

    def compute() -> None:
        with backends.measuring() if measuring else contextlib.nullcontext():
            loss = task_cross_entropy(model(images, ids), labels, ids, CLASSES)
            loss.backward()
        optimizer.step()

    def clear() -> None:
        optimizer.zero_grad(set_to_none=True)
        if provider == MEASURING_TRAIN:
            backends.measured.clear_choices()

    return Step(compute, clear)


def inference_step(provider: str, device: torch.device) -> Step:
    """A no-grad forward of the plain single-task model, the decomposed expert (same
    architecture), or the student on a mixed batch."""
    images, ids, _ = _batch(device)
    if provider == "plain":
        torch.manual_seed(0)
        model = build_model(MODEL, CLASSES[EXPERT_TASK]).to(device)
        run = lambda: model(images)  # noqa: E731
    else:
        student = _train_model("eks", device)
        if provider == "expert":
            model = decompose(student, EXPERT_TASK)
            run = lambda: model(images)  # noqa: E731
        else:
            model = student
            run = lambda: model(images, ids)  # noqa: E731
    model.eval()

    def compute() -> None:
        with torch.no_grad():
            run()

    return Step(compute)


def model_info(what: str, provider: str, device: torch.device, arch: str = MODEL) -> Dict:
    """``benchmark.extra_info`` of a model benchmark (``what``: "train" or "inference")."""
    batch, image_size = problem_size()
    return {
        "suite": "model",
        "model": arch,
        "what": what,
        "provider": provider,
        "batch": batch,
        "image_size": image_size,
        "num_tasks": NUM_TASKS,
        "rank": RANK,
        "mix": "uniform",
        "backend": active_backend(device.type) if provider.startswith("eks") else None,
        "device": device_name(device),
    }


def benchmark_group(what: str, arch: str = MODEL) -> str:
    """The pytest-benchmark group of ``what`` ("train" or "inference") of student ``arch``: its
    providers side by side."""
    batch, image_size = problem_size()
    label = "train step" if what == "train" else what
    return f"{arch} {label} b{batch}@{image_size}"


def run_model_benchmark(benchmark, what: str, provider: str, arch: str = MODEL) -> None:
    """Time ``provider``'s training step (``what="train"``) of student ``arch``, or its
    inference."""
    device = SETTINGS.device
    if provider in (MEASURED_TRAIN, MEASURING_TRAIN) and (
        device.type != "cpu" or not backends.compiled_loaded()
    ):
        pytest.skip("measured conv choices belong to the compiled cpu backend")
    step = (
        train_step(provider, device, arch) if what == "train" else inference_step(provider, device)
    )
    benchmark.group = benchmark_group(what, arch)
    # the paper's ResNet-18 step takes about a minute on a 2-core CPU: three rounds are enough
    # for a ratio that is far from its target either way
    rounds = PAPER_ROUNDS if provider == "paper" and not SETTINGS.tiny else None
    time_step(benchmark, step, device, model_info(what, provider, device, arch), rounds)


def run_model_memory(benchmark, provider: str, arch: str = MODEL) -> None:
    """Record the peak memory of one training step of ``provider`` on student ``arch``
    (``extra_info``)."""
    device = SETTINGS.device
    benchmark.group = f"memory {benchmark_group('train', arch)}"
    record_peak_memory(
        benchmark,
        train_step(provider, device, arch),
        device,
        model_info("train", provider, device, arch),
    )
