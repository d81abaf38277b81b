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

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from bacuda_research.fraud.datamodule import DeclarationsDataModule
from bacuda_research.fraud.declared_data import add_schema_digest, drop_revenue_metrics, uses_schema
from bacuda_research.fraud.evaluation import evaluate_scores, prediction_frame, score_frame
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
    add_schema_digest(cfg)  # a declared schema's content enters the run's identity and report
    if cfg.get("features", {}).get("kind") == "auto" and not uses_schema(cfg.data):
        raise ValueError("features=auto reads the roles of a declared schema: give data.schema (data.schema=date "
                         "for a file with the DATE column names)")
    dm = build_datamodule(cfg)
    dm.setup()
    has_revenue = getattr(dm, "has_revenue", True)
    kind = cfg.model.get("kind")
    if kind in ("xgb_revenue", "xgb_expected") and not has_revenue:
        raise ValueError(f"model={kind} needs a revenue column; the schema ({dm.schema.source}) has no revenue role")
    summary = dm.summary()
    log.info("data: %s", {k: v["rows"] for k, v in summary.items() if isinstance(v, dict)})
    percents = tuple(cfg.model.get("percents", (1, 2, 5, 10)))

    if cfg.model.family == "date":
        from bacuda_research.fraud.recipe import fit_date

        out = fit_date(cfg, dm, run_dir, loggers)
        metrics, preds, extra, test_scores = out["metrics"], out["predictions"], out.get("extra", {}), out["scores"]
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
            **{k: v for k, v in kwargs.items() if k in ("xgb", "lr", "by", "revenue_given_illicit")},
        )
        model.fit(dm.splits["train"])
        scores, revenue = {}, {}
        for split in ("valid", "test"):
            scores[split], revenue[split] = model.predict(dm.splits[split])
        metrics = evaluate_scores(scores, dm.splits, percents)
        preds = [prediction_frame(s, dm.splits[s], scores[s], revenue[s]) for s in ("valid", "test")]
        test_scores = score_frame(scores["test"], scores["test"])
        extra = {}

    if not has_revenue:  # absent, not zero: nothing about revenue can be measured
        metrics = drop_revenue_metrics(metrics)
    if getattr(dm, "schema", None) is not None:
        extra = {**extra, "schema": {"source": dm.schema.source, "digest": dm.schema.digest(),
                                     "files": len(dm.paths)},
                 "features": {"kind": "auto" if type(dm.features).__name__ == "AutoFeatures" else "date",
                              "columns": len(dm.features.columns)},
                 "tasks": ["illicit", "revenue"] if has_revenue else ["illicit"]}
    if cfg.get("predictions_file") and is_global_zero():  # one writer under DDP
        write_table(pd.concat(preds, ignore_index=True), Path(run_dir) / cfg.predictions_file)
    if cfg.get("scores_file") and is_global_zero():  # id-free test scores, for paired comparisons
        write_table(test_scores, Path(run_dir) / cfg.scores_file)
    return TaskResult(metrics=metrics, data_sha256=dm.data_sha256,
                      extra={"data": summary, "risk_flags": dm.features.risk_flags, **extra})


def refuse_existing_run(run_dir: Path, model_path: str | Path) -> None:
    """``bacuda-eval`` writes only into a fresh folder: never into a finished run (its ``report.json``,
    ``DONE`` or checkpoints), nor into the model's own run folder (its predictions and report would
    be replaced by the evaluation's)."""
    model = Path(str(model_path))
    model_dir = model.parent.parent if model.suffix == ".ckpt" and model.parent.name == "checkpoints" else model
    if run_dir.exists() and model_dir.exists() and run_dir.resolve() == model_dir.resolve():
        raise ValueError(f"{run_dir}: this is the evaluated model's own run folder; bacuda-eval writes into a "
                         "new folder (leave hydra.run.dir at its default or choose an empty one)")
    held = [n for n in ("report.json", "DONE", "checkpoints") if (run_dir / n).exists()]
    if held:
        raise ValueError(f"{run_dir}: holds a finished run ({', '.join(held)}); bacuda-eval never writes into an "
                         "existing run's files: choose a new hydra.run.dir")


