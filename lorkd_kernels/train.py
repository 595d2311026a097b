"""``python -m lorkd_kernels.train``: the LoRKD pipeline's command (:mod:`.pipeline.cli.train`)."""

import sys

from .pipeline.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
