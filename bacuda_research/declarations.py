"""The declarations task: fraud-detection models ranked by the selection metrics.

``run_declarations(cfg, run_dir, loggers)`` builds the data module, fits the configured model on
the training split, scores validation and test, writes per-declaration predictions and returns
the metrics. Metric keys (a contract): ``val/<m>`` and ``test/<m>`` with ``<m>`` in
``precision@n, recall@n, f1@n, revenue@n, selected@n, f1@mean, auc, f1_threshold``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bacuda_research.data.datamodule import DeclarationsDataModule, Split
from bacuda_research.metrics.selection import best_threshold, rank_desc, ranking_report
from bacuda_research.pipeline import TaskResult
from bacuda_research.training import is_global_zero
from bacuda_research.utils.io import write_table

log = logging.getLogger("bacuda_research")


def build_datamodule(cfg: DictConfig) -> DeclarationsDataModule:
    return DeclarationsDataModule(
        data=OmegaConf.to_container(cfg.data, resolve=True),
        features=OmegaConf.to_container(cfg.features, resolve=True),
        seed=int(cfg.seed), cache_dir=cfg.cache_dir,
    )


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


def run_declarations(cfg: DictConfig, run_dir: Path, loggers: list[Any]) -> TaskResult:
    dm = build_datamodule(cfg)
    dm.setup()
    summary = dm.summary()
    log.info("data: %s", {k: v["rows"] for k, v in summary.items() if isinstance(v, dict)})
    percents = tuple(cfg.model.get("percents", (1, 2, 5, 10)))

    if cfg.model.family == "date":
        from bacuda_research.modules.date_module import fit_date

        out = fit_date(cfg, dm, run_dir, loggers)
        metrics, preds, extra = out["metrics"], out["predictions"], out.get("extra", {})
        if out.get("explanations") and is_global_zero():
            from bacuda_research.utils.io import write_text

            write_text(Path(run_dir) / "explanations.jsonl",
                       "".join(json.dumps(e) + "\n" for e in out["explanations"]))
    else:
        from bacuda_research.models.baselines import build_baseline

        kwargs = OmegaConf.to_container(cfg.model, resolve=True)
        model = build_baseline(
            kwargs.pop("kind"), seed=int(cfg.seed), threads=cfg.get("threads"), cache_dir=cfg.cache_dir,
            feature_names=dm.features.columns, flag_columns=dm.features.flag_columns,
            **{k: v for k, v in kwargs.items() if k in ("xgb", "lr")},
        )
        model.fit(dm.splits["train"])
        scores, revenue = {}, {}
        for split in ("valid", "test"):
            scores[split], revenue[split] = model.predict(dm.splits[split])
        metrics = evaluate_scores(scores, dm.splits, percents)
        preds = [prediction_frame(s, dm.splits[s], scores[s], revenue[s]) for s in ("valid", "test")]
        extra = {}

    if cfg.get("predictions_file") and is_global_zero():  # one writer under DDP
        write_table(pd.concat(preds, ignore_index=True), Path(run_dir) / cfg.predictions_file)
    return TaskResult(metrics=metrics, data_sha256=dm.data_sha256,
                      extra={"data": summary, "risk_flags": dm.features.risk_flags, **extra})
