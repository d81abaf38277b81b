"""Selection strategies: one small interface, the model-free and XGBoost strategies, the registry.

A strategy is built once per run and lives across weeks (adaptive ones keep state). Each week the
simulator calls ``fit(ctx)`` with a ``WeekContext`` (labeled train and validation splits, the
label-free batch, the per-week seed), then ``select(ctx, k, available)``, which returns the
chosen batch positions as ``{tag: positions}`` (one tag for a plain strategy, one per part for a
hybrid), then ``observe(feedback)`` with the week's metrics. ``state_dict``/``load_state_dict``
are JSON, so a run resumes after a kill. The model-based strategies reuse the fraud task's
baselines (``fraud/baselines.py``); DATE-based ones share one DATE fit per week (``date_fit``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from bacuda_research.fraud.baselines import build_baseline
from bacuda_research.fraud.datamodule import Split
from bacuda_research.simulation.data import Batch

Selection = dict[str, np.ndarray]


@dataclass
class WeekContext:
    """What a strategy may know in week ``week``: labeled data, features and the label-free batch."""

    week: int
    seed: int
    train: Split
    valid: Split
    batch: Batch
    features: Any
    has_revenue: bool
    threads: int | None = None
    # the week's shared model outputs (one DATE fit per week for every DATE-based strategy)
    date: Callable[[], Any] | None = None
    # features of every declaration of the validation window, inspected or not (no labels): the
    # unbiased reference of the drift score
    window_X: Callable[[], np.ndarray] | None = None

    def rng(self, tag: str) -> np.random.Generator:
        """A generator for this week and this tag (same seed -> same draws, whatever the order)."""
        return np.random.default_rng([self.seed, zlib.crc32(tag.encode())])


class Strategy:
    """Base class: a strategy that selects nothing by itself (subclasses override ``select``)."""

    uses_date = False
    # False: the strategy reads no feature (the week's features are then not computed)
    needs_features = True

    def __init__(self, name: str) -> None:
        self.name = name

    def fit(self, ctx: WeekContext) -> None:
        """Learn from the labeled data of the week (default: nothing to learn)."""

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        raise NotImplementedError

    def observe(self, feedback: Mapping[str, float]) -> None:
        """The week's metrics after inspection (adaptive strategies learn from them)."""

    def log(self) -> dict[str, Any]:
        """Extra per-week columns (exploration ratio, drift score, arm probabilities, gate)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned (resume)."""


def top_k(scores: np.ndarray, k: int, available: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The ``k`` available positions with the highest score; ties broken by a seeded random order."""
    pos = np.flatnonzero(available)
    s = np.asarray(scores, dtype=np.float64)[pos]
    s = np.where(np.isfinite(s), s, -np.inf)
    order = np.lexsort((rng.random(len(pos)), -s))
    return np.sort(pos[order[: min(k, len(pos))]])


class RandomStrategy(Strategy):
    """k available declarations uniformly at random (the exploration baseline)."""

    needs_features = False

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        pos = np.flatnonzero(available)
        pick = ctx.rng(self.name).choice(len(pos), size=min(k, len(pos)), replace=False)
        return {self.name: np.sort(pos[pick])}


class ScoreStrategy(Strategy):
    """Top k by a score; subclasses give ``scores(ctx)``."""

    def scores(self, ctx: WeekContext) -> np.ndarray:
        raise NotImplementedError

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        return {self.name: top_k(self.scores(ctx), k, available, ctx.rng(self.name))}


class BaselineStrategy(ScoreStrategy):
    """A fraud-task baseline (risky, largest, xgboost, xgb_lr) refitted every week on the labeled
    training window; selects the top k of its scores."""

    KINDS = ("risky", "largest", "xgboost", "xgb_lr")

    def __init__(self, name: str, kind: str, **settings: Any) -> None:
        super().__init__(name)
        if kind not in self.KINDS:
            raise ValueError(f"strategy kind {kind!r}: expected one of {self.KINDS}")
        self.kind, self.settings, self.model = kind, dict(settings), None

    def fit(self, ctx: WeekContext) -> None:
        self.model = build_baseline(self.kind, seed=ctx.seed, threads=ctx.threads, cache_dir=None,
                                    feature_names=ctx.features.columns, flag_columns=ctx.features.flag_columns,
                                    **self.settings)
        if self.kind in ("xgboost", "xgb_lr") and len(np.unique(ctx.train.illicit)) < 2:
            self.model = None  # one class only: nothing to learn; fall back to random order
            return
        self.model.fit(ctx.train)

    def scores(self, ctx: WeekContext) -> np.ndarray:
        if self.model is None:
            return ctx.rng(self.name + "/fallback").random(len(ctx.batch.frame))
        return np.asarray(self.model.predict(ctx.batch)[0], dtype=np.float64)


def _simple(cls: type) -> Callable[..., Strategy]:
    return lambda name, **_: cls(name)


def _baseline(kind: str) -> Callable[..., Strategy]:
    return lambda name, **settings: BaselineStrategy(name, kind, **settings)


# kind -> builder(name, **settings) of the strategies of this module (all kinds: simulation.registry)
BUILDERS: dict[str, Callable[..., Strategy]] = {"random": _simple(RandomStrategy),
                                               **{k: _baseline(k) for k in BaselineStrategy.KINDS}}
