"""A drift score in [0, 1] between the recently labeled declarations and this week's batch.

Sliced Wasserstein-1 on the tree stage's features (``sign(x) log1p|x|``, standardised by the
reference rows: ``fraud.inputs.dense_scaler``, the scaling of DATE's dense inputs): ``projections``
random unit directions, at most ``max_points`` rows of each side, SciPy's exact 1-D Wasserstein
distance per direction. Each distance is at most the mean absolute
projection of the two samples (E|u.x| + E|u.y| bounds W1), so their ratio, averaged over
directions, lies in [0, 1]: 0 for identical samples, near 1 for disjoint, far-apart ones. It is the
reference's ``pot`` normalisation (cost / (mean norm + mean norm)) with sliced instead of exact
transport, which needs no GPU and no extra dependency. Caveat (as in the reference): the reference
rows are the inspected ones, so the score mixes selection bias with real drift.
"""

from __future__ import annotations

import numpy as np

from bacuda_research.fraud.inputs import dense_scaled, dense_scaler


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
    scaler = dense_scaler(ref)  # DATE's dense-input scaling, fitted on the reference rows
    ref, cur = dense_scaled(ref, scaler), dense_scaled(cur, scaler)
    u = rng.normal(size=(ref.shape[1], int(projections)))
    u /= np.linalg.norm(u, axis=0, keepdims=True)
    pr, pc = ref @ u, cur @ u
    ratios = []
    for j in range(u.shape[1]):
        bound = np.abs(pr[:, j]).mean() + np.abs(pc[:, j]).mean()
        if bound > 0:
            ratios.append(wasserstein_distance(pr[:, j], pc[:, j]) / bound)
    return float(np.clip(np.mean(ratios), 0.0, 1.0)) if ratios else 0.0
