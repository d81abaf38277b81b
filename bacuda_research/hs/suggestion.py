"""What an HS model answers, whatever runs it (checkpoint or bundle): ``Suggestion`` per code, and
``predict_file`` (CSV/Parquet in, JSON lines out), torch-free so the bundle runtime shares them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass
class Suggestion:
    """One HS6 code for one description.

    ``probability``: the model's path probability (HS2 -> HS4 -> HS6, mixed with the kNN votes).
    ``confidence``: the same, temperature-scaled on the validation split (``hs.calibration``); None
    for a model trained before calibration existed. ``path`` (explanations): the HS2, HS4 and HS6
    codes with their nomenclature texts. ``support`` (explanations): the nearest training
    descriptions labelled with this code, with their cosine similarity to the query.
    """

    hs6: str
    probability: float
    description: str
    confidence: float | None = None
    path: list[dict[str, str]] | None = None
    support: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hs6": self.hs6, "probability": round(float(self.probability), 6),
                               "description": self.description}
        if self.confidence is not None:
            out["confidence"] = round(float(self.confidence), 6)
        if self.path is not None:
            out["path"] = self.path
        if self.support is not None:
            out["support"] = self.support
        return out


def nomenclature_path(nom: Any, hs6: str) -> list[dict[str, str]]:
    """``[{"code", "description"}]`` for the HS2, HS4 and HS6 levels of ``hs6`` (the tree an officer reads)."""
    return [{"code": hs6[:n], "description": nom.describe(hs6[:n])} for n in (2, 4, 6)]


def make_suggestions(probs: np.ndarray, nom: Any, top_k: int, temperature: float | None = None,
                     explain: bool = False, neighbours: Sequence[Sequence[tuple[int, float, str]]] | None = None,
                     per_code: int = 2) -> list[list[Suggestion]]:
    """Top-``top_k`` suggestions of HS6 path probabilities ``[N, C6]`` (shared by checkpoint and bundle).

    ``temperature``: adds the calibrated ``confidence``. ``explain``: adds ``path`` and, given
    ``neighbours`` (per row, the nearest training rows as (HS6 index, similarity, text), nearest
    first), ``support``: up to ``per_code`` of them whose label is the suggested code.
    """
    from bacuda_research.hs.calibration import apply_temperature

    probs = np.asarray(probs, dtype=np.float64)
    conf = apply_temperature(probs, temperature) if temperature else None
    k = min(top_k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out = []
    for r, ids in enumerate(top):
        row = []
        for j in ids:
            code = nom.hs6[j]
            s = Suggestion(code, float(probs[r, j]), nom.describe(code),
                           None if conf is None else float(conf[r, j]))
            if explain:
                s.path = nomenclature_path(nom, code)
                if neighbours is not None:
                    s.support = [{"text": t, "similarity": round(float(sim), 4)}
                                 for lab, sim, t in neighbours[r] if lab == j][:per_code]
            row.append(s)
        out.append(row)
    return out


def nearest_rows(query: np.ndarray, index_unit: np.ndarray, labels: np.ndarray, texts: Sequence[str],
                 m: int = 50) -> list[list[tuple[int, float, str]]]:
    """The ``m`` training rows most similar (cosine) to each query vector: (HS6 index, similarity, text)."""
    q = np.asarray(query, dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    sims = q @ index_unit.T
    m = min(m, sims.shape[1])
    top = np.argsort(-sims, axis=1, kind="stable")[:, :m]
    return [[(int(labels[i]), float(sims[r, i]), texts[i]) for i in row] for r, row in enumerate(top)]


def predict_file(predictor: Any, input_path: str | os.PathLike, output_path: str | os.PathLike,
                 top_k: int = 5, text_column: str = "text", abstain_below: float | None = None,
                 explain: bool = False) -> int:
    """CSV/Parquet with a ``text`` column (+ optional ``attributes``, ``category``) -> JSON lines.

    One object per row: ``{"text": ..., "predictions": [{"hs6", "probability", "description"}, ...]}``
    (plus ``confidence`` when the model is calibrated, ``path``/``support`` with ``explain``).
    ``abstain_below``: a row whose top-1 confidence (the probability for an uncalibrated model) is
    below it gets ``"predictions": []``, ``"abstained": true`` and its ``top_confidence``.
    Written atomically; returns the number of rows.
    """
    import json

    import pandas as pd

    from bacuda_research.core.io import write_text

    src = Path(input_path)
    if not src.is_file():
        raise FileNotFoundError(f"input file not found: {src}")
    df = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src, dtype=str, keep_default_na=False)
    if text_column not in df.columns:
        raise ValueError(f"{src}: no {text_column!r} column (columns: {list(df.columns)})")
    texts = df[text_column].tolist()
    attrs = df["attributes"].tolist() if "attributes" in df.columns else None
    cats = df["category"].tolist() if "category" in df.columns else None
    preds = predictor.predict(texts, attrs, cats, top_k=top_k, explain=explain) if explain else \
        predictor.predict(texts, attrs, cats, top_k=top_k)
    lines = (json.dumps(row_json(t, ps, abstain_below), ensure_ascii=False) for t, ps in zip(texts, preds))
    write_text(output_path, "".join(line + "\n" for line in lines))
    return len(texts)


def top_confidence(suggestions: Sequence[Suggestion]) -> float:
    """The first suggestion's calibrated confidence (its probability for an uncalibrated model)."""
    if not suggestions:
        return 0.0
    s = suggestions[0]
    return float(s.probability if s.confidence is None else s.confidence)


def row_json(text: Any, suggestions: Sequence[Suggestion], abstain_below: float | None = None) -> dict[str, Any]:
    """One output line; with ``abstain_below``, an unsure row answers nothing (see ``predict_file``)."""
    if abstain_below is not None and top_confidence(suggestions) < abstain_below:
        return {"text": text, "predictions": [], "abstained": True,
                "top_confidence": round(top_confidence(suggestions), 6)}
    return {"text": text, "predictions": [s.to_dict() for s in suggestions]}
