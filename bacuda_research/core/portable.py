"""Portable forms of machine-specific provenance, for committed Markdown.

Reports and JSON files keep their raw provenance (the full data path, the encoder's folder, the git
commit with ``-dirty``). A Markdown page a reader opens anywhere shows instead: paths inside the
project as relative paths, scratch folders as ``<tmp>/...``, the home folder as ``~``, installed
packages by name, shared data as ``<shared>/...``, and a dirty commit as the commit plus a note.
``tests/test_docs.py`` refuses absolute machine paths and ``-dirty`` in committed Markdown.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from bacuda_research.core.paths import CHECKOUT, project_dir, shared_dir

DIRTY = "-dirty"
# an absolute path: starts with "/" not preceded by a word character, a dot, "~", ":" or "/"
# (so "decl/s", "./x", "~/x" and URLs are left alone)
_ABS = re.compile(r"(?<![\w.~:/$<>-])/[\w.+@%=-]+(?:/[\w.+@%=-]*)*")


def portable_git(sha: str | None) -> str:
    """The commit without git's ``-dirty`` suffix, with a note when the tree had uncommitted changes."""
    if not sha:
        return "-"
    return f"{sha[:-len(DIRTY)]} (with uncommitted changes)" if sha.endswith(DIRTY) else sha


def installed_package(path: str | Path) -> str | None:
    """The name of the installed package a path lies in (``.../site-packages/<name>/...``), else None."""
    parts = Path(str(path)).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1]
    return None


def portable_path(path: str | Path) -> str:
    """One path in its portable form (see the module docstring); relative paths are unchanged."""
    p = str(path)
    if not p.startswith("/"):
        return p
    pkg = installed_package(p)
    if pkg:
        rest = p.split(f"/{pkg}", 1)[1]
        return f"<site-packages>/{pkg}{rest}"
    roots = [(str(project_dir()), ""), (str(CHECKOUT) if CHECKOUT else "", ""), (str(shared_dir()), "<shared>"),
             (tempfile.gettempdir(), "<tmp>"), ("/tmp", "<tmp>"), (str(Path.home()), "~")]
    for root, label in roots:
        if root and root != "/" and (p == root or p.startswith(root.rstrip("/") + "/")):
            rest = p[len(root.rstrip("/")):].lstrip("/")
            return (f"{label}/{rest}" if rest else label) if label else (rest or ".")
    return f"<abs>/{Path(p).name}"


def portable_text(text: str) -> str:
    """Every absolute path in ``text`` (e.g. a recorded command line) in its portable form."""
    return _ABS.sub(lambda m: portable_path(m.group(0)), text)


def write_markdown(path: str | Path, text: str) -> Path:
    """Atomically write a Markdown page meant to be committed, with every absolute path made portable."""
    from bacuda_research.core.io import write_text

    return write_text(path, portable_text(text))
