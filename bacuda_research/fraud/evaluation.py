"""Scores -> metrics and per-declaration predictions, the same for every fraud model.

Metric keys (a contract): ``val/<m>`` and ``test/<m>`` with ``<m>`` in ``precision@n, recall@n,
f1@n, revenue@n, selected@n, f1@mean, auc, f1_threshold``; DATE_REV adds ``rev/`` before ``<m>``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bacuda_research.fraud.datamodule import Split
from bacuda_research.metrics.selection import best_threshold, rank_desc, ranking_report


def evaluate_scores(scores: dict[str, np.ndarray], splits: dict[str, Split], percents, prefix: str = "",
                    probs: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """``val/...`` and ``test/...`` metrics; the F1 threshold is chosen on validation.

    ``scores`` rank the declarations; ``probs`` (default: the scores) are what the F1 threshold in
    {0.1, ..., 0.5} applies to, e.g. logits rank and their sigmoid is thresholded.
    """
    probs = probs or scores
    threshold = best_threshold(probs["valid"], splits["valid"].illicit)
    metrics: dict[str, float] = {}
    for split, key in (("valid", "val"), ("test", "test")):
        rep = ranking_report(scores[split], splits[split].illicit, splits[split].revenue, percents, threshold,
                             threshold_scores=probs[split])
        metrics.update({f"{key}/{prefix}{k}": v for k, v in rep.items()})
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
