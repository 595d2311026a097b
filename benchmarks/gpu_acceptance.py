"""``python -m benchmarks.gpu_acceptance [--out DIR] [--plan]``: accept the library on one CUDA GPU.

Steps, each timed and printed as one line, its output in ``DIR/logs/<step>.log``:

1. ``environment``: torch, its CUDA version, the GPU, the CUDA toolkit and nvcc, triton;
2. ``dependencies``: in seconds, before anything is built: pytest-xdist, pytest-benchmark,
   ninja, and an nvcc of torch's CUDA major version (where the build runs); a missing one stops
   the run with one line naming it;
3. ``build``: the CUDA kernels built in place (``LORKD_BUILD=cuda``, ``MAX_JOBS`` = CPUs), for
   the visible GPU's own architecture only;
4. ``kernels``: the built ``lorkd_kernels._C`` holds the CUDA kernels;
5. ``warm-up``: every benchmark case run once, untimed, in ``gpu_estimate.WARMUP_WORKERS``
   processes, so
   the Triton kernels of the benchmarked shapes are JIT-compiled in parallel into Triton's disk
   cache (the timed step then finds them there); the paper's formulation and the CUDA-graph
   steps, which compile nothing of their own, are left out to keep GPU memory in bounds;
6. ``benchmarks``: the paper's scale on the GPU (``--bench-scope paper``: the representative
   layers at 224 px, batch 256, forward+backward with the forward's device time, float32 and
   bfloat16; both students' training steps, eager and captured in a CUDA graph, and the paper's
   formulation), every provider that times a fixed form (the measuring ones would time every
   shape's candidates first), into ``bench-cuda.json``;
7. ``report``: ``results-cuda.md`` and ``results_cuda.png`` from that JSON: one table per layer
   (EKS / plain for the fused, split and cuda forms, paper / EKS) and the training steps;
8. ``triton-tests``: ``tests/backends/triton`` on the GPU (not interpreting);
9. ``gpu-tests``: ``-m gpu tests/gpu`` (every backend on the GPU against the reference).

The numbers come first: a failing test step cannot cost the benchmark results, and every step
after ``dependencies`` runs whatever the ones before it gave. ``DIR/summary.json`` (rewritten
atomically after every step) holds each step's status, seconds and command. Exit status: 0 when
every step passed, 1 when one failed (or bad arguments, or a missing dependency), 2 when no GPU
is visible: the steps that need none (the environment, the dependencies, and the build where a
toolkit and a CUDA build of torch exist) run, then the run stops with one line; 130 when
interrupted (Ctrl-C). ``--plan`` prints the steps, their commands and estimated seconds
(:mod:`benchmarks.gpu_estimate`) and runs nothing.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from benchmarks import gpu_estimate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROVIDERS = "plain,triton,triton_split,cuda,paper"
#: the suites the benchmark step runs (the memory and peft suites are CPU work)
BENCH_SUITES = (
    "benchmarks/test_bench_conv_layer.py",
    "benchmarks/test_bench_linear_layer.py",
    "benchmarks/test_bench_model.py",
)
#: the benchmark cases the warm-up leaves out (pytest -k): they compile no kernel of their own
WARMUP_SKIPS = "not paper and not graph"
BENCH_JSON, REPORT_MD, REPORT_PNG = "bench-cuda.json", "results-cuda.md", "results_cuda.png"
SUMMARY, LOGS = "summary.json", "logs"
#: what a run leaves in --out; their presence is what "already holds results" means
RESULTS = (SUMMARY, LOGS, BENCH_JSON, REPORT_MD, REPORT_PNG)
EXIT_FAILED, EXIT_NO_GPU, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(Exception):
    """Bad arguments: one line, exit status 1."""


@dataclass
class Step:
    name: str
    needs_gpu: bool
    #: the command as run (in the repository root); empty for a step run in this process
    command: List[str] = field(default_factory=list)
    env: Dict[str, Optional[str]] = field(default_factory=dict)  # None: unset the variable


def python(*args: str) -> List[str]:
    return [sys.executable, *args]


def workers(jobs: int) -> int:
    """Test processes: Triton compiles one kernel at a time per process, so the test steps
    spread over the CPUs with pytest-xdist when it is installed (requirements-dev.txt)."""
    return jobs if importlib.util.find_spec("xdist") is not None else 1


def warmup_workers(jobs: int) -> int:
    """Processes of the warm-up step: as many as the tests get, at most what GPU memory holds."""
    return min(gpu_estimate.WARMUP_WORKERS, workers(jobs))


def steps(out: str, jobs: int) -> List[Step]:
    """The acceptance steps, in order, writing into ``out``. The triton tests run before the
    GPU tests: those call the same kernels on the same cases, then found in Triton's cache."""
    spread = ["-n", str(workers(jobs))] if workers(jobs) > 1 else []
    bench_json = os.path.join(out, BENCH_JSON)
    has_cuda = (
        "from lorkd_kernels import backends; import sys; ok = backends.has_cuda_kernels(); "
        "print('lorkd_kernels._C', 'holds' if ok else 'lacks', 'the CUDA kernels'); "
        "sys.exit(0 if ok else 1)"
    )
    no_interpreter = {"TRITON_INTERPRET": None, "LORKD_BACKEND": None}
    bench_options = [
        *BENCH_SUITES,
        "-q",
        "-p",
        "no:cacheprovider",
        "--bench-device",
        "cuda",
        "--bench-scope",
        "paper",
        "--bench-providers",
        PROVIDERS,
    ]
    warm = warmup_workers(jobs)
    build_env = {"LORKD_BUILD": "cuda", "MAX_JOBS": str(jobs)}
    arch = own_arch()
    if arch is not None:
        build_env["TORCH_CUDA_ARCH_LIST"] = arch
    return [
        Step("environment", needs_gpu=False),
        Step("dependencies", needs_gpu=False),
        Step(
            "build",
            needs_gpu=False,
            command=python("setup.py", "-q", "build_ext", "--inplace"),
            env=build_env,
        ),
        Step("kernels", needs_gpu=True, command=python("-c", has_cuda)),
        Step(
            "warm-up",
            needs_gpu=True,
            env=no_interpreter,
            command=python(
                "-m",
                "pytest",
                *bench_options,
                *(["-n", str(warm)] if warm > 1 else []),
                "--benchmark-disable",
                "-k",
                WARMUP_SKIPS,
            ),
        ),
        Step(
            "benchmarks",
            needs_gpu=True,
            env=no_interpreter,
            command=python(
                "-m",
                "pytest",
                *bench_options,
                "--benchmark-group-by=group",
                "--benchmark-columns=median,iqr,rounds",
                "--benchmark-sort=name",
                f"--benchmark-min-rounds={gpu_estimate.BENCHMARK_MIN_ROUNDS}",
                f"--benchmark-max-time={gpu_estimate.BENCHMARK_MAX_TIME}",
                f"--benchmark-json={bench_json}",
            ),
        ),
        Step(
            "report",
            needs_gpu=True,
            command=python(
                "-m",
                "benchmarks.report",
                bench_json,
                "--markdown",
                os.path.join(out, REPORT_MD),
                "--plot",
                os.path.join(out, REPORT_PNG),
            ),
        ),
        Step(
            "triton-tests",
            needs_gpu=True,
            env=no_interpreter,
            command=python(
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *spread,
                gpu_estimate.TRITON_TESTS,
                "--require",
                "triton",
            ),
        ),
        Step(
            "gpu-tests",
            needs_gpu=True,
            env=no_interpreter,
            command=python(
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *spread,
                "-m",
                "gpu",
                gpu_estimate.GPU_TESTS,
                "--require",
                "gpu,triton,cuda-build",
            ),
        ),
    ]


