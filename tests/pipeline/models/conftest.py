"""Run the model tests on one intra-op thread.

Their inputs are tiny (32×32, batch 2), so threads only add synchronisation, which becomes most
of the run time when other processes share the cores. The previous setting is restored after.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def single_intra_op_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
