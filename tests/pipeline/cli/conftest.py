"""The pipeline tests' shared synthetic data folder, for the command tests too."""

from tests.pipeline.training.conftest import data_root  # noqa: F401  (a fixture)
