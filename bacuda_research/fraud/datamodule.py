"""``DeclarationsDataModule``: file (or generator) -> validated frame -> time split -> features.

One object owns the data side of a declarations run, so that baselines, DATE and the evaluation
command see identical rows and features. ``setup()`` is idempotent and cheap to call twice.
Neural models attach their per-split tensors (``set_tensors``) and get DataLoaders; the tensors
stay whole (no per-sample Python indexing): batches are slices of pre-built tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

from bacuda_research.declarations.features import DeclarationFeatures
from bacuda_research.declarations.schema import SchemaOptions, load_declarations
from bacuda_research.declarations.split import time_split
from bacuda_research.declarations.synthetic import synthetic_file
from bacuda_research.core.io import sha256_file
from bacuda_research.fraud.declared_data import make_features, setup_declared, uses_schema

SPLITS = ("train", "valid", "test")


@dataclass
class Split:
    """One split: the feature frame, the XGBoost matrix and the labels."""

    frame: pd.DataFrame
    X: np.ndarray
    illicit: np.ndarray
    revenue: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        return self.frame["sgd.id"].to_numpy()


class TensorBatches(torch.utils.data.IterableDataset):
    """Batches as contiguous (or shuffled, seeded per epoch) slices of whole tensors.

    Under DDP (``world > 1``) each process yields its share, the same number of batches on every
    rank (collectives would hang otherwise):
    - training (``shuffle``): the global batch ``k`` is rows ``order[k*B*world:(k+1)*B*world]``
      (one permutation, identical on every rank), and rank ``r`` takes the ``r``-th slice of
      ``B`` rows. With gradient averaging, ``world`` processes at batch ``B`` therefore see
      exactly the batches of one process at batch ``B*world`` (a short last global batch is split
      as evenly as possible, and dropped if it cannot give every rank a row).
    - evaluation: the batches of one process (same size ``B``, same rows), batch ``k`` going to
      rank ``k % world``, so every row is scored once in a batch identical to the single-process
      one; metrics gather the rows and drop nothing (no sampler padding).
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor], batch_size: int, shuffle: bool, seed: int = 0,
                 rank: int = 0, world: int = 1):
        self.tensors = dict(tensors)
        self.n = len(next(iter(self.tensors.values())))
        self.batch_size, self.shuffle, self.seed, self.epoch = int(batch_size), shuffle, int(seed), 0
        self.rank, self.world = int(rank), int(world)

    def _bounds(self) -> list[tuple[int, int]]:
        """(start, stop) positions (in the epoch's order) of this rank's batches."""
        b, w, n = self.batch_size, self.world, self.n
        if w == 1:
            return [(s, min(s + b, n)) for s in range(0, n, b)]
        if self.shuffle:
            out = []
            for g in range(0, n, b * w):
                size = min(b * w, n - g)  # b * w, except a short last global batch: split evenly
                if size < w:
                    break
                r = self.rank
                out.append((g + r * size // w, g + (r + 1) * size // w))
            return out
        if -(-n // b) < w:  # fewer batches than ranks: smaller batches so that every rank has one
            b = max(1, -(-n // w))
        starts = list(range(0, n, b))
        return [(s, min(s + b, n)) for s in starts[self.rank::w]]

    def __len__(self) -> int:
        return len(self._bounds())

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g)
            self.epoch += 1
        else:
            order = None
        for start, stop in self._bounds():
            if order is None:
                yield {k: v[start:stop] for k, v in self.tensors.items()}
            else:
                idx = order[start:stop].to(next(iter(self.tensors.values())).device)
                yield {k: v[idx] for k, v in self.tensors.items()}


class DeclarationsDataModule(pl.LightningDataModule):
    """Data side of a declarations run, built from the ``data`` and ``features`` configs."""

    def __init__(self, data: Mapping[str, Any], features: Mapping[str, Any], seed: int = 0,
                 cache_dir: str | Path = ".cache/bacuda_research") -> None:
        super().__init__()
        self.data_cfg, self.features_cfg = dict(data), dict(features)
        self.seed, self.cache_dir = int(seed), Path(cache_dir)
        self.splits: dict[str, Split] = {}
        self.features: DeclarationFeatures | None = None
        self.path: Path | None = None
        self.data_sha256: str | None = None
        self.tensors: dict[str, dict[str, torch.Tensor]] = {}
        # trainer.loader (conf/trainer/*.yaml): how the tensors reach the device
        self.loader_cfg: dict[str, Any] = {}

    # -- the data side ---------------------------------------------------------------------
    def resolve_path(self) -> Path:
        cfg = self.data_cfg
        if cfg.get("path"):
            return Path(cfg["path"]).expanduser()
        syn = cfg.get("synthetic")
        if not syn:
            raise ValueError(f"data={cfg.get('name')}: set data.path (a CSV or Parquet declarations file)")
        return synthetic_file(self.cache_dir, rows=syn["rows"], seed=syn["seed"], start=syn["start"],
                              days=syn["days"], drift=syn.get("drift"))

    def schema_options(self) -> SchemaOptions:
        return SchemaOptions(columns=self.data_cfg.get("columns"), date_format=self.data_cfg.get("date_format"),
                             tariff_digits=int(self.data_cfg.get("tariff_digits", 10)))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if uses_schema(self.data_cfg):  # declared schema (data.schema / data.files): fraud/declared_data.py
            return setup_declared(self, Split)
        self.path = self.resolve_path()
        df = load_declarations(self.path, self.schema_options(), max_rows=self.data_cfg.get("max_rows"))
        self.data_sha256 = sha256_file(self.path)
        split_cfg = self.data_cfg.get("split") or {}
        parts = time_split(df, valid_start=split_cfg.get("valid_start"), test_start=split_cfg.get("test_start"),
                           fractions=split_cfg.get("fractions"), source=str(self.path))
        self.features = make_features(self.data_cfg, self.features_cfg, self.seed)
        frames = {"train": self.features.fit_transform(parts[0]),
                  "valid": self.features.transform(parts[1]), "test": self.features.transform(parts[2])}
        for name, frame in frames.items():
            self.splits[name] = Split(frame=frame, X=self.features.matrix(frame),
                                      illicit=frame["illicit"].to_numpy(np.float32),
                                      revenue=frame["revenue"].to_numpy(np.float64))

    def summary(self) -> dict[str, Any]:
        """Rows, illicit rate and date range per split (for the report)."""
        out: dict[str, Any] = {"path": str(self.path)}
        for name, s in self.splits.items():
            d = s.frame["sgd.date"]
            out[name] = {"rows": int(len(s.frame)), "illicit_rate": float(s.illicit.mean()),
                         "first_date": str(d.min().date()), "last_date": str(d.max().date())}
        return out

    # -- tensors for neural models ---------------------------------------------------------
    def set_tensors(self, split: str, tensors: Mapping[str, torch.Tensor]) -> None:
        self.tensors[split] = dict(tensors)

    def _loader(self, split: str, shuffle: bool) -> Any:
        """Batches of this process's share (rank-aware under DDP; see ``TensorBatches``).

        No worker processes: batches are slices of tensors already in memory (a worker would copy
        the split and yield the whole iterable again). On a GPU the split is moved to the device
        once (``loader.tensors_on_device``) or its host batches are pinned (``loader.pin_memory``).
        """
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        tensors = self.tensors[split]
        on_device = self.loader_cfg.get("tensors_on_device", "auto")
        if device.type != "cpu" and on_device in ("auto", True):
            tensors = {k: v.to(device) for k, v in tensors.items()}
        pin = bool(self.loader_cfg.get("pin_memory", True)) and device.type == "cuda" and \
            next(iter(tensors.values())).device.type == "cpu"
        ds = TensorBatches(tensors, int(self.data_cfg.get("batch_size", 256)), shuffle, self.seed, rank, world)
        if trainer is not None:
            # a resumed fit continues with the permutation of the epoch it resumes at (the epoch
            # Lightning gives samplers' set_epoch; current_epoch still lags by one at this point)
            ds.epoch = int(trainer.fit_loop.epoch_progress.current.processed)
        return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0, pin_memory=pin)

    def train_dataloader(self) -> Any:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> Any:
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> Any:
        return self._loader("test", shuffle=False)
