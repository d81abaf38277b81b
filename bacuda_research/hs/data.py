"""Datasets and collation: label encoding, tokenised text batches, cached-embedding batches.

Two kinds of batches reach ``HSLitModule``: ``{"input_ids", "attention_mask", ...}`` when the
encoder runs (it is trained, or nothing is cached), or ``{"features", ...}`` when a frozen
encoder's pooled vectors were computed once. Both carry ``labels`` (``[B, 3]`` class indices of
HS2/HS4/HS6, ``-100`` = no label: the loss skips it) and ``targets`` (same, but a code outside
the label space is the extra class ``C``, so evaluation counts it as wrong).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from bacuda_research.hs.nomenclature import Nomenclature

IGNORE = -100
# ``source`` of a real goods description (``hs/realdesc.py``) and the suffix of a repeat of one.
REAL = "real"
REPEAT_SUFFIX = "~rep"


def real_rows(df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the real goods descriptions (``source == "real"``) among ``df``'s rows."""
    return (df["source"] == REAL).to_numpy() if "source" in df.columns else np.zeros(len(df), bool)


def is_repeat(train: pd.DataFrame) -> np.ndarray:
    """Rows added by ``task.repeat_real`` (loss weight only: not in kNN indexes or IDF)."""
    return train["source"].str.endswith(REPEAT_SUFFIX).to_numpy()


def encode_labels(df: pd.DataFrame, nom: Nomenclature, unknown: int | None = None) -> np.ndarray:
    """``[N, 3]`` int64 indices of (hs2, hs4, hs6); missing -> ``IGNORE``, or the extra class
    ``C`` of its level when ``unknown`` is set (evaluation of codes outside the nomenclature)."""
    out = np.full((len(df), 3), IGNORE, dtype=np.int64)
    for j, lvl in enumerate((2, 4, 6)):
        idx = nom.index[lvl]
        col = df[f"hs{lvl}"] if f"hs{lvl}" in df.columns else df["hs6"].str[:lvl]
        for i, code in enumerate(col):
            if isinstance(code, str) and code:
                out[i, j] = idx.get(code, len(idx) if unknown is not None else IGNORE)
    return out


class HSTextDataset(Dataset):
    """Texts with labels; tokenisation happens in ``collate`` (dynamic padding per batch)."""

    def __init__(self, texts: Sequence[str], labels: np.ndarray, targets: np.ndarray | None = None) -> None:
        self.texts = list(texts)
        self.labels = torch.as_tensor(labels)
        self.targets = self.labels if targets is None else torch.as_tensor(targets)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor, torch.Tensor]:
        return self.texts[i], self.labels[i], self.targets[i]


class TextCollator:
    """Tokenises a list of ``(text, labels, targets)`` into one batch (picklable for workers)."""

    def __init__(self, tokenizer_json: str, max_length: int, featurizer: object | None = None) -> None:
        self.tokenizer_json = tokenizer_json
        self.max_length = max_length
        self.featurizer = featurizer  # a fitted lexical.LexicalFeaturizer: adds the TF-IDF bag inputs
        self._tok = None

    def __call__(self, items: list) -> dict[str, torch.Tensor]:
        from bacuda_research.hs.tokenization import configure, encode

        if self._tok is None:
            from tokenizers import Tokenizer

            self._tok = configure(Tokenizer.from_str(self.tokenizer_json), self.max_length)
        texts, labels, targets = zip(*items)
        batch = encode(self._tok, texts)
        batch["labels"] = torch.stack(labels)
        batch["targets"] = torch.stack(targets)
        if self.featurizer is not None:
            from bacuda_research.hs.lexical import bag_inputs

            batch.update(bag_inputs(self.featurizer.transform(texts)))
        return batch

    def __getstate__(self) -> dict:
        return {"tokenizer_json": self.tokenizer_json, "max_length": self.max_length, "featurizer": self.featurizer,
                "_tok": None}


class HSFeatureDataset(Dataset):
    """Cached pooled encoder outputs with labels (and TF-IDF rows, CSR, for a lexical model).

    Indexed by a list of rows (``loader`` uses a ``BatchSampler``), so a batch is a few tensor
    slices rather than hundreds of per-row dicts to collate.
    """

    def __init__(self, features: torch.Tensor, labels: np.ndarray, targets: np.ndarray | None = None,
                 lexical: object | None = None) -> None:
        self.features = features
        self.labels = torch.as_tensor(labels)
        self.targets = self.labels if targets is None else torch.as_tensor(targets)
        self.lexical = None if lexical is None else lexical.tocsr()

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, i: "int | list[int]") -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(i)
        batch = {"features": self.features[idx].float(), "labels": self.labels[idx], "targets": self.targets[idx]}
        if self.lexical is not None:
            from bacuda_research.hs.lexical import bag_inputs

            rows = self.lexical[np.atleast_1d(idx.numpy())]
            batch.update(bag_inputs(rows))
        return batch

    def loader(self, batch_size: int, shuffle: bool, num_workers: int = 0) -> "torch.utils.data.DataLoader":
        from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

        sampler = RandomSampler(self) if shuffle else SequentialSampler(self)
        return DataLoader(self, sampler=BatchSampler(sampler, batch_size, drop_last=False), batch_size=None,
                          num_workers=num_workers)
