"""Every pipeline test runs in a fresh working directory of its own.

The commands' default output folder (``runs/lorkd``) is relative: a test must not see the run
that the README's main command leaves in the checkout, nor leave one there.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
