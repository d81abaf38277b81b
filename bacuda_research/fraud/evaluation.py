"""Scores -> metrics and per-declaration predictions, the same for every fraud model.

Metric keys (a contract): ``val/<m>`` and ``test/<m>`` with ``<m>`` in ``precision@n, recall@n,
f1@n, revenue@n, selected@n, f1@mean, auc, f1_threshold``; DATE_REV adds ``rev/`` before ``<m>``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from bacuda_research.fraud.datamodule import Split
from bacuda_research.metrics.selection import best_threshold, rank_desc, ranking_report


class Labels(NamedTuple):
    """What the metrics need of a split (a ``datamodule.Split`` has both too)."""

    illicit: np.ndarray
    revenue: np.ndarray


SPLIT_KEYS = (("valid", "val"), ("test", "test"))


def evaluate_scores(scores: dict[str, np.ndarray], splits: Mapping[str, Any], percents, prefix: str = "",
                    probs: dict[str, np.ndarray] | None = None, keys: Sequence[tuple[str, str]] = SPLIT_KEYS,
                    threshold: float | None = None) -> dict[str, float]:
    """``<key>/<prefix><metric>`` for each ``(split, key)`` in ``keys`` (default ``val/...``, ``test/...``).

    ``scores`` rank the declarations; ``probs`` (default: the scores) are what the F1 threshold in
    {0.1, ..., 0.5} applies to, e.g. logits rank and their sigmoid is thresholded. The threshold is
    chosen on the ``valid`` split when there is one, else ``threshold`` (e.g. 0.5) is used.
    """
    probs = probs or scores
    if "valid" in splits and "valid" in probs:
        threshold = best_threshold(probs["valid"], splits["valid"].illicit)
    metrics: dict[str, float] = {}
    for split, key in keys:
        rep = ranking_report(scores[split], splits[split].illicit, splits[split].revenue, percents, threshold,
                             threshold_scores=probs[split])
        metrics.update({f"{key}/{prefix}{k}": v for k, v in rep.items()})
    return metrics


def date_metrics(outputs: Mapping[str, Mapping[str, np.ndarray]], splits: Mapping[str, Any], percents,
                 keys: Sequence[tuple[str, str]] = SPLIT_KEYS, threshold: float | None = None) -> dict[str, float]:
    """DATE_CLS (ranked by the illicit logit, F1 threshold on the probability) and DATE_REV
    (``rev/...``: ranked by the revenue score) metrics of one checkpoint's outputs per split
    (``logit``, ``prob``, ``rev``): what training reports and what ``bacuda-eval`` reports."""
    metrics = evaluate_scores({s: o["logit"] for s, o in outputs.items()}, splits, percents,
                              probs={s: o["prob"] for s, o in outputs.items()}, keys=keys, threshold=threshold)
    rev = evaluate_scores({s: o["rev"] for s, o in outputs.items()}, splits, percents, prefix="rev/", keys=keys,
                          threshold=threshold)
    metrics.update({k: v for k, v in rev.items() if not k.endswith("threshold")})  # a revenue score has none
    return metrics


def prediction_frame(split: str, s: Split, scores: np.ndarray, revenue: np.ndarray | None,
                     rank_by: np.ndarray | None = None) -> pd.DataFrame:
    """Per declaration: id, split, score (illicit probability), predicted revenue, rank (1 = first;
    by ``rank_by`` when given, e.g. the logit behind a probability)."""
    return pd.DataFrame({
        "sgd.id": s.ids, "split": split, "illicit_probability": scores,
        "predicted_revenue": revenue if revenue is not None else np.full(len(scores), np.nan),
        "rank": rank_desc(scores if rank_by is None else rank_by),
    })


def score_frame(score: np.ndarray, revenue_score: np.ndarray, **more: np.ndarray) -> pd.DataFrame:
    """Id-free ranking scores of one split, one row per declaration in file order (``row`` = position).

    ``score`` ranks for precision/recall (DATE: the illicit logit), ``revenue_score`` for revenue@n
    (DATE: what DATE_REV ranks by; a baseline: its one score). What paired comparisons between runs
    need (``bench.revenue``) and safe to commit: no identifiers, no labels. ``more``: extra columns.
    """
    return pd.DataFrame({"row": np.arange(len(score), dtype=np.int64), "score": np.asarray(score, np.float64),
                         "revenue_score": np.asarray(revenue_score, np.float64),
                         **{k: np.asarray(v, np.float64) for k, v in more.items()}})
