"""The public API: every name in ``__all__`` exists, the layers' ``forward`` documents itself,
and the package says it is typed."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import typing
from pathlib import Path

import torch
from torch import nn

import lorkd_kernels
from lorkd_kernels import EKSConv2d, EKSLinear


def test_every_public_name_exists_once():
    names = lorkd_kernels.__all__
    assert len(names) == len(set(names))
    assert [n for n in names if not hasattr(lorkd_kernels, n)] == []
    for name in (
        "EKSConv2d",
        "convert",
        "decompose",
        "export_peft_adapters",
        "from_peft",
        "export_safetensors",
        "load_weights",
    ):
        assert name in names


PROBE = """
import importlib, types, lorkd_kernels
for module in set(lorkd_kernels._EXPORTS.values()):   # every submodule, imported lazily first
    importlib.import_module("lorkd_kernels." + module)
from lorkd_kernels import *
shadowed = [n for n in lorkd_kernels._EXPORTS if isinstance(globals()[n], types.ModuleType)]
print(shadowed)
"""


def test_no_submodule_import_replaces_a_public_name():
    """A submodule named like a public function (``convert.py`` once) becomes the package's
    attribute when something imports it before the name is looked up: ``from lorkd_kernels
    import convert`` then gave the module. In a fresh process, without torch imported first."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_layer_forward_documents_its_task_ids_not_torchs_generic_text():
    for layer, base in ((EKSConv2d, nn.Conv2d), (EKSLinear, nn.Linear)):
        doc = inspect.getdoc(layer.forward)
        assert doc != inspect.getdoc(base.forward)
        assert "task_ids" in doc and "num_tasks" in doc and "Returns" in doc
        hints = typing.get_type_hints(layer.forward)
        assert hints["x"] is torch.Tensor and hints["return"] is torch.Tensor
        assert hints["task_ids"] == typing.Optional[typing.Union[torch.Tensor, int]]


def test_the_package_ships_its_py_typed_marker():
    assert (Path(lorkd_kernels.__file__).parent / "py.typed").is_file()
