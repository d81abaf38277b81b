"""Torch-free scoring of exported bundles (``bacuda-score``; ``pip install bacuda_research[score]``).

Needs only NumPy, SciPy, pandas, pyarrow, ONNX Runtime, XGBoost and tokenizers plus this package's
own feature code (``data.schema``, ``data.features``, ``models.date_inputs``, ``models.xgb_stage``,
``models.explain``, ``hs.text``, ``hs.tokenization``, ``hs.tfidf``): nothing here imports torch, Lightning,
Hydra or transformers, and a test runs it with ``import torch`` failing.

    from bacuda_research.score import load_bundle
    bundle = load_bundle("bundles/date-v1")          # verified against its manifest first
    bundle.score_file("declarations.csv", "scores.csv")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def load_bundle(folder: str | os.PathLike, threads: int | None = None) -> Any:
    """A ``DATEBundle`` or ``HSBundle`` for ``folder``; ``BundleError`` when it does not verify."""
    from bacuda_research.export.bundle import verify_bundle

    manifest = verify_bundle(folder)
    if manifest["kind"] == "date":
        from bacuda_research.score.date import DATEBundle

        return DATEBundle.from_verified(Path(folder), manifest, threads=threads)
    from bacuda_research.score.hs import HSBundle

    return HSBundle.from_verified(Path(folder), manifest, threads=threads)
