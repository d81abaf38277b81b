"""DATE feature engineering, fitted on training rows only.

``DeclarationFeatures`` is a small scikit-learn-style transformer: ``fit`` learns the risky
categories (and the DATE vocabularies) from training rows, ``transform`` applies them to any rows,
and ``to_dict``/``from_dict`` make it JSON so it travels with checkpoints and deployment bundles.
Nothing fitted ever looks at validation or test labels.

Features (the DATE reference preprocessing, see docs/DATE.md):
- derived numerics: Unitprice = cif/quantity, WUnitprice = cif/weight, TaxRatio = taxes/cif,
  TaxUnitquantity = taxes/quantity, FOBCIFRatio = fob/cif (0 where the denominator is 0);
  HS6/HS4/HS2 from the tariff code (``tariff_digits`` long); day of year, ISO week, month;
- crosses: HS6.Origin (HS6 & country), office & importer, office & HS6, office & country;
- 12 risk flags ``RiskH.<profile>``: a category is risky when its smoothed illicit rate
  sum(illicit) / (count + smoothing) is among the top int(top_fraction * n_categories) + 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

RATIO_COLUMNS = ("Unitprice", "WUnitprice", "TaxRatio", "FOBCIFRatio", "TaxUnitquantity")
NUMERIC_COLUMNS = (
    "fob.value", "cif.value", "total.taxes", "gross.weight", "quantity", *RATIO_COLUMNS,
    "tariff.code", "HS6", "HS4", "HS2", "SGD.DayofYear", "SGD.WeekofYear", "SGD.MonthofYear",
)
PROFILES = (
    "importer.id", "declarant.id", "HS6.Origin", "tariff.code", "quantity", "HS6", "HS4", "HS2",
    "office.id", "office.id&importer.id", "office.id&HS6", "office.id&country",
)
RISK_MODES = ("reference", "out_of_fold")


def add_derived(df: pd.DataFrame, tariff_digits: int = 10) -> pd.DataFrame:
    """Row-wise features that need no fitting (ratios, HS levels, calendar, crosses)."""
    out = df.copy(deep=False)  # new columns only; copy-on-write keeps ``df`` untouched
    for name, num, den in (
        ("Unitprice", "cif.value", "quantity"), ("WUnitprice", "cif.value", "gross.weight"),
        ("TaxRatio", "total.taxes", "cif.value"), ("FOBCIFRatio", "fob.value", "cif.value"),
        ("TaxUnitquantity", "total.taxes", "quantity"),
    ):
        n, d = out[num].to_numpy(np.float64), out[den].to_numpy(np.float64)
        out[name] = np.divide(n, d, out=np.zeros_like(n), where=d != 0)
    scale = 10 ** max(int(tariff_digits) - 6, 0)
    out["HS6"] = out["tariff.code"].to_numpy(np.int64) // scale
    out["HS4"] = out["HS6"] // 100
    out["HS2"] = out["HS4"] // 100
    dates = pd.to_datetime(out["sgd.date"])
    out["SGD.DayofYear"] = dates.dt.day_of_year.astype(np.int64)
    out["SGD.WeekofYear"] = dates.dt.isocalendar().week.astype(np.int64).to_numpy()
    out["SGD.MonthofYear"] = dates.dt.month.astype(np.int64)
    hs6 = out["HS6"].astype(str)
    out["HS6.Origin"] = hs6 + "&" + out["country"].astype(str)
    office = out["office.id"].astype(str)
    out["office.id&importer.id"] = office + out["importer.id"].astype(str)
    out["office.id&HS6"] = office + hs6
    out["office.id&country"] = office + out["country"].astype(str)
    return out


def _category_keys(series: pd.Series) -> pd.Series:
    """Categories as strings, so that fitted profiles are JSON keys and compare across files."""
    if pd.api.types.is_float_dtype(series):
        return series.map(lambda v: repr(float(v)))
    return series.astype(str)


def risky_categories(values: pd.Series, illicit: np.ndarray, smoothing: float, top_fraction: float) -> list[str]:
    """The top int(top_fraction * n_categories) + 1 categories by smoothed illicit rate.

    Categories are grouped on their natural values (sorted, as pandas groupby does) and ranked
    with pandas' default sort, exactly as the DATE reference code does, so that categories tied
    at the cut-off are chosen as there (deterministically). Returned as string keys.
    """
    grouped = pd.DataFrame({"k": values.to_numpy(), "y": illicit}).groupby("k", sort=True)["y"]
    rate = grouped.sum() / (grouped.count() + smoothing)
    n_risky = int(top_fraction * len(rate)) + 1
    top = rate.sort_values(ascending=False).head(n_risky).index
    return _category_keys(pd.Series(top, dtype=values.dtype)).tolist()


@dataclass
class DeclarationFeatures:
    """Fitted DATE features. ``risk_flags='reference'|'out_of_fold'`` (see conf/features/date.yaml)."""

    risk_flags: str = "reference"
    risk_folds: int = 5
    risk_smoothing: float = 10.0
    risk_top_fraction: float = 0.1
    tariff_digits: int = 10
    seed: int = 0
    risky: dict[str, list[str]] = field(default_factory=dict)
    importer_vocab: dict[str, int] = field(default_factory=dict)
    item_vocab: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.risk_flags not in RISK_MODES:
            raise ValueError(f"features.risk_flags={self.risk_flags!r}: expected one of {RISK_MODES}")

    @property
    def flag_columns(self) -> list[str]:
        return [f"RiskH.{p}" for p in PROFILES]

    @property
    def columns(self) -> list[str]:
        """XGBoost input columns: 17 numerics + 12 risk flags, in the DATE order."""
        return list(NUMERIC_COLUMNS) + self.flag_columns

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame) -> "DeclarationFeatures":
        """Learn risky categories and vocabularies from training rows (labels required)."""
        return self._fit_derived(add_derived(train, self.tariff_digits))

    def _fit_derived(self, frame: pd.DataFrame) -> "DeclarationFeatures":
        y = frame["illicit"].to_numpy(np.float64)
        self.risky = {
            p: risky_categories(frame[p], y, self.risk_smoothing, self.risk_top_fraction)
            for p in PROFILES
        }
        # index 0 is reserved for importers / items unseen in training
        self.importer_vocab = {k: i + 1 for i, k in enumerate(sorted(frame["importer.id"].astype(str).unique()))}
        self.item_vocab = {k: i + 1 for i, k in enumerate(sorted(frame["tariff.code"].astype(str).unique()))}
        return self

    def fit_transform(self, train: pd.DataFrame) -> pd.DataFrame:
        """Fit on ``train`` and return its features; out-of-fold flags when configured."""
        derived = add_derived(train, self.tariff_digits)  # computed once for fitting and output
        self._fit_derived(derived)
        frame = self._flags(derived, self.risky)
        if self.risk_flags == "out_of_fold":
            y = frame["illicit"].to_numpy(np.float64)
            folds = np.random.default_rng(self.seed).permutation(len(frame)) % self.risk_folds
            for f in range(self.risk_folds):
                inside, outside = folds == f, folds != f
                risky = {
                    p: risky_categories(frame.loc[outside, p], y[outside],
                                        self.risk_smoothing, self.risk_top_fraction)
                    for p in PROFILES
                }
                part = self._flags(frame.loc[inside], risky)
                frame.loc[inside, self.flag_columns] = part[self.flag_columns].to_numpy()
        return frame

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Features for any rows with the fitted state (labels not needed)."""
        if not self.risky:
            raise RuntimeError("DeclarationFeatures.transform before fit")
        return self._flags(add_derived(df, self.tariff_digits), self.risky)

    def _flags(self, frame: pd.DataFrame, risky: dict[str, list[str]]) -> pd.DataFrame:
        frame = frame.copy(deep=False)  # adds flag columns only (copy-on-write)
        for p in PROFILES:
            frame[f"RiskH.{p}"] = _category_keys(frame[p]).isin(set(risky[p])).astype(np.int8).to_numpy()
        return frame

    # -- model inputs ----------------------------------------------------------------------
    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The (N, 29) float32 XGBoost input of a transformed frame."""
        from bacuda_research.declarations.reading import float32_matrix

        return float32_matrix(frame, self.columns)

    def importer_index(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["importer.id"].astype(str).map(self.importer_vocab).fillna(0).to_numpy(np.int64)

    def item_index(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["tariff.code"].astype(str).map(self.item_vocab).fillna(0).to_numpy(np.int64)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "risk_flags": self.risk_flags, "risk_folds": self.risk_folds,
            "risk_smoothing": self.risk_smoothing, "risk_top_fraction": self.risk_top_fraction,
            "tariff_digits": self.tariff_digits, "seed": self.seed, "risky": self.risky,
            "importer_vocab": self.importer_vocab, "item_vocab": self.item_vocab,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DeclarationFeatures":
        return cls(**d)
