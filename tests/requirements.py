"""Features some tests need that a machine may lack, and ``--require``, which turns their skip
into a failure (CI passes it in the steps that exist to run those tests, so a broken setup cannot
pass as a skip)."""

from __future__ import annotations

from typing import NoReturn, Set

import pytest

FEATURES = ("triton", "cuda-build", "torchvision", "cmake", "medmnist", "gpu")
_required: Set[str] = set()


def configure(values) -> None:
    """Record the features named by ``--require`` (repeatable, comma-separated)."""
    for value in values:
        for feature in filter(None, (v.strip() for v in value.split(","))):
            if feature not in FEATURES:
                raise pytest.UsageError(
                    f"--require {feature!r}: expected one of {', '.join(FEATURES)}"
                )
            _required.add(feature)


def required(feature: str) -> bool:
    return feature in _required


def unavailable(feature: str, reason: str) -> NoReturn:
    """Skip the calling test (or module) because ``feature`` is missing, or fail when it was
    required."""
    if required(feature):
        pytest.fail(f"--require {feature}: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
