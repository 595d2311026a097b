"""The one reading of on/off environment variables (``LORKD_DEBUG``, ``LORKD_MEASURE``, ...).

``1``/``true``/``yes``/``on`` and ``0``/``false``/``no``/``off`` (any case, surrounding spaces
ignored); unset or empty gives the default; anything else is a ValueError naming the variable, so
``LORKD_DEBUG=false`` never turns debugging on and a typo never passes for either. Imports nothing
but the standard library: ``setup.py`` loads this file by path, before torch is importable.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False,
             environ: Optional[Mapping[str, str]] = None) -> bool:
    """The switch ``name`` in ``environ`` (the process's environment by default; see the module
    docstring)."""
    environ = os.environ if environ is None else environ
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{name}={environ[name]!r}: expected one of "
                     f"{'/'.join(TRUE)} or {'/'.join(FALSE)}")
