"""Baselines through the same evaluation as the neural model: each gives HS6 probabilities.

- ``TfidfLogReg``: multinomial logistic regression on word + character TF-IDF with a low-rank
  weight matrix, fitted by PyTorch minibatches on the sparse rows (sparse-gradient EmbeddingBag):
  scikit-learn's solvers and a dense PyTorch gradient both scale with (classes x features) per
  step and take hours for 5.6k classes on two cores.
- ``TfidfKNN``: cosine kNN over training texts in TF-IDF space.
- ``EmbeddingKNN``: cosine kNN over mean-pooled encoder vectors (MiniLM by default), the
  zero-shot "nearest nomenclature description" retrieval.
HS4/HS2 scores follow from the HS6 probabilities (``decoding.hierarchical_scores``).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch

from bacuda_research.hs.decoding import knn_class_probs

log = logging.getLogger("bacuda_research")


def _tfidf(max_features: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                                 max_features=max_features // 2, token_pattern=r"(?u)\b\w+\b")),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True,
                                 max_features=max_features // 2)),
    ])


def _l2(x: Any) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(x)


class TfidfKNN:
    """kNN over TF-IDF vectors (cosine); ``k`` neighbours vote with softmax(sim / temperature)."""

    def __init__(self, n_classes: int, k: int = 20, temperature: float = 0.05, max_features: int = 200000) -> None:
        self.n_classes, self.k, self.temperature = n_classes, k, temperature
        self.vec = _tfidf(max_features)

    def fit(self, texts: Sequence[str], hs6: np.ndarray) -> "TfidfKNN":
        keep = hs6 >= 0
        self.x = _l2(self.vec.fit_transform([t for t, k in zip(texts, keep) if k]))
        self.y = torch.as_tensor(hs6[keep])
        return self

    def predict_proba(self, texts: Sequence[str], chunk: int = 512) -> torch.Tensor:
        q = _l2(self.vec.transform(list(texts)))
        out = []
        for s in range(0, q.shape[0], chunk):
            sims = torch.from_numpy((q[s:s + chunk] @ self.x.T).toarray().astype(np.float32))
            k = min(self.k, sims.shape[1])
            v, i = sims.topk(k, dim=-1)
            w = (v / self.temperature).softmax(-1)
            out.append(torch.zeros(len(v), self.n_classes).scatter_add_(1, self.y[i], w))
        return torch.cat(out)


class TfidfLogReg:
    """Multinomial logistic regression on sparse TF-IDF rows, with a rank-``rank`` weight matrix.

    ``logits = x W + b`` with ``W = U V`` (``U``: features x rank, ``V``: rank x classes): still a
    linear model of the TF-IDF features, but a step costs ``nnz x rank + batch x rank x classes``
    instead of a dense ``features x classes`` gradient (60k x 5.6k floats per step made the full-rank
    version take more than 15 min an epoch). ``U`` is a sparse-gradient ``EmbeddingBag`` (SparseAdam),
    ``V`` and ``b`` use AdamW. ``rank=0`` is not supported (use ``TfidfKNN`` for a fit-free baseline).
    """

    def __init__(self, n_classes: int, max_features: int = 200000, rank: int = 256, epochs: int = 8,
                 batch_size: int = 256, lr: float = 0.002, weight_decay: float = 1e-5, seed: int = 0) -> None:
        if rank < 1:
            raise ValueError(f"model.rank={rank}: must be at least 1")
        self.n_classes, self.rank, self.epochs, self.batch_size = n_classes, rank, epochs, batch_size
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed
        self.vec = _tfidf(max_features)

    def _logits(self, x: Any) -> torch.Tensor:
        from bacuda_research.hs.lexical import bag_inputs

        b = bag_inputs(x)
        return self.out(self.bag(b["lex_ids"], b["lex_offsets"], per_sample_weights=b["lex_weights"]))

    def fit(self, texts: Sequence[str], hs6: np.ndarray) -> "TfidfLogReg":
        keep = hs6 >= 0
        x = _l2(self.vec.fit_transform([t for t, k in zip(texts, keep) if k])).tocsr().astype(np.float32)
        y = torch.as_tensor(hs6[keep])
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.bag = torch.nn.EmbeddingBag(x.shape[1], self.rank, mode="sum", sparse=True)
        torch.nn.init.normal_(self.bag.weight, std=0.02)
        self.out = torch.nn.Linear(self.rank, self.n_classes)
        opts = [torch.optim.SparseAdam(list(self.bag.parameters()), lr=self.lr),
                torch.optim.AdamW(self.out.parameters(), lr=self.lr, weight_decay=self.weight_decay)]
        steps = self.epochs * ((x.shape[0] + self.batch_size - 1) // self.batch_size)
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: max(0.0, 1 - s / max(1, steps))) for o in opts]
        for epoch in range(self.epochs):
            perm = torch.randperm(x.shape[0], generator=g).numpy()
            total = 0.0
            for s in range(0, len(perm), self.batch_size):
                idx = perm[s:s + self.batch_size]
                loss = torch.nn.functional.cross_entropy(self._logits(x[idx]), y[idx])
                for o in opts:
                    o.zero_grad()
                loss.backward()
                for o in (*opts, *scheds):
                    o.step()
                total += float(loss.detach()) * len(idx)
            log.info("tfidf_lr epoch %d loss %.4f", epoch, total / len(perm))
        return self

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], chunk: int = 2048) -> torch.Tensor:
        x = _l2(self.vec.transform(list(texts))).tocsr().astype(np.float32)
        out = [self._logits(x[s:s + chunk]).softmax(-1) for s in range(0, x.shape[0], chunk)]
        return torch.cat(out) if out else torch.zeros(0, self.n_classes)


class EmbeddingKNN:
    """kNN over pooled encoder vectors (given, e.g. from ``embedding.embed_texts``)."""

    def __init__(self, n_classes: int, k: int = 20, temperature: float = 0.05) -> None:
        self.n_classes, self.k, self.temperature = n_classes, k, temperature

    def fit(self, emb: torch.Tensor, hs6: np.ndarray) -> "EmbeddingKNN":
        self.emb, self.y = emb, torch.as_tensor(hs6).clamp(min=-1)
        return self

    def predict_proba(self, query: torch.Tensor) -> torch.Tensor:
        return knn_class_probs(query, self.emb, self.y, self.n_classes, k=self.k, temperature=self.temperature)
