"""What the Triton kernels cost in registers, spills and shared memory, and the occupancy that
follows, on sm_80 and sm_90, compiled without a GPU.

``python -m benchmarks.triton_resources --out benchmarks/triton_resources.md`` writes the
markdown table and the JSON next to it (same name, ``.json``). Every case is compiled once per
run; ``--reuse OLD.json`` takes rows from a previous table whose kernel source, Triton version
and case are unchanged, so a config change recompiles only the new configs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks import occupancy


@dataclass(frozen=True)
class KernelUse:
    module: str  # under lorkd_kernels.backends.triton
    name: str  # the @triton.jit function
    fp32_pointers: Tuple[str, ...] = ()  # accumulation-dtype buffers besides gpu_compile's


# The fused kernels (conv.py) and the split form's branch kernels (split.py). The segment
# reduction compiles to two binaries: dA reads v (fp32) and x, dB reads dy and u (fp32).
KERNELS = {
    "forward": KernelUse("conv", "conv_forward_kernel"),
    "dgrad": KernelUse("conv", "conv_dgrad_kernel"),
    "wgrad": KernelUse("conv", "conv_wgrad_kernel"),
    "split shrink": KernelUse("split", "branch_shrink_kernel", ("u_ptr",)),
    "split expand": KernelUse("split", "branch_expand_kernel", ("u_ptr",)),
    "split dA": KernelUse("split", "segment_outer_kernel", ("left_ptr", "out_ptr")),
    "split dB": KernelUse("split", "segment_outer_kernel", ("right_ptr", "out_ptr")),
}
DTYPES = ("fp16", "bf16", "fp32")
CAPABILITIES = (80, 90)
# 3x3 convs carry the im2col index math; 1x1 convs and the linear layers (linear.py runs them
# as 1x1 convs of a channels-last view) are other binaries, where that math folds away
KERNEL_SIZES = (3, 1)
RANK_BLOCK = 16  # configs.rank_block(rank) of a tl.dot for every rank <= 16 (the paper's ranks)
# the rank blocks of the multiply-add arithmetic (costs.rank_arithmetic: ranks up to 8 where
# the dots run on CUDA cores), compiled in fp32: the dtype whose dots run there (without TF32)
FMA_RANK_BLOCKS = (4, 8)
SPLIT_RANK = 8  # the rank of the split form's dB cases (its K = r), any r <= 16 alike
SPLIT_TASKS = 4  # tasks in the batch of the split form's segment-reduction cases
WGRAD_STAGES = 2  # what conv.fused_weight_grads launches with

# Shapes whose tiles (from configs: forward/dgrad take one tile on a GPU, wgrad's depend on the
# shape) the table reports: (name, batch, C_in, C_out, groups, input size, kernel size), stride 1.
HEURISTIC_SHAPES = (
    ("ResNet-18 conv3x3 64->64 @16px, batch 64", 64, 64, 64, 1, 16, 3),
    ("ResNet-18 conv3x3 128->128 @8px, batch 256", 256, 128, 128, 1, 8, 3),
    ("ResNet-18 conv3x3 512->512 @2px, batch 64", 64, 512, 512, 1, 2, 3),
    ("ShuffleNetV2 depthwise 3x3 116 @4px, batch 64", 64, 116, 116, 116, 4, 3),
    ("ShuffleNetV2 conv1x1 116->116 @8px, batch 64", 64, 116, 116, 1, 8, 1),
    ("Linear 1024->73 (ShuffleNetV2 classifier), batch 64", 64, 1024, 73, 1, 1, 1),
)


@dataclass(frozen=True)
class Case:
    kernel: str  # a key of KERNELS
    kernel_size: int  # KH = KW
    source: str  # "gemm tile" or "heuristic: <shape>"
    tiles: Tuple[Tuple[str, int], ...]
    num_warps: int
    num_stages: int
    rank_block: int = RANK_BLOCK
    fma: bool = False  # the rank products as multiply-adds (FMA_RANK), not tl.dot

    def constants(self) -> dict:
        from lorkd_kernels.backends.triton.gpu_compile import dtype_constants

        flags = dict(KH=self.kernel_size, KW=self.kernel_size, **dtype_constants())
        flags.update(R=self.rank_block, FMA_RANK=self.fma)
        if self.kernel == "forward":
            flags["HAS_BIAS"] = True
        if self.kernel == "wgrad":
            flags.update(NEED_W=True, NEED_LORA=True, NEED_BIAS=True)
        return dict(flags, **dict(self.tiles))

    def compile_key(self) -> tuple:
        """What the compiled binary depends on (two sources may share one)."""
        return (
            self.kernel,
            self.kernel_size,
            self.tiles,
            self.num_warps,
            self.num_stages,
            self.rank_block,
            self.fma,
        )


def _block_rows() -> List[int]:
    """The BLOCK_M values the launcher can pick."""
    from lorkd_kernels.backends.triton import configs

    return sorted({configs.block_rows(1 << shift) for shift in range(31)})


def _gemm_cases(kernel: str) -> List[Case]:
    from lorkd_kernels.backends.triton import configs

    cases = []
    for kernel_size in KERNEL_SIZES:
        for block_m in _block_rows():
            block_n, block_k, num_warps, num_stages = configs.GEMM_TILE
            tiles = (("BLOCK_M", block_m), ("BLOCK_N", block_n), ("BLOCK_K", block_k))
            cases.append(Case(kernel, kernel_size, "gemm tile", tiles, num_warps, num_stages))
    return cases


def _heuristic_cases(kernel: str) -> List[Case]:
    from lorkd_kernels.backends.triton import configs

    cases = []
    for name, batch, c_in, c_out, groups, size, k in HEURISTIC_SHAPES:
        rows, depth_in = batch * size * size, c_in // groups * k * k
        if kernel == "wgrad":
            t = configs.wgrad_tiles(c_out // groups, depth_in, rows, groups)
            tiles = (
                ("SPLIT", t.split),
                ("BLOCK_CO", t.block_co),
                ("BLOCK_K", t.block_k),
                ("BLOCK_P", t.block_p),
            )
            cases.append(Case(kernel, k, f"heuristic: {name}", tiles, t.num_warps, WGRAD_STAGES))
            continue
        cols, depth = (
            (c_out // groups, depth_in)
            if kernel == "forward"
            else (c_in // groups, c_out // groups)
        )
        t = configs.gemm_tiles(rows, cols, depth)
        tiles = (("BLOCK_M", t.block_m), ("BLOCK_N", t.block_n), ("BLOCK_K", t.block_k))
        cases.append(Case(kernel, k, f"heuristic: {name}", tiles, t.num_warps, t.num_stages))
    return cases


def _split_cases(rank_block: int = RANK_BLOCK, fma: bool = False) -> List[Case]:
    """The split form's kernels: shrink and expand with their one tile set (3x3: x's shrink and
    dx's transposed conv; 1x1: 1x1 convs, dy's shrink and y's expand), and the segment
    reductions with the tiles ``segment_tiles`` gives HEURISTIC_SHAPES (with multiply-adds, the
    rank's side of the tile is the rank block)."""
    from lorkd_kernels.backends.triton import configs

    low = rank_block if fma else configs.MIN_DOT
    cases = []
    branch = configs.branch_tiles(1, 1)
    for kernel, inner in (("split shrink", "BLOCK_K"), ("split expand", "BLOCK_N")):
        for kernel_size in KERNEL_SIZES:
            tiles = (("BLOCK_M", branch.block_m), (inner, branch.block_cols))
            cases.append(
                Case(
                    kernel,
                    kernel_size,
                    "branch tiles",
                    tiles,
                    branch.num_warps,
                    branch.num_stages,
                    rank_block,
                    fma,
                )
            )
    for name, batch, c_in, c_out, groups, size, k in HEURISTIC_SHAPES:
        rows, segments = batch * size * size, SPLIT_TASKS * groups
        rank = rank_block if fma else SPLIT_RANK
        for kernel, a, depth, kernel_size in (
            ("split dA", rank, c_in // groups * k * k, k),
            ("split dB", c_out // groups, rank, 1),
        ):
            t = configs.segment_tiles(a, depth, rows, segments, low)
            tiles = (
                ("SPLIT", t.split),
                ("BLOCK_A", t.block_co),
                ("BLOCK_K", t.block_k),
                ("BLOCK_P", t.block_p),
            )
            cases.append(
                Case(
                    kernel,
                    kernel_size,
                    f"heuristic: {name}",
                    tiles,
                    t.num_warps,
                    WGRAD_STAGES,
                    rank_block,
                    fma,
                )
            )
    return cases


def shipped_cases(dtype: str) -> List[Case]:
    """The GEMM tile (with each BLOCK_M the launcher gives it) of forward and dgrad, the
    heuristic tiles of HEURISTIC_SHAPES for all three fused kernels, and the split form's
    kernels (:func:`_split_cases`); in fp32 forward, dgrad and the split kernels again with the
    rank products as multiply-adds on each of FMA_RANK_BLOCKS."""
    cases = []
    for kernel in ("forward", "dgrad"):
        cases += _gemm_cases(kernel) + _heuristic_cases(kernel)
    cases += _heuristic_cases("wgrad") + _split_cases()
    if dtype == "fp32":
        for rank_block in FMA_RANK_BLOCKS:
            # wgrad always uses tl.dot (conv.fused_weight_grads: its multiply-add variant
            # spilled 4-28 bytes on 7 of its cases)
            fused = [c for c in cases if c.kernel in ("forward", "dgrad")]
            cases += [replace(c, rank_block=rank_block, fma=True) for c in fused]
            cases += _split_cases(rank_block, fma=True)
    return cases


def _measure(
    kernel: str, dtype: str, capability: int, num_warps: int, num_stages: int, constants: dict
) -> dict:
    """Compile one case and read its resources (runs in a worker process)."""
    import importlib

    from lorkd_kernels.backends.triton.gpu_compile import compile_kernel, ptxas_usage

    use = KERNELS[kernel]
    function = getattr(
        importlib.import_module(f"lorkd_kernels.backends.triton.{use.module}"), use.name
    )
    # each kernel gets the constexprs it declares (the split kernels take fewer)
    constants = {k: v for k, v in constants.items() if k in function.arg_names}
    compiled = compile_kernel(
        function,
        capability,
        dtype,
        constants,
        num_warps,
        num_stages,
        fp32_pointers=use.fp32_pointers,
    )
    usage = ptxas_usage(compiled)
    # metadata.shared: the dynamic shared memory Triton's allocator gives the kernel (the
    # module's "ttg.shared" attribute; the launcher passes it as the launch's dynamic smem)
    shared = compiled.metadata.shared + usage.static_shared_bytes
    warps = compiled.metadata.num_warps
    occ = occupancy.occupancy(capability, usage.registers, shared, warps)
    return dict(
        registers=usage.registers,
        spill_store_bytes=usage.spill_store_bytes,
        spill_load_bytes=usage.spill_load_bytes,
        stack_bytes=usage.stack_bytes,
        shared_bytes=shared,
        warps=warps,
        blocks_per_sm=occ.blocks_per_sm,
        warps_per_sm=occ.warps_per_sm,
        occupancy=round(occ.fraction, 4),
        limited_by=list(occ.limited_by),
    )


def kernel_keys() -> Dict[str, str]:
    """A hash of each kernel's source and of the JIT helpers it names (``_tiles.py``, or its own
    module's; not Triton's ``cache_key``, which also hashes the line the kernel starts on)."""
    from triton.runtime.jit import JITFunction

    from lorkd_kernels.backends.triton import _tiles, conv, split

    jitted = {
        name: f
        for module in (_tiles, conv, split)
        for name, f in vars(module).items()
        if isinstance(f, JITFunction)
    }
    keys = {}
    for kernel, use in KERNELS.items():
        name = use.name
        source = jitted[name].src
        helpers = [jitted[h].src for h in sorted(jitted) if h != name and h in source]
        keys[kernel] = hashlib.sha256("\n".join([source] + helpers).encode()).hexdigest()
    return keys


def _row_key(row: dict) -> tuple:
    return (
        row["kernel"],
        row["kernel_size"],
        json.dumps(row["tiles"], sort_keys=True),
        row["num_warps"],
        row["num_stages"],
        row["rank_block"],
        row["fma"],
        row["dtype"],
        row["arch"],
        row["kernel_key"],
    )


def measure_all(
    dtypes: Sequence[str] = DTYPES,
    capabilities: Sequence[int] = CAPABILITIES,
    jobs: int = 1,
    reuse: Optional[dict] = None,
    log=print,
    checkpoint=None,
) -> List[dict]:
    """One row per (case, dtype, arch); each distinct binary compiled once. ``checkpoint`` gets
    the rows measured so far after each compile (an interrupted run resumes from them)."""
    import triton

    keys = kernel_keys()
    old = {}
    if reuse and reuse.get("triton") == triton.__version__:
        old = {_row_key(row): row for row in reuse["rows"]}
    rows, pending = [], {}
    for dtype in dtypes:
        for case in shipped_cases(dtype):
            for capability in capabilities:
                row = dict(
                    kernel=case.kernel,
                    kernel_size=case.kernel_size,
                    source=case.source,
                    tiles=dict(case.tiles),
                    num_warps=case.num_warps,
                    num_stages=case.num_stages,
                    rank_block=case.rank_block,
                    fma=case.fma,
                    dtype=dtype,
                    arch=occupancy.ARCHS[capability].name,
                    kernel_key=keys[case.kernel],
                )
                rows.append(row)
                previous = old.get(_row_key(row))
                if previous is not None:
                    row.update({k: v for k, v in previous.items() if k not in row}, reused=True)
                    continue
                pending.setdefault(
                    (case.compile_key(), dtype, capability), (case, dtype, capability)
                )
    log(f"{len(rows)} rows, {len(pending)} binaries to compile")
    results = {}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {
            pool.submit(
                _measure,
                case.kernel,
                dtype,
                capability,
                case.num_warps,
                case.num_stages,
                case.constants(),
            ): key
            for key, (case, dtype, capability) in pending.items()
        }
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            key = futures[future]
            results[key] = future.result()
            if checkpoint is not None:
                checkpoint(_fill(rows, results, partial=True))
            log(
                f"[{done}/{len(futures)}] {key[0][0]} {key[0][1]}x{key[0][1]} "
                f"{dict(key[0][2])} w{key[0][3]} s{key[0][4]} {key[1]} sm_{key[2]}: "
                f"{results[key]['registers']} regs, "
                f"spills {results[key]['spill_store_bytes']}/{results[key]['spill_load_bytes']}"
            )
    return _fill(rows, results, partial=False)


def _fill(rows: List[dict], results: dict, partial: bool) -> List[dict]:
    """``rows`` with their compile results (only those measured, when ``partial``)."""
    filled = []
    for row in rows:
        case_key = (
            row["kernel"],
            row["kernel_size"],
            tuple(row["tiles"].items()),
            row["num_warps"],
            row["num_stages"],
            row["rank_block"],
            row["fma"],
        )
        capability = next(c for c, a in occupancy.ARCHS.items() if a.name == row["arch"])
        result = results.get((case_key, row["dtype"], capability))
        if "registers" in row or result is not None or not partial:
            filled.append(dict(row, **(result or {}), reused=result is None))
    return filled


def _tiles_text(tiles: dict) -> str:
    return " ".join(f"{name.replace('BLOCK_', '')}={value}" for name, value in tiles.items())


def spilling(rows: Sequence[dict]) -> List[dict]:
    return [row for row in rows if row["spill_store_bytes"] or row["spill_load_bytes"]]


def markdown(table: dict) -> str:
    rows = table["rows"]
    lines = [
        "# Triton kernels: registers, spills, shared memory, occupancy",
        "",
        f"Generated by `python -m benchmarks.triton_resources` ({table['generated']}, triton "
        f"{table['triton']}, {table['wall_s']:.0f} s wall on {table['machine']}); compiled for "
        "sm_80 and sm_90 without a GPU; registers and spills from ptxas `-v`, shared memory from "
        "the compiled kernel's metadata, occupancy by the CUDA occupancy calculator's rules "
        "(`benchmarks/occupancy.py`).",
        "",
        f"Cases: the tile `configs.GEMM_TILE` of the forward and dgrad kernels, with each "
        f"BLOCK_M the launcher's `block_rows` gives ({', '.join(map(str, _block_rows()))}), and "
        f"the tiles (`gemm_tiles`, `wgrad_tiles`) of these shapes: "
        f"{'; '.join(s[0] for s in HEURISTIC_SHAPES)}. "
        "The GEMM tile for 3x3 and 1x1 kernels (column `k`): the linear layers run the 1x1 "
        "binaries (`linear.py` views them as 1x1 convs), where the im2col index math folds "
        f"away. Rank block R={RANK_BLOCK} (ranks up to 16) for `tl.dot`, and in fp32 also the "
        f"rank products as multiply-adds (`R` column `fma`; `costs.rank_arithmetic`) on rank "
        f"blocks {', '.join(map(str, FMA_RANK_BLOCKS))}; bias on, wgrad computing dW0, dA/dB "
        "and dbias, fp32 without TF32. The split form's branch kernels (`split.py`): shrink and "
        "expand with `branch_tiles` (3x3: x's shrink, dx's transposed conv; 1x1: dy's shrink, "
        f"y's expand), and the dA/dB segment reductions with `segment_tiles` for the shapes "
        f"above ({SPLIT_TASKS} tasks, rank {SPLIT_RANK}).",
        "",
        f"**{len(spilling(rows))} of {len(rows)} rows spill.**",
        "",
    ]
    header = (
        "| source | k | tiles | R | warps | stages | dtype | arch | regs/thread "
        "| spill st/ld B | smem B | warps/SM | occupancy | limited by |"
    )
    for kernel in KERNELS:
        lines += [f"## {kernel}", "", header, "|" + "---|" * 14]
        for row in (r for r in rows if r["kernel"] == kernel):
            rank = f"{row['rank_block']}{' fma' if row['fma'] else ''}"
            lines.append(
                f"| {row['source']} | {row['kernel_size']}x{row['kernel_size']} | "
                f"{_tiles_text(row['tiles'])} | {rank} | {row['warps']} | "
                f"{row['num_stages']} | {row['dtype']} | {row['arch']} | {row['registers']} | "
                f"{row['spill_store_bytes']}/{row['spill_load_bytes']} | {row['shared_bytes']} | "
                f"{row['warps_per_sm']} | {row['occupancy']:.1%} | "
                f"{', '.join(row['limited_by'])} |"
            )
        lines.append("")
    return "\n".join(lines)


# The layers of the cost section, at the paper's scale (224 px input, batch 256, rank 4, 10
# tasks, bf16): (name, batch, C_in, C_out, groups, output size, kernel size), stride 1.
COST_SHAPES = (
    ("ShuffleNetV2 1x1 116->116 @28px", 256, 116, 116, 1, 28, 1),
    ("ShuffleNetV2 depthwise 3x3 116 @28px", 256, 116, 116, 116, 28, 3),
    ("ShuffleNetV2 1x1 232->232 @14px", 256, 232, 232, 1, 14, 1),
    ("ShuffleNetV2 depthwise 3x3 232 @14px", 256, 232, 232, 232, 14, 3),
    ("ShuffleNetV2 1x1 464->464 @7px", 256, 464, 464, 1, 7, 1),
    ("ShuffleNetV2 depthwise 3x3 464 @7px", 256, 464, 464, 464, 7, 3),
    ("ResNet-18 3x3 64->64 @56px", 256, 64, 64, 1, 56, 3),
    ("ResNet-18 3x3 128->128 @28px", 256, 128, 128, 1, 28, 3),
    ("ResNet-18 3x3 256->256 @14px", 256, 256, 256, 1, 14, 3),
    ("ResNet-18 3x3 512->512 @7px", 256, 512, 512, 1, 7, 3),
)
COST_RANK, COST_TASKS, COST_ELEMENT = 4, 10, 2


def cost_markdown() -> str:
    """The counted cost of each form on COST_SHAPES (``lorkd_kernels/backends/triton/costs.py``),
    forward + backward, with its roofline estimate: the section of the table that needs no
    compiler, rendered from the cost model as it is now."""
    from lorkd_kernels.backends.triton import costs

    layers = [
        (
            name,
            costs.ConvLayer(
                batch,
                c_in,
                c_out,
                groups,
                (size, size),
                (size, size),
                (k, k),
                COST_RANK,
                COST_TASKS,
                COST_ELEMENT,
            ),
        )
        for name, batch, c_in, c_out, groups, size, k in COST_SHAPES
    ]
    lines = [
        "## Counted cost per form (estimate)",
        "",
        f"Forward + backward of one layer, batch 256 at the paper's 224 px input, rank "
        f"{COST_RANK}, {COST_TASKS} tasks, bf16, from `costs.py`: FLOPs as executed (the "
        f"rank padded to {costs.configs.rank_block(COST_RANK)} for bf16's tensor-core dots: "
        "`costs.rank_arithmetic`), each kernel's compulsory "
        f"bytes, and the roofline estimate on an {costs.H100.name}: per kernel the larger of "
        "FLOPs / peak and bytes / bandwidth, plus the launch. An estimate, not a timing: "
        "the GPU acceptance run measures the same layers. `auto` marks the form the triton "
        "backend runs without measuring (the cheaper one for grouped convs, split for dense "
        "ones).",
        "",
        "| layer | form | launches | GFLOP | MB | estimate µs | vs plain | auto |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, layer in layers:
        rows = costs.form_costs(layer)
        plain_us = rows["plain"].seconds() * 1e6
        chosen = costs.cheapest_form(layer)
        for form, cost in rows.items():
            us = cost.seconds() * 1e6
            lines.append(
                f"| {name} | {form} | {cost.launches} | {cost.flops / 1e9:.2f} | "
                f"{cost.bytes / 1e6:.1f} | {us:.1f} | {us / plain_us:.2f}x | "
                f"{'yes' if form == chosen else ''} |"
            )
    return "\n".join(lines)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.triton_resources", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", required=True, help="markdown file to write; the JSON goes next to it (.json)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="compiler processes (default 1)")
    parser.add_argument(
        "--reuse",
        default=None,
        help="a previous JSON: rows with unchanged kernels and cases are kept",
    )
    args = parser.parse_args(argv)
    if not args.out.endswith(".md"):
        parser.error(f"--out {args.out}: expected a .md file")
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: expected at least 1")
    if args.reuse is not None and not os.path.isfile(args.reuse):
        parser.error(f"--reuse {args.reuse}: no such file")
    if os.environ.get("TRITON_INTERPRET") == "1":
        parser.error("TRITON_INTERPRET=1 replaces the kernels this compiles: unset it")
    return args


def main(argv=None) -> int:
    args = _parse_args(argv)
    import platform

    import triton

    reuse = None
    if args.reuse:
        with open(args.reuse) as f:
            reuse = json.load(f)
    json_path = args.out[:-3] + ".json"

    def checkpoint(rows):
        with open(json_path, "w") as f:
            json.dump(dict(triton=triton.__version__, partial=True, rows=rows), f, indent=1)

    start = time.monotonic()
    rows = measure_all(jobs=args.jobs, reuse=reuse, checkpoint=checkpoint)
    reused = sum(row.get("reused", False) for row in rows)
    table = dict(
        generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        triton=triton.__version__,
        wall_s=round(time.monotonic() - start, 1),
        machine=f"{os.cpu_count()} CPUs, {args.jobs} compiler process(es)"
        + (f", {reused} rows reused from {os.path.basename(args.reuse)}" if reused else ""),
        platform=platform.machine(),
        rows=rows,
    )
    with open(json_path, "w") as f:
        json.dump(table, f, indent=1)
    with open(args.out, "w") as f:
        f.write(markdown(table) + "\n")
    print(
        f"wrote {args.out} and {args.out[:-3]}.json in {table['wall_s']:.0f} s; "
        f"{len(spilling(rows))} of {len(rows)} rows spill"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
