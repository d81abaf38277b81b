"""Selection metrics (Precision/Recall/F1/Revenue at the top n%, AUC, F1 at a threshold) and paired
bootstrap intervals of their differences over test declarations (``metrics.bootstrap``)."""

from bacuda_research.metrics.selection import (
    DEFAULT_PERCENTS,
    best_threshold,
    f1_at_threshold,
    pct_key,
    ranking_report,
    roc_auc,
    select_top,
    top_percent_metrics,
)

__all__ = [
    "DEFAULT_PERCENTS", "best_threshold", "f1_at_threshold", "pct_key", "ranking_report", "roc_auc",
    "select_top", "top_percent_metrics",
]
