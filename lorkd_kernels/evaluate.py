"""``python -m lorkd_kernels.evaluate``: the evaluation command (:mod:`.pipeline.cli.evaluate`)."""

import sys

from .pipeline.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
