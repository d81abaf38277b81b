"""The simulated data: every declaration of a dataset in date order, labels held by the oracle.

``load_sim_data`` reads the configured dataset (``data=date_synthetic``, ``synthetic``, ``kcs`` or
``file``; a declared schema's three files are concatenated) with the fraud task's own readers and
validation, sorts it by date (stable) and takes the label columns out into a ``LabelOracle``. A
declaration is then known by its position in that order (``row``): selections are stored as rows,
never as raw declaration ids. ``history_mask`` decides which rows of the initial history keep their
labels (SIMULATION.md 1.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from bacuda_research.core.io import sha256_file
from bacuda_research.fraud.datamodule import DeclarationsDataModule, Split
from bacuda_research.fraud.declared_data import config_schema, load_parts, make_features, uses_schema
from bacuda_research.declarations.declared import data_hash
from bacuda_research.declarations.schema import load_declarations
from bacuda_research.simulation.oracle import LABEL_COLUMNS, LabelOracle

MASKINGS = ("random", "importer", "natural")


@dataclass
class SimData:
    """Rows in date order without labels (``frame``), their labels (``oracle``) and provenance."""

    frame: pd.DataFrame
    oracle: LabelOracle
    data_sha256: str
    schema: Any = None
    # the ``data`` config it was read with (the features read ``tariff_digits`` from it)
    data_cfg: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dates(self) -> np.ndarray:
        return self.frame["sgd.date"].to_numpy()

    def make_features(self, features_cfg: Mapping[str, Any], seed: int):
        """A fresh, unfitted feature transformer of the configured kind (refitted every week), built
        as the training data module builds its own (``fraud.declared_data.make_features``)."""
        return make_features(self.data_cfg, features_cfg, seed, self.schema)

    def labeled(self, rows: np.ndarray) -> pd.DataFrame:
        """The rows with their revealed labels (the oracle refuses rows never inspected)."""
        frame = self.frame.iloc[rows].copy()
        illicit, revenue = self.oracle.labels_of(rows)
        frame["illicit"] = illicit.astype(np.int8)
        frame["revenue"] = revenue
        return frame


@dataclass
class Batch:
    """The week's declarations as a strategy sees them: features, no label column, no label field."""

    frame: pd.DataFrame
    X: np.ndarray
    # positions of these declarations in the simulated data (not identifiers, not labels)
    rows: np.ndarray

    def __post_init__(self) -> None:
        leaked = [c for c in LABEL_COLUMNS if c in self.frame.columns]
        if leaked:
            raise ValueError(f"a batch handed to strategies must not carry label columns {leaked}")


def load_sim_data(data_cfg: Mapping[str, Any], cache_dir: str | Path) -> SimData:
    """Read the dataset of a ``data`` config (all rows, no split) into a ``SimData``."""
    data_cfg = dict(data_cfg)
    dm = DeclarationsDataModule(data_cfg, {}, cache_dir=cache_dir)
    schema = None
    if uses_schema(data_cfg):
        schema = config_schema(data_cfg)
        path = None if data_cfg.get("files") else dm.resolve_path()
        parts, paths = load_parts(data_cfg, schema, path)
        df, sha = pd.concat(parts, ignore_index=True), data_hash(paths)
        has_revenue = "revenue" in schema.roles
    else:
        path = dm.resolve_path()
        df, sha = load_declarations(path, dm.schema_options(), max_rows=data_cfg.get("max_rows")), sha256_file(path)
        has_revenue = True
    df = df.sort_values("sgd.date", kind="stable").reset_index(drop=True)
    oracle = LabelOracle(df["illicit"].to_numpy(), df["revenue"].to_numpy() if has_revenue else None)
    frame = df.drop(columns=[c for c in df.columns if c in LABEL_COLUMNS])
    return SimData(frame=frame, oracle=oracle, data_sha256=sha, schema=schema, data_cfg=data_cfg)


def history_mask(frame: pd.DataFrame, history: np.ndarray, masking: str, label_rate: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Which ``history`` rows keep their labels: all (``natural`` or rate 100), a random
    ``label_rate`` % of them (``random``), or all rows of a random ``label_rate`` % of importers."""
    if masking not in MASKINGS:
        raise ValueError(f"simulation.masking={masking!r}: expected one of {MASKINGS}")
    history = np.asarray(history, dtype=np.int64)
    if masking == "natural" or label_rate >= 100:
        return history
    if masking == "random":
        return np.sort(history[rng.random(len(history)) < label_rate / 100.0])
    importers = frame["importer.id"].to_numpy()[history].astype(str)
    unique = np.unique(importers)
    kept = set(unique[rng.random(len(unique)) < label_rate / 100.0])
    return history[np.fromiter((i in kept for i in importers), dtype=bool, count=len(history))]


def labeled_split(data: SimData, features, rows: np.ndarray, fit: bool) -> Split:
    """Features (fitted on these rows when ``fit``; none when ``features`` is None) and revealed
    labels of labeled ``rows``."""
    frame = data.labeled(rows)
    if features is None:
        return Split(frame=frame, X=np.zeros((len(frame), 0), np.float32),
                     illicit=frame["illicit"].to_numpy(np.float32), revenue=frame["revenue"].to_numpy(np.float64))
    feats = features.fit_transform(frame) if fit else features.transform(frame)
    return Split(frame=feats, X=features.matrix(feats), illicit=feats["illicit"].to_numpy(np.float32),
                 revenue=feats["revenue"].to_numpy(np.float64))


def batch_view(data: SimData, features, rows: np.ndarray) -> Batch:
    """Features of the week's rows (none when ``features`` is None), label-free."""
    if features is None:
        frame = data.frame.iloc[rows].reset_index(drop=True)
        return Batch(frame=frame, X=np.zeros((len(frame), 0), np.float32), rows=np.asarray(rows, dtype=np.int64))
    feats = features.transform(data.frame.iloc[rows])
    return Batch(frame=feats.reset_index(drop=True), X=features.matrix(feats), rows=np.asarray(rows, dtype=np.int64))
