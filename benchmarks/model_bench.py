"""Model-level problems: a LoRKD student's training step and a deployed expert's inference.

The students are ShuffleNetV2 x1.0 and ResNet-18 with one head per MedMNIST task (10 tasks),
converted with :func:`lorkd_kernels.convert` (rank 4, every conv) and called through its
:class:`~lorkd_kernels.TaskRouter`; the baseline is the same network unconverted (same heads, task
ids routed the same way), and the paper's formulation is the converted network with its EKS layers
swapped (:mod:`benchmarks.paper_model`). Inference (ShuffleNetV2) compares ``decompose(student,
task)`` with the plain single-task network it is deployed as, and the student itself on a mixed
batch.

At the paper's scale (``--bench-scope paper``) the students train on 224 px images in batches of
256, in float32 and in bfloat16 (autocast), and on a GPU also as a training step captured in a
CUDA graph and replayed (``plain_graph``, ``eks_graph``: the step without host work).
"""

from __future__ import annotations

import contextlib
from typing import Dict, List, Optional, Tuple

import pytest

import torch
from torch import nn

from lorkd_kernels import active_backend, backends, convert, decompose
from lorkd_kernels.pipeline.data.tasks import MEDMNIST_TASKS
from lorkd_kernels.pipeline.losses import task_cross_entropy
from lorkd_kernels.pipeline.models import build_model
from lorkd_kernels.task_plan import planned_on

from .common import NUM_TASKS, RANK, SETTINGS, device_name
from .measure import Step, record_peak_memory, time_step
from .names import GRAPHED_TRAIN, MEASURED_TRAIN, MEASURING_TRAIN
from .paper_model import paper_formulation
from .scopes import PAPER, PAPER_DTYPES
from .task_mixes import task_ids as make_task_ids

#: the students whose training step is timed; inference is timed on the first
TRAIN_MODELS = ("shufflenet_v2_x1_0", "resnet18")
MODEL = TRAIN_MODELS[0]
CLASSES = list(MEDMNIST_TASKS.values())[:NUM_TASKS]
#: (batch, image size) of the model problems, at the paper's scale, and of a --bench-tiny run's
SIZE, PAPER_SIZE, TINY_SIZE = (128, 64), (PAPER["batch"], PAPER["image_size"]), (4, 16)
# eks_measured: the student with the cpu backend's conv algorithms chosen by timing on this
# machine (lorkd_kernels.backends.measuring; CPU only), the choices kept from the warm-up;
# eks_measuring: the same with the choices cleared before every round, so each round is a first
# step that measures every conv shape (what measuring costs, once per shape)
TRAIN_PROVIDERS = ("plain", "eks", MEASURED_TRAIN, MEASURING_TRAIN, "paper", *GRAPHED_TRAIN)
INFERENCE_PROVIDERS = ("plain", "expert", "eks")
#: the training steps whose peak memory the memory suite records, per student
MEMORY_PROVIDERS = ("plain", "eks", "paper")
EXPERT_TASK = 0
PAPER_ROUNDS = 3


def problem_size() -> Tuple[int, int]:
    """``(batch, image size)`` of this run's model problems."""
    if SETTINGS.tiny:
        return TINY_SIZE
    return PAPER_SIZE if SETTINGS.scope == "paper" else SIZE


def train_dtypes(scope: Optional[str] = None) -> Tuple[str, ...]:
    """The dtypes the training steps of ``scope`` (default: this run's) compute in: float32,
    and at the paper's scale bfloat16 too (autocast: the parameters and optimizer stay float32,
    as a user trains)."""
    scope = SETTINGS.scope if scope is None else scope
    return PAPER_DTYPES if scope == "paper" else ("float32",)


#: where a run times two dtypes, the providers timed in one of them only, to keep the GPU
#: acceptance run within its time: the CUDA-graph steps in bfloat16 (where host work weighs
#: most), the paper's formulation in float32 (its gap to EKS is an order of magnitude either way)
ONE_DTYPE = {"plain_graph": "bfloat16", "eks_graph": "bfloat16", "paper": "float32"}


def train_cases(
    scope: Optional[str] = None, device_type: Optional[str] = None
) -> List[Tuple[str, str, str]]:
    """``(student, dtype, provider)`` of the training-step benchmarks of ``scope`` on
    ``device_type`` (defaults: this run's): the measured conv choices belong to the cpu backend,
    CUDA graphs to CUDA devices."""
    dtypes = train_dtypes(scope)
    device_type = SETTINGS.device.type if device_type is None else device_type
    providers = [
        p
        for p in TRAIN_PROVIDERS
        if (p not in (MEASURED_TRAIN, MEASURING_TRAIN) or device_type == "cpu")
        and (p not in GRAPHED_TRAIN or device_type == "cuda")
    ]
    return [
        (arch, dtype, provider)
        for arch in TRAIN_MODELS
        for dtype in dtypes
        for provider in providers
        if len(dtypes) == 1 or ONE_DTYPE.get(provider, dtype) == dtype
    ]


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
    """Images, task ids and labels on ``device``; the ids carry their task plan, read on the
    host before the copy, as the training loop hands them to the model."""
    batch, image_size = problem_size()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen).to(device)
    host_ids = make_task_ids("uniform", batch, NUM_TASKS)
    counts = torch.tensor(CLASSES)[host_ids]
    labels = (torch.rand(batch, generator=gen) * counts).long().to(device)
    return images, planned_on(host_ids, device), labels


