"""Lexical (TF-IDF) side of the HS classifier: hashed word + character n-grams, stored as tensors.

MiniLM reads meaning; customs texts also hinge on exact words ("frozen", "boneless", "> 80 %"),
where TF-IDF kNN is strong. ``LexicalFeaturizer`` turns texts into L2-normalised TF-IDF rows over
hashed word 1-2-grams and character 3-5-grams (``HashingVectorizer``: stateless, so the only
fitted state is the IDF vector, a tensor that travels in the checkpoint; nothing is pickled).

Two uses, both in ``HSLitModule``:
- a trainable ``EmbeddingBag`` over the TF-IDF row (a learned sparse projection, fastText-style)
  concatenated with the pooled encoder vector before the heads;
- a lexical kNN vote (cosine over TF-IDF rows of the training texts), mixed into the HS6 path
  probabilities with weights chosen on the validation split.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)


def _vectorizers(bits: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    common = dict(n_features=2 ** bits, alternate_sign=False, norm=None, lowercase=True)
    return (HashingVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, token_pattern=r"(?u)\b\w+\b", **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, **common))


class LexicalFeaturizer:
    """Texts -> ``scipy.sparse.csr_matrix`` ``[N, 2 * 2**bits]`` of L2-normalised sublinear TF-IDF.

    Args:
        bits: hash buckets per analyser are ``2**bits`` (words, then characters).
        idf: a fitted IDF vector (``fit`` computes it from training texts).
    """

    def __init__(self, bits: int = 18, idf: torch.Tensor | np.ndarray | None = None) -> None:
        self.bits = int(bits)
        self.n_features = 2 * 2 ** self.bits
        self.idf = None if idf is None else np.asarray(idf, dtype=np.float32)
        if self.idf is not None and self.idf.shape != (self.n_features,):
            raise ValueError(f"idf has shape {self.idf.shape}, expected ({self.n_features},) for bits={bits}")

    def counts(self, texts: Sequence[str]):
        import scipy.sparse as sp

        word, char = _vectorizers(self.bits)
        texts = list(texts)
        return sp.hstack([word.transform(texts), char.transform(texts)], format="csr", dtype=np.float32)

    def fit(self, texts: Sequence[str]) -> "LexicalFeaturizer":
        x = self.counts(texts)
        df = np.bincount(x.indices, minlength=self.n_features)
        self.idf = (np.log((1.0 + x.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]):
        if self.idf is None:
            raise RuntimeError("LexicalFeaturizer.transform before fit (no IDF vector)")
        from sklearn.preprocessing import normalize

        x = self.counts(texts)
        x.data = np.log1p(x.data) * self.idf[x.indices]
        return normalize(x).astype(np.float32)


def bag_inputs(x) -> dict[str, torch.Tensor]:
    """CSR rows -> ``EmbeddingBag`` inputs ``{"lex_ids", "lex_offsets", "lex_weights"}`` (flat)."""
    x = x.tocsr()
    return {"lex_ids": torch.from_numpy(x.indices.astype(np.int64)),
            "lex_offsets": torch.from_numpy(x.indptr[:-1].astype(np.int64)),
            "lex_weights": torch.from_numpy(x.data.astype(np.float32))}


def csr_to_tensors(x) -> dict[str, torch.Tensor]:
    """A CSR matrix as plain tensors (for a state dict: ``weights_only`` loading, no pickle)."""
    x = x.tocsr()
    return {"indptr": torch.from_numpy(x.indptr.astype(np.int64)),
            "indices": torch.from_numpy(x.indices.astype(np.int32)),
            "data": torch.from_numpy(x.data.astype(np.float16))}


def tensors_to_csr(indptr: torch.Tensor, indices: torch.Tensor, data: torch.Tensor, n_features: int):
    import scipy.sparse as sp

    n = indptr.shape[0] - 1
    return sp.csr_matrix((data.float().numpy(), indices.numpy(), indptr.numpy()), shape=(max(n, 0), n_features))


def prepare_index(index, labels: torch.Tensor):
    """Drop rows without an HS6 (``-1``) and transpose once: ``(index_T [F, N] CSR, labels [N])``."""
    keep = (labels >= 0).numpy()
    return index[keep].T.tocsr(), labels[torch.from_numpy(keep)]


def lexical_knn_probs(query, index, labels: torch.Tensor, n_classes: int, k: int = 20,
                      temperature: float = 0.05, chunk: int = 512, prepared: bool = False) -> torch.Tensor:
    """Class probabilities from the ``k`` most similar index rows (cosine of L2-normalised TF-IDF).

    Each neighbour votes with ``softmax(similarity / temperature)`` over the ``k`` neighbours;
    rows labelled ``-1`` never vote. Shape: query ``[B, F]``, index ``[N, F]`` -> ``[B, n_classes]``.
    ``prepared=True``: ``(index, labels)`` come from ``prepare_index`` (saves a transpose per call).
    """
    index_t, labels = (index, labels) if prepared else prepare_index(index, labels)
    out = []
    k = min(k, index_t.shape[1])
    for s in range(0, query.shape[0], chunk):
        sims = torch.from_numpy((query[s:s + chunk] @ index_t).toarray().astype(np.float32))
        v, i = sims.topk(k, dim=-1)
        w = (v / temperature).softmax(-1)
        out.append(torch.zeros(len(v), n_classes).scatter_add_(1, labels[i], w))
    return torch.cat(out) if out else torch.zeros(0, n_classes)


def bag_rows(lex: dict[str, torch.Tensor], n_features: int):
    """``EmbeddingBag`` inputs back to CSR rows (validation batches carry only the bag inputs)."""
    import scipy.sparse as sp

    offsets = lex["lex_offsets"].cpu().numpy()
    indptr = np.append(offsets, lex["lex_ids"].shape[0])
    return sp.csr_matrix((lex["lex_weights"].cpu().numpy(), lex["lex_ids"].cpu().numpy(), indptr),
                         shape=(len(offsets), n_features))
