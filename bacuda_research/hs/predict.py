"""``HSPredictor``: top-k HS6 suggestions with path probabilities and HS 2022 texts.

``HSPredictor.from_run(MODEL)`` accepts a run folder (``checkpoints/model.ckpt`` inside) or a
``.ckpt`` file (``core.checkpoints.resolve_model``); an exported bundle is loaded by
``bacuda_research.bundle.runtime.load_model`` (which also takes run folders), the way ``bacuda-hs``
does. Inputs are composed as in training (``text.compose_input``), so ``attributes``/``category``
columns are used when present.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bacuda_research.core.checkpoints import resolve_model
from bacuda_research.hs.suggestion import Suggestion, predict_file  # noqa: F401 (predict_file: re-exported)


class HSPredictor:
    """Ranks HS6 codes for descriptions; wraps an ``HSLitModule`` in eval mode on CPU (or ``device``)."""

    def __init__(self, module: Any, batch_size: int = 64) -> None:
        self.module = module.eval()
        self.batch_size = batch_size

    @classmethod
    def from_run(cls, model: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> "HSPredictor":
        """Load an HS run folder or checkpoint file (``weights_only=True``)."""
        path = resolve_model(model, expect="hs", bundles=False).path
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        from bacuda_research.hs.module import HSLitModule

        return cls(HSLitModule.from_checkpoint_file(path, map_location=device).to(device))

    @classmethod
    def load(cls, model: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> "HSPredictor":
        """Deprecated name of :meth:`from_run` (kept for one release; bundles: ``bundle.runtime.load_model``)."""
        import warnings

        warnings.warn("HSPredictor.load is deprecated: use HSPredictor.from_run (run folder or .ckpt) or "
                      "bacuda_research.bundle.runtime.load_model (also bundles)", DeprecationWarning, stacklevel=2)
        return cls.from_run(model, device=device, threads=threads)

    def predict(self, texts: Sequence[str], attributes: Sequence[Any] | None = None,
                categories: Sequence[Any] | None = None, top_k: int = 5, explain: bool = False) -> list[list[Suggestion]]:
        """Top-``top_k`` HS6 suggestions per row (probability of the whole HS2 -> HS4 -> HS6 path;
        ``confidence`` when the checkpoint is calibrated; ``explain``: nomenclature path and the
        nearest training descriptions that support each code, see ``hs.suggestion.make_suggestions``)."""
        from bacuda_research.hs.suggestion import make_suggestions, nearest_rows
        from bacuda_research.hs.text import compose_inputs
        from bacuda_research.hs.train import predict_texts

        composed = compose_inputs(texts, attributes, categories)
        module = self.module
        probs = predict_texts(module, composed, batch_size=self.batch_size).numpy()
        neighbours = None
        index_texts = getattr(module, "index_texts", None)
        if explain and index_texts and module.index_emb.shape[0]:
            from bacuda_research.hs.embedding import embed_texts

            pooled = embed_texts(module.model, module.tokenizer_json, composed, int(module.hparams.max_length))
            unit = module.index_emb.float().numpy()
            unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
            neighbours = nearest_rows(pooled.numpy(), unit, module.index_labels.numpy(), index_texts)
        temperature = (getattr(module, "calibration", None) or {}).get("temperature")
        return make_suggestions(probs, module.nom, top_k, temperature, explain, neighbours)

    def predict_one(self, text: str, top_k: int = 5, **kw: Any) -> list[Suggestion]:
        return self.predict([text], top_k=top_k, **{k: [v] for k, v in kw.items()})[0]
