"""The schemas of the lorkd ops, and the backends compiled into ``_C``, written once.

``ops.py`` defines the schemas when the compiled library is absent; the builds (``setup.py``,
``CMakeLists.txt``) run this file to write them into a C++ header, which the library defines its
ops from (``csrc/schemas.h``), so the two cannot differ. The backend registry marks the backends
of :data:`COMPILED_BACKENDS` as compiled, and the library defines their private ops. Imports
nothing: the builds run it by path, before torch is importable.

    python lorkd_kernels/_schemas.py OUT   # writes the header OUT (only when it changes)
"""

from __future__ import annotations

import sys
from pathlib import Path

SCHEMAS = {
    "eks_conv2d": (
        "eks_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
        "Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, int groups, "
        "float scaling) -> Tensor"
    ),
    "eks_conv2d_backward": (
        "eks_conv2d_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
        "Tensor lora_B, Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, "
        "int groups, float scaling, bool[5] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"
    ),
    "eks_linear": (
        "eks_linear(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
        "Tensor task_ids, float scaling) -> Tensor"
    ),
    "eks_linear_backward": (
        "eks_linear_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
        "Tensor lora_B, Tensor task_ids, float scaling, bool[5] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"
    ),
}


#: the backends whose kernels the compiled library holds; it defines their private ops
#: ``_<backend>_<op>`` (``lorkd::_cpu_eks_conv2d``) from :data:`SCHEMAS`
COMPILED_BACKENDS = ("cpu", "cuda", "cuda_emu")


def _string_array(name: str, strings) -> str:
    literals = ",\n    ".join('"' + text.replace('"', '\\"') + '"' for text in strings)
    return f"inline constexpr const char* {name}[] = {{\n    {literals}}};\n\n"


def header() -> str:
    """The C++ header: ``lorkd::schemas::kAll``, every schema as a string literal, and
    ``kCompiledBackends``, the names of :data:`COMPILED_BACKENDS`."""
    return (
        "// Generated from lorkd_kernels/_schemas.py by the build (setup.py, CMakeLists.txt): "
        "do not edit.\n#pragma once\n\nnamespace lorkd::schemas {\n\n"
        + _string_array("kAll", SCHEMAS.values())
        + _string_array("kCompiledBackends", COMPILED_BACKENDS)
        + "}  // namespace lorkd::schemas\n"
    )


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
