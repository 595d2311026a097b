"""``python -m lorkd_kernels.train`` (or ``lorkd-train``): teacher → LoRKD student → per-task
experts → metrics.

Run with ``--help`` for every flag. With no arguments the whole pipeline runs on the built-in
synthetic benchmark on CPU and prints the per-task table of experts vs teacher. Exit status: 0,
1 for a failure while running, 2 for a usage error, 128 + N when stopped by signal N.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from ..training.command_line import NAME, parse_command
from .common import configure_logging, debugging, quiet_interrupt, run_command


@quiet_interrupt(NAME)
def main(argv: Optional[Sequence[str]] = None) -> int:
    config, command = parse_command(argv)  # usage errors exit here, before any import of torch
    configure_logging(command.quiet, command.verbose)
    # The heavy imports only now: --help and usage errors never pay for torch.
    from ..data import DataError
    from ..models.pretrained import PretrainedWeightsError
    from ..training.checkpoint import CheckpointError
    from ..training.loop import NonFiniteLoss
    from ..training.run import run
    from ..training.signals import TrainingInterrupted

    def train() -> int:
        try:
            run(config)
        except TrainingInterrupted as stop:
            print(f"{NAME}: {stop}", file=sys.stderr, flush=True)
            return 128 + stop.signum
        print(f"outputs: {Path(config.out).resolve()}", flush=True)
        return 0

    known = (DataError, CheckpointError, PretrainedWeightsError, NonFiniteLoss, OSError)
    return run_command(NAME, train, known, debugging(command.debug))


if __name__ == "__main__":
    sys.exit(main())
