"""Native CPU kernels, compiled on first use with the machine's C compiler and loaded with ctypes.

Only one for now: the DATE leaf self-attention (``leaf_attention.c``), the part of a DATE training
step that PyTorch's CPU attention kernels handle worst (head dim 4, 100 leaves).

Plain C with no PyTorch headers, so building it takes well under a second (a PyTorch C++
extension would take about a minute and need ninja). The shared library is cached under
``$BACUDA_KERNEL_CACHE`` (default ``~/.cache/bacuda_research/kernels``), keyed by the source, the
compiler flags, the compiler's version and the CPU's feature flags (it is built with
``-march=native``: a home directory shared between different machines gets one build per CPU
kind). It is written to a temporary file and renamed, so concurrent processes (DDP) never load a
half-written library.

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

__all__ = ["KernelUnavailable", "leaf_attention", "available", "build_info", "cache_dir"]

# -ffp-contract=fast: multiply-adds become FMA instructions (where the compiler chooses: results can
# differ in the last bits between compilers or versions, never between thread counts or vector widths)
FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math",
         "-fPIC", "-shared", "-fopenmp"]
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


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or "cc")


def _build(src: Path) -> Path:
    cc = _compiler()
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise KernelUnavailable(f"no C compiler ({' '.join(cc)}: {e}); set CC or install gcc/clang") from e
    source = src.read_bytes()
    key = hashlib.sha256(b"\0".join([source, *(x.encode() for x in (*FLAGS, version, _cpu_flags()))])).hexdigest()[:16]
    out_dir = cache_dir()
    target = out_dir / f"{src.stem}-{key}.so"
    _built[src.stem] = {"compiler": (version.splitlines() or [" ".join(cc)])[0].strip(), "flags": " ".join(FLAGS),
                        "source_sha256": hashlib.sha256(source).hexdigest()[:16]}
    if target.exists():
        return target
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # e.g. a read-only home: build in a per-user temporary folder instead
        out_dir = Path(tempfile.gettempdir()) / f"bacuda_research-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / target.name
        if target.exists():
            return target
    fd, tmp = tempfile.mkstemp(prefix=f".{src.stem}-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        try:
            proc = subprocess.run([*cc, *FLAGS, str(src), "-o", tmp, "-lm"], capture_output=True, text=True,
                                  timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            raise KernelUnavailable(f"{' '.join(cc)} could not build {src.name}: {e}") from e
        if proc.returncode != 0:
            raise KernelUnavailable(f"{' '.join(cc)} could not build {src.name}:\n{proc.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _load(name: str) -> ctypes.CDLL:
    if os.environ.get("BACUDA_NATIVE_KERNELS", "1").strip().lower() in ("0", "false", "no", "off"):
        raise KernelUnavailable("native kernels are switched off (BACUDA_NATIVE_KERNELS=0)")
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name in _failed:
            raise KernelUnavailable(_failed[name])
        try:
            lib = ctypes.CDLL(str(_build(Path(__file__).with_name(f"{name}.c"))))
        except KernelUnavailable as e:
            _failed[name] = str(e)
            raise
        except OSError as e:
            _failed[name] = f"could not load the compiled {name} kernel: {e}"
            raise KernelUnavailable(_failed[name]) from e
        i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
        lib.leaf_attention_forward.argtypes = [ptr] * 4 + [i64] * 4 + [f32, ctypes.c_int]
        lib.leaf_attention_backward.argtypes = [ptr] * 6 + [i64] * 4 + [f32, ctypes.c_int]
        lib.leaf_attention_forward.restype = lib.leaf_attention_backward.restype = ctypes.c_int
        _loaded[name] = lib
        return lib


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
