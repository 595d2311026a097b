"""Task ids for layers deep inside a model that never passes them along.

A torchvision ResNet calls ``conv(x)``; an EKS layer needs the batch's task ids too. The ids are
set once for the whole forward pass with :func:`task_ids_context` and read by every EKS layer and
task head whose caller gave none. :class:`TaskRouter` does that around any model, and also sorts
the batch by task once at the input (BatchNorm and every other layer of a classifier treat samples
independently or symmetrically) so every layer sees contiguous task segments, and restores the
caller's order at the output.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
from collections.abc import Mapping, MutableMapping
from types import ModuleType
from typing import Any, Iterator, List, Optional, cast

import torch
from torch import nn

from .task_ids import batch_task_ids
from .task_plan import carrying_plan, sorted_by_task

# Eager: a context variable, so threads and async tasks each see their own ids.
_CURRENT_TASK_IDS: contextvars.ContextVar[Optional[torch.Tensor]] = contextvars.ContextVar(
    "lorkd_task_ids", default=None
)

# Under torch.compile / torch.export: a plain stack. Dynamo cannot trace a ContextVar (a graph
# break), but it traces a list's appends and pops as side effects of the traced frame, so the ids
# reach the layers as graph values. The stack is only non-empty while a frame is being traced
# (tracing holds dynamo's compile lock); the compiled code's net change to it is nothing.
_TRACED_TASK_IDS: List[torch.Tensor] = []


@contextlib.contextmanager
def task_ids_context(task_ids: torch.Tensor) -> Iterator[torch.Tensor]:
    """Make ``task_ids`` the ids every EKS layer and task head uses inside the ``with`` block.

    The block's ids carry the batch's task plan (``lorkd_kernels/task_plan.py``): the ids are read
    on the host once here (their range and whether they are sorted), and every EKS op of the
    block, forward and backward, reuses that instead of reading them again. The value yielded is
    the alias of ``task_ids`` that carries the plan.

    Under ``torch.compile(fullgraph=True)`` the block must be inside the compiled function (as it
    is when the compiled module is a :class:`TaskRouter` or a model given ``task_ids``); reading
    ids set by an eager block around it is a graph break.
    """
    if not isinstance(task_ids, torch.Tensor) or task_ids.dim() != 1:
        raise TypeError("task_ids_context expects a 1-D int64 tensor of task ids")
    task_ids = carrying_plan(task_ids)
    if torch.compiler.is_compiling():
        _TRACED_TASK_IDS.append(task_ids)
        try:
            yield task_ids
        finally:
            _TRACED_TASK_IDS.pop()
        return
    token = _CURRENT_TASK_IDS.set(task_ids)
    try:
        yield task_ids
    finally:
        _CURRENT_TASK_IDS.reset(token)


# Read from traced code only when no traced block holds ids: the ids were set by eager code
# around the compiled function (or at a graph break dynamo cannot resume inside a block). The
# read is a graph break: without fullgraph the layer runs eagerly with those ids, as before;
# with fullgraph the error carries this reason.
@torch.compiler.disable(
    reason="the task ids were set outside the compiled function: compile "
    "the TaskRouter, or pass task_ids to the compiled model"
)
def _eager_task_ids() -> Optional[torch.Tensor]:
    return _CURRENT_TASK_IDS.get()


def current_task_ids() -> Optional[torch.Tensor]:
    """The ids set by the innermost :func:`task_ids_context`, or None outside one."""
    if torch.compiler.is_compiling():
        return _TRACED_TASK_IDS[-1] if _TRACED_TASK_IDS else _eager_task_ids()
    return _CURRENT_TASK_IDS.get()


_pytree: Optional[ModuleType]
try:  # private but long-lived; without it, registered containers are refused like others
    from torch.utils import _pytree
except ImportError:  # pragma: no cover
    _pytree = None


def _pytree_node_types():
    return getattr(_pytree, "SUPPORTED_NODES", {}) if _pytree is not None else {}


# Values that hold no per-sample rows: returned as they are.
_SCALARS = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device)


def _take_rows(output: Any, index: torch.Tensor, batch: int, strict: bool = True) -> Any:
    """Apply ``index`` to dim 0 of every batch-sized tensor in a (nested) argument or output,
    keeping every container's type: tuples, named tuples and lists, dicts and their subclasses
    (``OrderedDict``, transformers' ``ModelOutput``), dataclasses, and containers registered
    with torch's pytree. Any other object that
    could hide per-sample tensors is refused (``strict``, outputs) rather than passed back in the
    wrong order, or passed as it is (arguments: a callable, a module, a config)."""

    def take(value: Any) -> Any:
        return _take_rows(value, index, batch, strict)

    if isinstance(output, torch.Tensor):
        return (
            output.index_select(0, index) if output.dim() and output.shape[0] == batch else output
        )
    if isinstance(output, _SCALARS):
        return output
    if isinstance(output, tuple) and hasattr(output, "_fields"):  # namedtuple
        return type(output)(*(take(o) for o in output))
    if isinstance(output, (list, tuple)):
        return type(output)(take(o) for o in output)
    if type(output) is dict:
        return {k: take(v) for k, v in output.items()}
    if isinstance(output, Mapping):  # OrderedDict, ModelOutput, ...: a copy, items replaced
        # item assignment: a read-only mapping raises TypeError here
        taken = cast(MutableMapping[Any, Any], copy.copy(output))
        for key, value in output.items():
            taken[key] = take(value)
        return taken
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        instance = copy.copy(output)
        for f in dataclasses.fields(output):  # frozen ones too
            object.__setattr__(instance, f.name, take(getattr(output, f.name)))
        return instance
    registered = _pytree_node_types()  # empty without _pytree
    # a container registered with torch's pytree
    if _pytree is not None and type(output) in registered:
        return _pytree.tree_map(
            take, output, is_leaf=lambda node: node is not output and type(node) not in registered
        )
    if not strict:
        return output
    raise TypeError(
        f"TaskRouter cannot put the rows of a {type(output).__qualname__} back in the caller's "
        f"order: return tensors in tuples, lists, dicts or dataclasses, or call the router with "
        f"ids sorted by task (or sort=False)"
    )


class TaskRouter(nn.Module):
    """Run ``model(x)`` with the batch's task ids visible to every EKS layer and head inside.

    ``forward(x, task_ids, *args, **kwargs)``: ``task_ids`` is an int64 tensor ``(N,)`` or one int
    for the whole batch. With ``sort=True`` (default) a batch that is not sorted by task is permuted
    once at the input, together with every batch-sized tensor among ``args`` and ``kwargs``, and the
    outputs are put back in the caller's order. "Batch-sized" means a tensor whose first dim is N,
    also nested in tuples, lists, dicts (``OrderedDict``, ``ModelOutput``), dataclasses and
    pytree-registered containers, on the way in and on the way out, each container keeping its type;
    a tensor of that size that is not per-sample must not be passed through the router. An output
    holding any other object is refused with a TypeError when the batch was permuted.
    """

    def __init__(self, model: nn.Module, sort: bool = True) -> None:
        super().__init__()
        self.model = model
        self.sort = sort

    def forward(self, x: torch.Tensor, task_ids, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            raise TypeError("TaskRouter expects a batched input tensor as its first argument")
        batch = x.shape[0]
        task_ids = batch_task_ids(task_ids, batch, x.device)
        order = inverse = None
        if self.sort:
            order, inverse, task_ids = sorted_by_task(task_ids)
        if order is not None:
            x = x.index_select(0, order)
            # Per-sample extra arguments (labels, masks, ...) must follow their samples.
            args, kwargs = _take_rows((args, kwargs), order, batch, strict=False)
        with task_ids_context(task_ids):
            output = self.model(x, *args, **kwargs)
        return output if inverse is None else _take_rows(output, inverse, batch)
