"""DATE network inputs from validated declarations, in NumPy only (no torch).

One function shared by training-time prediction (``DATEPredictor``) and the torch-free scoring
runtime (``bacuda_research.bundle.runtime``), so an exported bundle computes its inputs with the very code
the trained model used: features -> XGBoost leaves -> global leaf indices, importer and item
indices (0 = unseen in training), and the optional scaled dense inputs.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd


def dense_scaler(X: np.ndarray) -> dict[str, list[float]]:
    """Mean/std of sign(x)*log1p(|x|) on training rows (the dense branch's input scaling)."""
    z = np.sign(X) * np.log1p(np.abs(X))
    std = z.std(axis=0)
    return {"mean": z.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}


def dense_scaled(X: np.ndarray, scaler: Mapping[str, list[float]]) -> np.ndarray:
    """sign(x)*log1p(|x|) standardised by ``dense_scaler``'s mean/std, in float64 (also the
    simulation's drift score)."""
    z = np.sign(X) * np.log1p(np.abs(X))
    return (z - np.asarray(scaler["mean"])) / np.asarray(scaler["std"])


def dense_inputs(X: np.ndarray, scaler: Mapping[str, list[float]]) -> np.ndarray:
    """The dense branch's inputs: ``dense_scaled`` in float32."""
    return dense_scaled(X, scaler).astype(np.float32)


def model_inputs(df: pd.DataFrame, features: Any, stage: Any, encoder: Any,
                 scaler: Mapping[str, list[float]] | None, matrix: bool = False) -> dict[str, np.ndarray]:
    """``leaves`` (N, T) int64, ``importer``/``item`` (N,) int64 and, with a dense branch,
    ``dense`` (N, F) float32 for canonical declarations (see ``data.schema.load_declarations``);
    with ``matrix`` also ``X``, the tree stage's feature matrix.

    ``features`` is a fitted ``DeclarationFeatures``, ``stage`` a ``TreeStage`` and ``encoder`` a
    ``LeafEncoder``; leaves never reached in training map to index 0.
    """
    frame = features.transform(df)
    X = features.matrix(frame)
    out = {
        "leaves": encoder.transform(stage.leaves(X)).astype(np.int64),
        "importer": features.importer_index(frame),
        "item": features.item_index(frame),
    }
    if scaler:
        out["dense"] = dense_inputs(X, scaler)
    if matrix:
        out["X"] = X
    return out


def expected_revenue(prob: np.ndarray, given_illicit: np.ndarray) -> np.ndarray:
    """Expected recoverable revenue, P(illicit) x E[revenue | illicit] (negative predictions of the
    conditional regressor count as 0): what ``model.revenue_ranking=expected`` ranks DATE_REV by."""
    return np.asarray(prob, dtype=np.float64) * np.maximum(np.asarray(given_illicit, dtype=np.float64), 0.0)


def revenue_outputs(prob: np.ndarray, rev_head: np.ndarray, revenue_scale: float,
                    given_illicit: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(revenue score DATE_REV ranks by, predicted revenue in currency units) of scored rows.

    Ranking by the head (``given_illicit`` None): the head's pre-ReLU score, and its normalised log
    revenue turned back into currency. ``model.revenue_ranking=expected`` (``given_illicit``: the
    E[revenue | illicit] regressor's predictions): the expected revenue for both.
    """
    if given_illicit is None:
        return rev_head, np.expm1(np.maximum(rev_head, 0.0) * revenue_scale)
    expected = expected_revenue(prob, given_illicit)
    return expected, expected
