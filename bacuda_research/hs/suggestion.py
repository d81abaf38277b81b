"""What an HS model answers, whatever runs it (checkpoint or bundle): ``Suggestion`` per code, and
``predict_file`` (CSV/Parquet in, JSON lines out), torch-free so the bundle runtime shares them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Suggestion:
    hs6: str
    probability: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"hs6": self.hs6, "probability": round(float(self.probability), 6), "description": self.description}


def predict_file(predictor: Any, input_path: str | os.PathLike, output_path: str | os.PathLike,
                 top_k: int = 5, text_column: str = "text") -> int:
    """CSV/Parquet with a ``text`` column (+ optional ``attributes``, ``category``) -> JSON lines.

    One object per row: ``{"text": ..., "predictions": [{"hs6", "probability", "description"}, ...]}``.
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
    preds = predictor.predict(texts, attrs, cats, top_k=top_k)
    lines = (json.dumps({"text": t, "predictions": [s.to_dict() for s in ps]}, ensure_ascii=False)
             for t, ps in zip(texts, preds))
    write_text(output_path, "".join(line + "\n" for line in lines))
    return len(texts)
