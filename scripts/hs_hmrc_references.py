"""Build ``bacuda_research/hs/realdata/hmrc_references.csv`` from three public HMRC (UK Online Trade
Tariff) files, all MIT-licensed (see ``bacuda_research/hs/realdata/CARD.md``):

    python scripts/hs_hmrc_references.py \
        --search-references fpo-search/reference_data/search_references.json \
        --brands fpo-search/reference_data/brands.csv \
        --intercepts trade-tariff-backend/config/intercept_messages.yml \
        --output bacuda_research/hs/realdata/hmrc_references.csv

where ``fpo-search`` is a clone of github.com/trade-tariff/trade-tariff-lambdas-fpo-search and
``trade-tariff-backend`` one of github.com/trade-tariff/trade-tariff-backend (commits in the card).

Rows (``text, code, origin``), in file order, nothing rewritten but surrounding spaces:

- ``search_reference``: every (term, commodity code) pair of ``search_references.json``;
- ``brand``: ``GDSDESC`` and ``CMDTYCODE`` of every row of ``brands.csv`` (the reviewers' comments,
  initials and context columns are not kept);
- ``intercept``: a search term of the ``default`` section of ``intercept_messages.yml`` whose guidance
  message names exactly one number, and that number is a code of 6 or more digits right after the
  word ``commodity``, ``subheading`` or ``code`` (a message naming a heading, a chapter or two codes
  gives no single answer and is skipped);
- ``intercept_heading``: likewise, when the one number is a 4-digit heading right after the word
  ``heading`` (the row then teaches HS2/HS4 only).

Codes are kept as written (6-10 digits); ``hs/realdesc.py`` keeps their first six digits when they
are HS 2022 subheadings and counts the others. The output is written atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from pathlib import Path

import yaml

from bacuda_research.core.io import write_text

NUMBER = re.compile(r"\d+")
SINGLE_CODE = re.compile(r"\b(?:commodity|subheading|code)\s+(?:code\s+)?(\d{6,10})\b", re.IGNORECASE)
HEADING = re.compile(r"\bheading\s+(\d{4})\b", re.IGNORECASE)


def search_references(path: Path) -> list[tuple[str, str, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(str(t).strip(), str(c).strip(), "search_reference") for t, c in data.items()]


def brands(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["GDSDESC"].strip(), r["CMDTYCODE"].strip(), "brand") for r in csv.DictReader(f)]


def intercepts(path: Path) -> tuple[list[tuple[str, str, str]], int]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["default"]
    rows = []
    for term, message in data.items():
        message = str(message)
        numbers = NUMBER.findall(message)
        found = SINGLE_CODE.findall(message)
        heading = HEADING.findall(message)
        if len(numbers) == 1 and len(found) == 1 and found[0] == numbers[0]:
            rows.append((str(term).strip(), found[0], "intercept"))
        elif len(numbers) == 1 and len(heading) == 1 and heading[0] == numbers[0]:
            rows.append((str(term).strip(), heading[0], "intercept_heading"))
    return rows, len(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--search-references", type=Path, required=True)
    p.add_argument("--brands", type=Path, required=True)
    p.add_argument("--intercepts", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    got, n_terms = intercepts(args.intercepts)
    rows = search_references(args.search_references) + brands(args.brands) + got
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["text", "code", "origin"])
    w.writerows(rows)
    write_text(args.output, buf.getvalue())
    counts = {o: sum(r[2] == o for r in rows) for o in ("search_reference", "brand", "intercept", "intercept_heading")}
    print(f"{len(rows)} rows {counts} (intercept terms read: {n_terms}) -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
