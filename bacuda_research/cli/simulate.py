"""``bacuda-simulate``: the inspection-selection simulation (docs/simulation.md), a Hydra app.

    bacuda-simulate data=date_synthetic strategy=xgboost simulation.weeks=10
    bacuda-simulate strategy=date_random plan=fast_linear seed=1 threads=1 hydra.run.dir=runs/sim
    bacuda-simulate -m strategy=random,xgboost seed=0,1,2            # a sweep (Hydra multirun)

Run again with the same ``hydra.run.dir`` to resume a killed run; a finished one (``DONE``) is
left as it is.
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-simulate")

import logging
import warnings

import hydra
from omegaconf import DictConfig

from bacuda_research.core.config import register_resolvers
from bacuda_research.core.paths import CONF_DIR

register_resolvers()
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


@hydra.main(config_path=str(CONF_DIR), config_name="simulate", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from bacuda_research.simulation.app import simulate
    from bacuda_research.simulation.folder import RunFolder

    run_dir = HydraConfig.get().runtime.output_dir
    if RunFolder(run_dir).done:
        logging.getLogger("bacuda_research").info("%s is finished (DONE); nothing to do", run_dir)
        return None
    record = simulate(cfg, run_dir)
    for key in ("norm_precision@last13", "norm_recall@last13", "norm_revenue@last13"):
        if key in record["summary"]:
            print(f"{key}: {record['summary'][key]:.4f}")
    # what sweepers optimise
    return record["summary"].get("norm_precision@last13")


if __name__ == "__main__":
    main()
