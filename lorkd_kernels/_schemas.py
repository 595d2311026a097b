"""The schemas of the lorkd ops, written once.

``ops.py`` defines them when the compiled library is absent; the builds (``setup.py``,
``CMakeLists.txt``) run this file to write them into a C++ header, which the library defines its
ops from (``csrc/schemas.h``), so the two cannot differ. Imports nothing: the builds run it by
path, before torch is importable.

    python lorkd_kernels/_schemas.py OUT   # writes the header OUT (only when it changes)
"""

from __future__ import annotations

import sys
from pathlib import Path

SCHEMAS = {
    "eks_conv2d": (
        "eks_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
        "Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, int groups, "
        "float scaling) -> Tensor"),
    "eks_conv2d_backward": (
        "eks_conv2d_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
        "Tensor lora_B, Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, "
        "int groups, float scaling, bool[5] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"),
    "eks_linear": (
        "eks_linear(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
        "Tensor task_ids, float scaling) -> Tensor"),
    "eks_linear_backward": (
        "eks_linear_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
        "Tensor lora_B, Tensor task_ids, float scaling, bool[5] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"),
}


def header() -> str:
    """The C++ header: ``lorkd::schemas::kAll``, every schema as a string literal."""
    literals = ",\n    ".join('"' + schema.replace('"', '\\"') + '"'
                               for schema in SCHEMAS.values())
    return ("// Generated from lorkd_kernels/_schemas.py by the build (setup.py, CMakeLists.txt): "
            "do not edit.\n#pragma once\n\nnamespace lorkd::schemas {\n\n"
            f"inline constexpr const char* kAll[] = {{\n    {literals}}};\n\n"
            "}  // namespace lorkd::schemas\n")


def write_header(path: Path) -> None:
    """Write :func:`header` to ``path`` unless it already holds it (an unchanged file keeps the
    build from recompiling what includes it)."""
    path = Path(path)
    text = header()
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    write_header(Path(sys.argv[1]))
