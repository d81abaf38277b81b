"""``bacuda-eval``: score a split with a trained DATE checkpoint and write a report (no training).

    bacuda-eval model_path=outputs/.../date_run data=date_synthetic          # its test split
    bacuda-eval model_path=run/checkpoints/best.ckpt data=file data.path=new.csv split=all
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-eval")

import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bacuda_research.core.config import register_resolvers
from bacuda_research.core.paths import CONF_DIR

register_resolvers()


def evaluate(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Scores + metrics of ``cfg.split`` with the checkpoint's own features; writes report.json."""
    import pandas as pd

    from bacuda_research.fraud.datamodule import DeclarationsDataModule
    from bacuda_research.declarations.schema import load_declarations
    from bacuda_research.declarations.split import time_split
    from bacuda_research.metrics.selection import best_threshold, ranking_report
    from bacuda_research.fraud.predictor import DATEPredictor
    from bacuda_research.core.task import print_metrics
    from bacuda_research.core.io import sha256_file, write_table
    from bacuda_research.core.report import build_report, write_report
    from bacuda_research.core.runtime import seed_everything, set_threads

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    threads = set_threads(cfg.get("threads"))
    seed_everything(int(cfg.seed))
    predictor = DATEPredictor.from_run(cfg.model_path)
    dm = DeclarationsDataModule(OmegaConf.to_container(cfg.data, resolve=True), {}, cache_dir=cfg.cache_dir)
    path = dm.resolve_path()
    df = load_declarations(path, dm.schema_options(), max_rows=cfg.data.get("max_rows"))
    split = cfg.data.split
    parts = {"all": df}
    if cfg.split != "all":
        train, valid, test = time_split(df, valid_start=split.valid_start, test_start=split.test_start,
                                        fractions=split.fractions, source=str(path))
        parts = {"valid": valid, "test": test}
    metrics, frames = {}, []
    threshold = 0.5
    if "valid" in parts:
        v = predictor.predict(parts["valid"])
        threshold = best_threshold(v["prob"], parts["valid"]["illicit"].to_numpy())
    for name in ([cfg.split] if cfg.split != "all" else ["all"]):
        rows = parts[name]
        out = predictor.predict(rows)
        y, rev = rows["illicit"].to_numpy(), rows["revenue"].to_numpy()
        metrics.update({f"{name}/{k}": v for k, v in
                        ranking_report(out["logit"], y, rev, predictor.percents, threshold,
                                       threshold_scores=out["prob"]).items()})
        metrics.update({f"{name}/rev/{k}": v for k, v in
                        ranking_report(out["rev_score"], y, rev, predictor.percents).items()})
        scored = predictor.score(rows)
        scored.insert(1, "split", name)
        frames.append(scored)
    if cfg.get("predictions_file"):
        write_table(pd.concat(frames, ignore_index=True), run_dir / cfg.predictions_file)
    report = build_report(config=OmegaConf.to_container(cfg, resolve=True), metrics=metrics, seed=int(cfg.seed),
                          data_sha256=sha256_file(path), wall_time_s=time.perf_counter() - t0, threads=threads,
                          extra={"model_path": str(cfg.model_path)})
    write_report(run_dir, report)
    print_metrics(metrics, title=f"{Path(str(cfg.model_path)).name} on {cfg.data.name} ({cfg.split})")
    return report


@hydra.main(config_path=str(CONF_DIR), config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    evaluate(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