def evaluate_fraud(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """``bacuda-eval``: a trained DATE model's metrics on ``cfg.split`` of ``cfg.data`` (no training).

    The checkpoint's own features and schema score the rows; metrics are computed as in training
    (``evaluation.date_metrics``: the F1 threshold chosen on the validation split, or 0.5 for
    ``split=all``), under the split's own name (``test/...``, ``valid/...``, ``all/...``).
    Writes predictions and ``report.json`` + ``DONE`` into ``run_dir``, which must not hold a
    finished run (``refuse_existing_run``).
    """
    import time

    from bacuda_research.core.io import sha256_file
    from bacuda_research.core.report import build_report, write_report
    from bacuda_research.core.runtime import git_sha, seed_everything, set_threads
    from bacuda_research.core.task import print_metrics
    from bacuda_research.declarations.declared import DeclaredSchema
    from bacuda_research.declarations.schema import load_declarations
    from bacuda_research.declarations.split import time_split
    from bacuda_research.fraud.declared_data import eval_parts
    from bacuda_research.fraud.evaluation import Labels, date_metrics
    from bacuda_research.fraud.predictor import DATEPredictor

    t0 = time.perf_counter()
    git_at_start = git_sha()  # as bacuda-train's run(): the code that scores, not the code at the end
    run_dir = Path(run_dir)
    refuse_existing_run(run_dir, cfg.model_path)
    threads = set_threads(cfg.get("threads"))
    seed_everything(int(cfg.seed))
    predictor = DATEPredictor.from_run(cfg.model_path)
    dm = DeclarationsDataModule(OmegaConf.to_container(cfg.data, resolve=True), {}, cache_dir=cfg.cache_dir)
    declared = isinstance(predictor.schema, DeclaredSchema)  # a run on a declared schema reads with it
    path = None if dm.data_cfg.get("files") else dm.resolve_path()
    if declared:
        parts, data_sha = eval_parts(dm.data_cfg, predictor.schema, path, cfg.split)
    else:
        df = load_declarations(path, dm.schema_options(), max_rows=cfg.data.get("max_rows"))
        parts, data_sha = {"all": df}, sha256_file(path)
        if cfg.split != "all":
            split = cfg.data.split
            _, valid, test = time_split(df, valid_start=split.valid_start, test_start=split.test_start,
                                        fractions=split.fractions, source=str(path))
            parts = {"valid": valid, "test": test}
    outputs, labels = {}, {}
    for name, rows in parts.items():
        out = predictor.predict(rows)
        outputs[name] = {"logit": out["logit"], "prob": out["prob"], "rev": out["rev_score"]}
        revenue = rows["revenue"].to_numpy() if "revenue" in rows else np.zeros(len(rows))
        labels[name] = Labels(rows["illicit"].to_numpy(), revenue)
    metrics = date_metrics(outputs, labels, predictor.percents, keys=[(cfg.split, cfg.split)], threshold=0.5)
    if declared and "revenue" not in predictor.schema.roles:
        metrics = drop_revenue_metrics(metrics)
    if cfg.get("predictions_file"):
        scored = predictor.score(parts[cfg.split])
        scored.insert(1, "split", cfg.split)
        write_table(scored, run_dir / cfg.predictions_file)
    report = build_report(config=OmegaConf.to_container(cfg, resolve=True), metrics=metrics, seed=int(cfg.seed),
                          data_sha256=data_sha, wall_time_s=time.perf_counter() - t0, threads=threads,
                          extra={"model_path": str(cfg.model_path)}, git_at_start=git_at_start)
    write_report(run_dir, report)
    print_metrics(metrics, title=f"{Path(str(cfg.model_path)).name} on {cfg.data.name} ({cfg.split})")
    return report
