"""Lexical (TF-IDF) side of the HS classifier: hashed word + character n-grams, stored as tensors.

MiniLM reads meaning; customs texts also hinge on exact words ("frozen", "boneless", "> 80 %"),
where TF-IDF kNN is strong. ``LexicalFeaturizer`` (``hs.tfidf``: NumPy only, shared with the
torch-free scoring runtime) turns texts into L2-normalised TF-IDF rows over hashed word 1-2-grams
and character 3-5-grams (stateless hashing, so the only fitted state is the IDF vector, a tensor
that travels in the checkpoint; nothing is pickled).

Two uses, both in ``HSLitModule``:
- a trainable ``EmbeddingBag`` over the TF-IDF row (a learned sparse projection, fastText-style)
  concatenated with the pooled encoder vector before the heads;
- a lexical kNN vote (cosine over TF-IDF rows of the training texts), mixed into the HS6 path
  probabilities with weights chosen on the validation split.
"""

from __future__ import annotations

import numpy as np
import torch

from bacuda_research.hs.tfidf import CHAR_NGRAMS, WORD_NGRAMS, LexicalFeaturizer

__all__ = ["CHAR_NGRAMS", "WORD_NGRAMS", "LexicalFeaturizer", "bag_inputs", "bag_rows", "csr_to_tensors",
           "lexical_knn_probs", "prepare_index", "tensors_to_csr"]


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
