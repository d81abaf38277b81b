"""Ranked-selection metrics for customs inspection: who is inspected when only n% can be.

Selection follows the DATE reference rule exactly: a row is selected at n% when its score is
strictly above the (100 - n)th percentile of all scores (numpy linear interpolation). Rows tied at
the threshold are therefore *excluded*, so ``selected@n`` can fall short of n% of the rows when
scores tie (it is recorded so that this is visible). An empty selection has precision 0.

Plain NumPy functions here; the torchmetrics wrapper (DDP-safe) is in ``metrics/torchmetrics.py``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

DEFAULT_PERCENTS: tuple[float, ...] = (1, 2, 5, 10)
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)


def pct_key(n: float) -> str:
    """``1 -> '1'``, ``0.5 -> '0.5'``: the suffix used in metric keys (``precision@1``)."""
    n = float(n)
    return str(int(n)) if n.is_integer() else f"{n:g}"


def rank_desc(scores: np.ndarray) -> np.ndarray:
    """1-based rank by descending score (ties keep row order). Shape: (N,) -> (N,) int64."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def select_top(scores: np.ndarray, percent: float) -> np.ndarray:
    """Boolean mask of the rows selected at ``percent`` % (score > (100-percent)th percentile).

    Shape: scores (N,) -> mask (N,).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return np.zeros(0, dtype=bool)
    threshold = np.percentile(scores, 100.0 - float(percent))
    return scores > threshold


def _safe_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def top_percent_metrics(
    scores: np.ndarray, illicit: np.ndarray, revenue: np.ndarray | None = None,
    percents: Iterable[float] = DEFAULT_PERCENTS,
) -> dict[str, float]:
    """Precision/Recall/F1/Revenue@n% and the selection size for each n.

    Revenue@n is the share of all recoverable revenue that the selection recovers (0 when the
    split has no revenue). Keys: ``precision@n, recall@n, f1@n, revenue@n, selected@n``.
    """
    y = np.asarray(illicit, dtype=np.float64)
    rev = np.zeros_like(y) if revenue is None else np.asarray(revenue, dtype=np.float64)
    total_pos, total_rev = y.sum(), rev.sum()
    out: dict[str, float] = {}
    for n in percents:
        mask = select_top(scores, n)
        k = pct_key(n)
        selected = int(mask.sum())
        tp = y[mask].sum()
        precision = _safe_div(tp, selected)
        recall = _safe_div(tp, total_pos)
        out[f"precision@{k}"] = precision
        out[f"recall@{k}"] = recall
        out[f"f1@{k}"] = _safe_div(2 * precision * recall, precision + recall)
        out[f"revenue@{k}"] = _safe_div(rev[mask].sum(), total_rev)
        out[f"selected@{k}"] = float(selected)
    return out


def roc_auc(scores: np.ndarray, illicit: np.ndarray) -> float:
    """ROC AUC with average ranks for ties (= sklearn's); NaN when only one class is present."""
    from scipy.stats import rankdata

    y = np.asarray(illicit).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_at_threshold(scores: np.ndarray, illicit: np.ndarray, threshold: float) -> float:
    """F1 of the rule ``score > threshold``."""
    y = np.asarray(illicit).astype(bool)
    pred = np.asarray(scores) > threshold
    tp = float((pred & y).sum())
    return _safe_div(2 * tp, float(pred.sum() + y.sum()))


def best_threshold(scores: np.ndarray, illicit: np.ndarray,
                   thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> float:
    """The threshold with the best F1 (first one on ties), chosen on validation data."""
    f1s = [f1_at_threshold(scores, illicit, t) for t in thresholds]
    return float(thresholds[int(np.argmax(f1s))])


def ranking_report(
    scores: np.ndarray, illicit: np.ndarray, revenue: np.ndarray | None,
    percents: Iterable[float] = DEFAULT_PERCENTS, threshold: float | None = None,
    threshold_scores: np.ndarray | None = None,
) -> dict[str, float]:
    """All selection metrics for one split: @n% metrics, ``f1@mean``, ``auc`` and (given a
    threshold chosen on validation) ``f1_threshold``, computed on ``threshold_scores`` when given
    (e.g. probabilities, when ``scores`` are logits)."""
    percents = tuple(percents)
    out = top_percent_metrics(scores, illicit, revenue, percents)
    out["f1@mean"] = float(np.mean([out[f"f1@{pct_key(n)}"] for n in percents]))
    out["auc"] = roc_auc(scores, illicit)
    if threshold is not None:
        out["f1_threshold"] = f1_at_threshold(scores if threshold_scores is None else threshold_scores,
                                              illicit, threshold)
        out["threshold"] = float(threshold)
    return out
