"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """One folder for the tiny synthetic benchmark: generated once, reused by every run."""
    return tmp_path_factory.mktemp("synthetic")
