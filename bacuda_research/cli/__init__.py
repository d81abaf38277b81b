"""Command-line entry points (``[project.scripts]`` in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import sys
from typing import Callable

TRAIN_STACK = ("torch", "lightning", "hydra", "omegaconf", "torchmetrics")


def require_train_extra(command: str) -> None:
    """Stop with the install line when the ``train`` extra is missing (the base install is the light,
    torch-free one that scores bundles), instead of a ModuleNotFoundError from deep inside."""
    missing = [m for m in TRAIN_STACK if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"{command} needs the training stack ({', '.join(missing)} not installed): "
                 "pip install -c constraints.txt -e \".[train]\" (or \"bacuda_research[train]\")")


# longest error line printed (a message quoting a 50 MB cell must not flood the terminal)
MAX_ERROR_CHARS = 500


def one_line(exc: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """The exception as one line of at most ``limit`` characters; types other than the expected
    refusals (``ValueError``, ``OSError``) are named, since their message alone may be cryptic."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, (ValueError, OSError)):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_guarded(prog: str, body: Callable[[], int], code: int = 2) -> int:
    """Run a command's body; any exception ends in ``prog: error: <one line>`` on stderr and exit
    status ``code``, never a traceback (untrusted files reach every library underneath).
    ``BACUDA_DEBUG=1`` lets the exception through, with its traceback, for debugging."""
    import os

    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the point: one line, whatever failed
        if os.environ.get("BACUDA_DEBUG"):
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return code
