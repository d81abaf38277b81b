"""Export trained models to self-contained bundles (``bacuda-export MODEL OUTDIR``).

``export_model`` finds the task of MODEL (``core.checkpoints``) and hands it to ``date_export``
(DATE -> ONNX with dynamic batch + XGBoost JSON + feature JSON + safetensors) or ``hs_export`` (HS
classifier -> ONNX encoder+heads + ``tokenizer.json`` + label map + safetensors and, for the lexical
TF-IDF side, ``lexical.safetensors``). A bundle already given as MODEL is refused.

Bundles are scored without torch by ``bacuda_research.bundle.runtime`` (``bacuda-score``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def detect(model: str | os.PathLike) -> tuple[str, Path]:
    """``("date" | "hs", checkpoint)`` for a run folder or a ``.ckpt`` file (``core.checkpoints``)."""
    from bacuda_research.core.checkpoints import resolve_model

    found = resolve_model(model, bundles=False)
    return found.kind, found.path


def export_model(model: str | os.PathLike, outdir: str | os.PathLike, overwrite: bool = False,
                 opset: int | None = None) -> dict[str, Any]:
    """Export MODEL (DATE or HS run folder / checkpoint) to the bundle folder OUTDIR; returns the manifest."""
    kind, ckpt = detect(model)
    if kind == "date":
        from bacuda_research.bundle.date_export import export_date

        return export_date(ckpt, outdir, overwrite=overwrite, opset=opset)
    from bacuda_research.bundle.hs_export import export_hs

    return export_hs(ckpt, outdir, overwrite=overwrite, opset=opset)
