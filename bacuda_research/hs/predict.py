"""``HSPredictor``: top-k HS6 suggestions with path probabilities and HS 2022 texts.

``HSPredictor.load(MODEL)`` accepts a run folder (``checkpoints/model.ckpt`` inside), a ``.ckpt``
file, or an exported bundle (a folder with ``manifest.json``, scored with ONNX Runtime by
``score.hs.HSBundle``). Anything else is an error naming the path. Inputs are composed as in
training (``text.compose_input``), so ``attributes``/``category`` columns are used when present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_FILE = "model.ckpt"


@dataclass
class Suggestion:
    hs6: str
    probability: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"hs6": self.hs6, "probability": round(float(self.probability), 6), "description": self.description}


def resolve_model_path(model: str | os.PathLike) -> tuple[str, Path]:
    """``("checkpoint", file)`` or ``("bundle", folder)`` for MODEL; ``FileNotFoundError``/``ValueError`` otherwise."""
    p = Path(model)
    if p.is_file() and p.suffix == ".ckpt":
        return "checkpoint", p
    if p.is_dir():
        if (p / "manifest.json").is_file():
            return "bundle", p
        for cand in (p / "checkpoints" / MODEL_FILE, p / MODEL_FILE):
            if cand.is_file():
                return "checkpoint", cand
        raise FileNotFoundError(f"{p}: a run folder needs checkpoints/{MODEL_FILE} (or give a .ckpt file or a bundle "
                                "folder with manifest.json)")
    if p.exists():
        raise ValueError(f"{p}: not a model (expected a run folder, a .ckpt file or a bundle folder with manifest.json)")
    raise FileNotFoundError(f"{p}: no such model (expected a run folder, a .ckpt file or a bundle folder)")


class HSPredictor:
    """Ranks HS6 codes for descriptions; wraps an ``HSLitModule`` in eval mode on CPU (or ``device``)."""

    def __init__(self, module: Any, batch_size: int = 64) -> None:
        self.module = module.eval()
        self.batch_size = batch_size

    @classmethod
    def load(cls, model: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> "HSPredictor":
        kind, path = resolve_model_path(model)
        if kind == "bundle":  # ONNX Runtime, no torch (an ``HSBundle``: same ``predict`` interface)
            return _load_bundle(path, threads)
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        from bacuda_research.hs.module import HSLitModule

        return cls(HSLitModule.from_checkpoint_file(path, map_location=device).to(device))

    def predict(self, texts: Sequence[str], attributes: Sequence[Any] | None = None,
                categories: Sequence[Any] | None = None, top_k: int = 5) -> list[list[Suggestion]]:
        """Top-``top_k`` HS6 suggestions per row (probability of the whole HS2 -> HS4 -> HS6 path)."""
        from bacuda_research.hs.text import compose_inputs
        from bacuda_research.hs.train import predict_texts

        composed = compose_inputs(texts, attributes, categories)
        probs = predict_texts(self.module, composed, batch_size=self.batch_size)
        k = min(top_k, probs.shape[1])
        p, i = probs.topk(k, dim=-1)
        nom = self.module.nom
        return [[Suggestion(nom.hs6[j], float(q), nom.describe(nom.hs6[j])) for q, j in zip(pr.tolist(), ir.tolist())]
                for pr, ir in zip(p, i)]

    def predict_one(self, text: str, top_k: int = 5, **kw: Any) -> list[Suggestion]:
        return self.predict([text], top_k=top_k, **{k: [v] for k, v in kw.items()})[0]


def _load_bundle(folder: Path, threads: int | None = None) -> Any:
    """An exported HS bundle (``bacuda-export``), verified against its manifest: ``score.hs.HSBundle``."""
    from bacuda_research.score.hs import HSBundle

    return HSBundle.load(folder, threads=threads)


def predict_file(predictor: HSPredictor, input_path: str | os.PathLike, output_path: str | os.PathLike,
                 top_k: int = 5, text_column: str = "text") -> int:
    """CSV/Parquet with a ``text`` column (+ optional ``attributes``, ``category``) -> JSON lines.

    One object per row: ``{"text": ..., "predictions": [{"hs6", "probability", "description"}, ...]}``.
    Written atomically; returns the number of rows.
    """
    import json

    import pandas as pd

    from bacuda_research.utils.io import write_text

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
