"""``HSBundle``: goods descriptions -> top-k HS6 codes, from an exported bundle (no torch).

The bundle's files (written by ``bacuda_research.bundle.hs_export``):

- ``model.onnx``: encoder + pooling + heads; inputs ``input_ids``, ``attention_mask`` (B, T) int64
  (batch and sequence dynamic); outputs ``pooled`` (B, H), ``logits_hs2``/``_hs4``/``_hs6``;
- ``tokenizer.json``: the ``tokenizers`` tokenizer; ``labels.json``: the nomenclature (label order
  of each head, parent links, HS texts); ``hs_config.json``: token cap, retrieval settings;
- ``retrieval.safetensors`` (when the model mixes in a kNN vote): training vectors and HS6 labels;
- ``lexical.safetensors`` (models with the lexical TF-IDF side): ``idf`` ``[F]``, the TF-IDF bag's
  ``embedding`` table (stored only here, not in the ONNX graph) and, when the lexical kNN vote is mixed in, the training texts' TF-IDF
  rows as CSR (``index_indptr``, ``index_indices``, ``index_data`` float16) with ``index_labels``;
- every weight is stored once: encoder, trunk and heads as ``model.onnx``'s initializers, the bag
  table in ``lexical.safetensors`` (for a model pruned by ``hs.train.prune_lexical``: its used rows
  only, ``embedding_rows``, as int8 codes with float32 ``embedding_scale``); bundles before this
  also had a ``weights.safetensors`` repeating encoder and heads;
- ``support.json`` (models that kept their training texts): the texts of the retrieval index rows,
  so that ``predict(..., explain=True)`` can show the nearest training descriptions of a code
  (``retrieval.safetensors`` is then written even when the kNN vote is not mixed in).
- ``hs_config.json`` ``calibration``: the validation-fitted temperature of the ``confidence``.

Lexical models: texts are featurised by ``hs.tfidf.LexicalFeaturizer`` (NumPy; the code training
uses), the bag ``sum_j w_j * embedding[id_j]`` is a NumPy gather-sum (``tfidf.bag_sum``) fed to the
ONNX graph as its third input ``lexical`` ``[B, D]``, and the lexical kNN vote is the cosine of
TF-IDF rows (a ``scipy.sparse`` product, as in training).

Decoding is ``hs.decoding`` in NumPy: whole HS2 -> HS4 -> HS6 paths, mixed with the embedding kNN
and the lexical kNN votes by the checkpoint's ``mix`` weights (``HSLitModule.mixed``).
``HSBundle.predict`` has ``HSPredictor.predict``'s signature, so ``hs.suggestion.predict_file`` writes
the same JSON lines as ``bacuda-hs --input``.

kNN ties: when several index rows share the k-th largest similarity (typically a text that shares
no n-gram with more than ``k - 1`` training texts, e.g. an empty one), PyTorch's ``topk`` picks
among them in an implementation-defined order; this runtime takes the lowest row numbers.
``HSBundle.components`` reports such rows (``tied``), the only place the bundle can differ from the
trained model by more than rounding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

MODEL = "model.onnx"
WEIGHTS = "weights.safetensors"
TOKENIZER = "tokenizer.json"
LABELS = "labels.json"
CONFIG = "hs_config.json"
RETRIEVAL = "retrieval.safetensors"
LEXICAL = "lexical.safetensors"
SUPPORT = "support.json"
INPUTS = ("input_ids", "attention_mask")
LEXICAL_INPUT = "lexical"
OUTPUTS = ("pooled", "logits_hs2", "logits_hs4", "logits_hs6")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def path_probs(l2: np.ndarray, l4: np.ndarray, l6: np.ndarray, parent4: np.ndarray, parent2: np.ndarray) -> np.ndarray:
    """``decoding.path_log_probs(...).exp()`` in NumPy (float64). Shape: -> (B, C6), rows sum to 1."""
    joint = log_softmax(l6) + log_softmax(l4)[:, parent4] + log_softmax(l2)[:, parent2]
    return np.exp(log_softmax(joint))


def top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``[B, k]`` of the ``k`` largest values per row (ties: lowest index) and a ``[B]`` flag
    of rows where the k-th value is tied with an unselected one (where ``torch.topk`` may pick others)."""
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(sims, top, 1)
    kth = vals.min(axis=1)
    tied = (sims == kth[:, None]).sum(axis=1) > (vals == kth[:, None]).sum(axis=1)
    for r in np.flatnonzero(tied):  # deterministic choice among the tied: lowest row numbers
        above = np.flatnonzero(sims[r] > kth[r])
        top[r] = np.concatenate([above, np.flatnonzero(sims[r] == kth[r])[:k - len(above)]])
    return top, tied


