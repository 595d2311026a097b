"""Model-level problems: a LoRKD student's training step and a deployed expert's inference.

The student is ShuffleNetV2 x1.0 with one head per MedMNIST task (10 tasks), converted with
:func:`lorkd_kernels.convert` (rank 4, every conv) and called through its
:class:`~lorkd_kernels.TaskRouter`; the baseline is the same network unconverted (same heads,
task ids routed the same way), and the paper's formulation is the converted network with its EKS
layers swapped (:mod:`benchmarks.paper_model`). Inference compares ``decompose(student, task)``
with the plain single-task ShuffleNetV2 it is deployed as, and the student itself on a mixed batch.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from lorkd_kernels import active_backend, convert, decompose
from lorkd_kernels.pipeline.data.tasks import MEDMNIST_TASKS
from lorkd_kernels.pipeline.losses import task_cross_entropy
from lorkd_kernels.pipeline.models import shufflenet_v2_x1_0

from .common import DEVICE, NUM_TASKS, RANK, TINY, device_name
from .layer_bench import Step
from .paper_model import paper_formulation
from .task_mixes import task_ids as make_task_ids

MODEL = "shufflenet_v2_x1_0"
CLASSES = list(MEDMNIST_TASKS.values())[:NUM_TASKS]
BATCH, IMAGE_SIZE = (4, 16) if TINY else (128, 64)
TRAIN_PROVIDERS = ("plain", "eks", "paper")
INFERENCE_PROVIDERS = ("plain", "expert", "eks")
EXPERT_TASK = 0


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
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen).to(device)
    ids = make_task_ids("uniform", BATCH, NUM_TASKS).to(device)
    counts = torch.tensor(CLASSES)[ids.cpu()]
    labels = (torch.rand(BATCH, generator=gen) * counts).long().to(device)
    return images, ids, labels


def train_step(provider: str, device: torch.device = DEVICE) -> Step:
    """Forward, per-task cross-entropy, backward and an SGD step (momentum 0.9, as the paper)."""
    model = _train_model(provider, device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, ids, labels = _batch(device)

    def compute() -> None:
        loss = task_cross_entropy(model(images, ids), labels, ids, CLASSES)
        loss.backward()
        optimizer.step()

    return Step(compute, lambda: optimizer.zero_grad(set_to_none=True))


def inference_step(provider: str, device: torch.device = DEVICE) -> Step:
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


def model_info(what: str, provider: str, device: torch.device = DEVICE) -> Dict:
    return {
        "suite": "model", "model": MODEL, "what": what, "provider": provider,
        "batch": BATCH, "image_size": IMAGE_SIZE, "num_tasks": NUM_TASKS, "rank": RANK,
        "mix": "uniform", "backend": active_backend(device.type) if provider == "eks" else None,
        "device": device_name(device),
    }

