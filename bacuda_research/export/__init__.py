"""Export trained models to self-contained bundles (``bacuda-export MODEL OUTDIR``).

- ``bundle``: atomic bundle writing, the manifest (sha256 per file), verification (torch-free);
- ``date``: DATE -> ONNX (dynamic batch) + XGBoost JSON + feature JSON + safetensors;
- ``hs``: HS classifier -> ONNX encoder+heads + ``tokenizer.json`` + label map + safetensors (and, for
  the lexical TF-IDF side, ``lexical.safetensors``: IDF, n-gram bag table, TF-IDF kNN index);
- ``card``: the Markdown model card; ``common``: training record, versions, ONNX export call.

Bundles are scored without torch by ``bacuda_research.score`` (``bacuda-score``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def detect(model: str | os.PathLike) -> tuple[str, Path]:
    """``("date" | "hs", checkpoint)`` for a run folder or a ``.ckpt`` file; errors name the path."""
    path = Path(model)
    if path.is_dir():
        if (path / "manifest.json").is_file():
            raise ValueError(f"{path}: already a bundle (manifest.json); give a run folder or a .ckpt file")
        for kind, cand in (("hs", path / "checkpoints" / "model.ckpt"), ("date", path / "checkpoints" / "best.ckpt")):
            if cand.is_file():
                return kind, cand
        raise FileNotFoundError(f"{path}: a run folder needs checkpoints/best.ckpt (DATE) or checkpoints/model.ckpt (HS)")
    if path.is_file() and path.suffix == ".ckpt":
        import torch

        keys = torch.load(path, map_location="cpu", weights_only=True, mmap=True).keys()
        if "bacuda" in keys:
            return "date", path
        if "hs" in keys:
            return "hs", path
        raise ValueError(f"{path}: neither a DATE checkpoint (no 'bacuda' section) nor an HS one (no 'hs' section)")
    if path.exists():
        raise ValueError(f"{path}: not a model (expected a run folder or a .ckpt file)")
    raise FileNotFoundError(f"{path}: no such run folder or checkpoint")


def export_model(model: str | os.PathLike, outdir: str | os.PathLike, overwrite: bool = False,
                 opset: int | None = None) -> dict[str, Any]:
    """Export MODEL (DATE or HS run folder / checkpoint) to the bundle folder OUTDIR; returns the manifest."""
    kind, ckpt = detect(model)
    if kind == "date":
        from bacuda_research.export.date import export_date

        return export_date(ckpt, outdir, overwrite=overwrite, opset=opset)
    from bacuda_research.export.hs import export_hs

    return export_hs(ckpt, outdir, overwrite=overwrite, opset=opset)
