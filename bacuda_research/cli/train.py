"""``bacuda-train``: the Hydra app. compose config -> data -> model -> fit -> test -> report.

    bacuda-train                                  # quickstart on embedded synthetic data
    bacuda-train model=xgb_lr data=date_synthetic features.risk_flags=out_of_fold
    bacuda-train experiment=date_synthetic seed=3 hydra.run.dir=runs/date_s3
    bacuda-train -m seed=0,1,2,3,4                # a seed sweep (Hydra multirun)
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-train")

import os
import sys
import warnings

import hydra
from omegaconf import DictConfig

from bacuda_research.core.config import register_resolvers
from bacuda_research.core.paths import CONF_DIR

register_resolvers()
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from bacuda_research.run import run

    from bacuda_research.cli import one_line
    from bacuda_research.declarations.reading import DataValidationError

    hc = HydraConfig.get()
    try:
        report = run(cfg, run_dir=hc.runtime.output_dir, hydra_choices=dict(hc.runtime.choices))
    except (ValueError, FileNotFoundError, FloatingPointError, DataValidationError) as e:
        # refused input (data, a truncated last.ckpt on resume, NaN metrics): one line, exit 2, no DONE
        if os.environ.get("BACUDA_DEBUG"):
            raise
        print(f"bacuda-train: error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    # the returned value is what sweepers (Optuna) optimise
    return report["metrics"].get("val/f1@mean")


if __name__ == "__main__":
    main()
