"""Builders shared by every Lightning-based model: loggers and the Trainer.

Kept free of model logic so that DATE, the HS classifier and any new model get the same run
folder layout, trackers and device handling from the same code.
"""

from __future__ import annotations

import logging
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


class _DropTips(logging.Filter):
    """Lightning 2.6 advertises a cloud logger on every Trainer ("💡 Tip: ... litlogger"): noise in
    every run's log, and a pointer to an online service in an offline tool."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def _quiet_lightning_tips() -> None:
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in lg.filters):
            lg.addFilter(_DropTips())


def build_trainer(
    cfg: DictConfig, run_dir: Path, loggers: list[Any] | bool = False, callbacks: Iterable[Any] = (),
    **overrides: Any,
) -> Any:
    """A Lightning Trainer from ``cfg.trainer`` (keyword arguments) writing into ``run_dir``."""
    import warnings

    import lightning.pytorch as pl

    # our IterableDataset yields whole batches in one process; Lightning's length caveat is moot
    warnings.filterwarnings("ignore", message=r".*Your `IterableDataset` has `__len__` defined.*")
    _quiet_lightning_tips()
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    for key in NOT_TRAINER_KEYS:  # our settings, read by compile_network / the data modules
        kwargs.pop(key, None)
    kwargs.update(overrides)
    return pl.Trainer(default_root_dir=str(run_dir), logger=loggers, callbacks=list(callbacks), **kwargs)


# keys of conf/trainer/*.yaml that are not pl.Trainer arguments
NOT_TRAINER_KEYS = ("compile", "loader")


def compile_network(net: Any, cfg: DictConfig) -> Any:
    """``torch.compile`` ``net`` in place when ``trainer.compile.enabled`` (``nn.Module.compile``:
    the parameter names, hence checkpoints, stay those of the plain module)."""
    ccfg = (cfg.get("trainer") or {}).get("compile") or {}
    if not ccfg.get("enabled", False):
        return net
    opts = {k: ccfg.get(k) for k in ("backend", "mode", "dynamic") if ccfg.get(k) is not None}
    net.compile(**opts)
    return net


def loader_settings(cfg: DictConfig) -> dict[str, Any]:
    """``trainer.loader`` with its defaults (tensors moved to a GPU once, pinned host batches)."""
    lcfg = (cfg.get("trainer") or {}).get("loader") or {}
    return {"tensors_on_device": lcfg.get("tensors_on_device", "auto"), "pin_memory": bool(lcfg.get("pin_memory", True))}


def is_global_zero() -> bool:
    """True in the process that writes run outputs: rank 0 of a DDP/SLURM job, or a single process.

    Reads the rank Lightning uses (``RANK``/``LOCAL_RANK``/``SLURM_PROCID`` at start-up, then the
    strategy's), so every rank of a job that re-runs the whole command agrees on the writer.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0
