"""How long ``python -m benchmarks.gpu_acceptance`` takes on one GPU: counted work x stated costs.

The work is counted without a GPU: the GPU and triton tests by collecting them (pytest
``--collect-only``), the Triton kernels they compile from the cases they run, the benchmark
cases from :mod:`benchmarks.scopes` and :mod:`benchmarks.model_bench` at the paper's scale
(collecting ``benchmarks`` needs ``--bench-device cuda``, i.e. a GPU). The costs per item are
estimates for an H100-class GPU with 16 CPU cores, written down in :class:`Costs` so that a
measured run can correct them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Dict, Sequence

#: processes of the acceptance run's warm-up step: each may hold a training step of a student
#: at batch 256 on the GPU, so their number is bounded by GPU memory, not CPUs (ResNet-18's
#: float32 activations at 224 px are about 6 GB: eight such steps and their CUDA contexts fit
#: an 80 GB GPU)
WARMUP_WORKERS = 8

#: the test files the acceptance run executes (collected to count them)
GPU_TESTS = "tests/gpu"
TRITON_TESTS = "tests/backends/triton"


@dataclass(frozen=True)
class Counts:
    """The work of one acceptance run."""

    cuda_sources: int  # .cu files nvcc compiles (once per architecture)
    cxx_sources: int  # C++ files of _C (compiled in parallel, MAX_JOBS)
    gpu_tests: int  # collected tests of tests/gpu
    triton_tests: int  # collected tests of tests/backends/triton
    triton_tests_kernels: int  # Triton binaries the triton tests JIT-compile (they run first)
    gpu_tests_kernels: int  # ... that the GPU tests add (the rest is in Triton's disk cache)
    compiled_models: int  # torch.compile runs of a converted model (aot_eager)
    inductor_models: int  # ... through inductor (code generation of its own kernels)
    timed_benchmarks: int  # layer and inference cases that time rounds
    model_benchmarks: int  # training steps at the paper's scale (eager and CUDA graph)
    paper_model_benchmarks: int  # ... of the paper's formulation
    warmup_benchmarks: int  # cases the warm-up step runs once
    benchmark_kernels: int  # Triton binaries of the benchmarked shapes (fused and split)


@dataclass(frozen=True)
class Costs:
    """Seconds per item (estimates, see the module docstring; the two compile costs were timed on
    one core of a 2-core AMD EPYC against torch 2.14.1 and nvcc 13: 31 s and 8-9.4 s)."""

    architectures: int = 1  # the visible GPU's own (TORCH_CUDA_ARCH_LIST "9.0")
    nvcc_per_architecture: float = 35.0  # the templated kernels of one .cu, -O3, one arch
    cxx_per_source: float = 10.0  # one C++ file against torch's headers
    jobs: int = 16  # MAX_JOBS of the build = CPU count
    workers: int = 16  # test processes (pytest-xdist -n) = CPU count, 1 without it
    warmup_workers: int = WARMUP_WORKERS  # the warm-up step's processes
    link: float = 10.0
    process_start: float = 15.0  # a python process importing torch, triton and _C, CUDA init
    test: float = 0.1  # one small test on the GPU, its float64 reference on CPU
    triton_compile: float = 2.0  # one Triton JIT compile (1-3 s on first use)
    aot_eager_compile: float = 8.0  # dynamo + AOTAutograd of the small model, 3 batches
    inductor_compile: float = 45.0  # inductor's code generation for it (one test: serial)
    benchmark_max_time: float = 0.25  # --benchmark-max-time: rounds stop after this (hundreds
    # of rounds of a layer on an H100-class GPU)
    benchmark_overhead: float = 0.5  # setup, calibration and warm-up of one case
    # one training step case at 224 px, batch 256: a warm-up step, 10 rounds of device time and
    # at least 5 timed rounds, about 16 steps of at most 0.1 s (ResNet-18's step is about 1.4
    # TFLOP: ~10 ms of math at a third of an H100's TF32 peak, its memory-bound layers a few
    # times that), plus the setup (a CUDA graph: its warm-up and capture)
    model_case: float = 2.5
    # the paper's formulation: 1 + 3 + 3 steps (model_bench.PAPER_ROUNDS) of about 1 s (its
    # grouped convolutions with per-sample weights run far below the dense ones' speed)
    paper_model_case: float = 8.0
    warmup_case: float = 0.3  # one untimed step of a case in the warm-up, its setup included
    report: float = 10.0


#: pytest-benchmark options the acceptance run passes (the estimate uses the same numbers)
BENCHMARK_MIN_ROUNDS = 5
BENCHMARK_MAX_TIME = Costs.benchmark_max_time


def estimate(counts: Counts, costs: Costs = Costs()) -> Dict[str, float]:
    """Seconds per acceptance step (keys as the step names) for ``counts``."""
    nvcc = counts.cuda_sources * costs.architectures * costs.nvcc_per_architecture
    cxx = math.ceil(counts.cxx_sources / costs.jobs) * costs.cxx_per_source
    # nvcc runs in one job while the C++ files share the others
    build = max(nvcc, cxx) + costs.link + costs.process_start
    # Triton compiles one kernel at a time per process: the test steps spread over workers
    triton_tests = (
        costs.process_start
        + (counts.triton_tests * costs.test + counts.triton_tests_kernels * costs.triton_compile)
        / costs.workers
    )
    gpu_tests = (
        costs.process_start
        + (
            counts.gpu_tests * costs.test
            + counts.gpu_tests_kernels * costs.triton_compile
            + counts.compiled_models * costs.aot_eager_compile
        )
        / costs.workers
        + counts.inductor_models * costs.inductor_compile
    )
    # the warm-up compiles the benchmarks' Triton kernels in parallel: the timed step finds them
    # in Triton's disk cache
    warmup = (
        costs.process_start
        + (
            counts.benchmark_kernels * costs.triton_compile
            + counts.warmup_benchmarks * costs.warmup_case
        )
        / costs.warmup_workers
    )
    benchmarks = (
        costs.process_start
        + counts.timed_benchmarks * (costs.benchmark_max_time + costs.benchmark_overhead)
        + counts.model_benchmarks * costs.model_case
        + counts.paper_model_benchmarks * costs.paper_model_case
    )
    return {
        "environment": 1.0,
        "dependencies": 1.0,
        "build": build,
        "kernels": costs.process_start,
        "warm-up": warmup,
        "benchmarks": benchmarks,
        "report": costs.report,
        "triton-tests": triton_tests,
        "gpu-tests": gpu_tests,
    }


# ----------------------------------------------------------------------------- counting


def collected(selection: Sequence[str], root: str) -> int:
    """How many tests pytest collects for ``selection`` (paths and options, as a step runs them)."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        *selection,
    ]
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(
            f"collecting {' '.join(selection)} failed (exit code {out.returncode}): {last}"
        )
    return sum(1 for line in out.stdout.splitlines() if "::" in line)


