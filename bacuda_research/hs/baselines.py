"""Baselines through the same evaluation as the neural model: each gives HS6 probabilities.

- ``TfidfLogReg``: multinomial logistic regression on word + character TF-IDF. It is fitted with
  PyTorch minibatch Adam on the sparse matrix because scikit-learn's solvers scale with
  (classes x features) per iteration and take hours for 5.6k classes on two cores.
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


def _to_torch_sparse(x: Any) -> torch.Tensor:
    x = x.tocoo()
    idx = torch.from_numpy(np.vstack([x.row, x.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(x.data.astype(np.float32)), x.shape).coalesce()


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
    """Softmax regression on TF-IDF (L2 via AdamW weight decay), minibatch on sparse inputs."""

    def __init__(self, n_classes: int, max_features: int = 60000, epochs: int = 10, batch_size: int = 1024,
                 lr: float = 0.01, weight_decay: float = 1e-5, seed: int = 0) -> None:
        self.n_classes, self.epochs, self.batch_size = n_classes, epochs, batch_size
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed
        self.vec = _tfidf(max_features)

    def fit(self, texts: Sequence[str], hs6: np.ndarray) -> "TfidfLogReg":
        keep = hs6 >= 0
        x = self.vec.fit_transform([t for t, k in zip(texts, keep) if k]).tocsr()
        y = torch.as_tensor(hs6[keep])
        g = torch.Generator().manual_seed(self.seed)
        self.linear = torch.nn.Linear(x.shape[1], self.n_classes)
        torch.nn.init.zeros_(self.linear.weight)
        opt = torch.optim.AdamW(self.linear.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for epoch in range(self.epochs):
            perm = torch.randperm(x.shape[0], generator=g).numpy()
            total = 0.0
            for s in range(0, len(perm), self.batch_size):
                idx = perm[s:s + self.batch_size]
                xb = _to_torch_sparse(x[idx])
                loss = torch.nn.functional.cross_entropy(torch.sparse.mm(xb, self.linear.weight.T) + self.linear.bias, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss) * len(idx)
            log.info("tfidf_lr epoch %d loss %.4f", epoch, total / len(perm))
        return self

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], chunk: int = 2048) -> torch.Tensor:
        x = self.vec.transform(list(texts)).tocsr()
        out = [(torch.sparse.mm(_to_torch_sparse(x[s:s + chunk]), self.linear.weight.T) + self.linear.bias).softmax(-1)
               for s in range(0, x.shape[0], chunk)]
        return torch.cat(out)


class EmbeddingKNN:
    """kNN over pooled encoder vectors (given, e.g. from ``embedding.embed_texts``)."""

    def __init__(self, n_classes: int, k: int = 20, temperature: float = 0.05) -> None:
        self.n_classes, self.k, self.temperature = n_classes, k, temperature

    def fit(self, emb: torch.Tensor, hs6: np.ndarray) -> "EmbeddingKNN":
        self.emb, self.y = emb, torch.as_tensor(hs6).clamp(min=-1)
        return self

    def predict_proba(self, query: torch.Tensor) -> torch.Tensor:
        return knn_class_probs(query, self.emb, self.y, self.n_classes, k=self.k, temperature=self.temperature)
