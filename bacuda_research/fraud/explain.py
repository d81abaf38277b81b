"""Readable rules for XGBoost leaves: what an officer is shown for a DATE score.

Each leaf of the tree stage is the end of one decision path; the path's conditions, merged per
feature into one interval, read as a rule such as ``cif.value < 2810 and RiskH.importer.id = 1``.
DATE's attention weights say which leaves mattered for a declaration; their rules explain it.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def leaf_rules(booster: Any, binary_features: Iterable[str] = ()) -> dict[tuple[int, int], str]:
    """``(tree, node) -> rule`` for every leaf of ``booster``.

    Conditions on the path are merged into ``low <= feature < high`` intervals; 0/1 features
    (risk flags) read ``feature = 0`` or ``feature = 1``.
    """
    binary = set(binary_features)
    df = booster.trees_to_dataframe()
    rules: dict[tuple[int, int], str] = {}
    for tree, nodes in df.groupby("Tree", sort=True):
        by_id = {row.ID: row for row in nodes.itertuples(index=False)}
        parent: dict[str, tuple[str, bool]] = {}
        for row in by_id.values():
            if row.Feature != "Leaf":
                parent[row.Yes] = (row.ID, True)
                parent[row.No] = (row.ID, False)
        for row in by_id.values():
            if row.Feature != "Leaf":
                continue
            bounds: dict[str, list[float]] = {}
            order: list[str] = []
            node = row.ID
            while node in parent:
                pid, went_yes = parent[node]
                p = by_id[pid]
                lo_hi = bounds.setdefault(p.Feature, [-np.inf, np.inf])
                if p.Feature not in order:
                    order.append(p.Feature)
                if went_yes:  # XGBoost: yes branch <=> feature < split
                    lo_hi[1] = min(lo_hi[1], float(p.Split))
                else:
                    lo_hi[0] = max(lo_hi[0], float(p.Split))
                node = pid
            parts = []
            for feat in reversed(order):  # root first
                lo, hi = bounds[feat]
                if feat in binary and 0 < hi <= 1:  # a 0/1 flag below a split in (0, 1]
                    parts.append(f"{feat} = 0")
                elif feat in binary and 0 < lo <= 1:
                    parts.append(f"{feat} = 1")
                elif np.isfinite(lo) and np.isfinite(hi):
                    parts.append(f"{_fmt(lo)} <= {feat} < {_fmt(hi)}")
                elif np.isfinite(hi):
                    parts.append(f"{feat} < {_fmt(hi)}")
                else:
                    parts.append(f"{feat} >= {_fmt(lo)}")
            rules[(int(tree), int(row.Node))] = " and ".join(parts) if parts else "(all declarations)"
    return rules


def global_leaf_rules(stage: Any, leaf_table: np.ndarray, binary_features: Iterable[str] = ()) -> dict[int, dict]:
    """Global leaf index (as numbered by ``LeafEncoder``) -> {"tree", "node", "rule"}.

    ``stage`` is a ``TreeStage`` (its boosters' trees numbered across them, as the leaf table is).
    """
    rules = stage.rules(list(binary_features))
    out: dict[int, dict] = {}
    trees, nodes = np.nonzero(leaf_table)
    for t, n in zip(trees.tolist(), nodes.tolist()):
        out[int(leaf_table[t, n])] = {"tree": t, "node": n, "rule": rules.get((t, n), "?")}
    return out


def top_leaves(weights: np.ndarray, leaf_index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k leaves with the largest attention weight per row.

    Shape: weights (N, T), leaf_index (N, T) -> (N, k) leaf indices, (N, k) weights.
    """
    k = min(k, weights.shape[1])
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(leaf_index, order, 1), np.take_along_axis(weights, order, 1)


def explain_rows(weights: np.ndarray, leaf_index: np.ndarray, rules: dict[int, dict], k: int = 5) -> list[list[dict]]:
    """Per row, its top-k leaves as ``{"tree", "weight", "rule"}`` (leaf 0 = unseen in training)."""
    idx, w = top_leaves(weights, leaf_index, k)
    out = []
    for row_idx, row_w in zip(idx.tolist(), w.tolist()):
        items = []
        for li, wi in zip(row_idx, row_w):
            info = rules.get(li, {"tree": None, "rule": "a leaf never reached in training"})
            items.append({"tree": info["tree"], "weight": round(float(wi), 6), "rule": info["rule"]})
        out.append(items)
    return out
