"""Seeded synthetic declarations with planted fraud: the embedded default data set.

Not a copy of any real or published data. The generating story (so that the planted signals are
known and tests can check that models find them):
- entities (importers, declarants, countries, offices, HS10 codes) have latent risk scores; frequent
  importers are less risky; a row's chance of being illicit rises with the risks of its entities;
- every HS6 has a typical unit value and tariff rate; illicit rows *undervalue*: the declared CIF
  is cut to 25-85% of the true value (so cif/quantity and cif/weight drop);
- FOB = CIF x min(N(0.8, 0.1), 1); taxes = declared CIF x tariff rate x noise;
- revenue (recoverable taxes) = (true CIF - declared CIF) x tariff rate on illicit rows, 0 on licit
  rows; about 10% of illicit rows are non-revenue fraud (revenue 0).

Dates are drawn independently of everything else, so by default the data has no time structure.
``drift`` (``data.synthetic.drift``, declarations/drift.py) plants fraud that moves over the year;
with drift off the output is byte-identical to the generator before drift existed
(tests/test_synthetic_drift.py pins its sha256).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from bacuda_research.core.io import atomic_path
from bacuda_research.declarations.drift import DriftSpec, apply_drift, calibrate_by_day


def _zipf_choice(rng: np.random.Generator, n_items: int, size: int, a: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_items + 1) ** a
    return rng.choice(n_items, size=size, p=weights / weights.sum())


def _calibrate(logit: np.ndarray, rate: float) -> float:
    """The intercept (by bisection on [-15, 5]) that makes the mean P(illicit) about ``rate``."""
    lo, hi = -15.0, 5.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(logit + mid)))).mean() > rate:
            hi = mid
        else:
            lo = mid
    return lo


def generate_declarations(rows: int = 40000, seed: int = 7, start: str = "2013-01-01",
                          days: int = 365, illicit_rate: float = 0.08,
                          drift: DriftSpec | Mapping[str, Any] | None = None,
                          with_truth: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """A DataFrame in the raw DATE file format (``sgd.date`` as 'YY-MM-DD', integer money).

    ``drift``: the ``data.synthetic.drift`` settings (None or ``enabled: false`` = none).
    ``with_truth``: also return the latent truth per row (aligned with the rows: ``sgd.id``,
    ``p_illicit`` and, with drift, its terms and groups; see declarations/drift.py), for tests and
    analyses that need to know what was planted.
    """
    spec = DriftSpec.from_config(drift)
    rng = np.random.default_rng(seed)
    n_imp = max(50, rows // 9)
    n_dec = max(20, rows // 60)
    n_cty, n_off = 60, 20
    n_hs6 = max(40, min(900, rows // 40))

    # HS6 codes spread over chapters 1-97 (no 77); each has 1-4 national HS10 codes
    chapters = rng.choice([c for c in range(1, 98) if c != 77], size=n_hs6)
    hs6 = np.unique(chapters * 10_000 + rng.integers(100, 9_999, size=n_hs6))
    n_hs6 = len(hs6)
    hs10_per = rng.integers(1, 5, size=n_hs6)
    hs10_parent = np.repeat(np.arange(n_hs6), hs10_per)
    hs10 = hs6[hs10_parent] * 10_000 + rng.integers(0, 9_999, size=len(hs10_parent))
    hs6_unit_value = np.exp(rng.normal(3.5, 1.3, size=n_hs6))       # value per unit
    hs6_unit_weight = np.exp(rng.normal(0.0, 1.0, size=n_hs6))      # kg per unit
    hs6_tax = rng.choice([0.0, 0.05, 0.1, 0.2, 0.35], size=n_hs6, p=[0.1, 0.3, 0.3, 0.2, 0.1])

    # latent risks (log-odds contributions)
    imp_idx = _zipf_choice(rng, n_imp, rows, a=0.9)
    imp_freq = np.bincount(imp_idx, minlength=n_imp)
    imp_risk = rng.normal(0, 1.0, n_imp) - 0.35 * np.log1p(imp_freq)
    risky_imp = rng.random(n_imp) < 0.04
    imp_risk[risky_imp] += 2.5
    dec_idx = _zipf_choice(rng, n_dec, rows, a=0.8)
    dec_risk = rng.normal(0, 0.6, n_dec)
    cty_idx = _zipf_choice(rng, n_cty, rows, a=1.1)
    cty_risk = rng.normal(0, 0.5, n_cty)
    off_idx = rng.integers(0, n_off, rows)
    off_risk = rng.normal(0, 0.3, n_off)
    item_idx = _zipf_choice(rng, len(hs10), rows, a=0.7)
    item_hs6 = hs10_parent[item_idx]
    hs_risk = rng.normal(0, 0.8, n_hs6) + 0.8 * (hs6_tax > 0.15)

    drifted = apply_drift(spec, seed, days, imp_idx, imp_risk, item_hs6, n_hs6) if spec.enabled else None
    if drifted is not None:
        imp_idx, imp_risk = drifted.imp_idx, drifted.imp_risk
    logit = (imp_risk[imp_idx] + dec_risk[dec_idx] + cty_risk[cty_idx] + off_risk[off_idx]
             + hs_risk[item_hs6])
    if drifted is not None:
        logit = logit + drifted.logit
    # calibrate the intercept so the illicit rate is about `illicit_rate` (with drift: on every day)
    if drifted is None:
        intercept = _calibrate(logit, illicit_rate)
    else:
        intercept = calibrate_by_day(logit, drifted.day, days, illicit_rate)
    p_illicit = 1 / (1 + np.exp(-(logit + intercept)))
    illicit = rng.random(rows) < p_illicit

    quantity = np.maximum(1, np.round(np.exp(rng.normal(4.0, 1.4, rows)))).astype(np.int64)
    true_cif = quantity * hs6_unit_value[item_hs6] * np.exp(rng.normal(0, 0.25, rows))
    weight = np.round(quantity * hs6_unit_weight[item_hs6] * np.exp(rng.normal(0, 0.2, rows))).astype(np.int64)
    cut = np.where(illicit, rng.uniform(0.25, 0.85, rows), 1.0)
    cif = np.maximum(1, np.round(true_cif * cut)).astype(np.int64)
    fob = np.round(cif * np.minimum(rng.normal(0.8, 0.1, rows), 1.0)).clip(min=0).astype(np.int64)
    rate = hs6_tax[item_hs6]
    taxes = np.round(cif * rate * np.exp(rng.normal(0, 0.05, rows))).astype(np.int64)
    revenue = np.where(illicit, np.round((true_cif - cif) * rate), 0.0)
    revenue[illicit & (rng.random(rows) < 0.10)] = 0.0
    revenue = np.maximum(revenue, 0).astype(np.int64)

    # days are drawn sorted, so rows come in date order (as customs extracts usually do); drifted
    # rows have their own days and are put in date order below
    day = np.sort(rng.integers(0, days, rows)) if drifted is None else drifted.day
    dates = pd.Timestamp(start) + pd.to_timedelta(day, unit="D")
    df = pd.DataFrame({
        "sgd.date": dates.strftime("%y-%m-%d"),
        "importer.id": [f"IMP{100000 + i}" for i in imp_idx],
        "declarant.id": [f"DEC{1000 + i}" for i in dec_idx],
        "country": [f"CNTRY{100 + i}" for i in cty_idx],
        "office.id": [f"OFFICE{10 + i}" for i in off_idx],
        "tariff.code": hs10[item_idx],
        "quantity": quantity,
        "gross.weight": weight,
        "fob.value": fob,
        "cif.value": cif,
        "total.taxes": taxes,
        "illicit": illicit.astype(np.int64),
        "revenue": revenue,
    })
    truth = pd.DataFrame({"p_illicit": p_illicit, **(drifted.truth if drifted is not None else {})})
    if drifted is not None:
        order = np.argsort(drifted.day, kind="stable")
        df, truth = df.iloc[order].reset_index(drop=True), truth.iloc[order].reset_index(drop=True)
    df.insert(0, "sgd.id", [f"SGD{i + 1}" for i in range(rows)])
    truth.insert(0, "sgd.id", df["sgd.id"])
    return (df, truth) if with_truth else df


def synthetic_file(cache_dir: str | Path, rows: int = 40000, seed: int = 7, start: str = "2013-01-01",
                   days: int = 365, drift: DriftSpec | Mapping[str, Any] | None = None) -> Path:
    """Generate (once) and return the path of a cached synthetic CSV for these parameters."""
    spec = DriftSpec.from_config(drift)
    # "v": bump whenever generate_declarations changes its output, so cached files are not reused.
    # Drift off adds nothing to the key or the name: files cached before drift existed are reused.
    params: dict[str, Any] = {"rows": int(rows), "seed": int(seed), "start": str(start), "days": int(days), "v": 1}
    tag = ""
    if spec.enabled:
        params["drift"], tag = spec.cache_params(), "drift-"
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "synthetic" / f"declarations-{rows}-{seed}-{tag}{key}.csv"
    if not path.exists():
        df = generate_declarations(rows=rows, seed=seed, start=start, days=days, drift=spec)
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
    return path
