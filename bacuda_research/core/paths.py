"""Where things live: the configs, the project folder (checkout) and the shared data folder.

The same code runs from a git checkout (``pip install -e .``) and from an installed wheel
(``pip install .``), where the package is not inside a checkout. Each location is looked up in a
fixed, documented order (README "Where files are found"; ``tests/test_paths.py``):

- **configs** (``CONF_DIR``): ``$BACUDA_CONF_DIR``; else the checkout's ``conf/``; else the copy
  of ``conf/`` shipped inside the wheel (``bacuda_research/conf``, package data).
- **project folder** (``project_dir()``: benchmark suites write ``experiments/...`` below it):
  ``$BACUDA_PROJECT_DIR``; else the checkout; else the current working directory.
- **shared data** (``shared_dir()``): ``$BACUDA_SHARED_DIR``; else ``shared/`` beside the checkout
  (``<checkout>/../shared``); else ``./shared``, then ``../shared`` from the current working
  directory; the first that exists wins (none existing: the first candidate, so errors name it).

Run folders (``outputs/...``) and caches (``.cache/...``) are relative to the working directory,
as with any Hydra app.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def find_checkout(package_dir: Path) -> Path | None:
    """The repository folder holding ``package_dir`` when the package runs from a checkout
    (editable install or PYTHONPATH); None for an installed copy (e.g. in site-packages)."""
    root = Path(package_dir).parent
    return root if (root / "pyproject.toml").is_file() and (root / "conf" / "train.yaml").is_file() else None


CHECKOUT: Path | None = find_checkout(PACKAGE_DIR)
# Kept for scripts and git provenance: the checkout, or the working directory for an installed package.
REPO_ROOT: Path = CHECKOUT or Path.cwd()


def _env_path(name: str) -> Path | None:
    """An environment variable's folder, made absolute against the working directory (Hydra reads a
    relative config path relative to the calling module, not to the working directory)."""
    value = os.environ.get(name)
    return Path(value).expanduser().absolute() if value else None


def conf_dir() -> Path:
    """Where the Hydra configs are (see the module docstring for the order)."""
    env = _env_path("BACUDA_CONF_DIR")
    if env is not None:
        return env
    if CHECKOUT is not None:
        return CHECKOUT / "conf"
    return PACKAGE_DIR / "conf"


CONF_DIR = conf_dir()


def project_dir() -> Path:
    """Where benchmark suites put ``experiments/`` (see the module docstring for the order)."""
    env = _env_path("BACUDA_PROJECT_DIR")
    if env is not None:
        return env
    return CHECKOUT if CHECKOUT is not None else Path.cwd()


def shared_candidates() -> list[Path]:
    """The shared data folders tried, in order (``$BACUDA_SHARED_DIR`` alone when it is set)."""
    env = _env_path("BACUDA_SHARED_DIR")
    if env is not None:
        return [env]
    out = [CHECKOUT.parent / "shared"] if CHECKOUT is not None else []
    cwd = Path.cwd()
    return out + [cwd / "shared", cwd.parent / "shared"]


def shared_dir() -> Path:
    """The shared data folder: the first existing of ``shared_candidates()`` (else the first one)."""
    cands = shared_candidates()
    return next((c for c in cands if c.is_dir()), cands[0])


def shared_path(relative: str) -> Path:
    """A path below the shared folder (it may not exist; callers give the clear error)."""
    return shared_dir() / relative
