"""``HSBundle``: goods descriptions -> top-k HS6 codes, from an exported bundle (no torch).

The bundle's files (written by ``bacuda_research.export.hs``):

- ``model.onnx``: encoder + pooling + heads; inputs ``input_ids``, ``attention_mask`` (B, T) int64
  (batch and sequence dynamic); outputs ``pooled`` (B, H), ``logits_hs2``/``_hs4``/``_hs6``;
- ``tokenizer.json``: the ``tokenizers`` tokenizer; ``labels.json``: the nomenclature (label order
  of each head, parent links, HS texts); ``hs_config.json``: token cap, retrieval settings;
- ``retrieval.safetensors`` (when the model mixes in a kNN vote): training vectors and HS6 labels;
- ``weights.safetensors``: the network weights for PyTorch users (not read here).

Decoding is ``hs.decoding`` in NumPy: whole HS2 -> HS4 -> HS6 paths, mixed with the embedding kNN
vote by the checkpoint's ``mix`` weights (``HSLitModule.mixed``). Models with the lexical TF-IDF side
are not exportable yet. ``HSBundle.predict`` has ``HSPredictor.predict``'s signature, so ``hs.predict.predict_file``
writes the same JSON lines as ``bacuda-hs --input``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MODEL = "model.onnx"
WEIGHTS = "weights.safetensors"
TOKENIZER = "tokenizer.json"
LABELS = "labels.json"
CONFIG = "hs_config.json"
RETRIEVAL = "retrieval.safetensors"
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = ("pooled", "logits_hs2", "logits_hs4", "logits_hs6")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def path_probs(l2: np.ndarray, l4: np.ndarray, l6: np.ndarray, parent4: np.ndarray, parent2: np.ndarray) -> np.ndarray:
    """``decoding.path_log_probs(...).exp()`` in NumPy (float64). Shape: -> (B, C6), rows sum to 1."""
    joint = log_softmax(l6) + log_softmax(l4)[:, parent4] + log_softmax(l2)[:, parent2]
    return np.exp(log_softmax(joint))


def knn_probs(query: np.ndarray, index: np.ndarray, labels: np.ndarray, n_classes: int, k: int,
              temperature: float) -> np.ndarray:
    """``decoding.knn_class_probs`` in NumPy: softmax(sim / T) votes of the k nearest index rows."""
    keep = labels >= 0
    index, labels = index[keep].astype(np.float32), labels[keep]
    out = np.zeros((len(query), n_classes))
    if not len(index) or not len(query):
        return out
    index = index / np.maximum(np.linalg.norm(index, axis=1, keepdims=True), 1e-12)
    q = query.astype(np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    k = min(k, len(index))
    sims = q @ index.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, 1).astype(np.float64) / temperature
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    np.add.at(out, (np.arange(len(q))[:, None], labels[top]), w)
    return out


class HSBundle:
    """A verified HS bundle loaded for prediction (ONNX Runtime + tokenizers; no torch)."""

    kind = "hs"

    def __init__(self, folder: Path, manifest: dict[str, Any], session: Any, tokenizer: Any, nom: Any,
                 config: dict[str, Any], index: np.ndarray | None, index_labels: np.ndarray | None,
                 batch_size: int = 64) -> None:
        self.folder, self.manifest, self.session, self.tokenizer = folder, manifest, session, tokenizer
        self.nom, self.config, self.batch_size = nom, config, batch_size
        self.parent4 = np.asarray(nom.hs6_parent4, dtype=np.int64)
        self.parent2 = np.asarray(nom.hs4_parent2, dtype=np.int64)[self.parent4]
        self.index, self.index_labels = index, index_labels

    @classmethod
    def load(cls, folder: str | os.PathLike, threads: int | None = None) -> "HSBundle":
        from bacuda_research.export.bundle import verify_bundle

        return cls.from_verified(Path(folder), verify_bundle(folder, kind="hs"), threads)

    @classmethod
    def from_verified(cls, folder: Path, manifest: dict[str, Any], threads: int | None = None) -> "HSBundle":
        from tokenizers import Tokenizer

        from bacuda_research.export.bundle import read_bytes, read_json
        from bacuda_research.hs.nomenclature import Nomenclature
        from bacuda_research.hs.tokenization import configure
        from bacuda_research.score.onnx import session

        config = read_json(folder, manifest, CONFIG)
        nom = Nomenclature.from_dict(read_json(folder, manifest, LABELS))
        tok = configure(Tokenizer.from_str(read_bytes(folder, manifest, TOKENIZER).decode("utf-8")),
                        int(config["max_length"]))
        index = labels = None
        if float(config["retrieval"]["weight"]) > 0 and RETRIEVAL in manifest["files"]:
            from safetensors.numpy import load

            tensors = load(read_bytes(folder, manifest, RETRIEVAL))
            index, labels = tensors["index_emb"], tensors["index_labels"].astype(np.int64)
        sess = session(read_bytes(folder, manifest, MODEL), threads)
        return cls(folder, manifest, sess, tok, nom, config, index, labels)

    # -- prediction ------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        enc = self.tokenizer.encode_batch(list(texts))
        return {"input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64)}

    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
        """Raw outputs for composed texts, in input order: pooled, logits2, logits4, logits6."""
        n = len(texts)
        if n == 0:
            return (np.zeros((0, 0), np.float32), *(np.zeros((0, len(c)), np.float32)
                                                     for c in (self.nom.hs2, self.nom.hs4, self.nom.hs6)))
        order = sorted(range(n), key=lambda i: len(texts[i]))  # length-sorted batches: little padding
        chunks: list[list[np.ndarray]] = [[] for _ in OUTPUTS]
        for s in range(0, n, self.batch_size):
            batch = self.encode([texts[i] for i in order[s:s + self.batch_size]])
            for j, r in enumerate(self.session.run(list(OUTPUTS), batch)):
                chunks[j].append(r)
        back = np.argsort(np.asarray(order))  # position of each input row in the sorted order
        return tuple(np.concatenate(c)[back] for c in chunks)

    def path_probs(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, C6]`` probabilities of every HS6 path for composed texts (as ``HSLitModule.path_probs``)."""
        pooled, l2, l4, l6 = self.run(texts)
        mix = [float(x) for x in self.config["mix"]]
        probs = mix[0] * path_probs(l2, l4, l6, self.parent4, self.parent2)
        r = self.config["retrieval"]
        if mix[1] > 0 and self.index is not None and len(self.index):
            probs = probs + mix[1] * knn_probs(pooled, self.index, self.index_labels, probs.shape[1], int(r["k"]),
                                               float(r["temperature"]))
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)  # as HSLitModule.mixed

    def predict(self, texts: Sequence[str], attributes: Sequence[Any] | None = None,
                categories: Sequence[Any] | None = None, top_k: int = 5) -> list[list[Any]]:
        """Top-``top_k`` HS6 suggestions per row (``hs.predict.Suggestion``), like ``HSPredictor.predict``."""
        from bacuda_research.hs.predict import Suggestion
        from bacuda_research.hs.text import compose_inputs

        composed = compose_inputs(texts, attributes, categories)
        probs = self.path_probs(composed)
        k = min(top_k, probs.shape[1])
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        nom = self.nom
        return [[Suggestion(nom.hs6[j], float(row[j]), nom.describe(nom.hs6[j])) for j in ids]
                for row, ids in zip(probs, top)]

    def predict_one(self, text: str, top_k: int = 5, **kw: Any) -> list[Any]:
        return self.predict([text], top_k=top_k, **{k: [v] for k, v in kw.items()})[0]
