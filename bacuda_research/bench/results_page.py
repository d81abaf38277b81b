"""The generated results section of ``experiments/README.md``: the committed tables and plots, in order.

Tables and plots are generated from run reports (``scripts/make_table.py``, driven by
``scripts/make_date_tables.sh``); this module only pastes them, between two markers, into one page
(``python scripts/readme_results.py``). Nothing is typed by hand, and links are relative to the page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

from bacuda_research.core.io import write_text

START, END = "<!-- results:start -->", "<!-- results:end -->"
# Paths relative to the project folder. A tuple is one plot: the first that exists.
Entry = Union[str, tuple[str, ...]]
TABLES: tuple[Entry, ...] = (
    "experiments/date_synthetic/comparison.md",
    # every model at 1/2/5/10 %, paired-bootstrap intervals (DATE and the baselines), the trade-off plot
    "experiments/date_synthetic/revenue_compare.md",
    "experiments/date_synthetic/date_table.md",
    "experiments/date_synthetic/ablations_table.md",
    # baselines_table.md: every row of it is in comparison.md
    "experiments/generalization/table.md",
    "experiments/generalization/revenue_compare.md",
    "experiments/kcs/table.md",
    "experiments/kcs/critical_table.md",
    "experiments/hs/RESULTS.md",
    # a plot alone (its numbers are in RESULTS.md): the 3-seed runs' when they exist, else the 1-seed runs'
    ("experiments/hs/bench_table.png", "experiments/hs/levels.png"),
)


def results_block(root: Path, page_dir: Path, tables: Sequence[Entry] = TABLES) -> tuple[str, int]:
    """The Markdown between the markers and the number of tables/plots in it (links relative to ``page_dir``)."""
    root, page_dir = Path(root), Path(page_dir)

    def link(path: Path) -> str:
        return Path(os.path.relpath(path, page_dir)).as_posix()

    parts = []
    for entry in tables:
        rel = next((r for r in entry if (root / r).exists()), entry[0]) if isinstance(entry, tuple) else entry
        path = root / rel
        if not path.exists():
            continue
        if path.suffix == ".png":
            parts.append(f"![{path.stem}]({link(path)})\n\n(`{rel}`; the command is in the footer of "
                         f"`{rel[:-4]}.md`)")
            continue
        part = f"{path.read_text(encoding='utf-8').strip()}\n\n(from `{rel}`)"
        png = path.with_suffix(".png")
        if png.exists():
            part += f"\n\n![{path.stem}]({link(png)})"
        parts.append(part)
    return ("\n\n".join(parts) if parts else "_No results committed yet._"), len(parts)


def write_results(page: Path, root: Path, tables: Sequence[Entry] = TABLES) -> int:
    """Rewrite the block between the markers of ``page`` (atomically); returns the number of parts.

    Raises ValueError when the page lacks the markers (a page is never rewritten blindly).
    """
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{page} lacks the {START} ... {END} markers")
    block, n = results_block(root, page.parent, tables)
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    write_text(page, f"{head}{START}\n{block}\n{END}{tail}")
    return n
