"""Builds lorkd_kernels and its compiled library ``lorkd_kernels._C``.

The C++ kernels are compiled against the torch installed in the build environment, so install
torch first and build without isolation:

    pip install torch
    pip install --no-build-isolation -e .

Environment switches (every LORKD_* variable: lorkd_kernels/_env.py):
    LORKD_BUILD=auto|python|cpu|cuda
                            what to build: auto (default) the C++ kernels, and the CUDA kernels
                            when torch has CUDA and a toolkit is found; python nothing compiled
                            (the ``torch`` backend serves every device); cpu the C++ kernels
                            only; cuda the CUDA kernels too, or an error
    CUDA_HOME               the toolkit; found otherwise from CUDA_PATH, the nvcc on PATH (also
                            when that nvcc is a wrapper script) or /usr/local/cuda*
    TORCH_CUDA_ARCH_LIST    GPU architectures to compile for; default "8.0;9.0" (A100, H100)
                            when unset, as a build machine may have no GPU to detect
    LORKD_SANITIZE=address,undefined
                            test build of the C++ kernels with those sanitizers (run python with
                            the sanitizer runtimes in LD_PRELOAD, see .ci/run)
"""

import glob
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _sources(*patterns):
    return sorted(
        os.path.relpath(p, ROOT) for pat in patterns for p in glob.glob(os.path.join(ROOT, pat))
    )


def _is_toolkit(folder):
    return bool(folder) and os.path.isfile(os.path.join(folder, "include", "cuda_runtime.h"))


def _toolkit_of_nvcc():
    """The toolkit behind the nvcc on PATH. That nvcc may be a wrapper script outside the
    toolkit, so ask nvcc itself: its dry run prints the toolkit folder as TOP."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    guess = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    if _is_toolkit(guess):
        return guess
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.cu")
        open(source, "w").close()
        try:
            out = subprocess.run(
                [nvcc, "--dryrun", "-c", source, "-o", source + ".o"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    for line in (out.stdout + out.stderr).splitlines():
        if line.startswith("#$ TOP="):
            top = os.path.normpath(line.split("=", 1)[1].strip())
            return top if _is_toolkit(top) else None
    return None


def _find_cuda_home():
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if _is_toolkit(os.environ.get(var)):
            return os.environ[var]
    found = _toolkit_of_nvcc()
    if found:
        return found
    candidates = sorted(glob.glob("/usr/local/cuda*"), reverse=True)
    return next((c for c in candidates if _is_toolkit(c)), None)


def _want_cuda(build, torch_version_cuda):
    if build == "cpu":
        return []
    cuda_home = _find_cuda_home() if torch_version_cuda is not None else None
    if cuda_home is None:
        if build == "cuda":
            raise SystemExit(
                "LORKD_BUILD=cuda needs a CUDA build of torch and a CUDA "
                "toolkit (set CUDA_HOME to the folder holding bin/nvcc)"
            )
        print("lorkd_kernels: no CUDA toolkit or CPU-only torch; building the CPU kernels only")
        return []
    # torch.utils.cpp_extension reads both when it is imported
    os.environ["CUDA_HOME"] = cuda_home
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
    print(
        f"lorkd_kernels: building the CUDA kernels with the toolkit in {cuda_home} for "
        f"architectures {os.environ['TORCH_CUDA_ARCH_LIST']}"
    )
    return _sources("csrc/cuda/*.cu", "csrc/cuda/*.cpp")


HERE = Path(__file__).parent
#: where the build writes generated sources (the schemas' header)
GENERATED = HERE / "build" / "generated"


def _package_file(name):
    """A module of the package that imports nothing, loaded by path (the package itself needs
    torch)."""
    spec = importlib.util.spec_from_file_location(
        f"lorkd_{name}", HERE / "lorkd_kernels" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build():
    """LORKD_BUILD, read by lorkd_kernels/_env.py."""
    module = _package_file("_env")
    try:
        return module.env_choice("LORKD_BUILD", module.BUILDS, default="auto")
    except ValueError as err:
        raise SystemExit(str(err)) from None


def extensions():
    build = _build()
    if build == "python":
        return [], {}
    try:
        import torch
    except ImportError:
        raise SystemExit(
            "lorkd_kernels compiles its C++ kernels against your installed torch: install torch "
            "first, then `pip install --no-build-isolation .` (or set LORKD_BUILD=python for a "
            "Python-only install)"
        )
    sources = _sources("csrc/*.cpp", "csrc/common/*.cpp", "csrc/cpu/*.cpp", "csrc/emu/*.cpp")
    # the op schemas' C++ header, from the package's one copy (csrc/schemas.h includes it)
    _package_file("_schemas").write_header(GENERATED / "lorkd_schemas.h")
    cxx_flags = ["-O3", "-std=c++20"]
    link_flags = []
    sanitizers = os.environ.get("LORKD_SANITIZE", "").strip()
    if sanitizers:
        # Every report is an error (no recovery), with frames kept for readable stacks.
        sanitize = [
            f"-fsanitize={sanitizers}",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
            "-g",
        ]
        cxx_flags = ["-O1", "-std=c++20", *sanitize]
        link_flags = sanitize
    cuda_sources = _want_cuda(build, torch.version.cuda)
    # imported after _want_cuda, which may set CUDA_HOME and TORCH_CUDA_ARCH_LIST
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    if cuda_sources:
        nvcc_flags = ["-O3", "-std=c++20", "-lineinfo"]
        ext = CUDAExtension(
            "lorkd_kernels._C",
            sources + cuda_sources,
            include_dirs=[str(GENERATED)],
            extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags},
            extra_link_args=link_flags,
        )
    else:
        ext = CppExtension(
            "lorkd_kernels._C",
            sources,
            include_dirs=[str(GENERATED)],
            extra_compile_args={"cxx": cxx_flags},
            extra_link_args=link_flags,
        )
    return [ext], {"build_ext": _build_ext_class(BuildExtension)}


def _build_ext_class(build_extension):
    """torch's BuildExtension (ninja), compiling an editable install in build/editable-temp.

    pip's editable install compiles in a fresh temporary folder each time, so every reinstall
    rebuilt every source (about 90 s on 2 cores; the README's two commands install twice in
    one clone). A folder of our own lets ninja reuse the objects whose sources and flags did
    not change. Other builds (`setup.py build_ext`, as CI's sanitizer and CUDA builds run it
    with their own --build-temp) are unchanged."""
    base = build_extension.with_options(no_python_abi_suffix=True)

    class BuildExt(base):
        def finalize_options(self):
            super().finalize_options()
            if getattr(self, "editable_mode", False):
                self.build_temp = os.path.join("build", "editable-temp")

    return BuildExt


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
