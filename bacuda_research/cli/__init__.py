"""Command-line entry points (``[project.scripts]`` in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import sys

TRAIN_STACK = ("torch", "lightning", "hydra", "omegaconf", "torchmetrics")


def require_train_extra(command: str) -> None:
    """Stop with the install line when the ``train`` extra is missing (the base install is the light,
    torch-free one that scores bundles), instead of a ModuleNotFoundError from deep inside."""
    missing = [m for m in TRAIN_STACK if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"{command} needs the training stack ({', '.join(missing)} not installed): "
                 "pip install -c constraints.txt -e \".[train]\" (or \"bacuda_research[train]\")")
