"""Where things live: the repository, its ``conf/`` folder and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = Path(os.environ.get("BACUDA_CONF_DIR", REPO_ROOT / "conf"))


def shared_dir() -> Path:
    """The shared data folder: ``$BACUDA_SHARED_DIR``, else ``../shared`` beside the repository."""
    env = os.environ.get("BACUDA_SHARED_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def shared_path(relative: str) -> Path:
    """A path below the shared folder (it may not exist; callers give the clear error)."""
    return shared_dir() / relative
