"""``python -m lorkd_kernels.compare``: see :mod:`lorkd_kernels.pipeline.cli.compare`."""

import sys

from .pipeline.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
