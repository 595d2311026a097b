"""The training presets (``--preset``): named sets of settings, as data.

A preset only chooses values; where a setting comes from is decided by the command line
(defaults < preset < ``--resume``'s config.json < ``--config`` file < flags given).

* ``demo``: the defaults of :class:`~.config.TrainConfig` as they are: a CPU demonstration on
  the built-in 32×32 benchmark, with values picked on that benchmark. Not the paper's setting.
* ``official``: the configuration of the paper's released code.
* ``paper``: ``official`` with the task knowledge transfer loss switched on. The released code
  computes that loss (SoftTarget KD on features, τ = 10) but gives it weight 0; the paper
  describes training with it, so ``paper`` keeps the same feature-level term and gives it
  weight 1: the paper's loss in the released code's form rather than a form chosen here
  (logits, say).

No torch here: the command line and its ``--help`` load this module.
"""

from __future__ import annotations

from typing import Any, Dict

PRESET_NAMES = ("demo", "official", "paper")

OFFICIAL: Dict[str, Any] = {
    "student_arch": "shufflenet_v2_x1_0",
    # every groups == 1 conv: the stem and the final 1x1 conv included, depthwise convs and
    # the task heads never
    "experts_on": "dense",
    "rank": 4,
    "alpha": 16.0,
    # SGD at 0.05 for a batch of 1024 (the demo's 0.01 at 64 is not a linearly scaled value:
    # it was picked on the built-in benchmark)
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_schedule": "cosine-epoch",
    "warmup_fraction": 0.0,
    "epochs": 100,
    "batch_size": 1024,  # global; --micro-batch-size splits it where a device can't
    "image_size": 224,
    "teacher_arch": "resnet50",
    # The released configuration names no schedule for fine-tuning the pretrained teacher's
    # heads and backbone on the tasks: it gets the student's (--teacher-ckpt skips it).
    "teacher_epochs": 100,
    "teacher_lr": 0.05,
    "kd_on": "features",
    "temperature": 10.0,
    "beta": 0.0,  # the released code's weight of the transfer loss
}

PRESETS: Dict[str, Dict[str, Any]] = {
    "demo": {},  # TrainConfig's defaults
    "official": OFFICIAL,
    "paper": {**OFFICIAL, "beta": 1.0},
}

# Presets whose teacher is a pretrained ResNet-50: they need --teacher-ckpt or
# --teacher-backbone (nothing is downloaded at run time).
NEED_PRETRAINED_TEACHER = ("official", "paper")


def preset_values(name: str) -> Dict[str, Any]:
    """The settings preset ``name`` chooses (a copy), its own name included."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESET_NAMES)}")
    return {**PRESETS[name], "preset": name}
