"""The transfer stage's training: a linear probe leaves the backbone as it was, a fine-tune
moves it, the new head fits the data set's classes, and a seed repeats a result."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lorkd_kernels.pipeline.cli import transfer as transfer_command
from lorkd_kernels.pipeline.data import TaskDataset
from lorkd_kernels.pipeline.models import build_model
from lorkd_kernels.pipeline.transfer import TransferSettings, train_new_head, transfer

CLASSES = 3
SETTINGS = TransferSettings(epochs=2, batch_size=4, eval_batch_size=8)


def _task(count: int, seed: int) -> TaskDataset:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    images = rng.integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
    images[..., 0] = (labels * 80)[:, None, None].astype(np.uint8)  # a learnable cue
    return TaskDataset(images, labels, 0, num_classes=CLASSES, name="downstream")


@pytest.fixture(scope="module")
def pretrained():
    torch.manual_seed(0)
    return build_model("shufflenet_v2_x0_5", 5).eval()


def _backbone(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}


def test_linear_probe_trains_only_the_new_head(pretrained):
    before = _backbone(pretrained)
    probed = train_new_head(pretrained, "linear", _task(13, 0), SETTINGS, torch.device("cpu"))
    assert probed.fc.out_features == CLASSES
    after = _backbone(probed)
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics too
    assert _backbone(pretrained).keys() == before.keys()


def test_finetune_trains_the_backbone_and_leaves_the_original(pretrained):
    before = _backbone(pretrained)
    tuned = train_new_head(pretrained, "finetune", _task(13, 0), SETTINGS, torch.device("cpu"))
    after = _backbone(tuned)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    original = _backbone(pretrained)
    assert all(torch.equal(before[k], original[k]) for k in before)


def test_scores_cover_the_test_split_and_repeat_with_the_seed(pretrained):
    train, test = _task(13, 0), _task(7, 1)
    first = transfer(pretrained, "finetune", train, test, SETTINGS, torch.device("cpu"))
    again = transfer(pretrained, "finetune", train, test, SETTINGS, torch.device("cpu"))
    assert first == again and first["samples"] == 7
    assert 0 <= first["accuracy"] <= 1


def test_an_unknown_mode_is_refused(pretrained):
    with pytest.raises(ValueError, match="mode must be one of"):
        train_new_head(pretrained, "probe", _task(4, 0), SETTINGS, torch.device("cpu"))


def test_the_commands_defaults_are_the_settings_defaults():
    """The command keeps a torch-free copy of them (its --help loads no torch)."""
    settings = dataclasses.asdict(TransferSettings())
    copied = dict(transfer_command.DEFAULTS)
    copied["finetune_lr"] = copied.pop("lr")
    assert {k: settings[k] for k in copied} == copied
