"""``LabelOracle``: the one component that holds the labels of every declaration.

Strategies never get it. The simulator asks it to ``reveal`` the labels of what was inspected (they
join the labeled pool) and to ``score`` a week's selection against the whole batch (the evaluator
may see every label: recall and the oracle bounds need them). Rows are positions in the simulated
data (``SimData.frame``), never raw declaration ids.
"""

from __future__ import annotations

import numpy as np

# columns the oracle takes out of the data before any strategy sees it
LABEL_COLUMNS = ("illicit", "revenue")


class LabelOracle:
    """Labels by row position; ``revenue`` is None on data without a revenue column."""

    def __init__(self, illicit: np.ndarray, revenue: np.ndarray | None) -> None:
        self._illicit = np.asarray(illicit, dtype=np.float64)
        self._revenue = None if revenue is None else np.asarray(revenue, dtype=np.float64)
        self._revealed = np.zeros(len(self._illicit), dtype=bool)

    @property
    def has_revenue(self) -> bool:
        return self._revenue is not None

    def __len__(self) -> int:
        return len(self._illicit)

    def reveal(self, rows: np.ndarray) -> None:
        """Inspected ``rows`` count as revealed from now on (``labels_of`` gives their labels)."""
        self._revealed[np.asarray(rows, dtype=np.int64)] = True

    def labels_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(illicit, revenue) of ``rows`` that were revealed before; refuses any other row."""
        rows = np.asarray(rows, dtype=np.int64)
        if not self._revealed[rows].all():
            raise PermissionError("LabelOracle: labels asked for rows that were never inspected")
        return self._illicit[rows].copy(), self.revenue_of(rows)

    def revenue_of(self, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows)) if self._revenue is None else self._revenue[rows].copy()

    def score(self, batch_rows: np.ndarray, selected_rows: np.ndarray) -> dict[str, float]:
        """The week's metrics of ``selected_rows`` among ``batch_rows`` (SIMULATION.md 1.6).

        precision = frauds found / inspected; recall = frauds found / frauds in the batch;
        revenue = revenue found / batch revenue; oracle bounds: UB_prec = min(|F| / k, 1),
        UB_rec = min(k / |F|, 1), UB_rev = the k largest revenues / batch revenue; norm_x = x / UB_x.
        Undefined values (no fraud, no revenue in the batch) are NaN.
        """
        batch_rows, sel = np.asarray(batch_rows, dtype=np.int64), np.asarray(selected_rows, dtype=np.int64)
        y, ysel = self._illicit[batch_rows], self._illicit[sel]
        k, frauds, found = len(sel), float(y.sum()), float(ysel.sum())
        out = {"n_batch": len(batch_rows), "k": k, "batch_frauds": frauds, "frauds_found": found}
        nan = float("nan")
        out["precision"] = found / k if k else nan
        out["recall"] = found / frauds if frauds else nan
        out["ub_precision"] = min(frauds / k, 1.0) if k else nan
        out["ub_recall"] = min(k / frauds, 1.0) if frauds else nan
        if self._revenue is not None:
            r, rsel = self._revenue[batch_rows], self._revenue[sel]
            total, got = float(r.sum()), float(rsel.sum())
            best = float(np.sort(r)[::-1][:k].sum())
            out.update(revenue=got / total if total else nan, avg_revenue=got / k if k else nan,
                       revenue_found=got, ub_revenue=best / total if total else nan)
        for m in ("precision", "recall", "revenue"):
            if m in out:
                ub = out[f"ub_{m}"]
                out[f"norm_{m}"] = out[m] / ub if ub and np.isfinite(ub) and np.isfinite(out[m]) else nan
        return out

    def subset_score(self, rows: np.ndarray) -> dict[str, float]:
        """Precision and revenue found of a part of the selection (a hybrid's sub-strategy)."""
        rows = np.asarray(rows, dtype=np.int64)
        y = self._illicit[rows]
        out = {"k": len(rows), "precision": float(y.mean()) if len(rows) else float("nan")}
        if self._revenue is not None:
            out["revenue_found"] = float(self._revenue[rows].sum())
        return out
