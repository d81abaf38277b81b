"""torchmetrics wrappers of the selection metrics, correct under DDP.

The top-n% rule needs every score of the split at once (a percentile over all rows), so the
states are concatenated lists (``dist_reduce_fx="cat"``): under DDP each process gathers all
rows before ``compute``. Padding duplicates added by a DistributedSampler must be dropped by the
caller (pass ``row_index`` and duplicates are removed, so 1 and 2 processes agree exactly).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from bacuda_research.metrics.selection import DEFAULT_PERCENTS, ranking_report


class TopPercentSelection(Metric):
    """Precision/Recall/F1/Revenue@n%, F1@mean and AUC over a whole split.

    Shape:
        update(scores (B,), illicit (B,), revenue (B,), row_index (B,) optional)
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, percents: Iterable[float] = DEFAULT_PERCENTS, threshold: float | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.percents = tuple(float(p) for p in percents)
        self.threshold = threshold
        for name in ("scores", "illicit", "revenue", "row_index"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, scores: torch.Tensor, illicit: torch.Tensor, revenue: torch.Tensor | None = None,
               row_index: torch.Tensor | None = None) -> None:
        scores = scores.detach().reshape(-1).to(torch.float64)
        self.scores.append(scores)
        self.illicit.append(illicit.detach().reshape(-1).to(torch.float64))
        self.revenue.append(
            torch.zeros_like(scores) if revenue is None else revenue.detach().reshape(-1).to(torch.float64))
        self.row_index.append(
            torch.full_like(scores, -1, dtype=torch.int64) if row_index is None
            else row_index.detach().reshape(-1).to(torch.int64))

    def compute(self) -> dict[str, float]:
        scores = dim_zero_cat(self.scores).cpu().numpy()
        illicit = dim_zero_cat(self.illicit).cpu().numpy()
        revenue = dim_zero_cat(self.revenue).cpu().numpy()
        rows = dim_zero_cat(self.row_index).cpu().numpy()
        if (rows >= 0).all():
            # drop sampler padding duplicates and restore the dataset order (bitwise-stable results)
            import numpy as np

            _, first = np.unique(rows, return_index=True)
            scores, illicit, revenue = scores[first], illicit[first], revenue[first]
        return ranking_report(scores, illicit, revenue, self.percents, self.threshold)
