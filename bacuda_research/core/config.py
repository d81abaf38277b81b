"""Config plumbing: resolvers, composing ``conf/`` without the CLI, and config checks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

from bacuda_research.core.paths import CONF_DIR, shared_path


def register_resolvers() -> None:
    """``${shared:rel/path}`` -> the absolute path of a file below the shared data folder."""
    if not OmegaConf.has_resolver("shared"):
        OmegaConf.register_new_resolver("shared", lambda rel: str(shared_path(str(rel))))


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The config ``bacuda-train`` would run with these overrides (for tests, scripts, notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=str(Path(CONF_DIR).resolve()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))