def vote(sims: np.ndarray, labels: np.ndarray, n_classes: int, k: int, temperature: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """softmax(sim / T) votes of the ``k`` most similar index rows: ``([B, n_classes], tied [B])``."""
    out = np.zeros((len(sims), n_classes))
    if not sims.shape[1] or not len(sims):
        return out, np.zeros(len(sims), bool)
    top, tied = top_k(sims, min(k, sims.shape[1]))
    s = np.take_along_axis(sims, top, 1).astype(np.float64) / temperature
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    np.add.at(out, (np.arange(len(sims))[:, None], labels[top]), w)
    return out, tied


def knn_probs(query: np.ndarray, index: np.ndarray, labels: np.ndarray, n_classes: int, k: int,
              temperature: float) -> np.ndarray:
    """``decoding.knn_class_probs`` in NumPy: softmax(sim / T) votes of the k nearest index rows."""
    keep = labels >= 0
    index, labels = index[keep].astype(np.float32), labels[keep]
    if not len(index) or not len(query):
        return np.zeros((len(query), n_classes))
    index = index / np.maximum(np.linalg.norm(index, axis=1, keepdims=True), 1e-12)
    q = query.astype(np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    return vote(q @ index.T, labels, n_classes, k, temperature)[0]


class LexicalSide:
    """The lexical TF-IDF side of a bundle: featuriser, bag table and kNN index (NumPy + scipy.sparse)."""

    def __init__(self, config: dict[str, Any], tensors: dict[str, np.ndarray], texts: Sequence[str] | None = None) -> None:
        """``texts``: the support texts, from which the kNN index is rebuilt when the bundle says
        ``index_from: support.json`` (exactly the stored rows: float16 values, as training kept them)."""
        from bacuda_research.hs.tfidf import LexicalFeaturizer

        self.config = config
        self.featurizer = LexicalFeaturizer(int(config["bits"]), tensors["idf"])
        self.table = tensors.get("embedding")
        # compact table (bundles of pruned models): only these buckets' rows, the rest are zero
        self.row_ids = tensors.get("embedding_rows")
        self.scale = tensors.get("embedding_scale")  # int8 table: rows are embedding * scale
        self.index_t = self.labels = None
        if "index_labels" in tensors:
            import scipy.sparse as sp

            if config.get("index_from") == SUPPORT:
                rows = self.featurizer.rows(list(texts or []))
                tensors = {**tensors, "index_indptr": rows.indptr, "index_indices": rows.indices,
                           "index_data": rows.data.astype(np.float16)}
            n = len(tensors["index_indptr"]) - 1
            # exactly as lexical.tensors_to_csr + prepare_index: float16 values widened to float32
            index = sp.csr_matrix((tensors["index_data"].astype(np.float32), tensors["index_indices"],
                                   tensors["index_indptr"]), shape=(max(n, 0), self.featurizer.n_features))
            labels = tensors["index_labels"].astype(np.int64)
            keep = labels >= 0
            self.index_t, self.labels = index[keep].T.tocsr(), labels[keep]

    def knn(self, rows: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Lexical kNN votes ``[B, n_classes]`` of TF-IDF rows (``SparseRows``) and their tie flags."""
        sims = np.asarray((rows.to_scipy() @ self.index_t).toarray(), dtype=np.float32)
        return vote(sims, self.labels, n_classes, int(self.config["k"]), float(self.config["temperature"]))


class HSBundle:
    """A verified HS bundle loaded for prediction (ONNX Runtime + tokenizers; no torch)."""

    kind = "hs"

    def __init__(self, folder: Path, manifest: dict[str, Any], session: Any, tokenizer: Any, nom: Any,
                 config: dict[str, Any], index: np.ndarray | None, index_labels: np.ndarray | None,
                 batch_size: int = 64, lexical: LexicalSide | None = None) -> None:
        self.folder, self.manifest, self.session, self.tokenizer = folder, manifest, session, tokenizer
        self.nom, self.config, self.batch_size = nom, config, batch_size
        self.parent4 = np.asarray(nom.hs6_parent4, dtype=np.int64)
        self.parent2 = np.asarray(nom.hs4_parent2, dtype=np.int64)[self.parent4]
        self.index, self.index_labels = index, index_labels
        self._knn_index = self._knn_labels = None
        if index is not None and len(index):  # unit rows of the embedding kNN, as decoding.knn_class_probs
            keep = index_labels >= 0
            unit = index[keep].astype(np.float32)
            self._knn_index = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
            self._knn_labels = index_labels[keep]
        self.lexical = lexical
        # (unit index rows, their HS6 labels, their training texts): explanations only, see from_verified
        self.support: tuple[np.ndarray, np.ndarray, list[str]] | None = None

    @classmethod
    def load(cls, folder: str | os.PathLike, threads: int | None = None) -> "HSBundle":
        from bacuda_research.bundle.format import verify_bundle

        return cls.from_verified(Path(folder), verify_bundle(folder, kind="hs"), threads)

    @classmethod
    def from_verified(cls, folder: Path, manifest: dict[str, Any], threads: int | None = None) -> "HSBundle":
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        from bacuda_research.bundle.format import BundleError, read_bytes, read_json
        from bacuda_research.hs.nomenclature import Nomenclature
        from bacuda_research.hs.tokenization import configure
        from bacuda_research.bundle.onnx import session

        config = read_json(folder, manifest, CONFIG)
        nom = Nomenclature.from_dict(read_json(folder, manifest, LABELS))
        tok = configure(Tokenizer.from_str(read_bytes(folder, manifest, TOKENIZER).decode("utf-8")),
                        int(config["max_length"]))
        index = labels = support = None
        if RETRIEVAL in manifest["files"]:
            tensors = load(read_bytes(folder, manifest, RETRIEVAL))
            if float(config["retrieval"]["weight"]) > 0:
                index, labels = tensors["index_emb"], tensors["index_labels"].astype(np.int64)
            if SUPPORT in manifest["files"]:  # training descriptions of the index rows (explanations)
                unit = tensors["index_emb"].astype(np.float32)
                unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
                support = (unit, tensors["index_labels"].astype(np.int64),
                           read_json(folder, manifest, SUPPORT)["texts"])
        lexical = None
        if config.get("lexical"):
            tensors = load(read_bytes(folder, manifest, LEXICAL))
            rebuilt = config["lexical"].get("index_from") == SUPPORT
            missing = [k for k in ("idf", *(("embedding",) if int(config["lexical"]["dim"]) else ()),
                                   *((("index_labels",) if rebuilt else ("index_indptr", "index_indices", "index_data",
                                                                        "index_labels"))
                                     if int(config["lexical"]["index_rows"]) else ())) if k not in tensors]
            if rebuilt and (support is None or len(support[2]) != int(config["lexical"]["index_rows"])):
                missing.append(f"{SUPPORT} texts of the lexical index")
            if missing:
                raise BundleError(f"{folder}: {LEXICAL} lacks {missing} (incomplete bundle)")
            lexical = LexicalSide(config["lexical"], tensors, support[2] if rebuilt else None)
            del tensors
        sess = session(read_bytes(folder, manifest, MODEL), threads)
        bundle = cls(folder, manifest, sess, tok, nom, config, index, labels, lexical=lexical)
        bundle.support = support
        return bundle

    # -- prediction ------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        enc = self.tokenizer.encode_batch(list(texts))
        return {"input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64)}

    def inputs(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], Any]:
        """ONNX inputs of composed texts (tokens, and the TF-IDF bag ``lexical`` of a lexical model)
        and their TF-IDF rows (``tfidf.SparseRows``; ``None`` without a lexical side)."""
        x = self.encode(texts)
        rows = None
        if self.lexical is not None:
            rows = self.lexical.featurizer.rows(texts)
            if self.lexical.table is not None:
                from bacuda_research.hs.tfidf import bag_sum

                x[LEXICAL_INPUT] = bag_sum(self.lexical.table, rows, self.lexical.row_ids, self.lexical.scale)
        return x, rows

    def _batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], tuple[np.ndarray, ...], Any]]:
        """Length-sorted batches (little padding): (input rows, ONNX outputs, TF-IDF rows)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            x, rows = self.inputs([texts[i] for i in idx])
            yield idx, tuple(self.session.run(list(OUTPUTS), x)), rows

    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
        """Raw outputs for composed texts, in input order: pooled, logits2, logits4, logits6."""
        n = len(texts)
        if n == 0:
            return (np.zeros((0, 0), np.float32), *(np.zeros((0, len(c)), np.float32)
                                                     for c in (self.nom.hs2, self.nom.hs4, self.nom.hs6)))
        order: list[int] = []
        chunks: list[list[np.ndarray]] = [[] for _ in OUTPUTS]
        for idx, outs, _ in self._batches(texts):
            order += idx
            for j, r in enumerate(outs):
                chunks[j].append(r)
        back = np.argsort(np.asarray(order))  # position of each input row in the sorted order
        return tuple(np.concatenate(c)[back] for c in chunks)

    def _parts(self, outs: tuple[np.ndarray, ...], rows: Any) -> dict[str, np.ndarray]:
        """``HSLitModule.components`` of one batch (+ ``*_tied`` flags of the kNN votes)."""
        pooled, l2, l4, l6 = outs
        parts = {"heads": path_probs(l2, l4, l6, self.parent4, self.parent2)}
        n6 = parts["heads"].shape[1]
        if self._knn_index is not None:
            r = self.config["retrieval"]
            q = pooled.astype(np.float32)
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
            parts["embed_knn"], parts["embed_knn_tied"] = vote(q @ self._knn_index.T, self._knn_labels, n6,
                                                               int(r["k"]), float(r["temperature"]))
        if self.lexical is not None and self.lexical.index_t is not None:
            parts["lexical_knn"], parts["lexical_knn_tied"] = self.lexical.knn(rows, n6)
        return parts

    def mixed(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        """``HSLitModule.mixed``: heads and the kNN votes weighted by ``mix``, rows renormalised."""
        w = [float(x) for x in self.config["mix"]]
        probs = w[0] * parts["heads"]
        for wi, name in zip(w[1:], ("embed_knn", "lexical_knn")):
            if wi > 0 and name in parts:
                probs = probs + wi * parts[name]
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)

    def components(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The parts ``mix`` combines, in input order: ``heads``, ``embed_knn``, ``lexical_knn``
        ``[N, C6]`` (when the bundle has them) and ``*_tied`` ``[N]`` (see the module docstring)."""
        out: dict[str, np.ndarray] = {}
        order: list[int] = []
        chunks: dict[str, list[np.ndarray]] = {}
        for idx, outs, rows in self._batches(texts):
            order += idx
            for k, v in self._parts(outs, rows).items():
                chunks.setdefault(k, []).append(v)
        back = np.argsort(np.asarray(order, dtype=np.int64))
        for k, v in chunks.items():
            out[k] = np.concatenate(v)[back]
        return out

    def path_probs(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, C6]`` probabilities of every HS6 path for composed texts (as ``HSLitModule.path_probs``)."""
        probs = np.zeros((len(texts), len(self.nom.hs6)))
        for idx, outs, rows in self._batches(texts):
            probs[idx] = self.mixed(self._parts(outs, rows))
        return probs

    def predict(self, texts: Sequence[str], attributes: Sequence[Any] | None = None,
                categories: Sequence[Any] | None = None, top_k: int = 5, explain: bool = False) -> list[list[Any]]:
        """Top-``top_k`` HS6 suggestions per row (``hs.suggestion.Suggestion``), like ``HSPredictor.predict``."""
        from bacuda_research.hs.suggestion import make_suggestions, nearest_rows
        from bacuda_research.hs.text import compose_inputs

        composed = compose_inputs(texts, attributes, categories)
        probs = self.path_probs(composed)
        neighbours = None
        if explain and getattr(self, "support", None) is not None:
            pooled = np.zeros((len(composed), self._knn_dim()), np.float32)
            for idx, outs, _ in self._batches(composed):
                pooled[idx] = outs[0]
            neighbours = nearest_rows(pooled, *self.support)
        temperature = (self.config.get("calibration") or {}).get("temperature")
        return make_suggestions(probs, self.nom, top_k, temperature, explain, neighbours)

    def _knn_dim(self) -> int:
        return int(self.support[0].shape[1])

    def predict_one(self, text: str, top_k: int = 5, **kw: Any) -> list[Any]:
        return self.predict([text], top_k=top_k, **{k: [v] for k, v in kw.items()})[0]