def shown(step: Step) -> str:
    """The step's command as a user would type it."""
    if not step.command:
        return "(in this process)"
    words = ["python" if w == sys.executable else w for w in step.command]
    words = [repr(w) if " " in w else w for w in words]
    env = [f"{k}={v}" for k, v in step.env.items() if v is not None]
    return " ".join(env + words)


# ----------------------------------------------------------------------------- the environment


def gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def cuda_toolkit() -> Optional[str]:
    """The toolkit torch's extension builder would use (CUDA_HOME, CUDA_PATH, nvcc on PATH,
    /usr/local/cuda), or None."""
    from torch.utils.cpp_extension import CUDA_HOME

    return CUDA_HOME


def own_arch() -> Optional[str]:
    """The visible GPU's architecture as ``TORCH_CUDA_ARCH_LIST`` names it ("9.0"), or None: the
    build then compiles for that one only (each architecture is a full nvcc pass)."""
    import torch

    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return f"{major}.{minor}"


def nvcc_release() -> Optional[str]:
    """The CUDA release of the toolkit's nvcc ("13.0"), or None without one."""
    toolkit = cuda_toolkit()
    nvcc = os.path.join(toolkit, "bin", "nvcc") if toolkit else shutil.which("nvcc")
    if not nvcc or not os.path.exists(nvcc):
        return None
    printed = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"release (\d+\.\d+)", printed)
    return match.group(1) if match else None


