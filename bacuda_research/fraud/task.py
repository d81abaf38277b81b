"""The fraud-detection task's runner: ``run_fraud(cfg, run_dir, loggers) -> TaskResult``.

Builds the data module, fits the configured model (a baseline, or DATE through ``recipe.fit_date``)
on the training split, scores validation and test (``evaluation``), writes per-declaration
predictions and explanations, and returns the metrics to the spine (``bacuda_research.run``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bacuda_research.fraud.datamodule import DeclarationsDataModule
from bacuda_research.fraud.evaluation import evaluate_scores, prediction_frame
from bacuda_research.core.task import TaskResult
from bacuda_research.core.training import is_global_zero
from bacuda_research.core.io import write_table

log = logging.getLogger("bacuda_research")


def build_datamodule(cfg: DictConfig) -> DeclarationsDataModule:
    return DeclarationsDataModule(
        data=OmegaConf.to_container(cfg.data, resolve=True),
        features=OmegaConf.to_container(cfg.features, resolve=True),
        seed=int(cfg.seed), cache_dir=cfg.cache_dir,
    )


def run_fraud(cfg: DictConfig, run_dir: Path, loggers: list[Any]) -> TaskResult:
    dm = build_datamodule(cfg)
    dm.setup()
    summary = dm.summary()
    log.info("data: %s", {k: v["rows"] for k, v in summary.items() if isinstance(v, dict)})
    percents = tuple(cfg.model.get("percents", (1, 2, 5, 10)))

    if cfg.model.family == "date":
        from bacuda_research.fraud.recipe import fit_date

        out = fit_date(cfg, dm, run_dir, loggers)
        metrics, preds, extra = out["metrics"], out["predictions"], out.get("extra", {})
        if out.get("explanations") and is_global_zero():
            from bacuda_research.core.io import write_text

            write_text(Path(run_dir) / "explanations.jsonl",
                       "".join(json.dumps(e) + "\n" for e in out["explanations"]))
    else:
        from bacuda_research.fraud.baselines import build_baseline

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
