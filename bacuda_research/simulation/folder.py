"""The run folder of a simulation, written so that a kill at any moment loses at most one week.

Files (docs/simulation.md "Run folder"):

- ``weeks.csv``: one row per simulated week (the normalised metrics first);
- ``selections.parquet``: ``week``, ``row`` (position of the declaration in the date-ordered data,
  never its raw id), ``part`` (the sub-strategy that chose it);
- ``timings.csv``: wall-clock seconds per phase and week (apart, so ``weeks.csv`` is reproducible);
- ``state.json``: the commit point: weeks done, the run's identity, the strategy's JSON state and
  the files of model state (safetensors) it refers to;
- ``simulation.json``: config, seed, versions, data hash and summary; ``plots/``; ``DONE`` last.

Every file is written to a temporary name and renamed (``core.io``). A week is committed when
``state.json`` says so; on resume, rows of later weeks in the other files are dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from bacuda_research.core.io import write_json, write_table, write_text

FIRST = ("norm_precision", "norm_recall", "norm_revenue")
SUMMARY_WEEKS = 13


class RunFolder:
    """Reads and writes the files of one simulation run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def done(self) -> bool:
        return self.file("DONE").exists()

    # -- state ----------------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        path = self.file("state.json")
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def read_progress(self, weeks_done: int) -> tuple[list[dict], pd.DataFrame, list[dict]]:
        """(week rows, selections, timing rows) of the committed weeks only."""
        weeks = _read_csv(self.file("weeks.csv"))
        timings = _read_csv(self.file("timings.csv"))
        sel_path = self.file("selections.parquet")
        sel = pd.read_parquet(sel_path) if sel_path.exists() else empty_selections()
        keep = lambda rows: [r for r in rows if int(r["week"]) < weeks_done]  # noqa: E731
        sel = sel[sel["week"] < weeks_done].reset_index(drop=True)
        sel = sel.astype({"week": np.int32, "row": np.int64, "part": str})
        return keep(weeks), sel, keep(timings)

    def commit(self, weeks: list[dict], selections: pd.DataFrame, timings: list[dict],
               state: Mapping[str, Any]) -> None:
        """Write a week's files, then ``state.json`` (the commit point)."""
        write_table(selections, self.file("selections.parquet"))
        write_table(week_table(weeks), self.file("weeks.csv"))
        write_table(pd.DataFrame(timings), self.file("timings.csv"))
        write_json(self.file("state.json"), state)

    def finish(self, record: Mapping[str, Any]) -> None:
        write_json(self.file("simulation.json"), record)
        write_text(self.file("DONE"), "ok\n")


def empty_selections() -> pd.DataFrame:
    return pd.DataFrame({"week": pd.Series(dtype=np.int32), "row": pd.Series(dtype=np.int64),
                         "part": pd.Series(dtype=str)})


def _read_csv(path: Path) -> list[dict]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    df = pd.read_csv(path)
    return df.to_dict("records")


def week_table(weeks: list[dict]) -> pd.DataFrame:
    """The weekly rows with the normalised metrics first, columns in first-seen order."""
    cols: list[str] = []
    for row in weeks:
        cols += [c for c in row if c not in cols]
    first = [c for c in FIRST if c in cols]
    return pd.DataFrame(weeks, columns=first + [c for c in cols if c not in first])


def summary(weeks: pd.DataFrame, last: int = SUMMARY_WEEKS) -> dict[str, float]:
    """Means over the last ``last`` weeks of every numeric column (NaN weeks skipped), keyed
    ``<column>@last13``, plus the run's totals."""
    if weeks.empty:
        return {}
    tail = weeks.tail(last)
    out: dict[str, float] = {}
    for c in weeks.columns:
        if c in ("week",) or not pd.api.types.is_numeric_dtype(weeks[c]):
            continue
        v = tail[c].astype(float)
        out[f"{c}@last{last}"] = float(v.mean()) if v.notna().any() else float("nan")
    out["weeks"] = int(len(weeks))
    for c in ("frauds_found", "revenue_found", "k"):
        if c in weeks:
            out[f"total_{c}"] = float(weeks[c].sum())
    return out
