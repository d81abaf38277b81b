"""``Hybrid``: fixed shares of the budget for sub-strategies run in order (SIMULATION.md 2, hybrid).

Budget split: ``k_i = round(k * w_i)`` for every part but the last, which gets the remainder
(never below 0); parts with ``k_i = 0`` are skipped. Parts select in order, each among the
declarations the earlier parts left, so the selection is the disjoint union of the parts'. Order
matters: exploitation first. Every part is fitted once a week (DATE-based parts share one DATE fit).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from bacuda_research.simulation.strategies import Selection, Strategy, WeekContext


def split_budget(k: int, weights: Sequence[float]) -> list[int]:
    """``k_i = round(k * w_i)`` for all parts but the last; the last gets the rest (>= 0)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) < 1 or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"hybrid weights {list(weights)}: expected non-negative shares summing to 1")
    out, left = [], int(k)
    for wi in w[:-1]:
        ki = min(int(round(k * float(wi))), left)
        out.append(ki)
        left -= ki
    return out + [left]


def part_tags(names: Sequence[str]) -> list[str]:
    """Unique column tags for the parts (a repeated name gets ``_2``, ``_3``...)."""
    tags: list[str] = []
    for n in names:
        tag, i = n, 2
        while tag in tags:
            tag, i = f"{n}_{i}", i + 1
        tags.append(tag)
    return tags


class Hybrid(Strategy):
    """Sub-strategies with fixed budget shares (``weights``), selecting in order, disjointly."""

    def __init__(self, name: str, parts: Sequence[Strategy], weights: Sequence[float]) -> None:
        super().__init__(name)
        if len(parts) != len(weights) or not parts:
            raise ValueError(f"strategy {name}: {len(parts)} parts and {len(weights)} weights")
        self.parts, self.weights = list(parts), [float(w) for w in weights]
        self.tags = part_tags([p.name for p in parts])
        split_budget(1, self.weights)  # validates the weights
        self.uses_date = any(p.uses_date for p in parts)
        self.needs_features = any(p.needs_features for p in parts)

    def fit(self, ctx: WeekContext) -> None:
        for p in self.parts:
            p.fit(ctx)

    def select_with(self, ctx: WeekContext, k: int, available: np.ndarray, weights: Sequence[float]) -> Selection:
        out: Selection = {}
        free = np.asarray(available, dtype=bool).copy()
        for tag, part, ki in zip(self.tags, self.parts, split_budget(k, weights)):
            if ki == 0:
                continue
            picked = np.concatenate(list(part.select(ctx, ki, free).values()))
            if free[picked].sum() != len(picked):
                raise RuntimeError(f"hybrid part {tag} selected a declaration an earlier part took")
            free[picked] = False
            out[tag] = np.sort(picked)
        return out

    def select(self, ctx: WeekContext, k: int, available: np.ndarray) -> Selection:
        return self.select_with(ctx, k, available, self.weights)

    def observe(self, feedback: Mapping[str, float]) -> None:
        for p in self.parts:
            p.observe(feedback)

    def log(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.parts:
            out.update(p.log())
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [p.state_dict() for p in self.parts]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for p, s in zip(self.parts, state.get("parts", [])):
            p.load_state_dict(s)
