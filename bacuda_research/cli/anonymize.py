"""``bacuda-anonymize IN OUT --key-file K``: a pseudonymised copy of a declarations file.

    head -c 32 /dev/urandom > ~/.bacuda.key && chmod 600 ~/.bacuda.key
    bacuda-anonymize declarations.csv shareable.parquet --key-file ~/.bacuda.key
    BACUDA_KEY=... bacuda-anonymize in.parquet out.csv --key-env BACUDA_KEY --date-shift-days -123 --value-scale 0.7

Identifier columns (default: importer, declarant, declaration id, office; ``--id-columns`` takes
schema keys; with ``--schema``, also every ``entities`` column) become keyed HMAC-SHA256 pseudonyms; the same key gives the same pseudonyms in every
file. The input is validated first (same errors as ``bacuda-validate``), and nothing is written
unless it passes. The key is never written anywhere: keep it, or the pseudonyms cannot be
reproduced for the next extract.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from bacuda_research.cli.validate import add_schema_arguments, schema_options
from bacuda_research.declarations.anonymize import DEFAULT_ID_KEYS, MIN_KEY_BYTES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bacuda-anonymize",
                                     description="Pseudonymise a declarations file with a secret key.")
    parser.add_argument("input", help="declarations file (.csv, .csv.gz or .parquet)")
    parser.add_argument("output", help="anonymised copy (.csv or .parquet, by suffix)")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-file", help=f"file holding the secret key (at least {MIN_KEY_BYTES} bytes)")
    key.add_argument("--key-env", metavar="VAR", help="environment variable holding the secret key")
    parser.add_argument("--id-columns", default=",".join(DEFAULT_ID_KEYS),
                        help="comma-separated schema keys to pseudonymise (default %(default)s; country allowed)")
    parser.add_argument("--date-shift-days", type=int, default=0, help="add N days to every date (same N for all rows)")
    parser.add_argument("--value-scale", type=float, default=None,
                        help="multiply fob/cif/taxes/revenue by this factor (> 0)")
    parser.add_argument("--keep-extra", action="store_true",
                        help="keep columns outside the schema (dropped by default: they may hold names)")
    parser.add_argument("--schema", default=None, metavar="SCHEMA.yaml",
                        help="a declared schema (file or shipped name): pseudonymises its identifier roles and "
                        "its entities; replaces --column, --date-format and --tariff-digits")
    add_schema_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 written, 1 refused, 2 bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.schema and (args.column or args.date_format != "%y-%m-%d" or args.tariff_digits != 10):
        parser.error("--schema names every column itself: drop --column, --date-format and --tariff-digits")
    from bacuda_research.declarations.anonymize import anonymize_declared_file, anonymize_file, read_key

    try:
        if args.key_file:
            from bacuda_research.core.io import refuse_overwrite

            refuse_overwrite(args.output, [args.key_file])
        key = read_key(key_file=args.key_file, key_env=args.key_env)
        id_keys = [k.strip() for k in args.id_columns.split(",") if k.strip()]
        common = dict(date_shift_days=args.date_shift_days, value_scale=args.value_scale, keep_extra=args.keep_extra)
        if args.schema:
            from bacuda_research.declarations.declared import load_schema

            explicit = args.id_columns != ",".join(DEFAULT_ID_KEYS)
            summary = anonymize_declared_file(args.input, args.output, key, load_schema(args.schema),
                                              id_roles=id_keys if explicit else None, **common)
        else:
            summary = anonymize_file(args.input, args.output, key, schema_options(args), id_keys=id_keys, **common)
    except ValueError as exc:  # DataValidationError, AnonymizationError, bad mappings; never key bytes
        print(f"bacuda-anonymize: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {summary['output']}: {summary['rows']:,} rows; pseudonymised {', '.join(summary['pseudonymised_columns'])}")
    if summary["date_shift_days"]:
        print(f"dates shifted by {summary['date_shift_days']} days")
    if summary["scaled_columns"]:
        print(f"scaled {', '.join(summary['scaled_columns'])} by {summary['value_scale']}")
    if summary["dropped_extra_columns"]:
        print(f"dropped columns outside the schema (or in its ignore list): {', '.join(summary['dropped_extra_columns'])} (--keep-extra keeps them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