def _conv_keys(cases_and_dtypes) -> set:
    """Compile-time keys of conv problems: kernel size, dtype, and whether stride, dilation and
    groups are 1 (Triton specialises an integer argument equal to 1)."""
    return {
        (c.kernel, c.stride == (1, 1), c.dilation == (1, 1), c.groups == 1, dtype)
        for c, dtype in cases_and_dtypes
    }


def triton_kernels() -> Dict[str, int]:
    """Distinct Triton binaries each test step compiles first (later steps find them in
    Triton's on-disk cache). Per conv key: 3 fused kernels (forward, input and weight
    gradients) and 4 for the split form's expert branch; linear: 2 per dtype; the forced small
    tiles and the output masks (constexpr flags) give binaries of their own."""
    import torch

    from tests.eks_cases import CONV_CASES

    half = (torch.float32, torch.float16, torch.bfloat16)
    keys = _conv_keys(
        [(c, d) for c in CONV_CASES for d in half]
        + [(CONV_CASES[i], torch.float64) for i in (1, 8, 13)]
    )
    small_tiles = 6 * (3 + 4) + 3 * 2
    masks = 5 * 3
    triton_tests = len(keys) * (3 + 4) + 2 * (len(half) + 1) + small_tiles + masks
    # the GPU tests' cases are a subset of those; new there: the small model in float64
    # (dense 3x3, strided depthwise 3x3, grouped 1x1, dense 3x3 on a reflect-padded input)
    model_keys = 4
    return {"triton-tests": triton_tests, "gpu-tests": model_keys * (3 + 4) + 2}


