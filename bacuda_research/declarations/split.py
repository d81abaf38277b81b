"""Time-based train/validation/test splits (declarations are scored on the future, never shuffled)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from bacuda_research.declarations.schema import DataValidationError


def time_split(
    df: pd.DataFrame, *, valid_start: str | None = None, test_start: str | None = None,
    fractions: Sequence[float] | None = (0.75, 0.1, 0.15), source: str = "<data>",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split by dates (train < valid_start <= valid < test_start <= test) or by time fractions.

    Fractions cut at whole days, so all declarations of one day fall in the same part. A split that
    leaves a part empty is an error naming the dates.
    """
    dates = pd.to_datetime(df["sgd.date"])
    if valid_start is not None or test_start is not None:
        if valid_start is None or test_start is None:
            raise ValueError("data.split: give both valid_start and test_start (or neither)")
        v, t = pd.Timestamp(valid_start), pd.Timestamp(test_start)
        if not v < t:
            raise ValueError(f"data.split: valid_start {v.date()} must be before test_start {t.date()}")
    else:
        if fractions is None or len(fractions) != 3 or any(f <= 0 for f in fractions):
            raise ValueError(f"data.split.fractions={fractions}: expected three positive numbers")
        f = np.asarray(fractions, dtype=np.float64) / np.sum(fractions)
        ordered = np.sort(dates.to_numpy())
        v = pd.Timestamp(ordered[min(int(f[0] * len(ordered)), len(ordered) - 1)]).normalize()
        t = pd.Timestamp(ordered[min(int((f[0] + f[1]) * len(ordered)), len(ordered) - 1)]).normalize()
        if t <= v:
            t = v + pd.Timedelta(days=1)
    train, valid, test = dates < v, (dates >= v) & (dates < t), dates >= t
    for name, mask in (("train", train), ("validation", valid), ("test", test)):
        if not mask.any():
            raise DataValidationError(
                source, f"the split leaves {name} empty (train < {v.date()} <= validation < {t.date()} <= test; "
                f"data dates {dates.min().date()} .. {dates.max().date()}); adjust data.split",
                column="sgd.date")
    return (df.loc[train].reset_index(drop=True), df.loc[valid].reset_index(drop=True),
            df.loc[test].reset_index(drop=True))
