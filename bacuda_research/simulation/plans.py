"""Inspection-rate plans and the weekly windows of the simulation (SIMULATION.md 1.1-1.2).

A plan is the inspection rate (percent of the week's declarations) for every simulated week:

- ``constant``: ``final_rate`` every week (the reference's ``direct_decay``);
- ``linear``: ``initial_rate`` to ``final_rate`` in a straight line over all weeks;
- ``fast_linear``: the same line over the first ``decay_weeks`` weeks, then ``final_rate``
  (with 100 -> 10 and 10 weeks: 100, 90, ..., 10, 10, ...; no crash for short runs);
- ``custom``: the given list of rates, its last value repeated when the run is longer.

Windows grow: week ``t`` screens [test_from + t * test_length, + test_length); its validation is
the labeled rows of the last ``valid_length`` days before it, its training data every older labeled
row since ``train_from``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

PLANS = ("constant", "linear", "fast_linear", "custom")


def inspection_plan(kind: str, weeks: int, initial_rate: float = 100.0, final_rate: float = 10.0,
                    decay_weeks: int = 10, rates: Sequence[float] | None = None) -> np.ndarray:
    """The inspection rate in percent for each of ``weeks`` weeks (float64, each in (0, 100])."""
    weeks = int(weeks)
    if weeks < 1:
        raise ValueError(f"simulation.weeks={weeks}: expected at least 1")
    if kind == "constant":
        out = np.full(weeks, float(final_rate))
    elif kind == "linear":
        out = np.linspace(float(initial_rate), float(final_rate), weeks) if weeks > 1 else np.array([initial_rate])
    elif kind == "fast_linear":
        n = max(int(decay_weeks), 1)
        ramp = np.linspace(float(initial_rate), float(final_rate), n) if n > 1 else np.array([final_rate])
        out = np.concatenate([ramp, np.full(max(weeks - n, 0), float(final_rate))])[:weeks]
    elif kind == "custom":
        if not rates:
            raise ValueError("plan=custom: give plan.rates, a list of percents")
        r = [float(x) for x in rates]
        out = np.asarray((r + [r[-1]] * weeks)[:weeks])
    else:
        raise ValueError(f"plan.kind={kind!r}: expected one of {PLANS}")
    if not ((out > 0) & (out <= 100)).all():
        raise ValueError(f"plan {kind}: every rate must be in (0, 100] percent, got {out.tolist()}")
    return out.astype(np.float64)


def budget(n_batch: int, rate: float) -> int:
    """Declarations to inspect: floor(n_batch * rate / 100) (the reference's rounding), at least 1
    when the week has any declaration."""
    return min(int(n_batch), max(int(np.floor(n_batch * rate / 100.0 + 1e-9)), 1 if n_batch else 0))


@dataclass(frozen=True)
class Windows:
    """Dates of the growing train window, the validation window and the weekly batch."""

    train_from: pd.Timestamp
    test_from: pd.Timestamp
    valid_length: int = 28
    test_length: int = 7

    def week(self, t: int) -> dict[str, pd.Timestamp]:
        """train_start, valid_start, test_start, test_end of week ``t`` (0-based)."""
        test_start = self.test_from + pd.Timedelta(days=int(t) * self.test_length)
        return {"train_start": self.train_from, "valid_start": test_start - pd.Timedelta(days=self.valid_length),
                "test_start": test_start, "test_end": test_start + pd.Timedelta(days=self.test_length)}


def resolve_windows(dates: pd.Series, train_from: str | None, test_from: str | None, history_days: int,
                    valid_length: int, test_length: int) -> Windows:
    """The windows of a run: ``train_from`` defaults to the first date of the data, ``test_from`` to
    ``train_from + history_days``. Refuses a first week without training history or batch."""
    first, last = pd.Timestamp(dates.min()).normalize(), pd.Timestamp(dates.max()).normalize()
    start = pd.Timestamp(train_from) if train_from else first
    test = pd.Timestamp(test_from) if test_from else start + pd.Timedelta(days=int(history_days))
    if valid_length < 0 or test_length < 1:
        raise ValueError(f"simulation.valid_length={valid_length} / test_length={test_length}: expected >= 0 / >= 1")
    if test - pd.Timedelta(days=valid_length) <= start:
        raise ValueError(f"simulation windows: the first week's training window [{start.date()}, "
                         f"{(test - pd.Timedelta(days=valid_length)).date()}) is empty; move simulation.test_from "
                         f"later or shorten simulation.valid_length")
    if test > last:
        raise ValueError(f"simulation.test_from {test.date()} is after the data's last date {last.date()}")
    return Windows(start, test, int(valid_length), int(test_length))
