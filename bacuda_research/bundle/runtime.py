"""Torch-free scoring of exported bundles (``bacuda-score``; ``pip install bacuda_research[score]``).

Needs only NumPy, SciPy, pandas, pyarrow, ONNX Runtime, XGBoost and tokenizers plus this package's
own torch-free feature code (``declarations.schema``, ``declarations.features``, ``fraud.inputs``,
``fraud.xgb_stage``, ``fraud.explain``, ``hs.text``, ``hs.tokenization``, ``hs.tfidf``,
``hs.suggestion``): nothing here imports torch, Lightning, Hydra or transformers, and a test runs it
with ``import torch`` failing. ``load_model`` also loads run folders and checkpoints (with torch),
for commands that take either.

    from bacuda_research.bundle.runtime import load_bundle
    bundle = load_bundle("bundles/date-v1")          # verified against its manifest first
    bundle.score_file("declarations.csv", "scores.csv")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def load_bundle(folder: str | os.PathLike, threads: int | None = None, expect_sha256: str | None = None) -> Any:
    """A ``DATEBundle`` or ``HSBundle`` for ``folder``; ``BundleError`` when it does not verify.

    ``expect_sha256``: the manifest digest ``bacuda-export`` printed; any other bundle is refused.
    The loaded bundle's ``manifest_sha256`` is the digest of the manifest it was loaded from.
    Boosters are checked before XGBoost uses them (``fraud.booster_check``); a listed file whose
    content does not have the expected structure is a ``BundleError`` too, never a traceback.
    """
    from bacuda_research.bundle.format import BundleError, verify_bundle_digest

    manifest, digest = verify_bundle_digest(folder, expect_sha256=expect_sha256)
    try:
        if manifest["kind"] == "date":
            from bacuda_research.bundle.date_runtime import DATEBundle

            bundle = DATEBundle.from_verified(Path(folder), manifest, threads=threads)
        else:
            from bacuda_research.bundle.hs_runtime import HSBundle

            bundle = HSBundle.from_verified(Path(folder), manifest, threads=threads)
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        raise BundleError(f"{folder}: a bundle file lacks a field or holds the wrong type "
                          f"({type(e).__name__}: {str(e)[:60]})") from None
    bundle.manifest_sha256 = digest
    return bundle


def load_model(model: str | os.PathLike, expect: str | None = None, threads: int | None = None) -> Any:
    """Any trained model by path: a bundle (``load_bundle``), or a run folder / ``.ckpt`` file
    (``DATEPredictor.from_run`` / ``HSPredictor.from_run``, which need the ``train`` extra).

    ``expect`` (``date`` | ``hs``) refuses the other task's models with a clear error.
    """
    from bacuda_research.core.checkpoints import resolve_model

    found = resolve_model(model, expect=None)
    kind = found.kind
    if kind == "bundle":
        loaded = load_bundle(found.path, threads=threads)
        kind = loaded.kind
    if expect and kind != expect:
        names = {"date": "a DATE (fraud) model", "hs": "an HS classification model"}
        raise ValueError(f"{model}: {names[kind]}, not {names[expect]}")
    if found.kind == "bundle":
        return loaded
    if kind == "date":
        from bacuda_research.fraud.predictor import DATEPredictor

        return DATEPredictor.from_run(found.path)
    from bacuda_research.hs.predict import HSPredictor

    return HSPredictor.from_run(found.path, threads=threads)
