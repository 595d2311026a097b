"""The ``triton`` backend: fused EKS kernels for CUDA GPUs, runnable on CPU under the interpreter.

Kernels (``conv.py``; ``linear.py`` runs linear layers on them as 1x1 channels-last convs):

* **forward** — implicit GEMM ``y = x_col @ W0^T`` over rows = (sample, output pixel). The same
  K loop that loads an ``x_col`` tile for the base GEMM also multiplies it by ``A_t^T`` (the
  rank-r shrink, held in fp32 registers); the epilogue adds ``s * shrink @ B_t^T`` and the bias
  before the single store of ``y``. No N*r*H*W or N*|W| tensor reaches global memory.
* **dgrad** — implicit GEMM over rows = (sample, input pixel), looping over kernel taps and, per
  tap, over output channels: each ``dy`` tile feeds the base GEMM with ``W0[:, :, tap]`` and the
  shrink ``dy @ B_t``; the tap ends with ``+= s * shrink @ A_t[:, :, tap]``. Stride and dilation
  become a divisibility mask on the tap's output pixel.
* **wgrad** — one program per (C_out tile, K tile, group, row split) walks the tasks; per task it
  reduces ``G_t = dy_t^T @ x_col_t`` over that task's rows, adds it to dW0, and projects it to
  ``dA_t = s B_t^T G_t`` and ``dB_t = s G_t A_t^T``; dbias comes from the same ``dy`` tiles.
  Partial sums meet through atomics in fp32 buffers (fp64 for fp64 inputs), cast at the end.

Split form (``split.py``, run by the default strategy ``auto`` for dense convs unless measuring
chose the fused kernels for the call's key; grouped convs take the cost model's cheaper form,
``costs.py``; forced with ``LORKD_TRITON_STRATEGY=split`` or
``backends.triton_strategy("split")``): the base convolution and its gradients
through ``F.conv2d``/``convolution_backward`` (cuDNN on a GPU), and Triton kernels for the expert
branch only: the rank-r shrink ``u = A_t im2col(x)``, the expand ``y += s B_t u`` in place, the
input gradient's ``v = s B_t^T dy`` and transposed conv of v accumulated into cuDNN's dx, and
dA_t/dB_t per task segment. Its cost is the plain layer's plus the branch's by construction.

Tasks: the batch's task plan (``lorkd_kernels/task_plan.py``, read once per batch) gives the
sort order and T + 3 segment bounds; each program finds its tile's task and rows from them on
the device (``_tiles._plan_tile``), so each tile reads one ``A_t``/``B_t``, the grid has the static
size ``cdiv(rows, BLOCK_M) + T + 2`` and programs past the real tiles exit at once. The launchers
never read device data on the host: capturable in a CUDA graph. The task-id range check uses the
plan's range except under capture (``backends/host_checks.py``); unchecked out-of-range ids fall
into the plan's first and last segments, their tiles store NaN and the weight gradients of their
batch are NaN. Groups (depthwise included) are a grid dimension; depthwise
runs the same kernels with mostly masked tiles (correct, not tuned).

Accumulation: every dot accumulates in fp32 (fp64 for fp64 inputs); the rank-r intermediates
are fp32. fp32 operands use TF32 only where the plain layer would (``segments.tf32_allowed``).

Tiles: ``configs.py`` holds the one spill-free tile set of each kernel on a GPU, and the
problem-sized tiles used under the interpreter.

Registration: the backend's private ops ``lorkd::_triton_eks_conv2d`` and friends are
``torch.library.triton_op`` ops launching through ``wrap_triton``, so ``torch.compile`` sees the
kernels. The public ops route CUDA tensors here by default, and every device when
``LORKD_BACKEND=triton`` — with ``TRITON_INTERPRET=1`` set before this package is imported, that
runs the kernels on CPU tensors.
"""

from __future__ import annotations

import sys
import torch

from ... import task_plan
from ..._checks import conv2d_output_size
from .. import _settings, define, host_checks, triton_choices
from ..registry import BackendUnavailableError
from . import configs, conv, costs, limits, linear, split

Tensor = torch.Tensor


