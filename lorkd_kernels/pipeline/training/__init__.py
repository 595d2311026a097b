"""The LoRKD training pipeline behind ``python -m lorkd_kernels.train``."""

from .config import METHODS, ConfigError, TrainConfig, build_parser, parse_args
from .run import run

__all__ = ["METHODS", "ConfigError", "TrainConfig", "build_parser", "parse_args", "run"]
