"""One resolver for "which trained model is this path": a run folder, a checkpoint file or a bundle.

Every loader uses it (``DATEPredictor.from_run``, ``HSPredictor.from_run``, ``bacuda-export``,
``bacuda-hs``, ``bacuda-score``), so the same path means the same model everywhere and the errors
read the same:

- a run folder: ``checkpoints/best.ckpt`` (fraud task, DATE) or ``checkpoints/model.ckpt`` (HS);
  an HS ``model.ckpt`` directly in the folder is accepted too;
- a ``.ckpt`` file: its task is read from its own section (``bacuda`` = DATE, ``hs`` = HS), loaded
  with ``weights_only=True`` and memory-mapped (nothing is unpickled, little is read);
- a bundle folder (``manifest.json``), for the loaders that accept bundles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KINDS = ("date", "hs", "bundle")
# HS run folders hold a best.ckpt too (Lightning's): model.ckpt, the HS model, is looked for first
RUN_CHECKPOINTS = (("hs", ("checkpoints/model.ckpt", "model.ckpt")), ("date", ("checkpoints/best.ckpt",)))


@dataclass(frozen=True)
class ResolvedModel:
    """``kind``: ``date`` | ``hs`` | ``bundle``; ``path``: the checkpoint file or the bundle folder."""

    kind: str
    path: Path


def checkpoint_kind(path: str | os.PathLike) -> str:
    """``date`` or ``hs`` for a ``.ckpt`` file, from its own section; ``ValueError`` otherwise."""
    import torch

    try:
        keys = torch.load(path, map_location="cpu", weights_only=True, mmap=True).keys()
    except Exception as e:  # noqa: BLE001 - any unreadable file gets one clear message
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:120]})") from e
    if "bacuda" in keys:
        return "date"
    if "hs" in keys:
        return "hs"
    raise ValueError(f"{path}: neither a DATE checkpoint (no 'bacuda' section) nor an HS one (no 'hs' section)")


def resolve_model(model: str | os.PathLike, expect: str | None = None, bundles: bool = True) -> ResolvedModel:
    """Resolve MODEL (run folder, ``.ckpt`` file or, with ``bundles``, a bundle folder).

    ``expect`` (``date`` or ``hs``) refuses a model of the other task with a message naming both.
    """
    path = Path(model)
    found: ResolvedModel | None = None
    if path.is_dir():
        if (path / "manifest.json").is_file():
            if not bundles:
                raise ValueError(f"{path}: an exported bundle (manifest.json); give a run folder or a .ckpt file")
            return ResolvedModel("bundle", path)
        for kind, rels in RUN_CHECKPOINTS:
            for rel in rels:
                if (path / rel).is_file():
                    found = ResolvedModel(kind, path / rel)
                    break
            if found:
                break
        if found is None:
            want = {"date": "checkpoints/best.ckpt (DATE)", "hs": "checkpoints/model.ckpt (HS)"}
            need = want[expect] if expect else " or ".join(want.values())
            raise FileNotFoundError(f"{path}: a run folder needs {need}"
                                    + (" (or give a .ckpt file or a bundle folder)" if bundles else ""))
    elif path.is_file() and path.suffix == ".ckpt":
        found = ResolvedModel(checkpoint_kind(path), path)
    elif path.exists():
        raise ValueError(f"{path}: not a model (expected a run folder, a .ckpt file"
                         + (" or a bundle folder with manifest.json)" if bundles else ")"))
    else:
        raise FileNotFoundError(f"{path}: no such run folder or checkpoint")
    if expect and found.kind != expect:
        names = {"date": "a DATE (fraud) model", "hs": "an HS classification model"}
        raise ValueError(f"{path}: {names[found.kind]}, not {names[expect]}")
    return found