def _planned(x: Tensor, task_ids: Tensor, num_tasks: int) -> Tensor:
    """The ids carrying the batch's task plan (made here for a standalone call, shared by all the
    kernels of the call), after the range check."""
    if x.device.type != "cuda" and not configs.INTERPRETING:
        raise BackendUnavailableError(
            f"the triton backend runs {x.device.type} tensors only under the Triton "
            "interpreter: set TRITON_INTERPRET=1 before importing lorkd_kernels"
        )
    # The same contract as the cuda backend: IndexError where the host may read the ids (from
    # the batch's plan: one read per batch), NaN from the kernels where it may not (CUDA-graph
    # capture, torch.compile tracing, checks turned off).
    may_read = host_checks.may_read(task_ids)
    if torch.compiler.is_compiling():
        return task_ids
    plan = task_plan.attached_plan(task_ids)
    if plan is None:
        plan = task_plan.plan_batch(task_ids.detach(), read_host=may_read)
        task_ids = task_plan.attach(plan)
    if may_read:
        plan.check_range(num_tasks)
    return task_ids


# The backend's four functions (the interface every backend module shares).

_FORMS = {"fused": conv, "split": split}


def _in_chosen_form(
    run, output_mask, x, weight, lora_A, task_ids, stride, padding, dilation, groups
):
    """``run(form module)`` in the form ``triton_strategy`` names; under ``auto``, the form
    measured for this call's key (``triton_choices.py``), or without measuring the counted
    cost model's (``costs.py``: the cheaper form of a grouped conv, split for a dense one)."""
    settings = _settings.current()
    if settings.triton_strategy != "auto":
        return run(_FORMS[settings.triton_strategy])
    key = (
        triton_choices.key_of(output_mask, x, weight, task_ids, stride, padding, dilation, groups)
        if settings.measuring
        else None
    )
    if key is None:
        out_size = conv2d_output_size(x.shape, weight.shape, stride, padding, dilation)[2:]
        layer = costs.ConvLayer.of_call(
            x.shape,
            weight.shape,
            out_size,
            groups,
            lora_A.shape[1],
            lora_A.shape[0],
            x.element_size(),
        )
        return run(_FORMS[costs.cheapest_form(layer)])
    return triton_choices.run_measured(key, lambda form: run(_FORMS[form]), x.device)


def conv2d_forward(
    x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups, scaling
):
    task_ids = _planned(x, task_ids, lora_A.shape[0])
    conf = (list(stride), list(padding), list(dilation), int(groups))
    return _in_chosen_form(
        lambda form: form.conv2d_forward(
            x, weight, bias, lora_A, lora_B, task_ids, *conf, float(scaling)
        ),
        None,
        x,
        weight,
        lora_A,
        task_ids,
        *conf,
    )


def conv2d_backward(
    grad_out,
    x,
    weight,
    lora_A,
    lora_B,
    task_ids,
    stride,
    padding,
    dilation,
    groups,
    scaling,
    output_mask,
):
    task_ids = _planned(x, task_ids, lora_A.shape[0])
    conf = (list(stride), list(padding), list(dilation), int(groups))
    mask = [bool(m) for m in output_mask]
    return tuple(
        _in_chosen_form(
            lambda form: form.conv2d_backward(
                grad_out, x, weight, lora_A, lora_B, task_ids, *conf, float(scaling), mask
            ),
            mask,
            x,
            weight,
            lora_A,
            task_ids,
            *conf,
        )
    )


def linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling):
    task_ids = _planned(x, task_ids, lora_A.shape[0])
    return linear.linear_forward(x, weight, bias, lora_A, lora_B, task_ids, float(scaling))


def linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask):
    task_ids = _planned(x, task_ids, lora_A.shape[0])
    if any(bool(m) for m in output_mask[1:]):
        limits.alert_nondeterministic("the EKS linear's weight gradient")
    return tuple(
        linear.linear_backward(
            grad_out,
            x,
            weight,
            lora_A,
            lora_B,
            task_ids,
            float(scaling),
            [bool(m) for m in output_mask],
        )
    )


# Declared last, once the four functions above exist: its private ops lorkd::_triton_<op> are
# triton_op (launching through wrap_triton), so that torch.compile sees the kernels; the public
# ops reach them through the route table.
define.python_backend("triton", sys.modules[__name__], triton_op=True)
