"""``bacuda-schema FILE --label COL``: draft a declared schema for a declarations file.

    bacuda-schema export.csv --label Fraud --output schema.yaml
    bacuda-schema export.csv --label Result --positive FRAUD --positive PARTIAL --revenue "Extra Duty" -o s.yaml
    bacuda-validate export.csv --schema schema.yaml

Every column gets a role or a list, with a comment saying why (docs/schema.md). The draft is checked
against the file it came from; the result is printed. Exit status: 0 written (or printed), 1 no
draft can be made (the error names the file and the column; nothing is written), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bacuda-schema", description="Draft a declared schema from a file.")
    parser.add_argument("file", help="declarations file (.csv, .csv.gz or .parquet)")
    parser.add_argument("--label", required=True, metavar="COL", help="the column saying whether a row is fraud")
    parser.add_argument("--positive", nargs="+", action="extend", default=None, metavar="VALUE",
                        help="label value(s) meaning fraud; required when the label's values are not 0/1")
    parser.add_argument("--revenue", default=None, metavar="COL",
                        help="the column with the recovered revenue (none: no revenue metrics or task)")
    parser.add_argument("--output", "-o", default=None, metavar="SCHEMA.yaml",
                        help="write the draft here (atomically); default: print it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    from bacuda_research.declarations.canonical import load_declared
    from bacuda_research.declarations.declared import parse_schema_text
    from bacuda_research.declarations.infer import draft_schema, render_draft

    try:
        if args.output:
            from bacuda_research.core.io import refuse_overwrite

            refuse_overwrite(args.output, [args.file])
        text = render_draft(draft_schema(args.file, args.label, positive=args.positive, revenue=args.revenue))
        schema = parse_schema_text(text, source=args.output or "(draft)")
    except ValueError as exc:  # DraftError, DataValidationError, SchemaError
        print(f"bacuda-schema: error: {exc}", file=sys.stderr)
        return 1
    try:
        df = load_declared(args.file, schema)
        verdict = f"the draft validates {args.file} ({len(df):,} rows, {df.shape[1]} canonical columns)"
    except ValueError as exc:
        verdict = f"EDIT NEEDED: the draft does not validate {args.file} yet: {exc}"
    if args.output:
        from bacuda_research.core.io import write_text

        write_text(args.output, text)
        print(f"wrote {args.output}; {verdict}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"# {verdict}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
