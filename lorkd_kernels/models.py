"""``lorkd_kernels.models``: the backbones of :mod:`lorkd_kernels.pipeline.models`, importable
under their original name."""

from .pipeline.models import *  # noqa: F401,F403
from .pipeline.models import __all__  # noqa: F401
