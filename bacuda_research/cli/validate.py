"""``bacuda-validate FILE``: refuse a bad declarations file with one clear line, describe a good one.

    bacuda-validate declarations.csv
    bacuda-validate extract.parquet --column cif=CIF_VALUE --column date=DECL_DATE --date-format %Y-%m-%d
    bacuda-validate unlabelled.csv --no-labels --tariff-digits 8 --json quality.json
    bacuda-validate export.csv --schema schema.yaml      # a declared schema (bacuda-schema drafts one)

Exit status: 0 for a valid file (the quality report is printed), 1 for a refused file (the error,
naming file, column and rows, goes to stderr without a traceback), 2 for bad arguments (a
``--json`` path that is the input file itself, or a hard link to it, included).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from bacuda_research.declarations.schema import CANONICAL, SchemaOptions


def parse_columns(items: Sequence[str]) -> dict[str, str]:
    """``["cif=CIF_VALUE", ...]`` -> ``{"cif": "CIF_VALUE"}``; keys are those of ``schema.CANONICAL``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, name = item.partition("=")
        key = key.strip()
        if not sep or not key or not name:
            raise ValueError(f"--column {item!r}: expected key=name (keys: {', '.join(CANONICAL)})")
        if key not in CANONICAL:
            raise ValueError(f"--column {item!r}: unknown key {key!r} (keys: {', '.join(CANONICAL)})")
        out[key] = name
    return out


def add_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """The schema options shared by ``bacuda-validate`` and ``bacuda-anonymize``."""
    parser.add_argument("--column", action="append", default=[], metavar="KEY=NAME",
                        help=f"file column for a schema key (repeatable); keys: {', '.join(CANONICAL)}")
    parser.add_argument("--date-format", default="%y-%m-%d",
                        help="strptime format of the date column (default %%y-%%m-%%d as in DATE; 'iso' for ISO 8601)")
    parser.add_argument("--tariff-digits", type=int, default=10,
                        help="length of the national tariff code (10 = HS10, 8 = CN8); sets HS6")
    parser.add_argument("--no-labels", action="store_true",
                        help="the file has no illicit/revenue columns (e.g. declarations to score)")


def schema_options(args: argparse.Namespace) -> SchemaOptions:
    """Build ``SchemaOptions`` from parsed arguments (raises ``ValueError`` on a bad mapping)."""
    fmt = None if args.date_format.lower() in ("iso", "iso8601") else args.date_format
    options = SchemaOptions(columns=parse_columns(args.column), date_format=fmt,
                            tariff_digits=args.tariff_digits, require_labels=not args.no_labels)
    options.mapping()
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bacuda-validate", description=__doc__.split("\n")[0].split(": ", 1)[-1])
    parser.add_argument("file", help="declarations file (.csv, .csv.gz or .parquet)")
    parser.add_argument("--schema", default=None, metavar="SCHEMA.yaml",
                        help="a declared schema (file, or a shipped name: date, kcs); replaces --column, "
                        "--date-format and --tariff-digits (docs/schema.md)")
    add_schema_arguments(parser)
    parser.add_argument("--max-rows", type=int, default=None, help="read only the first rows (a quick look)")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the report as JSON (atomically)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (``sys.exit(main())`` in the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.schema and (args.column or args.date_format != "%y-%m-%d" or args.tariff_digits != 10):
        parser.error("--schema names every column itself: drop --column, --date-format and --tariff-digits")
    from bacuda_research.cli import one_line, run_guarded
    from bacuda_research.declarations.quality import print_report, report_file

    if args.json:
        from bacuda_research.core.io import refuse_overwrite

        try:
            refuse_overwrite(args.json, [args.file, args.schema])
        except ValueError as exc:
            print(f"bacuda-validate: error: {one_line(exc)}", file=sys.stderr)
            return 2

    report: dict = {}

    def body() -> int:
        if args.schema:
            report.update(declared_report_file(args.file, args.schema, args.max_rows, not args.no_labels))
        else:
            report.update(report_file(args.file, schema_options(args), max_rows=args.max_rows))
        return 0

    # a refused file (DataValidationError, a bad mapping, an unreadable file): one line, exit 1
    if run_guarded("bacuda-validate", body, code=1):
        return 1
    print_report(report)
    if args.json:
        from bacuda_research.core.io import write_json

        write_json(args.json, report)
        print(f"report written to {args.json}")
    return 0


def declared_report_file(file: str, schema_path: str, max_rows: int | None, require_labels: bool) -> dict:
    """Load ``file`` through a declared schema and describe it (raises on a refused file or schema)."""
    from bacuda_research.declarations.canonical import load_declared
    from bacuda_research.declarations.declared import load_schema
    from bacuda_research.declarations.quality import declared_report

    schema = load_schema(schema_path)
    df = load_declared(file, schema, max_rows=max_rows, require_labels=require_labels)
    return declared_report(df, schema, file=file)


if __name__ == "__main__":
    sys.exit(main())
