"""Builders shared by every Lightning-based model: loggers and the Trainer.

Kept free of model logic so that DATE, the HS classifier and any new model get the same run
folder layout, trackers and device handling from the same code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Any]:
    """CSV logger always (when ``logger.csv``); wandb per ``logger.wandb.mode`` (offline by default).

    wandb never prompts or reaches the network unless ``mode=online``: offline mode writes under
    ``<run_dir>/wandb`` and can be synced later with ``wandb sync``.
    """
    from lightning.pytorch.loggers import CSVLogger

    loggers: list[Any] = []
    lcfg = cfg.get("logger") or {}
    if lcfg.get("csv", True):
        loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=""))
    wcfg = lcfg.get("wandb")
    if wcfg and wcfg.get("mode", "offline") != "disabled":
        mode = wcfg.get("mode", "offline")
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        os.environ.setdefault("WANDB_SILENT", "true")
        if mode != "online":
            os.environ["WANDB_MODE"] = "offline"
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(
            WandbLogger(
                project=wcfg.get("project", "bacuda_research"),
                entity=wcfg.get("entity"),
                save_dir=str(run_dir),
                offline=(mode != "online"),
                name=cfg.get("model", {}).get("name"),
                tags=list(cfg.get("tags") or []),
            )
        )
    return loggers


def log_params(loggers: Iterable[Any], cfg: DictConfig) -> None:
    """Record the resolved config in every tracker (it holds paths and settings, never keys)."""
    params = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        lg.log_hyperparams(params)


def log_metrics(loggers: Iterable[Any], metrics: dict[str, float], step: int | None = None) -> None:
    for lg in loggers:
        lg.log_metrics({k: float(v) for k, v in metrics.items() if v is not None}, step=step)


def finalize_loggers(loggers: Iterable[Any]) -> None:
    for lg in loggers:
        lg.finalize("success")
        if type(lg).__name__ == "WandbLogger":
            import wandb

            if wandb.run is not None:
                wandb.finish()


def build_trainer(
    cfg: DictConfig, run_dir: Path, loggers: list[Any] | bool = False, callbacks: Iterable[Any] = (),
    **overrides: Any,
) -> Any:
    """A Lightning Trainer from ``cfg.trainer`` (keyword arguments) writing into ``run_dir``."""
    import warnings

    import lightning.pytorch as pl

    # our IterableDataset yields whole batches in one process; Lightning's length caveat is moot
    warnings.filterwarnings("ignore", message=r".*Your `IterableDataset` has `__len__` defined.*")
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    kwargs.update(overrides)
    return pl.Trainer(default_root_dir=str(run_dir), logger=loggers, callbacks=list(callbacks), **kwargs)