def benchmark_cases(providers: Sequence[str]) -> Dict[str, int]:
    """The benchmark step's cases at the paper's scale on ``providers`` (as the suites
    parametrize them on a GPU), the warm-up's share of
    them, and the Triton binaries of every benchmarked conv key (the layers' and the students':
    per key the fused and split kernels; linear: 2 per dtype)."""
    from benchmarks import model_bench
    from benchmarks.scopes import PAPER, PAPER_DTYPES, layer_cases
    from benchmarks.shapes import distinct_shapes

    layer = [c for kind in ("conv", "linear") for c in layer_cases(kind, "paper", tiny=False)]
    train = model_bench.train_cases("paper", "cuda")
    eager = [case for case in train if case[2] in ("plain", "eks")]
    student_keys = _conv_keys(
        (shape, dtype)
        for shape in distinct_shapes([PAPER["image_size"]], "conv")
        for dtype in PAPER_DTYPES
    )
    layer_keys = _conv_keys((c.shape, c.dtype) for c in layer if c.shape.kind == "conv")
    # the layer cases compile both triton forms of their keys; a student's other convs only
    # the form auto serves (split for a dense conv, fused for a grouped one: costs.py)
    served = sum(4 if groups_are_one else 3 for *_, groups_are_one, _ in student_keys - layer_keys)
    return {
        "timed": len(layer) * len(providers) + len(model_bench.INFERENCE_PROVIDERS),
        "model": sum(1 for case in train if case[2] != "paper"),
        "paper_model": sum(1 for case in train if case[2] == "paper"),
        "warmup": len(layer) * len([p for p in providers if p != "paper"])
        + len(model_bench.INFERENCE_PROVIDERS)
        + len(eager),
        "kernels": len(layer_keys) * (3 + 4) + served + 2 * len(PAPER_DTYPES),
    }


def count(root: str, providers: Sequence[str]) -> Counts:
    """The work of an acceptance run of the checkout at ``root``."""
    from tests.gpu import test_cuda_backends as gpu_file

    bench = benchmark_cases(providers)
    kernels = triton_kernels()
    csrc = os.path.join(root, "csrc")
    sources = [os.path.join(d, f) for d, _, files in os.walk(csrc) for f in files]
    return Counts(
        cuda_sources=sum(s.endswith(".cu") for s in sources),
        cxx_sources=sum(s.endswith(".cpp") for s in sources),
        gpu_tests=collected(["-m", "gpu", GPU_TESTS], root),
        triton_tests=collected([TRITON_TESTS], root),
        triton_tests_kernels=kernels["triton-tests"],
        gpu_tests_kernels=kernels["gpu-tests"],
        compiled_models=len(gpu_file.FORMS),
        inductor_models=1,
        timed_benchmarks=bench["timed"],
        model_benchmarks=bench["model"],
        paper_model_benchmarks=bench["paper_model"],
        warmup_benchmarks=bench["warmup"],
        benchmark_kernels=bench["kernels"],
    )


def as_dict(counts: Counts, costs: Costs = Costs()) -> dict:
    return {"counts": asdict(counts), "costs": asdict(costs)}
