"""A small made-up export in another administration's layout, for the guide and the tests.

``example_export(path, rows, seed)`` writes a CSV with its own column names (no DATE names, no
revenue column, ISO dates, an optional seller column that is often empty), with fraud planted where
customs would look for it: some importers are habitual offenders, under-declared unit values
(far below the usual price of the goods' HS6) are often fraudulent, and one procedure code is riskier.
Nothing in it is real; identifiers are made up.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

# the declared schema of the example export (what bacuda-schema drafts for it, reviewed)
EXAMPLE_SCHEMA = """\
id: DECL_NO
date: {column: ACCEPT_DATE, format: "%Y-%m-%d"}
label: {column: INSPECTION_RESULT, positive: [FRAUD], negative: [OK]}
tariff: {column: HS_CODE, digits: 6}
importer: IMPORTER
declarant: BROKER
office: CUSTOMS_OFFICE
country: ORIGIN
value: INVOICE_VALUE
weight: NET_KG
entities: [SELLER]
categorical: [PROCEDURE]
allow_missing: [SELLER]
"""


def example_export(path: str | os.PathLike, rows: int = 3000, seed: int = 0, start: str = "2022-01-01",
                   days: int = 365) -> Path:
    """Write the example export (CSV) to ``path`` and return it."""
    rng = np.random.default_rng(seed)
    hs = rng.choice([440890, 690722, 851712, 620342, 271012, 300490, 847130, 940360], size=rows)
    base_price = {c: float(p) for c, p in zip(np.unique(hs), rng.uniform(2.0, 60.0, len(np.unique(hs))))}
    weight = np.round(rng.lognormal(5.0, 1.0, rows), 1)
    under = rng.random(rows) < 0.15  # under-declared: a third of the usual unit value
    unit = np.array([base_price[c] for c in hs]) * rng.lognormal(0.0, 0.25, rows) * np.where(under, 0.33, 1.0)
    importers = np.array([f"IMP{n:05d}" for n in rng.integers(0, 200, rows)])
    offenders = {f"IMP{n:05d}" for n in range(0, 200, 9)}
    procedure = rng.choice(["40", "42", "71"], size=rows, p=[0.6, 0.3, 0.1])
    logit = (-2.5 + 3.5 * under + 2.5 * np.isin(importers, list(offenders)) + 1.5 * (procedure == "71")
             + rng.normal(0.0, 0.3, rows))
    fraud = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    dates = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.integers(0, days, rows)), unit="D")
    df = pd.DataFrame({
        "DECL_NO": [f"D{seed:02d}{i:07d}" for i in range(rows)],
        "ACCEPT_DATE": dates.strftime("%Y-%m-%d"),
        "CUSTOMS_OFFICE": rng.choice(["N01", "N02", "S07"], size=rows),
        "IMPORTER": importers,
        "BROKER": [f"BRK{n:03d}" for n in rng.integers(0, 40, rows)],
        "SELLER": np.where(rng.random(rows) < 0.3, "", [f"S{n:04d}" for n in rng.integers(0, 900, rows)]),
        "PROCEDURE": procedure,
        "HS_CODE": hs.astype(str),
        "ORIGIN": rng.choice(["CN", "VN", "DE", "US", "TR"], size=rows),
        "NET_KG": weight,
        "INVOICE_VALUE": np.round(weight * unit, 2),
        "INSPECTION_RESULT": np.where(fraud, "FRAUD", "OK"),
    })
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path
