"""Hashed TF-IDF featuriser of the HS lexical side, in NumPy only (no torch, no scikit-learn).

One implementation for training (``hs.lexical``, ``HSLitModule``) and for the torch-free scoring
runtime (``score.hs``), so the two cannot drift. It computes exactly what the first version
computed with scikit-learn's ``HashingVectorizer`` + ``normalize`` (``tests/test_hs_lexical.py``
checks bitwise equality against scikit-learn when it is installed), so checkpoints trained before
this module existed score unchanged:

- analysers: lower-cased word 1-2-grams (tokens ``(?u)\\b\\w+\\b``) and ``char_wb`` 3-5-grams
  (words padded with one space; whitespace runs collapsed);
- hashing: signed 32-bit MurmurHash3 (x86, seed 0) of each n-gram's UTF-8 bytes, bucket
  ``abs(h) % 2**bits``; words take buckets ``[0, 2**bits)``, characters ``[2**bits, 2 * 2**bits)``.
  Deterministic across processes and machines (never Python's salted ``hash()``);
- values: sublinear TF ``log1p(count)`` times a fitted IDF vector, then L2-normalised rows
  (the squared values summed in float64 row by row, as scikit-learn's sparse ``normalize``).

Rows are returned as ``SparseRows`` (CSR arrays: ``indptr``, sorted ``indices``, ``data``);
``LexicalFeaturizer.transform`` wraps them as a ``scipy.sparse.csr_matrix`` for training code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)
_TOKEN = re.compile(r"(?u)\b\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")
_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmurhash3_32(keys: Sequence[bytes], seed: int = 0) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (x86_32) of each byte string, vectorised: ``[len(keys)]`` int32."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int32)
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    width = (int(lengths.max()) // 4 + 1) * 4  # room for the zero-padded tail block of every key
    buf = np.zeros((n, width), np.uint8)
    flat = np.frombuffer(b"".join(keys), np.uint8)
    rows = np.repeat(np.arange(n), lengths)
    starts = np.cumsum(lengths) - lengths
    buf[rows, np.arange(flat.size) - np.repeat(starts, lengths)] = flat
    blocks = buf.view("<u4").astype(np.uint32)  # [n, width // 4] little-endian words
    nblocks = lengths // 4
    h = np.full(n, seed, np.uint32)
    for b in range(int(nblocks.max())):
        m = nblocks > b
        k = _rotl(blocks[m, b] * _C1, 15) * _C2
        h[m] = _rotl(h[m] ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
    tail = np.flatnonzero(lengths & 3)  # the zero-padded tail word is the spec's k1 (tail bytes, LE)
    if tail.size:
        h[tail] ^= _rotl(blocks[tail, nblocks[tail]] * _C1, 15) * _C2
    h ^= lengths.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h.view(np.int32)


def word_ngrams(text: str) -> list[str]:
    """Lower-cased word unigrams then bigrams (joined by one space)."""
    tokens = _TOKEN.findall(text.lower())
    out = list(tokens)
    lo, hi = WORD_NGRAMS
    for n in range(max(lo, 2), min(hi + 1, len(tokens) + 1)):
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


def char_wb_ngrams(text: str) -> list[str]:
    """Character n-grams inside words, each word padded with a space (a short word counts once)."""
    lo, hi = CHAR_NGRAMS
    out: list[str] = []
    append = out.append
    for w in _WHITE_SPACES.sub(" ", text.lower()).split():
        w = " " + w + " "
        w_len = len(w)
        for n in range(lo, hi + 1):
            if w_len <= n:  # the whole padded word, once, and no longer n-grams
                append(w)
                break
            out.extend([w[i:i + n] for i in range(w_len - n + 1)])
    return out


@dataclass
class SparseRows:
    """CSR rows ``[len(indptr) - 1, n_features]``: ``indices`` sorted within each row."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_features: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def to_scipy(self):
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(self.n_rows, self.n_features))


def hashed_counts(texts: Sequence[str], bits: int, chunk: int = 2048) -> SparseRows:
    """N-gram counts per text in ``2 * 2**bits`` buckets (float32 values; int32 indices and indptr)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    size = 2 ** int(bits)
    n_features = 2 * size
    hashed: dict[str, int] = {}  # n-gram -> bucket (before the analyser's offset)
    indptr, indices, data = [np.zeros(1, np.int64)], [], []
    done = 0
    texts = list(texts)
    for s in range(0, len(texts), chunk):
        part = texts[s:s + chunk]
        for d, t in enumerate(part):
            if not isinstance(t, str):
                raise TypeError(f"text {s + d} is {type(t).__name__}, not str")
        docs, cols = [], []
        for analyser, offset in ((word_ngrams, 0), (char_wb_ngrams, size)):
            per_doc = [analyser(t) for t in part]
            flat = [g for grams in per_doc for g in grams]
            new = list(set(flat).difference(hashed))
            if new:
                h = murmurhash3_32([g.encode("utf-8") for g in new]).astype(np.int64)
                hashed.update(zip(new, (np.abs(h) % size).tolist()))
            docs.append(np.repeat(np.arange(len(part), dtype=np.int64), [len(g) for g in per_doc]))
            cols.append(np.fromiter(map(hashed.__getitem__, flat), np.int64, count=len(flat)) + offset)
        key = np.concatenate(docs) * n_features + np.concatenate(cols)
        uniq, counts = np.unique(key, return_counts=True)  # sorted by (row, column): CSR order
        rows = uniq // n_features
        indices.append((uniq % n_features).astype(np.int32))
        data.append(counts.astype(np.float32))
        indptr.append(done + np.cumsum(np.bincount(rows, minlength=len(part))))
        done += len(uniq)
    ptr = np.concatenate(indptr)
    return SparseRows(ptr.astype(np.int32 if done <= np.iinfo(np.int32).max else np.int64),
                      np.concatenate(indices) if indices else np.zeros(0, np.int32),
                      np.concatenate(data) if data else np.zeros(0, np.float32), n_features)


def l2_normalize_rows(x: SparseRows) -> SparseRows:
    """Unit L2 rows (empty rows stay empty); float64 sequential row sums as scikit-learn's ``normalize``."""
    lengths = np.diff(x.indptr).astype(np.int64)
    data = x.data.astype(np.float32)
    if data.size == 0:
        return SparseRows(x.indptr, x.indices, data, x.n_features)
    sq = (data * data).astype(np.float64)
    # left-to-right float64 sums per row, like the reference loop: step j adds every row's j-th value
    order = np.argsort(-lengths, kind="stable")
    starts = x.indptr[:-1].astype(np.int64)[order]
    active = np.searchsorted(-lengths[order], -np.arange(int(lengths.max())), side="left")  # rows longer than j
    acc = np.zeros(len(lengths), np.float64)
    for j, n in enumerate(active.tolist()):
        acc[:n] += sq[starts[:n] + j]
    sums = np.empty_like(acc)
    sums[order] = acc
    norms = np.sqrt(sums)
    scale = np.repeat(np.where(sums == 0.0, 1.0, norms), lengths)
    return SparseRows(x.indptr, x.indices, (data.astype(np.float64) / scale).astype(np.float32), x.n_features)