def missing_dependencies(building: bool) -> List[str]:
    """What the later steps need and this machine lacks, one phrase each."""
    import torch

    missing = [
        f"{module} (pip install {package})"
        for module, package in (("xdist", "pytest-xdist"), ("pytest_benchmark", "pytest-benchmark"))
        if importlib.util.find_spec(module) is None
    ]
    if building:
        if shutil.which("ninja") is None and importlib.util.find_spec("ninja") is None:
            missing.append("ninja (pip install ninja)")
        release = nvcc_release()
        wanted = torch.version.cuda
        if release is None:
            missing.append("nvcc (set CUDA_HOME to the toolkit holding bin/nvcc)")
        elif wanted and release.split(".")[0] != wanted.split(".")[0]:
            missing.append(f"an nvcc of CUDA {wanted} (torch's; found {release})")
    return missing


def cannot_build() -> Optional[str]:
    """Why the CUDA kernels cannot be built here, or None."""
    import torch

    if torch.version.cuda is None:
        return "torch is a CPU-only build: nothing to build the CUDA kernels against"
    if cuda_toolkit() is None:
        return "no CUDA toolkit found (set CUDA_HOME to the folder holding bin/nvcc)"
    return None


def environment() -> str:
    """One line: what the run will build and run with."""
    import torch

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
    return (
        f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none (CPU build)'}, "
        f"GPU {gpu}, toolkit {cuda_toolkit() or 'none found by torch'}, nvcc "
        f"{shutil.which('nvcc') or 'not on PATH'}, triton {triton_version}, ninja "
        f"{'found' if shutil.which('ninja') else 'not found (the build runs one job)'}, "
        f"{os.cpu_count()} CPUs"
    )


# ----------------------------------------------------------------------------- running


def write_summary(out: str, summary: dict) -> None:
    """Replace ``out/summary.json`` in one rename: a reader never sees half a file."""
    path = os.path.join(out, SUMMARY)
    with open(path + ".tmp", "w") as handle:
        json.dump(summary, handle, indent=1)
    os.replace(path + ".tmp", path)


def run_command(step: Step, log: str) -> int:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    )
    for key, value in step.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    with open(log, "w") as handle:
        handle.write(f"$ {shown(step)}\n")
        handle.flush()
        return subprocess.run(
            step.command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        ).returncode


