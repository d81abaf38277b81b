"""Features from whatever a declared schema names (``features: auto``), fitted on training rows only.

``AutoFeatures`` has the contract of ``DeclarationFeatures`` (``fit``/``fit_transform``/``transform``,
``columns``/``flag_columns``/``matrix``, ``importer_index``/``item_index``, ``to_dict``/``from_dict``)
and works on the canonical frame of ``canonical.load_declared``: role columns under their DATE names,
``entities``/``categorical``/``numeric`` columns under their own names. It builds what the columns
present allow:

- amounts as given (value, fob, quantity, weight, taxes, tax rate, the schema's ``numeric``; an
  allowed empty cell stays NaN, which XGBoost treats as missing);
- ratios among value/fob/quantity/weight/taxes where both columns exist (the DATE ratios under their
  DATE names, plus weight per unit);
- the unit value's deviation from the training median of its HS6 and of its HS6 x origin country,
  on a log scale (``<unit>.dev.HS6``, ``<unit>.dev.HS6.Origin``): the price filter valuation officers
  use against under-declaration. Medians use no labels; a group unseen in training gives NaN;
- HS2/HS4/HS6 of the tariff code, day of year, ISO week, month;
- risk profiles (``RiskH.<p>`` flags, DATE's top-fraction rule, and with ``risk_rates`` the smoothed
  rate itself as ``RiskR.<p>``) for every named entity and categorical role (importer, declarant,
  office, country, tariff code and its HS levels), every ``entities``/``categorical`` column, and
  DATE's crosses where both roles exist (HS6 x country, office x importer, office x HS6, office x
  country). ``risk_flags``: ``reference`` (fitted on all training rows, applied to them) or
  ``out_of_fold`` (training rows' profiles from the other folds). An empty cell in an optional
  column is the category ``""`` like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from bacuda_research.declarations.features import RISK_MODES, _category_keys, risky_categories

AMOUNTS = ("cif.value", "fob.value", "quantity", "gross.weight", "total.taxes", "tax.rate")
# name, numerator, denominator (the first five are DATE's ratios)
RATIOS = (("Unitprice", "cif.value", "quantity"), ("WUnitprice", "cif.value", "gross.weight"),
          ("TaxRatio", "total.taxes", "cif.value"), ("FOBCIFRatio", "fob.value", "cif.value"),
          ("TaxUnitquantity", "total.taxes", "quantity"), ("WeightPerUnit", "gross.weight", "quantity"))
UNIT_VALUES = ("Unitprice", "WUnitprice")
ROLE_PROFILES = ("importer.id", "declarant.id", "office.id", "country", "tariff.code", "HS6", "HS4", "HS2")
# DATE's crosses: (name, left, right); built when both columns exist
CROSSES = (("HS6.Origin", "HS6", "country"), ("office.id&importer.id", "office.id", "importer.id"),
           ("office.id&HS6", "office.id", "HS6"), ("office.id&country", "office.id", "country"))
CALENDAR = ("SGD.DayofYear", "SGD.WeekofYear", "SGD.MonthofYear")


@dataclass
class AutoFeatures:
    """Fitted features for a declared schema. ``lists``: the schema's entities/categorical/numeric."""

    entities: Sequence[str] = ()
    categorical: Sequence[str] = ()
    numeric: Sequence[str] = ()
    tariff_digits: int = 6
    risk_flags: str = "out_of_fold"
    risk_folds: int = 5
    risk_smoothing: float = 10.0
    risk_top_fraction: float = 0.1
    risk_rates: bool = True
    seed: int = 0
    present: list[str] = field(default_factory=list)  # canonical columns seen at fit
    risky: dict[str, list[str]] = field(default_factory=dict)
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    medians: dict[str, dict[str, float]] = field(default_factory=dict)
    importer_vocab: dict[str, int] = field(default_factory=dict)
    item_vocab: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.risk_flags not in RISK_MODES:
            raise ValueError(f"features.risk_flags={self.risk_flags!r}: expected one of {RISK_MODES}")
        self.entities, self.categorical, self.numeric = (list(x) for x in (self.entities, self.categorical,
                                                                             self.numeric))

    # -- what exists -----------------------------------------------------------------------
    def _has(self, col: str) -> bool:
        return col in self.present or (col in ("HS6", "HS4", "HS2") and "tariff.code" in self.present)

    @property
    def profiles(self) -> list[str]:
        roles = [p for p in ROLE_PROFILES if self._has(p)]
        crosses = [name for name, a, b in CROSSES if self._has(a) and self._has(b)]
        return roles + crosses + [c for c in (*self.entities, *self.categorical) if c not in roles]

    @property
    def ratio_columns(self) -> list[str]:
        return [name for name, a, b in RATIOS if self._has(a) and self._has(b)]

    @property
    def deviation_columns(self) -> list[str]:
        if not self._has("tariff.code"):
            return []
        levels = ["HS6", "HS6.Origin"] if self._has("country") else ["HS6"]
        return [f"{u}.dev.{lv}" for u in UNIT_VALUES if u in self.ratio_columns for lv in levels]

    @property
    def flag_columns(self) -> list[str]:
        return [f"RiskH.{p}" for p in self.profiles]

    @property
    def rate_columns(self) -> list[str]:
        return [f"RiskR.{p}" for p in self.profiles] if self.risk_rates else []

    @property
    def columns(self) -> list[str]:
        """XGBoost input columns: amounts, ratios, deviations, HS levels, calendar, risk profiles."""
        amounts = [c for c in AMOUNTS if self._has(c)] + list(self.numeric)
        hs = ["tariff.code", "HS6", "HS4", "HS2"] if self._has("tariff.code") else []
        return [*amounts, *self.ratio_columns, *self.deviation_columns, *hs, *CALENDAR, *self.flag_columns,
                *self.rate_columns]

    # -- row-wise features -----------------------------------------------------------------
    def add_derived(self, df: pd.DataFrame) -> pd.DataFrame:
        """Ratios, log unit values, HS levels, calendar and crosses (nothing fitted)."""
        out = df.copy(deep=False)
        for name, num, den in RATIOS:
            if self._has(num) and self._has(den):
                n, d = out[num].to_numpy(np.float64), out[den].to_numpy(np.float64)
                out[name] = np.divide(n, d, out=np.full_like(n, np.nan), where=(d != 0) & ~np.isnan(d))
        if "tariff.code" in out:
            scale = 10 ** max(int(self.tariff_digits) - 6, 0)
            out["HS6"] = out["tariff.code"].to_numpy(np.int64) // scale
            out["HS4"], out["HS2"] = out["HS6"] // 100, out["HS6"] // 10000
        dates = pd.to_datetime(out["sgd.date"])
        out["SGD.DayofYear"] = dates.dt.day_of_year.astype(np.int64)
        out["SGD.WeekofYear"] = dates.dt.isocalendar().week.astype(np.int64).to_numpy()
        out["SGD.MonthofYear"] = dates.dt.month.astype(np.int64)
        for name, a, b in CROSSES:
            if a in out and b in out:
                out[name] = out[a].astype(str) + "&" + out[b].astype(str)
        return out

    def _group_keys(self, frame: pd.DataFrame, level: str) -> pd.Series:
        return frame["HS6"].astype(str) if level == "HS6" else frame["HS6.Origin"].astype(str)

    def _deviations(self, frame: pd.DataFrame) -> pd.DataFrame:
        for col in self.deviation_columns:
            unit, level = col.split(".dev.")
            logu = np.log(frame[unit].where(frame[unit] > 0))
            med = self._group_keys(frame, level).map(self.medians[col]).astype(np.float64)
            frame[col] = (logu - med).to_numpy(np.float64)
        return frame

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame) -> "AutoFeatures":
        self.fit_transform(train)
        return self

    def _fit_state(self, frame: pd.DataFrame) -> None:
        for col in self.deviation_columns:
            unit, level = col.split(".dev.")
            logu = np.log(frame[unit].where(frame[unit] > 0))
            med = logu.groupby(self._group_keys(frame, level)).median().dropna()
            self.medians[col] = {str(k): float(v) for k, v in med.items()}
        self.risky, self.rates = self._profiles(frame, np.ones(len(frame), dtype=bool))
        if "importer.id" in frame:
            keys = sorted(frame["importer.id"].astype(str).unique())
            self.importer_vocab = {k: i + 1 for i, k in enumerate(keys)}
        if "tariff.code" in frame:
            self.item_vocab = {k: i + 1 for i, k in enumerate(sorted(frame["tariff.code"].astype(str).unique()))}

    def _profiles(self, frame: pd.DataFrame, rows: np.ndarray) -> tuple[dict, dict]:
        """Risky categories and smoothed rates of every profile, fitted on ``rows``."""
        y = frame["illicit"].to_numpy(np.float64)[rows]
        risky, rates = {}, {}
        for p in self.profiles:
            values = frame.loc[rows, p]
            risky[p] = risky_categories(values, y, self.risk_smoothing, self.risk_top_fraction)
            if self.risk_rates:
                g = pd.DataFrame({"k": _category_keys(values).to_numpy(), "y": y}).groupby("k")["y"]
                rates[p] = (g.sum() / (g.count() + self.risk_smoothing)).to_dict()
        return risky, rates

    def fit_transform(self, train: pd.DataFrame) -> pd.DataFrame:
        """Fit on ``train`` and return its features (out-of-fold profiles when configured)."""
        self.present = [c for c in (*AMOUNTS, "tariff.code", *ROLE_PROFILES) if c in train]
        missing = [c for c in (*self.entities, *self.categorical, *self.numeric) if c not in train]
        if missing:
            raise ValueError(f"features=auto: column(s) {missing} of the schema are not in the frame")
        frame = self.add_derived(train)
        self._fit_state(frame)
        frame = self._apply(frame, self.risky, self.rates)
        if self.risk_flags == "out_of_fold":
            folds = np.random.default_rng(self.seed).permutation(len(frame)) % self.risk_folds
            cols = self.flag_columns + self.rate_columns
            for f in range(self.risk_folds):
                inside = folds == f
                risky, rates = self._profiles(frame, ~inside)
                part = self._apply(frame.loc[inside], risky, rates)
                frame.loc[inside, cols] = part[cols].to_numpy()
        return frame

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Features for any rows with the fitted state (labels not needed)."""
        if not self.risky and self.profiles:
            raise RuntimeError("AutoFeatures.transform before fit")
        return self._apply(self.add_derived(df), self.risky, self.rates)

    def _apply(self, frame: pd.DataFrame, risky: dict, rates: dict) -> pd.DataFrame:
        frame = self._deviations(frame.copy(deep=False))
        new = {}
        for p in self.profiles:
            keys = _category_keys(frame[p])
            new[f"RiskH.{p}"] = keys.isin(set(risky[p])).astype(np.int8).to_numpy()
            if self.risk_rates:  # a category unseen where the rate was fitted has count 0: rate 0
                new[f"RiskR.{p}"] = keys.map(rates[p]).fillna(0.0).to_numpy(np.float64)
        frame = frame.drop(columns=[c for c in new if c in frame.columns])  # re-applied (out of fold)
        return pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)

    # -- model inputs ----------------------------------------------------------------------
    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        from bacuda_research.declarations.reading import float32_matrix

        return float32_matrix(frame, self.columns)

    def importer_index(self, frame: pd.DataFrame) -> np.ndarray:
        """DATE's importer embedding index (0 = unseen; all 0 without an importer role)."""
        if "importer.id" not in frame:
            return np.zeros(len(frame), dtype=np.int64)
        return frame["importer.id"].astype(str).map(self.importer_vocab).fillna(0).to_numpy(np.int64)

    def item_index(self, frame: pd.DataFrame) -> np.ndarray:
        """DATE's item (tariff code) embedding index (0 = unseen; all 0 without a tariff role)."""
        if "tariff.code" not in frame:
            return np.zeros(len(frame), dtype=np.int64)
        return frame["tariff.code"].astype(str).map(self.item_vocab).fillna(0).to_numpy(np.int64)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "auto", **{k: getattr(self, k) for k in self.__dataclass_fields__}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AutoFeatures":
        return cls(**{k: v for k, v in d.items() if k != "kind"})
