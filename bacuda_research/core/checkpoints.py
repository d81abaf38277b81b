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


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu", mmap: bool = False) -> dict:
    """``torch.load(path, weights_only=True)`` with one clear ``ValueError`` for any file it refuses.

    A checkpoint that would need unpickling (it holds objects other than tensors and plain
    containers) is refused as such, without torch's advice to load it with ``weights_only=False``
    (which would run code from the file); a truncated or damaged file is named as one.
    """
    import pickle

    import torch

    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        raise ValueError(f"{path}: refused: this checkpoint holds objects that need unpickling, which "
                         "bacuda never does (it only reads tensors and plain containers)") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint") from None
    except Exception as e:  # noqa: BLE001 - zip, EOF and size errors from a truncated or foreign file
        raise ValueError(f"{path}: not a readable checkpoint, truncated or damaged "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:80]})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not a checkpoint (a {type(ckpt).__name__}, not a dictionary)")
    return ckpt


def checkpoint_kind(path: str | os.PathLike) -> str:
    """``date`` or ``hs`` for a ``.ckpt`` file, from its own section; ``ValueError`` otherwise."""
    keys = load_checkpoint(path, mmap=True).keys()
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
