"""LoRKD against the paper's baselines (STL, MTL, STL-KD, MTL-KD) and its own ablations, over
three seeds, each method's learning rate chosen on the validation split; writes a JSON record,
a markdown report and a plot.

    python python/compare_methods.py --out docs/comparison        # the full grid
    python python/compare_methods.py --quick --out runs/compare   # the grid at toy size

The same as ``python -m lorkd_kernels.compare``; ``--help`` lists the options.
"""

import sys

from lorkd_kernels.compare import main

if __name__ == "__main__":
    sys.exit(main())
