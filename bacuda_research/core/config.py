"""Config plumbing: resolvers, composing ``conf/`` without the CLI, and config checks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

from bacuda_research.core.paths import CONF_DIR, shared_path


def register_resolvers() -> None:
    """``${shared:rel/path}`` -> the absolute path of a file below the shared data folder;
    ``${if_schema:${oc.select:data.schema,null},A,B}`` -> A with a declared schema, B without (the
    defaults that differ between the DATE layout and declared schemas, conf/features/date.yaml)."""
    if not OmegaConf.has_resolver("shared"):
        OmegaConf.register_new_resolver("shared", lambda rel: str(shared_path(str(rel))))
    if not OmegaConf.has_resolver("if_schema"):
        OmegaConf.register_new_resolver("if_schema", lambda schema, a, b: a if schema else b)


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The config ``bacuda-train`` would run with these overrides (for tests, scripts, notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=str(Path(CONF_DIR).resolve()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))
