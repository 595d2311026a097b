"""The pipeline tests' shared synthetic data folder, for the command tests too, and one tiny
finished LoRKD run that the commands reading a run share (they must not change it)."""

import pytest

from lorkd_kernels import train
from tests.pipeline.training.conftest import data_root  # noqa: F401  (a fixture)
from tests.pipeline.training.tiny import TASKS, tiny_args


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_root):  # noqa: F811  (the fixture above)
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert (
        train.main(tiny_args(out, data_root, "--tasks", *TASKS[:2], "--epochs", "1", "--quiet"))
        == 0
    )
    return out