class LexicalFeaturizer:
    """Texts -> L2-normalised sublinear TF-IDF rows ``[N, 2 * 2**bits]``.

    Args:
        bits: hash buckets per analyser are ``2**bits`` (words, then characters).
        idf: a fitted IDF vector (``fit`` computes it from training texts); any array-like
            (a torch tensor too).
    """

    def __init__(self, bits: int = 18, idf: object | None = None) -> None:
        self.bits = int(bits)
        self.n_features = 2 * 2 ** self.bits
        self.idf = None if idf is None else np.asarray(idf, dtype=np.float32)
        if self.idf is not None and self.idf.shape != (self.n_features,):
            raise ValueError(f"idf has shape {self.idf.shape}, expected ({self.n_features},) for bits={bits}")

    def count_rows(self, texts: Sequence[str]) -> SparseRows:
        return hashed_counts(texts, self.bits)

    def counts(self, texts: Sequence[str]):
        """Raw n-gram counts as a ``scipy.sparse.csr_matrix`` (float32)."""
        return self.count_rows(texts).to_scipy()

    def fit(self, texts: Sequence[str]) -> "LexicalFeaturizer":
        """IDF ``log((1 + N) / (1 + df)) + 1`` (float32) from the training texts."""
        x = self.count_rows(texts)
        df = np.bincount(x.indices, minlength=self.n_features)
        self.idf = (np.log((1.0 + x.n_rows) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def rows(self, texts: Sequence[str]) -> SparseRows:
        """TF-IDF rows as CSR arrays (NumPy only; what the scoring runtime uses)."""
        if self.idf is None:
            raise RuntimeError("LexicalFeaturizer.transform before fit (no IDF vector)")
        x = self.count_rows(texts)
        x.data = np.log1p(x.data) * self.idf[x.indices]
        return l2_normalize_rows(x)

    def transform(self, texts: Sequence[str]):
        """TF-IDF rows as a ``scipy.sparse.csr_matrix`` (float32; what training code slices)."""
        return self.rows(texts).to_scipy()


def int8_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8 codes and float32 scales (``max |row| / 127``; 1 for a zero row)."""
    table = np.asarray(table, dtype=np.float32)
    scale = (np.abs(table).max(axis=1) / np.float32(127)).astype(np.float32)
    scale[scale == 0] = 1
    q = np.clip(np.rint(table / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``q * scale`` in float32 (the values an int8-exact table holds, bit for bit)."""
    return q.astype(np.float32) * scale[:, None]


def bag_sum(table: np.ndarray, x: SparseRows, row_ids: np.ndarray | None = None,
            scale: np.ndarray | None = None) -> np.ndarray:
    """``EmbeddingBag(mode="sum")`` with per-sample weights: ``[B, D]`` rows ``sum_j data_j * table[indices_j]``.

    ``row_ids`` (sorted bucket ids): ``table`` holds only those buckets' rows (a compact bundle
    table); any other bucket's row is zero, so its n-grams add nothing. ``scale``: ``table`` is
    int8 codes of rows ``q * scale`` (``int8_rows``), dequantised row by row as they are gathered.
    """
    if row_ids is not None:
        pos = np.minimum(np.searchsorted(row_ids, x.indices), max(len(row_ids) - 1, 0))
        hit = row_ids[pos] == x.indices if len(row_ids) else np.zeros(len(x.indices), bool)
        x = SparseRows(x.indptr, pos.astype(np.int32), np.where(hit, x.data, 0).astype(np.float32), len(row_ids))
    out = np.zeros((x.n_rows, table.shape[1]), np.float32)
    lengths = np.diff(x.indptr)
    full = np.flatnonzero(lengths > 0)
    if full.size:
        rows = table[x.indices] if scale is None else dequantize(table[x.indices], scale[x.indices])
        weighted = rows * x.data.astype(np.float32)[:, None]
        out[full] = np.add.reduceat(weighted, x.indptr[:-1][full].astype(np.int64), axis=0)
    return out
