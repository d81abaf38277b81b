#!/usr/bin/env python
"""Regenerate the results section of experiments/README.md from the committed tables in experiments/.

    python scripts/readme_results.py          # rewrites the block between the results markers

Tables and plots themselves are generated from run reports by scripts/make_table.py (see
scripts/make_date_tables.sh); nothing is typed by hand. A table's plot (same name, .png) follows it.
The list of tables is ``bacuda_research.bench.results_page.TABLES``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bacuda_research.bench.results_page import write_results

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "experiments" / "README.md"


def main() -> None:
    try:
        n = write_results(PAGE, ROOT)
    except ValueError as e:
        sys.exit(str(e))
    print(f"{PAGE.relative_to(ROOT)} results: {n} tables and plots")


if __name__ == "__main__":
    main()
