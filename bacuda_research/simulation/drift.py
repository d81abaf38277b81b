"""A drift score in [0, 1] between the recently labeled declarations and this week's batch.

Sliced Wasserstein-1 on the tree stage's features (``sign(x) log1p|x|``, standardised by the
reference rows): ``projections`` random unit directions, at most ``max_points`` rows of each side,
SciPy's exact 1-D Wasserstein distance per direction. Each distance is at most the mean absolute
projection of the two samples (E|u.x| + E|u.y| bounds W1), so their ratio, averaged over
directions, lies in [0, 1]: 0 for identical samples, near 1 for disjoint, far-apart ones. It is the
reference's ``pot`` normalisation (cost / (mean norm + mean norm)) with sliced instead of exact
transport, which needs no GPU and no extra dependency. Caveat (as in the reference): the reference
rows are the inspected ones, so the score mixes selection bias with real drift.
"""

from __future__ import annotations

import numpy as np


def drift_score(reference: np.ndarray, current: np.ndarray, rng: np.random.Generator,
                projections: int = 50, max_points: int = 500) -> float:
    """Sliced-Wasserstein drift between two feature matrices (NaN when either is empty)."""
    from scipy.stats import wasserstein_distance

    if len(reference) == 0 or len(current) == 0:
        return float("nan")

    def sample(X: np.ndarray) -> np.ndarray:
        X = np.nan_to_num(np.asarray(X, dtype=np.float64))
        return X[rng.choice(len(X), size=max_points, replace=False)] if len(X) > max_points else X

    ref, cur = sample(reference), sample(current)
    ref, cur = np.sign(ref) * np.log1p(np.abs(ref)), np.sign(cur) * np.log1p(np.abs(cur))
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    ref, cur = (ref - mean) / std, (cur - mean) / std
    u = rng.normal(size=(ref.shape[1], int(projections)))
    u /= np.linalg.norm(u, axis=0, keepdims=True)
    pr, pc = ref @ u, cur @ u
    ratios = []
    for j in range(u.shape[1]):
        bound = np.abs(pr[:, j]).mean() + np.abs(pc[:, j]).mean()
        if bound > 0:
            ratios.append(wasserstein_distance(pr[:, j], pc[:, j]) / bound)
    return float(np.clip(np.mean(ratios), 0.0, 1.0)) if ratios else 0.0
