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
