"""Serving several peft LoRA adapters on one mixed batch: peft's own mixed-batch inference
against the same adapters loaded into one EKS model (:func:`lorkd_kernels.from_peft`).

The base is ShuffleNetV2 x1.0 or ResNet-18 from :mod:`lorkd_kernels.pipeline.models` with one
classifier; ``NUM_TASKS`` adapters of rank ``RANK`` (random, non-zero) adapt every dense conv
(peft's LoRA has no EKS equivalent on depthwise convs, see
``lorkd_kernels/deploy/_peft_layout.py``) and
each saves its own classifier (``modules_to_save``). Providers, each a no-grad forward of one
batch whose samples ask for uniformly drawn adapters:

* ``plain``: the base model without adapters (the baseline);
* ``peft``: ``peft_model(x, adapter_names=[...])``: the base layer over the batch, then every
  adapter's LoRA branch on its own rows, adapter by adapter, in every adapted layer;
* ``eks``: ``from_peft(peft_model)(x, task_ids)``: every sample's expert in the fused EKS ops.
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

from lorkd_kernels import active_backend, from_peft
from lorkd_kernels.pipeline.models import build_model

from .common import NUM_TASKS, RANK, SETTINGS, device_name
from .measure import Step, time_step
from .task_mixes import task_ids as make_task_ids

MODELS = ("shufflenet_v2_x1_0", "resnet18")
PROVIDERS = ("plain", "peft", "eks")
CLASSES = 9
#: (batch, image size) of a measurement, and of a --bench-tiny run
SIZE, TINY_SIZE = (64, 64), (4, 16)


def problem_size() -> Tuple[int, int]:
    return TINY_SIZE if SETTINGS.tiny else SIZE


def adapter_names() -> list:
    return [f"task{t}" for t in range(NUM_TASKS)]


def peft_model(model_name: str, device: torch.device) -> nn.Module:
    """``NUM_TASKS`` random LoRA adapters on the dense convs of ``model_name``."""
    import peft  # the benchmark's own dependency (requirements-dev.txt), not the package's

    torch.manual_seed(0)
    base = build_model(model_name, CLASSES)
    targets = [n for n, m in base.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]
    config = peft.LoraConfig(
        r=RANK,
        lora_alpha=4 * RANK,
        target_modules=targets,
        modules_to_save=["fc"],
        init_lora_weights=False,
    )
    names = adapter_names()
    model = peft.get_peft_model(base, config, adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, config)
    return model.to(device).eval()


def inference_step(model_name: str, provider: str, device: torch.device) -> Step:
    batch, image_size = problem_size()
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen).to(device)
    ids = make_task_ids("uniform", batch, NUM_TASKS)
    if provider == "plain":
        torch.manual_seed(0)
        model = build_model(model_name, CLASSES).to(device).eval()
        run = lambda: model(images)  # noqa: E731
    elif provider == "peft":
        model = peft_model(model_name, device)
        per_sample = [adapter_names()[t] for t in ids.tolist()]
        run = lambda: model(images, adapter_names=per_sample)  # noqa: E731
    else:
        model = from_peft(peft_model(model_name, device)).eval()
        ids = ids.to(device)
        run = lambda: model(images, ids)  # noqa: E731

    def compute() -> None:
        with torch.no_grad():
            run()

    return Step(compute)


def info(model_name: str, provider: str, device: torch.device) -> Dict:
    batch, image_size = problem_size()
    return {
        "suite": "peft",
        "model": model_name,
        "what": "mixed-batch inference",
        "provider": provider,
        "batch": batch,
        "image_size": image_size,
        "num_tasks": NUM_TASKS,
        "rank": RANK,
        "mix": "uniform",
        "backend": active_backend(device.type) if provider == "eks" else None,
        "device": device_name(device),
    }


def run_peft_benchmark(benchmark, model_name: str, provider: str) -> None:
    device = SETTINGS.device
    batch, image_size = problem_size()
    benchmark.group = f"{model_name} {NUM_TASKS} adapters mixed batch b{batch}@{image_size}"
    time_step(
        benchmark,
        inference_step(model_name, provider, device),
        device,
        info(model_name, provider, device),
    )
