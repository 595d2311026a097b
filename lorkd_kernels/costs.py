"""``python -m lorkd_kernels.costs``: see :mod:`lorkd_kernels.pipeline.cli.costs`."""

import sys

from .pipeline.cli.costs import main

if __name__ == "__main__":
    sys.exit(main())