def _autocast(device: torch.device, dtype: str):
    """bfloat16 autocast (without its weight cache, which a CUDA graph cannot hold), or nothing
    for float32."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, getattr(torch, dtype), cache_enabled=False)


def train_step(
    provider: str, device: torch.device, arch: str = MODEL, dtype: str = "float32"
) -> Step:
    """Forward, per-task cross-entropy, backward and an SGD step (momentum 0.9, as the paper)
    of student ``arch``, computing in ``dtype``."""
    if provider in GRAPHED_TRAIN:
        return graphed_train_step(GRAPHED_TRAIN[provider], device, arch, dtype)
    measuring = provider in (MEASURED_TRAIN, MEASURING_TRAIN)
    model = _train_model("eks" if measuring else provider, device, arch).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, ids, labels = _batch(device)

    def compute() -> None:
        with backends.measuring() if measuring else contextlib.nullcontext():
            with _autocast(device, dtype):
                loss = task_cross_entropy(model(images, ids), labels, ids, CLASSES)
            loss.backward()
        optimizer.step()

    def clear() -> None:
        optimizer.zero_grad(set_to_none=True)
        if provider == MEASURING_TRAIN:
            backends.measured.clear_choices()

    return Step(compute, clear)


#: eager steps run on a side stream before a CUDA graph captures the step (lazy inits, the
#: optimizer's momentum buffers, autotuned kernels), as torch's capture recipe asks
GRAPH_WARMUP_STEPS = 3


def graphed_train_step(provider: str, device: torch.device, arch: str, dtype: str) -> Step:
    """``provider``'s training step (``plain`` or ``eks``) captured once in a CUDA graph, whose
    replay is the timed step: forward, loss, backward and the SGD step, on static tensors. The
    batch's task ids are planned on the host before they reach the GPU (the training loop's
    ``planned_on``), so nothing in the step reads the device."""
    model = _train_model(provider, device, arch).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, ids, labels = _batch(device)

    def step() -> None:
        with _autocast(device, dtype):
            loss = task_cross_entropy(model(images, ids), labels, ids, CLASSES)
        loss.backward()
        optimizer.step()

    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(GRAPH_WARMUP_STEPS):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()
    # the gradients live in the graph's memory and are overwritten by each replay: no clear
    return Step(graph.replay)


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


def model_info(
    what: str, provider: str, device: torch.device, arch: str = MODEL, dtype: str = "float32"
) -> Dict:
    """``benchmark.extra_info`` of a model benchmark (``what``: "train" or "inference")."""
    batch, image_size = problem_size()
    return {
        "suite": "model",
        "model": arch,
        "what": what,
        "scale": "paper" if SETTINGS.scope == "paper" else "main",
        "provider": provider,
        "batch": batch,
        "image_size": image_size,
        "num_tasks": NUM_TASKS,
        "rank": RANK,
        "mix": "uniform",
        "dtype": dtype,
        "backend": active_backend(device.type) if provider.startswith("eks") else None,
        "device": device_name(device),
    }


def benchmark_group(what: str, arch: str = MODEL, dtype: str = "float32") -> str:
    """The pytest-benchmark group of ``what`` ("train" or "inference") of student ``arch`` in
    ``dtype``: its providers side by side."""
    batch, image_size = problem_size()
    label = "train step" if what == "train" else what
    suffix = "" if dtype == "float32" else f" {dtype}"
    return f"{arch} {label} b{batch}@{image_size}{suffix}"


def run_model_benchmark(
    benchmark, what: str, provider: str, arch: str = MODEL, dtype: str = "float32"
) -> None:
    """Time ``provider``'s training step (``what="train"``) of student ``arch`` in ``dtype``,
    or its inference."""
    device = SETTINGS.device
    if provider in (MEASURED_TRAIN, MEASURING_TRAIN) and not backends.compiled_loaded():
        pytest.skip("measured conv choices belong to the compiled cpu backend")
    step = (
        train_step(provider, device, arch, dtype)
        if what == "train"
        else inference_step(provider, device)
    )
    benchmark.group = benchmark_group(what, arch, dtype)
    # the paper's ResNet-18 step takes about a minute on a 2-core CPU: three rounds are enough
    # for a ratio that is far from its target either way
    rounds = PAPER_ROUNDS if provider == "paper" and not SETTINGS.tiny else None
    time_step(benchmark, step, device, model_info(what, provider, device, arch, dtype), rounds)


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
