"""``bacuda-eval``: score a split with a trained DATE checkpoint and write a report (no training).

    bacuda-eval model_path=outputs/.../date_run data=date_synthetic          # its test split
    bacuda-eval model_path=run/checkpoints/best.ckpt data=file data.path=new.csv split=all
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-eval")

from pathlib import Path

import hydra
from omegaconf import DictConfig

from bacuda_research.core.config import register_resolvers
from bacuda_research.core.paths import CONF_DIR

register_resolvers()


def evaluate(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Scores + metrics of ``cfg.split`` with the checkpoint's own features; writes report.json
    (the fraud task's evaluation, ``bacuda_research.fraud.task.evaluate_fraud``)."""
    from bacuda_research.fraud.task import evaluate_fraud

    return evaluate_fraud(cfg, run_dir)


@hydra.main(config_path=str(CONF_DIR), config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    evaluate(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
