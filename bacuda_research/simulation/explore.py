"""DATE-based strategies (SIMULATION.md 2): DATE itself and the explorers BADGE, bATE and gATE.

All read the week's single DATE fit (``ctx.date()``: probability ``p``, normalised revenue
``r``, hidden vector ``h``; ``date_fit.WeeklyDATE``):

- ``date``: top k by DATE's illicit logit (exploitation);
- ``badge`` (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings
  ``g = [(1[c=0] - (1 - p)) h, (1[c=1] - p) h]`` with the pseudo-label ``c = 1[p >= 0.5]``;
  the first center is the largest ``g``, each next one drawn with probability ~ D^2;
- ``bate``: BADGE on ``g`` scaled by ``unc * log(2 + r)``, ``unc = 1 - 1.8 |p - 0.5|``, favouring
  uncertain, high-revenue, diverse declarations; on data without revenue the revenue factor
  drops out (``unc`` alone);
- ``gate``: bATE when DATE's validation Rev@5% exceeds ``theta`` (0.3), else random (DATE is
  not trusted); on data without revenue the gate reads Pre@5% instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bacuda_research.simulation.strategies import RandomStrategy, ScoreStrategy, Selection, Strategy, WeekContext


def kmeans_pp_seeds(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: k distinct row indices of ``X`` (first: the largest norm; then ~ D^2;
    filled uniformly at random if every remaining distance is 0)."""
    n = len(X)
    if k >= n:
        return np.arange(n)
    X = np.asarray(X, dtype=np.float64)
    first = int(np.argmax((X * X).sum(axis=1)))
    chosen = [first]
    d2 = ((X - X[first]) ** 2).sum(axis=1)
    d2[first] = 0.0
    while len(chosen) < k:
        total = d2.sum()
        if not total > 0:
            break
        i = int(rng.choice(n, p=d2 / total))
        chosen.append(i)
        d2 = np.minimum(d2, ((X - X[i]) ** 2).sum(axis=1))
        d2[i] = 0.0
    if len(chosen) < k:
        rest = np.setdiff1d(np.arange(n), chosen)
        chosen += rng.choice(rest, size=k - len(chosen), replace=False).tolist()
    return np.asarray(chosen, dtype=np.int64)


def gradient_embedding(prob: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """BADGE's last-layer gradient embedding under the pseudo-label. Shape: (n,), (n, d) -> (n, 2d)."""
    c = (prob >= 0.5).astype(np.float64)
    a = ((c == 0) - (1.0 - prob))[:, None] * hidden
    b = ((c == 1) - prob)[:, None] * hidden
    return np.concatenate([a, b], axis=1)


def uncertainty(prob: np.ndarray) -> np.ndarray:
    """The reference's naive uncertainty, 1 - 1.8 |p - 0.5| in [0.1, 1]."""
    return 1.0 - 1.8 * np.abs(prob - 0.5)


class DATEStrategy(ScoreStrategy):
    """Top k by the week's DATE illicit logit."""

    uses_date = True

    def fit(self, ctx: WeekContext) -> None:
        ctx.date()

    def scores(self, ctx: WeekContext) -> np.ndarray:
        return ctx.date().logit


class BadgeStrategy(Strategy):
    """k-means++ seeding on (optionally scaled) gradient embeddings of the available declarations."""

    uses_date = True
    scaled = False

    def fit(self, ctx: WeekContext) -> None:
        ctx.date()

    def embedding(self, ctx: WeekContext) -> np.ndarray:
        out = ctx.date()
        g = gradient_embedding(out.prob, out.hidden)
        if self.scaled:
            s = uncertainty(out.prob)
            if ctx.has_revenue:
                s = s * np.log(2.0 + out.revenue)
            g = g * s[:, None]
        return g

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        pos = np.flatnonzero(available)
        picks = kmeans_pp_seeds(self.embedding(ctx)[pos], min(k, len(pos)), ctx.rng(self.name))
        return {self.name: np.sort(pos[picks])}


class BATEStrategy(BadgeStrategy):
    scaled = True


class GATEStrategy(BATEStrategy):
    """bATE when DATE validates above ``theta``, else uniform random (the gate is logged)."""

    def __init__(self, name: str, theta: float = 0.3) -> None:
        super().__init__(name)
        self.theta, self.gate = float(theta), None
        self.random = RandomStrategy(name)

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        out = ctx.date()
        quality = out.valid_revenue5 if ctx.has_revenue else out.valid_precision5
        self.gate = int(bool(np.isfinite(quality) and quality > self.theta))
        return super().select(ctx, k, available) if self.gate else self.random.select(ctx, k, available)

    def log(self) -> dict[str, Any]:
        return {} if self.gate is None else {"gate": self.gate}


BUILDERS = {
    "date": lambda name, **_: DATEStrategy(name),
    "badge": lambda name, **_: BadgeStrategy(name),
    "bate": lambda name, **_: BATEStrategy(name),
    "gate": lambda name, theta=0.3, **_: GATEStrategy(name, theta),
}
