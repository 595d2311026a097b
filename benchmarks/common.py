"""Settings every benchmark suite shares, and the device helpers a timed step uses.

The settings are pytest options (``benchmarks/conftest.py`` registers them):

* ``--bench-scope``: ``quick``, ``standard`` (default), ``full`` or ``paper``: how much of the
  parameter matrix runs, and at which scale (:mod:`benchmarks.scopes`);
* ``--bench-device``: ``cpu`` (default) or ``cuda`` (any torch device string);
* ``--bench-providers a,b``: the layer providers to run (default: every one available);
* ``--bench-tiny``: every problem shrunk to a few samples and pixels, the matrix to one
  representative case per dimension (the smoke run in the normal test suite).

The suites parametrize while pytest collects them, so the options must be known by then:
``pytest_configure`` stores them in :data:`SETTINGS` before collection, and every reader looks
them up there when it runs, never at import. Outside a benchmark run (unit tests importing these
modules) the defaults hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, FrozenSet, Optional

import torch

from lorkd_kernels.backends import BACKENDS

from .names import BASELINE, COMPETITORS, MEASURED, TRITON_MEASURED, TRITON_SPLIT

SCOPES = ("quick", "standard", "full", "paper")
#: every name --bench-providers accepts: whether a backend runs depends on the machine
PROVIDER_NAMES = frozenset(
    (BASELINE, *BACKENDS, MEASURED, TRITON_SPLIT, TRITON_MEASURED, *COMPETITORS)
)

#: the paper's setting the layer and model suites centre on
NUM_TASKS = 10
RANK = 4


@dataclass
class BenchSettings:
    """What a benchmark run measures, and on which device."""

    scope: str = "standard"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: the providers to run, or None for every provider available on the device
    providers: Optional[FrozenSet[str]] = None
    tiny: bool = False

    @property
    def scope_label(self) -> str:
        """The scope as a results file records it: a tiny run measures nothing comparable."""
        return "tiny" if self.tiny else self.scope

    def configure(self, scope: str, device: str, providers: Optional[str], tiny: bool) -> None:
        """Set every field from the options' strings, or none of them: a ValueError names the
        option whose value is wrong."""
        scope = scope.strip().lower()
        if scope not in SCOPES:
            raise ValueError(f"--bench-scope {scope!r}: expected one of {', '.join(SCOPES)}")
        try:
            torch_device = torch.device(device.strip())
        except RuntimeError as err:
            raise ValueError(f"--bench-device {device!r} is not a torch device: {err}") from None
        if torch_device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--bench-device {device!r}: torch.cuda.is_available() is False")
        selected = None
        if providers is not None:
            selected = frozenset(name.strip() for name in providers.split(",") if name.strip())
            unknown = sorted(selected - PROVIDER_NAMES)
            if not selected or unknown:
                raise ValueError(
                    f"--bench-providers {providers!r}: "
                    f"{'unknown ' + ', '.join(unknown) if unknown else 'no name'}; "
                    f"expected names from {', '.join(sorted(PROVIDER_NAMES))}"
                )
        self.scope, self.device, self.providers, self.tiny = scope, torch_device, selected, tiny


#: this run's settings; ``benchmarks/conftest.py`` fills it in place before collection
SETTINGS = BenchSettings()


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a timing covers the work and not just its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> Callable[[], None]:
    """``fn`` followed by a device synchronisation: what a benchmark round times."""

    def run() -> None:
        fn()
        synchronize(device)

    return run


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type
