"""``python -m lorkd_kernels.transfer``: see :mod:`lorkd_kernels.pipeline.cli.transfer`."""

import sys

from .pipeline.cli.transfer import main

if __name__ == "__main__":
    sys.exit(main())
