"""The LoRKD training pipeline behind ``python -m lorkd_kernels.train``.

The recipe itself is ``training.run.run``; it is not imported here, because the command line
(``command_line``, ``config``) must load without torch so that ``--help`` answers fast.
"""

from .command_line import build_parser, parse_args
from .config import METHODS, ConfigError, TrainConfig

__all__ = ["METHODS", "ConfigError", "TrainConfig", "build_parser", "parse_args"]
