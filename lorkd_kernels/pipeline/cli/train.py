"""``python -m lorkd_kernels.train``: teacher → LoRKD student → per-task experts → metrics.

Run with ``--help`` for every flag. With no arguments the whole pipeline runs on the built-in
synthetic benchmark on CPU and prints the per-task table of experts vs teacher.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from ..data import DataError
from ..models.pretrained import PretrainedWeightsError
from ..training import parse_args, run
from ..training.checkpoint import CheckpointError
from ..training.signals import TrainingInterrupted


def main(argv: Optional[Sequence[str]] = None) -> int:
    config = parse_args(argv)
    try:
        run(config)
    except TrainingInterrupted as stop:
        print(f"lorkd_kernels.train: {stop}", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except (DataError, CheckpointError, PretrainedWeightsError, FileNotFoundError) as err:
        print(f"lorkd_kernels.train: error: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
