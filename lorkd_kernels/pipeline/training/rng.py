"""Every random number generator the loop touches, saved into and restored from checkpoints
(as tensors and plain values, so ``torch.load(weights_only=True)`` reads them back)."""

from __future__ import annotations

import random
from typing import Any, Dict, Tuple, cast

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_for(seed: int, name: str) -> None:
    """Seed every generator from the run's seed and a stage name, so a model's initial weights
    depend on nothing that ran before it (an earlier stage, a resumed run, the number of
    processes, which each draw differently from the global generator)."""
    seed_everything(int(np.random.SeedSequence([seed, *name.encode()]).generate_state(1)[0]))


def capture() -> Dict[str, Any]:
    # the global generator is an MT19937, whose (default) legacy state is this tuple
    legacy = cast(Tuple[str, np.ndarray, int, int, float], np.random.get_state())
    kind, keys, pos, has_gauss, cached = legacy
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
