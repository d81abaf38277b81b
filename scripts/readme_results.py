#!/usr/bin/env python
"""Regenerate the README's results section from the committed tables in experiments/.

    python scripts/readme_results.py          # rewrites the block between the results markers

Tables and plots themselves are generated from run reports by scripts/make_table.py (see
scripts/make_date_tables.sh); nothing is typed by hand. A table's plot (same name, .png) follows it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bacuda_research.core.io import write_text  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"
TABLES = [
    "experiments/date_synthetic/comparison.md",
    "experiments/date_synthetic/date_table.md",
    "experiments/date_synthetic/ablations_table.md",
    # baselines_table.md: every row of it is in comparison.md
    "experiments/generalization/table.md",
    "experiments/hs/RESULTS.md",
    # a plot alone (its numbers are in RESULTS.md): the 3-seed runs' when they exist, else the 1-seed runs'
    ("experiments/hs/bench_table.png", "experiments/hs/levels.png"),
]


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        sys.exit(f"README.md lacks the {START} ... {END} markers")
    parts = []
    for entry in TABLES:
        rel = next((r for r in entry if (ROOT / r).exists()), entry[0]) if isinstance(entry, tuple) else entry
        path = ROOT / rel
        if path.exists() and path.suffix == ".png":
            parts.append(f"![{path.stem}]({rel})\n\n(`{rel}`; the command is in the footer of `{rel[:-4]}.md`)")
        elif path.exists():
            body = path.read_text(encoding="utf-8").strip()
            part = f"{body}\n\n(from `{rel}`)"
            png = path.with_suffix(".png")
            if png.exists():
                rel_png = png.relative_to(ROOT).as_posix()
                part += f"\n\n![{path.stem}]({rel_png})"
            parts.append(part)
    block = "\n\n".join(parts) if parts else "_No results committed yet._"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    write_text(readme, f"{head}{START}\n{block}\n{END}{tail}")
    print(f"README results: {len(parts)} tables, {block.count('![')} plots")


if __name__ == "__main__":
    main()