def prepare_out(out: str, overwrite: bool) -> None:
    held = [name for name in RESULTS if os.path.exists(os.path.join(out, name))]
    if held and not overwrite:
        raise UsageError(
            f"--out {out} already holds results ({', '.join(held)}); pass "
            "--overwrite to replace them or choose another --out"
        )
    for name in held:
        path = os.path.join(out, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(os.path.join(out, LOGS), exist_ok=True)


def run_step(step: Step, record: dict, out: str, has_gpu: bool, skip_build: bool) -> None:
    """Run one step and fill its summary ``record`` (status, seconds, exit code, log)."""
    start = time.monotonic()
    log = os.path.join(out, LOGS, f"{step.name}.log")
    if step.name == "environment":
        record["detail"] = environment()
        with open(log, "w") as handle:
            handle.write(record["detail"] + "\n")
        record.update(log=log, status="passed", exit_code=0)
    elif step.name == "dependencies":
        missing = missing_dependencies(building=not skip_build and cannot_build() is None)
        record["detail"] = "missing " + ", ".join(missing) if missing else "all found"
        with open(log, "w") as handle:
            handle.write(record["detail"] + "\n")
        record.update(
            log=log, status="failed" if missing else "passed", exit_code=1 if missing else 0
        )
    elif step.name == "build" and (skip_build or (not has_gpu and cannot_build())):
        record.update(detail="--skip-build" if skip_build else cannot_build(), status="skipped")
    else:
        code = run_command(step, log)
        record.update(log=log, status="passed" if code == 0 else "failed", exit_code=code)
    record["seconds"] = round(time.monotonic() - start, 1)


def run(
    out: str, overwrite: bool, skip_build: bool, jobs: int, say: Callable[[str], None] = print
) -> int:
    prepare_out(out, overwrite)
    plan = steps(out, jobs)
    summary = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "status": "running",
        "steps": [{"name": s.name, "status": "not run", "command": shown(s)} for s in plan],
    }
    write_summary(out, summary)
    has_gpu = gpu_visible()
    for step, record in zip(plan, summary["steps"]):
        if step.needs_gpu and not has_gpu:
            summary["status"] = f"stopped: no CUDA GPU is visible, before {step.name}"
            write_summary(out, summary)
            say(
                f"no CUDA GPU is visible: stopped before {step.name}; run this on a machine "
                "with a CUDA GPU"
            )
            return EXIT_NO_GPU
        try:
            run_step(step, record, out, has_gpu, skip_build)
        except KeyboardInterrupt:
            summary["status"] = f"interrupted in {step.name}"
            write_summary(out, summary)
            raise
        write_summary(out, summary)
        detail = f": {record['detail']}" if "detail" in record else ""
        say(f"{step.name}: {record['status']} ({record['seconds']} s){detail}")
        if record["status"] == "failed" and step.name == "dependencies":
            summary["status"] = "failed at dependencies"
            write_summary(out, summary)
            say(f"GPU acceptance stopped before building: {record['detail']}")
            return EXIT_FAILED
    failed = [r for r in summary["steps"] if r["status"] == "failed"]
    summary["status"] = (
        ("failed at " + ", ".join(r["name"] for r in failed)) if failed else "passed"
    )
    write_summary(out, summary)
    total = sum(r["seconds"] for r in summary["steps"])
    if failed:
        say(
            "GPU acceptance failed: "
            + "; ".join(
                f"{r['name']} exited with code {r['exit_code']} (log: {r['log']})" for r in failed
            )
        )
        return EXIT_FAILED
    say(
        f"GPU acceptance passed: {len(plan)} steps in {total:.0f} s; "
        f"{os.path.join(out, SUMMARY)}, {os.path.join(out, REPORT_MD)}"
    )
    return 0


def print_plan(out: str, jobs: int, say: Callable[[str], None] = print) -> int:
    counts = gpu_estimate.count(ROOT, PROVIDERS.split(","))
    costs = gpu_estimate.Costs(
        jobs=jobs, workers=workers(jobs), warmup_workers=warmup_workers(jobs)
    )
    seconds = gpu_estimate.estimate(counts, costs)
    for i, step in enumerate(steps(out, jobs), 1):
        gpu = "GPU" if step.needs_gpu else "no GPU"
        say(f"{i}. {step.name} (~{seconds[step.name]:.0f} s, {gpu}): {shown(step)}")
    say("counted: " + ", ".join(f"{k} {v}" for k, v in vars(counts).items()))
    say(
        f"estimated total: {sum(seconds.values()):.0f} s "
        f"({sum(seconds.values()) / 60:.1f} min; costs per item in benchmarks/gpu_estimate.py)"
    )
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _Parser(
        prog="python -m benchmarks.gpu_acceptance",
        description="Build, test and benchmark lorkd_kernels on one CUDA GPU.",
    )
    parser.add_argument(
        "--out",
        default="gpu-acceptance",
        help="folder for summary.json, logs and results (default: %(default)s)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the results an earlier run left in --out"
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print the steps, commands and estimated times; run nothing",
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="use the lorkd_kernels._C already built (no build step)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="MAX_JOBS of the build (default: the CPU count, %(default)s)",
    )
    try:
        args = parser.parse_args(argv)
        out = os.path.abspath(args.out)  # the steps run in the repository root
        if args.jobs < 1:
            raise UsageError(f"--jobs {args.jobs}: expected a positive count")
        if args.plan:
            return print_plan(out, args.jobs)
        return run(out, args.overwrite, args.skip_build, args.jobs)
    except (UsageError, OSError, RuntimeError) as err:
        print(f"gpu_acceptance: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "gpu_acceptance: interrupted; summary.json in --out holds the steps done",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
