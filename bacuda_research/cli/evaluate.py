"""``bacuda-eval``: score a split with a trained DATE checkpoint and write a report (no training).

    bacuda-eval model_path=outputs/.../date_run data=date_synthetic          # its test split
    bacuda-eval model_path=run/checkpoints/best.ckpt data=file data.path=new.csv split=all

The output folder (``hydra.run.dir``, default ``outputs/eval/<date>/<time>``) must not hold a
finished run nor be the model's own run folder: evaluation never replaces a run's files.
Any failure is one line on stderr, exit status 2.
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-eval")

import sys
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
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from bacuda_research.cli import run_guarded

    def body() -> int:
        evaluate(cfg, HydraConfig.get().runtime.output_dir)
        return 0

    code = run_guarded("bacuda-eval", body)
    if code:
        sys.exit(code)


def main() -> None:
    """Console entry point. ``hydra.run.dir=DIR`` naming a finished run is refused before Hydra starts
    (Hydra itself would first replace that run's ``.hydra/`` config files)."""
    for arg in sys.argv[1:]:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") == "hydra.run.dir":
            from bacuda_research.cli import one_line
            from bacuda_research.fraud.task import refuse_existing_run

            model = next((a.partition("=")[2] for a in sys.argv[1:] if a.startswith("model_path=")), "")
            try:
                refuse_existing_run(Path(value), model)
            except ValueError as e:
                print(f"bacuda-eval: error: {one_line(e)}", file=sys.stderr)
                sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
