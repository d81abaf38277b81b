"""``Simulator``: the weekly inspection loop (SIMULATION.md 1.4), resumable after a kill.

Each week: the batch is the declarations dated in the week's window; features are refitted on the
labeled training window; the strategy fits and selects ``k`` distinct declarations (``k`` from the
plan); the oracle reveals their labels (they join the labeled pool) and scores the selection
against the whole batch; the strategy observes the metrics. Uninspected declarations stay
unlabeled for good. Week ``t`` draws its randomness from ``(seed, t)`` only, so a resumed run
continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from bacuda_research.simulation.data import SimData, batch_view, history_mask, labeled_split
from bacuda_research.simulation.folder import RunFolder, empty_selections, week_table
from bacuda_research.simulation.plans import Windows, budget
from bacuda_research.simulation.strategies import Strategy, WeekContext

log = logging.getLogger("bacuda_research")
CUMULATIVE = (("cum_importers", "importer.id"), ("cum_tariffs", "tariff.code"), ("cum_countries", "country"))


def week_seed(seed: int, week: int) -> int:
    """The seed of week ``week`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(week)]).generate_state(1)[0])


class Simulator:
    """Runs a strategy week by week over ``data`` into a ``RunFolder``."""

    def __init__(self, data: SimData, strategy: Strategy, windows: Windows, plan: np.ndarray,
                 features_cfg: Mapping[str, Any], folder: RunFolder, *, seed: int = 0, masking: str = "random",
                 history_label_rate: float = 100.0, threads: int | None = None, identity: str = "",
                 date_factory: Callable[[WeekContext], Any] | None = None, model_state: Any = None) -> None:
        self.data, self.strategy, self.windows, self.plan = data, strategy, windows, np.asarray(plan)
        self.features_cfg, self.folder, self.seed, self.threads = dict(features_cfg), folder, int(seed), threads
        self.identity, self.date_factory, self.model_state = identity, date_factory, model_state
        dates = data.dates
        self.last_date = pd.Timestamp(dates.max())
        history = np.flatnonzero((dates >= np.datetime64(windows.train_from)) & (dates < np.datetime64(windows.test_from)))
        rng = np.random.default_rng([self.seed, 0x5EED])
        self.labeled = np.zeros(len(data.frame), dtype=bool)
        self.labeled[history_mask(data.frame, history, masking, float(history_label_rate), rng)] = True
        self.weeks: list[dict] = []
        self.timings: list[dict] = []
        self.selections = empty_selections()

    # -- resume ---------------------------------------------------------------------------------
    def resume(self) -> int:
        """Restore the committed weeks of the folder; returns how many there are."""
        state = self.folder.read_state()
        if state is None:
            return 0
        if state.get("identity") != self.identity:
            raise ValueError(f"{self.folder.path}: holds a simulation with another config or data; choose a new "
                             "hydra.run.dir (or delete the folder) to start over")
        n = int(state["weeks_done"])
        self.weeks, self.selections, self.timings = self.folder.read_progress(n)
        self.strategy.load_state_dict(state.get("strategy", {}))
        if self.model_state is not None:
            self.model_state.load(self.folder.path, state.get("model_state"))
        log.info("resuming %s after week %d", self.folder.path, n)
        return n

    # -- the loop -------------------------------------------------------------------------------
    def run(self, max_weeks_this_call: int | None = None) -> bool:
        """Simulate the remaining weeks; True when the run reached its end (weeks or data)."""
        start = self.resume()
        rows = self.selections["row"].to_numpy(np.int64)
        self.labeled[rows] = True
        self.data.oracle.reveal(np.flatnonzero(self.labeled))
        done_now = 0
        for t in range(start, len(self.plan)):
            if max_weeks_this_call is not None and done_now >= max_weeks_this_call:
                return False
            if self.windows.week(t)["test_start"] > self.last_date:
                break
            self._week(t)
            done_now += 1
        return True

    def _week(self, t: int) -> None:
        w, data, dates = self.windows.week(t), self.data, self.data.dates
        clock = {"week": t}
        t0 = time.perf_counter()
        in_batch = (dates >= np.datetime64(w["test_start"])) & (dates < np.datetime64(w["test_end"]))
        batch_rows = np.flatnonzero(in_batch)
        train_rows = np.flatnonzero(self.labeled & (dates >= np.datetime64(w["train_start"]))
                                    & (dates < np.datetime64(w["valid_start"])))
        # the validation window, inspected or not (the drift reference); its labeled rows validate
        in_valid = (dates >= np.datetime64(w["valid_start"])) & (dates < np.datetime64(w["test_start"]))
        valid_rows = np.flatnonzero(self.labeled & in_valid)
        k = budget(len(batch_rows), float(self.plan[t]))
        ctx, parts = None, {}
        if k:  # a week without declarations (a gap in the data) is logged with k = 0, nothing fitted
            ctx = self._context(t, train_rows, valid_rows, in_valid, batch_rows)
            clock["features_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            self.strategy.fit(ctx)
            clock["fit_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            parts = self.strategy.select(ctx, k, np.ones(len(batch_rows), dtype=bool))
            clock["select_s"] = time.perf_counter() - t0
        chosen = check_selection(parts, k, len(batch_rows))
        t0 = time.perf_counter()
        sel_rows = batch_rows[chosen]
        self.data.oracle.reveal(sel_rows)
        self.labeled[sel_rows] = True
        metrics = self.data.oracle.score(batch_rows, sel_rows)
        if k:
            self.strategy.observe(metrics)
        row = self._row(t, w, metrics, parts, batch_rows, sel_rows, (len(train_rows), len(valid_rows)), logged=bool(k))
        clock["evaluate_s"] = time.perf_counter() - t0
        new = pd.DataFrame({"week": np.full(len(chosen), t, dtype=np.int32), "row": sel_rows,
                            "part": np.concatenate([[tag] * len(p) for tag, p in parts.items()]) if parts else []})
        self.selections = pd.concat([self.selections, new], ignore_index=True) if len(new) else self.selections
        self.weeks.append(row)
        self.timings.append(clock)
        state = {"weeks_done": t + 1, "identity": self.identity, "strategy": self.strategy.state_dict()}
        if self.model_state is not None:
            state["model_state"] = self.model_state.save(self.folder.path, t)
        self.folder.commit(self.weeks, self.selections, self.timings, state)
        log.info("week %d (%s): k=%d/%d  norm_precision=%.3f", t, w["test_start"].date(), len(chosen),
                 len(batch_rows), metrics.get("norm_precision", float("nan")))

    def _context(self, t: int, train_rows: np.ndarray, valid_rows: np.ndarray, in_valid: np.ndarray,
                 batch_rows: np.ndarray) -> WeekContext:
        """The week's features (refitted on the labeled training window) and what strategies see
        (``in_valid``: the validation window's mask, labeled or not)."""
        data, seed = self.data, week_seed(self.seed, t)
        features = data.make_features(self.features_cfg, seed) if self.strategy.needs_features else None
        ctx = WeekContext(week=t, seed=seed, train=labeled_split(data, features, train_rows, fit=True),
                          valid=labeled_split(data, features, valid_rows, fit=False),
                          batch=batch_view(data, features, batch_rows), features=features,
                          has_revenue=data.oracle.has_revenue, threads=self.threads)
        in_window = np.flatnonzero(in_valid)
        ctx.window_X = lambda: batch_view(data, features, in_window).X
        if self.date_factory is not None:
            ctx.date = lambda: self.date_factory(ctx)
        return ctx

    def _row(self, t: int, w: Mapping[str, pd.Timestamp], metrics: Mapping[str, float],
             parts: Mapping[str, np.ndarray], batch_rows: np.ndarray, sel_rows: np.ndarray, sizes: tuple[int, int],
             logged: bool) -> dict[str, Any]:
        """The week's row of ``weeks.csv`` (``sel_rows``: this week's selection, in ``parts`` order;
        ``logged``: with the strategy's own columns)."""
        row: dict[str, Any] = {"week": t, "test_start": str(w["test_start"].date()), "rate": float(self.plan[t]),
                               **metrics, "n_train": sizes[0], "n_valid": sizes[1]}
        prev = self.weeks[-1] if self.weeks else {}
        row["cum_inspected"] = prev.get("cum_inspected", 0) + metrics["k"]
        row["cum_frauds"] = prev.get("cum_frauds", 0.0) + metrics["frauds_found"]
        if "revenue_found" in metrics:
            row["cum_revenue"] = prev.get("cum_revenue", 0.0) + metrics["revenue_found"]
        inspected = np.concatenate([self.selections["row"].to_numpy(np.int64), sel_rows])
        for name, col in CUMULATIVE:
            if col in self.data.frame:
                row[name] = int(pd.unique(self.data.frame[col].to_numpy()[inspected]).size)
        if logged:
            row.update(self.strategy.log())
        for tag in getattr(self.strategy, "tags", ()):  # a mixer: each part's share (k = 0 when skipped)
            pos = parts.get(tag, np.zeros(0, dtype=np.int64))
            sub = self.data.oracle.subset_score(batch_rows[pos])
            row.update({f"{tag}/{m}": v for m, v in sub.items()})
        return row


def check_selection(parts: Mapping[str, np.ndarray], k: int, n: int) -> np.ndarray:
    """All selected positions, after checking they are ``min(k, n)`` distinct valid positions."""
    chosen = np.concatenate([np.asarray(p, dtype=np.int64) for p in parts.values()]) if parts else np.zeros(0, np.int64)
    if len(np.unique(chosen)) != len(chosen):
        raise RuntimeError("strategy returned the same declaration twice")
    if len(chosen) != min(k, n) or (len(chosen) and (chosen.min() < 0 or chosen.max() >= n)):
        raise RuntimeError(f"strategy returned {len(chosen)} positions in [0, {n}); expected {min(k, n)}")
    return chosen


__all__ = ["Simulator", "check_selection", "week_seed", "week_table"]
