"""``bacuda-hs``: HS6 suggestions from a trained model (no Hydra; imports stay lazy for start-up).

    bacuda-hs MODEL "frozen boneless beef"                      # top-5 table on stdout
    bacuda-hs MODEL "cotton tee" --attributes '{"material": "cotton"}' --category "Women > Tops"
    bacuda-hs MODEL --input titles.csv --output out.jsonl --top-k 5

MODEL: a run folder of ``bacuda-train`` (``checkpoints/model.ckpt``), a ``.ckpt`` file, or an
exported bundle folder with ``manifest.json``. The input CSV/Parquet needs a ``text`` column;
``attributes`` (JSON string) and ``category`` (a "A > B > C" path) are used when present.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bacuda-hs", description="Suggest HS6 codes for goods descriptions.")
    p.add_argument("model", help="run folder, .ckpt file, or bundle folder with manifest.json")
    p.add_argument("text", nargs="?", help="one description (omit when using --input)")
    p.add_argument("--input", help="CSV or Parquet with a 'text' column (optional 'attributes', 'category')")
    p.add_argument("--output", help="JSON-lines output (required with --input)")
    p.add_argument("--top-k", type=int, default=5, help="suggestions per description (default 5)")
    p.add_argument("--attributes", help="JSON object string of attributes for TEXT")
    p.add_argument("--category", help="category path for TEXT, e.g. 'Clothing > Women > Tops'")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.text is None) == (args.input is None):
        build_parser().error("give either TEXT or --input FILE")
    if args.input and not args.output:
        build_parser().error("--input needs --output OUT.jsonl")
    if args.top_k < 1:
        build_parser().error("--top-k must be at least 1")
    import warnings

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    from bacuda_research.bundle.runtime import load_model
    from bacuda_research.hs.suggestion import predict_file

    try:
        if args.input:
            from bacuda_research.core.io import refuse_overwrite

            refuse_overwrite(args.output, [args.input, args.model])
        predictor = load_model(args.model, expect="hs", threads=args.threads)
    except (FileNotFoundError, ValueError, NotImplementedError) as e:
        print(f"bacuda-hs: error: {e}", file=sys.stderr)
        return 2
    if args.input:
        from bacuda_research.cli import run_guarded

        def body() -> int:  # any failure on the input file: one line, exit 2
            n = predict_file(predictor, args.input, args.output, top_k=args.top_k)
            print(f"{n} rows -> {args.output}", file=sys.stderr)
            return 0

        return run_guarded("bacuda-hs", body)
    suggestions = predictor.predict([args.text], [args.attributes], [args.category], top_k=args.top_k)[0]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"HS6 suggestions for: {args.text}")
    for col, justify in (("rank", "right"), ("hs6", "left"), ("probability", "right"), ("description", "left")):
        table.add_column(col, justify=justify)
    for r, s in enumerate(suggestions, 1):
        table.add_row(str(r), s.hs6, f"{s.probability:.4f}", s.description)
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
