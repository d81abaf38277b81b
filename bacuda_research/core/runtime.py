"""Run-time facts and switches: seeding, thread count, library versions, git SHA, device."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from pathlib import Path
from importlib import metadata
from typing import Any

from bacuda_research.core.paths import CHECKOUT

_VERSIONED = (
    "bacuda_research", "torch", "lightning", "hydra-core", "omegaconf", "torchmetrics", "numpy",
    "pandas", "pyarrow", "scikit-learn", "xgboost", "xgboost-cpu", "transformers", "tokenizers",
    "pytorch-optimizer", "wandb", "onnxruntime",
)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) and ask torch for deterministic kernels."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
    except ImportError:  # scoring installs have no torch
        pass


def set_threads(threads: int | None) -> int:
    """Fix the intra-op thread count (torch); returns the count in force.

    Results on CPU are reproducible bit for bit only at the same thread count, so the count is
    recorded in every report.
    """
    n = int(threads) if threads else (os.cpu_count() or 1)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    return n


def keep_freed_memory(enabled: bool = True) -> bool:
    """Let glibc's malloc keep freed blocks for reuse instead of handing them back to the kernel.

    A training step allocates and frees the same few-MB activations every time; with glibc's
    defaults part of them goes back to the kernel and comes back as fresh zeroed pages (about 900
    page faults per DATE step at batch 256). Raising the mmap and trim thresholds (``mallopt``)
    keeps them in the process: fewer faults, the same numbers (allocation never changes values),
    at the price of a resident size that stays at its peak. Linux with glibc only; returns
    whether the thresholds were set (config key ``malloc_keep_freed``).
    """
    if not enabled or platform.system() != "Linux":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 256 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def versions() -> dict[str, str]:
    """Installed versions of the libraries that decide a run's numbers."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_sha() -> str | None:
    """The repository's HEAD commit, with ``-dirty`` when the tree has uncommitted changes.

    Changes under ``experiments/`` (run folders and reports, which regenerating the committed
    results rewrites while it runs) do not count: they cannot change what the code computes.
    """
    if CHECKOUT is None:  # an installed package: the working directory's repository is not ours
        return None
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)experiments"], cwd=CHECKOUT,
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``), None where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def device_info(threads: int | None = None) -> dict[str, Any]:
    """Where the run computed: accelerator, CPU model, cores and torch threads."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads() if threads is None else threads
        # PyTorch's CPU kernels (and MKL's) are chosen by instruction set: float results can differ
        # in the last bits between an AVX2 and an AVX-512 machine, so the report says which ran
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["accelerator"] = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        info["accelerator"] = "cpu"
    return info
