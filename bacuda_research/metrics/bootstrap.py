"""Paired bootstrap over test declarations: how sure is "model A selects more than model B"?

Revenue@n is dominated by a few large declarations: one of them more or less in a selection moves
it by several points, so the spread over training seeds (same test rows every time) understates
the uncertainty of a comparison. Here the *test rows* are resampled with replacement, both models'
metrics are recomputed on the same resample (paired: their selections compete for the same large
declarations), and the difference's percentile interval is reported.

A model may be given as several score vectors (e.g. one per training seed, same rows): its metric
on a resample is then the mean over them, so the interval covers the seed-averaged comparison.
Selection is ``select_top``'s rule on the resample (a duplicated row counts twice).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from bacuda_research.metrics.selection import DEFAULT_PERCENTS, pct_key, top_percent_metrics

BOOTSTRAP_METRICS = ("precision", "revenue")


def _as_runs(scores: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    arr = scores if isinstance(scores, (list, tuple)) else [scores]
    return [np.asarray(a, dtype=np.float64) for a in arr]


def _mean_metrics(runs: list[np.ndarray], idx: np.ndarray | None, illicit: np.ndarray, revenue: np.ndarray,
                  percents: tuple[float, ...], keys: list[str]) -> np.ndarray:
    y, rev = (illicit, revenue) if idx is None else (illicit[idx], revenue[idx])
    vals = [top_percent_metrics(s if idx is None else s[idx], y, rev, percents) for s in runs]
    return np.array([np.mean([v[k] for v in vals]) for k in keys])


def resampled_metrics(models: Mapping[str, np.ndarray | Sequence[np.ndarray]], illicit: np.ndarray,
                      revenue: np.ndarray, percents: Iterable[float] = DEFAULT_PERCENTS, n_boot: int = 1000,
                      seed: int = 0, metrics: Sequence[str] = BOOTSTRAP_METRICS
                      ) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(metric keys, observed metrics per model (K,), metrics per model on each resample (n_boot, K)).

    Every model sees the same resamples (drawn from ``seed``), so any two of them can be compared
    pairwise afterwards (``paired_interval``).
    """
    runs = {name: _as_runs(s) for name, s in models.items()}
    y = np.asarray(illicit, dtype=np.float64)
    rev = np.asarray(revenue, dtype=np.float64)
    n = len(y)
    for name, rs in runs.items():
        if any(len(s) != n for s in rs) or len(rev) != n:
            raise ValueError(f"resampled_metrics: {name}: every score vector needs the {n} rows of the labels, "
                             "in the same order")
    percents = tuple(percents)
    keys = [f"{m}@{pct_key(p)}" for m in metrics for p in percents]
    observed = {name: _mean_metrics(rs, None, y, rev, percents, keys) for name, rs in runs.items()}
    resampled = {name: np.empty((n_boot, len(keys))) for name in runs}
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        for name, rs in runs.items():
            resampled[name][b] = _mean_metrics(rs, idx, y, rev, percents, keys)
    return keys, observed, resampled


def paired_interval(keys: Sequence[str], observed: Mapping[str, np.ndarray], resampled: Mapping[str, np.ndarray],
                    a: str, b: str, level: float = 0.95) -> dict[str, dict[str, float]]:
    """Per metric key: the difference A - B on the rows as given (``diff``), its bootstrap mean
    (``mean``), the ``level`` percentile interval (``lo``, ``hi``) and the share of resamples where A
    is strictly ahead (``p_a_ahead``)."""
    diffs = resampled[a] - resampled[b]
    observed_diff = observed[a] - observed[b]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(diffs, [alpha, 1.0 - alpha], axis=0)
    return {k: {"diff": float(observed_diff[i]), "mean": float(diffs[:, i].mean()), "lo": float(lo[i]),
                "hi": float(hi[i]), "p_a_ahead": float((diffs[:, i] > 0).mean())}
            for i, k in enumerate(keys)}


def paired_bootstrap(scores_a: np.ndarray | Sequence[np.ndarray], scores_b: np.ndarray | Sequence[np.ndarray],
                     illicit: np.ndarray, revenue: np.ndarray, percents: Iterable[float] = DEFAULT_PERCENTS,
                     n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                     metrics: Sequence[str] = BOOTSTRAP_METRICS) -> dict[str, dict[str, float]]:
    """A - B for two models (``paired_interval`` of ``resampled_metrics``).

    Shape: each score vector (N,), ``illicit`` and ``revenue`` (N,); the same rows in the same order
    for both models. ``seed`` fixes the resamples, so two calls with the same inputs agree exactly.
    """
    keys, observed, resampled = resampled_metrics({"a": scores_a, "b": scores_b}, illicit, revenue, percents,
                                                  n_boot, seed, metrics)
    return paired_interval(keys, observed, resampled, "a", "b", level)
