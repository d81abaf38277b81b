"""Calibrated confidence for HS suggestions: temperature scaling, ECE, coverage-accuracy tables.

The HS6 path probabilities mix classifier heads with kNN votes, so their scale is not a frequency:
a top-1 "0.31" may be right 60 % of the time. One temperature ``T``, fitted on the validation split
by the Brier score (``fit_temperature``), rescales them: ``q = p ** (1 / T) / sum(p ** (1 / T))``. The ranking is
unchanged (so every accuracy is unchanged); only the confidence moves. NumPy only: the checkpoint
path and the bundle runtime share it.

``coverage_table`` answers the officer's question "if I only accept suggestions above a threshold,
how many rows do I keep and how often is the kept top-1 right?".
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

_EPS = 1e-12


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of ``probs`` ``[N, C]`` rescaled by ``temperature`` (1.0 = unchanged), each summing to 1."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, None)) / float(temperature)
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels`` (rows with label < 0 ignored)."""
    ok = labels >= 0
    p = probs[np.flatnonzero(ok), labels[ok]]
    return float(-np.log(np.clip(p, _EPS, None)).mean()) if ok.any() else float("nan")


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean multi-class Brier score ``sum_c (p_c - [c == y])**2`` (rows with label < 0 ignored)."""
    ok = labels >= 0
    p = probs[np.flatnonzero(ok)]
    y = labels[ok]
    return float(((p ** 2).sum(axis=1) - 2 * p[np.arange(len(y)), y] + 1).mean()) if ok.any() else float("nan")


def fit_temperature(probs: np.ndarray, labels: np.ndarray, objective: str = "brier",
                    grid: Sequence[float] = tuple(np.exp(np.linspace(np.log(0.05), np.log(5.0), 93)))) -> float:
    """The ``T`` of ``grid`` (log-spaced 0.05..5) with the best validation ``objective`` (1.0 if no labels).

    ``brier`` (default) rather than ``nll``: kNN votes give most classes probability exactly 0, and
    the log-likelihood of a true class the neighbours missed is then dominated by the clip value,
    which pushes ``T`` up and spreads confidence over thousands of impossible codes.
    """
    labels = np.asarray(labels)
    if not (labels >= 0).any():
        return 1.0
    score = {"brier": brier, "nll": nll}[objective]
    scores = [score(apply_temperature(probs, t), labels) for t in grid]
    return float(grid[int(np.nanargmin(scores))])


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of top-1 ``confidence`` against ``correct`` (equal-width bins)."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(confidence[m].mean() - correct[m].mean())
    return float(total)


def coverage_table(confidence: np.ndarray, correct: np.ndarray,
                   coverages: Sequence[float] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
                   ) -> list[dict[str, Any]]:
    """Accuracy of the answers kept when only the most confident ``coverage`` share is answered.

    Each row: ``coverage``, ``kept`` (rows), ``threshold`` (the lowest kept confidence: an
    ``--abstain-below`` value that keeps about that share), ``accuracy`` of the kept top-1.
    """
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    order = np.argsort(-confidence, kind="stable")
    rows = []
    for c in coverages:
        n = int(round(c * len(order)))
        if n == 0:
            continue
        kept = order[:n]
        rows.append({"coverage": float(c), "kept": n, "threshold": round(float(confidence[kept].min()), 4),
                     "accuracy": round(float(correct[kept].mean()), 4)})
    return rows
