"""Builds lorkd_kernels and its compiled library ``lorkd_kernels._C``.

The C++ kernels are compiled against the torch installed in the build environment, so install
torch first and build without isolation:

    pip install torch
    pip install --no-build-isolation -e .

Environment switches:
    LORKD_NO_EXTENSIONS=1   pure-Python install (the ``torch`` backend serves every device)
    LORKD_BUILD_CUDA=0|1    skip / require the CUDA kernels (default: build them when torch has
                            CUDA, a toolkit is found and csrc/cuda holds sources)
    LORKD_SANITIZE=address,undefined
                            test build of the C++ kernels with those sanitizers (run python with
                            the sanitizer runtimes in LD_PRELOAD, see .ci/run)
"""

import glob
import os

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _sources(*patterns):
    return sorted(os.path.relpath(p, ROOT) for pat in patterns
                  for p in glob.glob(os.path.join(ROOT, pat)))


def _want_cuda(torch_version_cuda):
    switch = os.environ.get("LORKD_BUILD_CUDA", "auto").lower()
    cuda_sources = _sources("csrc/cuda/*.cu", "csrc/cuda/*.cpp")
    if switch in ("0", "false", "no") or not cuda_sources:
        if switch in ("1", "true", "yes"):
            raise SystemExit("LORKD_BUILD_CUDA=1 but csrc/cuda holds no CUDA sources")
        return []
    from torch.utils.cpp_extension import CUDA_HOME
    if torch_version_cuda is None or CUDA_HOME is None:
        if switch in ("1", "true", "yes"):
            raise SystemExit("LORKD_BUILD_CUDA=1 needs a CUDA build of torch and a CUDA "
                             "toolkit (set CUDA_HOME)")
        print("lorkd_kernels: no CUDA toolkit or CPU-only torch; building the CPU kernels only")
        return []
    return cuda_sources


def extensions():
    if os.environ.get("LORKD_NO_EXTENSIONS") == "1":
        return [], {}
    try:
        import torch
        from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension
    except ImportError:
        raise SystemExit(
            "lorkd_kernels compiles its C++ kernels against your installed torch: install torch "
            "first, then `pip install --no-build-isolation .` (or set LORKD_NO_EXTENSIONS=1 for a "
            "Python-only install)")
    sources = _sources("csrc/*.cpp", "csrc/cpu/*.cpp")
    cxx_flags = ["-O3", "-std=c++17"]
    link_flags = []
    sanitizers = os.environ.get("LORKD_SANITIZE", "").strip()
    if sanitizers:
        # Every report is an error (no recovery), with frames kept for readable stacks.
        sanitize = [f"-fsanitize={sanitizers}", "-fno-sanitize-recover=all",
                    "-fno-omit-frame-pointer", "-g"]
        cxx_flags = ["-O1", "-std=c++17", *sanitize]
        link_flags = sanitize
    cuda_sources = _want_cuda(torch.version.cuda)
    if cuda_sources:
        ext = CUDAExtension("lorkd_kernels._C", sources + cuda_sources,
                            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-std=c++17"]},
                            extra_link_args=link_flags)
    else:
        ext = CppExtension("lorkd_kernels._C", sources, extra_compile_args={"cxx": cxx_flags},
                           extra_link_args=link_flags)
    build = BuildExtension.with_options(no_python_abi_suffix=True)
    return [ext], {"build_ext": build}


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
