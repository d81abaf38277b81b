"""How a model trained once ages: its selection metrics per calendar period after training.

A customs model is fitted on the past and used on the future. On data without time structure its
precision stays level; under concept drift (``data=synthetic_drift``, declarations/drift.py) it
falls, unless the model is retrained or explores. ``metrics_by_period`` fits a classic baseline
(``model=xgboost`` etc.) on the training split of a composed config, scores the test split once and
reports Precision@n% and AUC per period of the test split's dates. It is used by
``scripts/drift_check.py`` and tests/test_synthetic_drift.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bacuda_research.metrics.selection import roc_auc, top_percent_metrics


def metrics_by_period(cfg: DictConfig, percent: float = 5.0, period: str = "M") -> pd.DataFrame:
    """Fit ``cfg.model`` (a classic baseline) on the train split; metrics per ``period`` of the test split.

    ``period`` is a pandas period alias (``M`` months, ``Q`` quarters). Columns: period, rows,
    illicit_rate, precision (at ``percent`` % of the period's rows) and auc.
    """
    from bacuda_research.fraud.baselines import build_baseline
    from bacuda_research.fraud.task import build_datamodule

    if cfg.model.family != "classic":
        raise ValueError(f"metrics_by_period fits classic baselines only; model={cfg.model.name} is {cfg.model.family}")
    dm = build_datamodule(cfg)
    dm.setup()
    kw = OmegaConf.to_container(cfg.model, resolve=True)
    model = build_baseline(kw.pop("kind"), seed=int(cfg.seed), threads=cfg.get("threads"), cache_dir=None,
                           feature_names=dm.features.columns, flag_columns=dm.features.flag_columns,
                           **{k: v for k, v in kw.items() if k in ("xgb", "lr", "by", "revenue_given_illicit")})
    model.fit(dm.splits["train"])
    test = dm.splits["test"]
    scores, _ = model.predict(test)
    periods = pd.to_datetime(test.frame["sgd.date"]).dt.to_period(period).astype(str).to_numpy()
    rows = []
    for p in sorted(set(periods)):
        k = periods == p
        m = top_percent_metrics(scores[k], test.illicit[k], None, (percent,))
        rows.append({"period": p, "rows": int(k.sum()), "illicit_rate": float(test.illicit[k].mean()),
                     "precision": float(next(v for key, v in m.items() if key.startswith("precision@"))),
                     "auc": float(roc_auc(scores[k], test.illicit[k]))})
    return pd.DataFrame(rows)


def drop(table: pd.DataFrame, early: list[str], late: list[str], column: str = "precision") -> float:
    """Row-weighted mean of ``column`` over the ``early`` periods minus that over the ``late`` ones."""
    def mean(periods: list[str]) -> float:
        t = table[table["period"].isin(periods)]
        if t.empty:
            raise ValueError(f"no test rows in periods {periods}")
        return float(np.average(t[column], weights=t["rows"]))

    return mean(early) - mean(late)
