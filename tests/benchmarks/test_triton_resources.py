"""benchmarks.triton_resources: the committed table is current and consistent, and (slow) no
shipped Triton config spills registers on sm_80 or sm_90."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from tests import requirements

TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "triton_resources.md"

if importlib.util.find_spec("triton") is None:
    requirements.unavailable("triton", "triton not installed")
if os.environ.get("TRITON_INTERPRET") == "1":
    # the interpreter changes the tiles configs.py gives (as large as the problem allows)
    pytest.skip(
        "the table lists the GPU tiles; TRITON_INTERPRET=1 replaces them", allow_module_level=True
    )

from benchmarks import triton_resources  # noqa: E402  (needs triton)


def _committed() -> dict:
    return json.loads(TABLE.with_suffix(".json").read_text())


def _case_keys(rows):
    return sorted(
        (
            r["kernel"],
            r["kernel_size"],
            r["source"],
            json.dumps(r["tiles"]),
            r["num_warps"],
            r["num_stages"],
            r["rank_block"],
            r["fma"],
            r["dtype"],
            r["arch"],
        )
        for r in rows
    )


def test_committed_table_lists_every_shipped_case():
    """A config changed in configs.py without regenerating the table fails here."""
    expected = [
        dict(
            kernel=c.kernel,
            kernel_size=c.kernel_size,
            source=c.source,
            tiles=dict(c.tiles),
            num_warps=c.num_warps,
            num_stages=c.num_stages,
            rank_block=c.rank_block,
            fma=c.fma,
            dtype=dtype,
            arch=f"sm_{cap}",
        )
        for dtype in triton_resources.DTYPES
        for c in triton_resources.shipped_cases(dtype)
        for cap in triton_resources.CAPABILITIES
    ]
    assert _case_keys(_committed()["rows"]) == _case_keys(expected), (
        "the shipped configs changed: regenerate the table (benchmarks/README.md)"
    )


def test_committed_markdown_is_built_from_the_committed_json():
    assert TABLE.read_text() == triton_resources.markdown(_committed()) + "\n"


def _check_kernels_unchanged():
    stale = {
        row["kernel"]
        for row in _committed()["rows"]
        if row["kernel_key"] != triton_resources.kernel_keys()[row["kernel"]]
    }
    assert not stale, (
        f"the {', '.join(sorted(stale))} kernel changed since the table was "
        "made: regenerate it (benchmarks/README.md)"
    )


def test_committed_table_is_of_the_current_kernels():
    _check_kernels_unchanged()


def test_reuse_keeps_unchanged_rows_without_compiling(tmp_path):
    _check_kernels_unchanged()  # else the run below would compile every row
    out = tmp_path / "table.md"
    committed = str(TABLE.with_suffix(".json"))
    assert triton_resources.main(["--out", str(out), "--reuse", committed]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert all(row["reused"] for row in rows)
    assert rows == [dict(row, reused=True) for row in _committed()["rows"]]


def test_out_must_be_markdown(capsys):
    with pytest.raises(SystemExit):
        triton_resources.main(["--out", "table.txt"])
    assert "--out table.txt: expected a .md file" in capsys.readouterr().err


@pytest.mark.slow
def test_no_shipped_config_spills():
    """Compiles every case of the table (about 200 distinct binaries today: about a minute with
    two compiler processes on 2 cores)."""
    jobs = max(1, min(8, (os.cpu_count() or 2) // 2))
    rows = triton_resources.measure_all(jobs=jobs, log=lambda line: None)
    spills = [
        f"{r['kernel']} {r['kernel_size']}x{r['kernel_size']} {r['source']} {r['tiles']} "
        f"w{r['num_warps']} s{r['num_stages']} {r['dtype']} {r['arch']}: "
        f"{r['spill_store_bytes']}/{r['spill_load_bytes']} B"
        for r in triton_resources.spilling(rows)
    ]
    assert not spills, "register spills (stores/loads):\n" + "\n".join(spills)
