"""Native CPU kernels, compiled on first use with the machine's C compiler and loaded with ctypes.

Only one for now: the DATE leaf self-attention (``leaf_attention.c``), the part of a DATE training
step that PyTorch's CPU attention kernels handle worst (head dim 4, 100 leaves).

Plain C with no PyTorch headers, so building it takes well under a second (a PyTorch C++
extension would take about a minute and need ninja). The shared library is cached under
``$BACUDA_KERNEL_CACHE`` (default ``~/.cache/bacuda_research/kernels``), keyed by the source, the
compiler flags and the compiler's version. It is written to a temporary file and renamed, so
concurrent processes (DDP) never load a half-written library.

Results are the same bits on every CPU (the kernel's arithmetic is fixed, see ``leaf_attention.c``):
the flags never change rounding (``-ffp-contract=off``: no fused multiply-adds; no
``-ffast-math``), and the instruction set (``-march``) is chosen from the CPU's flags only for
speed: ``x86-64-v4`` (AVX-512) where the CPU has it, else ``x86-64-v2`` (SSE4.2; GCC 12 builds
the kernel's 16-float vectors about twice as slowly for AVX2), else ``x86-64``; no ``-march`` off
x86. :func:`build` builds for another instruction set (``tests/test_native_attention.py``
compares them bitwise).

``BACUDA_NATIVE_KERNELS=0`` switches native kernels off; ``CC`` names the compiler (default ``cc``).
When no compiler works, :func:`leaf_attention` raises :class:`KernelUnavailable` with the
compiler's message; the DATE model then falls back to PyTorch's attention and warns once.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import subprocess
import tempfile
import threading
from pathlib import Path

__all__ = ["KernelUnavailable", "leaf_attention", "available", "build_info", "cache_dir", "build", "flags",
           "cpu_marches", "default_march"]

# none of these changes rounding: -ffp-contract=off keeps every multiply and add rounded on its own
# (FMAs exist on some instruction sets only); -fno-math-errno / -fno-trapping-math only drop errno
# and FP-trap bookkeeping. -march (speed only) is added per CPU by flags().
FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared", "-fopenmp"]
# x86-64 micro-architecture levels: the CPU flags (/proc/cpuinfo) each one needs beyond the previous
_LEVELS = (("x86-64-v2", {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}),
           ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}),
           ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}))
_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}
_failed: dict[str, str] = {}
_built: dict[str, dict[str, str]] = {}


class KernelUnavailable(RuntimeError):
    """The native kernel cannot be built or loaded on this machine (the message says why)."""


def cache_dir() -> Path:
    return Path(os.environ.get("BACUDA_KERNEL_CACHE") or Path.home() / ".cache" / "bacuda_research" / "kernels")


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cpu_marches() -> list[str]:
    """The x86-64 levels this CPU runs (``["x86-64", "x86-64-v2", ...]``); ``[]`` off x86-64."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    have = set(_cpu_flags().split(":", 1)[-1].split())
    out = ["x86-64"]
    for name, need in _LEVELS:
        if not need <= have:
            break
        out.append(name)
    return out


def default_march() -> str | None:
    """The instruction set the kernel is built for here (speed only: results are the same on all)."""
    levels = cpu_marches()
    if not levels:
        return None
    return "x86-64-v4" if "x86-64-v4" in levels else levels[min(len(levels) - 1, 1)]


def flags(march: str | None = "default") -> list[str]:
    """Compiler flags for ``march`` (``"default"``: :func:`default_march`; None: no ``-march``)."""
    march = default_march() if march == "default" else march
    return [*FLAGS, *([f"-march={march}"] if march else [])]


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or "cc")


def _build(src: Path, march: str | None = "default") -> tuple[Path, dict[str, str]]:
    cc, build_flags = _compiler(), flags(march)
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise KernelUnavailable(f"no C compiler ({' '.join(cc)}: {e}); set CC or install gcc/clang") from e
    source = src.read_bytes()
    key = hashlib.sha256(b"\0".join([source, *(x.encode() for x in (*build_flags, version))])).hexdigest()[:16]
    out_dir = cache_dir()
    target = out_dir / f"{src.stem}-{key}.so"
    info = {"compiler": (version.splitlines() or [" ".join(cc)])[0].strip(), "flags": " ".join(build_flags),
            "source_sha256": hashlib.sha256(source).hexdigest()[:16]}
    if target.exists():
        return target, info
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # e.g. a read-only home: build in a per-user temporary folder instead
        out_dir = Path(tempfile.gettempdir()) / f"bacuda_research-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / target.name
        if target.exists():
            return target, info
    fd, tmp = tempfile.mkstemp(prefix=f".{src.stem}-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        try:
            proc = subprocess.run([*cc, *build_flags, str(src), "-o", tmp], capture_output=True, text=True,
                                  timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            raise KernelUnavailable(f"{' '.join(cc)} could not build {src.name}: {e}") from e
        if proc.returncode != 0:
            raise KernelUnavailable(f"{' '.join(cc)} could not build {src.name}:\n{proc.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target, info


def _load(name: str) -> ctypes.CDLL:
    if os.environ.get("BACUDA_NATIVE_KERNELS", "1").strip().lower() in ("0", "false", "no", "off"):
        raise KernelUnavailable("native kernels are switched off (BACUDA_NATIVE_KERNELS=0)")
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name in _failed:
            raise KernelUnavailable(_failed[name])
        src = Path(__file__).with_name(f"{name}.c")
        try:
            try:
                path, info = _build(src)
            except KernelUnavailable:
                if default_march() is None:
                    raise
                path, info = _build(src, None)  # a compiler that does not know -march=x86-64-v4 (GCC < 11)
            lib = _open(path)
            _built[name] = info
        except KernelUnavailable as e:
            _failed[name] = str(e)
            raise
        _loaded[name] = lib
        return lib


def _open(path: Path) -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise KernelUnavailable(f"could not load the compiled kernel {path.name}: {e}") from e
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    lib.leaf_attention_forward.argtypes = [ptr] * 4 + [i64] * 4 + [f32, ctypes.c_int]
    lib.leaf_attention_backward.argtypes = [ptr] * 6 + [i64] * 4 + [f32, ctypes.c_int]
    lib.leaf_attention_forward.restype = lib.leaf_attention_backward.restype = ctypes.c_int
    return lib


def build(march: str | None, name: str = "leaf_attention") -> ctypes.CDLL:
    """The kernel built for instruction set ``march`` (e.g. ``"x86-64"``, ``"x86-64-v3"``; None: the
    compiler's default), cached like the default build; for tests that compare instruction sets.
    Running it on a CPU without that instruction set crashes the process: check :func:`cpu_marches`."""
    with _lock:
        return _open(_build(Path(__file__).with_name(f"{name}.c"), march)[0])


def leaf_attention() -> ctypes.CDLL:
    """The compiled leaf-attention library (built on first call); :class:`KernelUnavailable` if it cannot be."""
    return _load("leaf_attention")


def build_info(name: str = "leaf_attention") -> dict[str, str] | None:
    """Compiler (first line of ``--version``), flags and source hash of a loaded kernel (None if not loaded)."""
    return dict(_built[name]) if name in _loaded and name in _built else None


def available() -> bool:
    try:
        leaf_attention()
        return True
    except KernelUnavailable:
        return False
