"""``bacuda-hs``: HS6 suggestions from a trained model (no Hydra; imports stay lazy for start-up).

    bacuda-hs MODEL "frozen boneless beef"                      # top-5 table on stdout
    bacuda-hs MODEL "cotton tee" --attributes '{"material": "cotton"}' --category "Women > Tops"
    bacuda-hs MODEL --input titles.csv --output out.jsonl --top-k 5
    bacuda-hs MODEL --input titles.csv --output out.jsonl --abstain-below 0.3 --explain

``--abstain-below P`` (opt-in): a row whose top-1 calibrated confidence is below P gets no
suggestions (``"predictions": [], "abstained": true``); by default every row gets k suggestions.
``--explain`` adds to each suggestion its HS2 > HS4 > HS6 nomenclature path and the nearest
training descriptions labelled with it.

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
    p.add_argument("--abstain-below", type=float, default=None, metavar="P",
                   help="answer nothing when the top-1 calibrated confidence is below P (0..1; default: always answer)")
    p.add_argument("--explain", action="store_true",
                   help="add the nomenclature path and the nearest supporting training descriptions")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.text is None) == (args.input is None):
        build_parser().error("give either TEXT or --input FILE")
    if args.input and not args.output:
        build_parser().error("--input needs --output OUT.jsonl")
    if args.top_k < 1:
        build_parser().error("--top-k must be at least 1")
    if args.abstain_below is not None and not 0.0 <= args.abstain_below <= 1.0:
        build_parser().error("--abstain-below must be between 0 and 1")
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
            n = predict_file(predictor, args.input, args.output, top_k=args.top_k,
                             abstain_below=args.abstain_below, explain=args.explain)
            print(f"{n} rows -> {args.output}", file=sys.stderr)
            return 0

        return run_guarded("bacuda-hs", body)
    kw = {"explain": True} if args.explain else {}
    suggestions = predictor.predict([args.text], [args.attributes], [args.category], top_k=args.top_k, **kw)[0]
    from rich.console import Console
    from rich.table import Table

    from bacuda_research.hs.suggestion import top_confidence

    console = Console(width=160)
    if args.abstain_below is not None and top_confidence(suggestions) < args.abstain_below:
        console.print(f"abstained: top-1 confidence {top_confidence(suggestions):.4f} < {args.abstain_below}")
        return 0
    table = Table(title=f"HS6 suggestions for: {args.text}")
    calibrated = bool(suggestions) and suggestions[0].confidence is not None
    cols = ["rank", "hs6", "probability", *(["confidence"] if calibrated else []), "description"]
    for col in cols:
        table.add_column(col, justify="right" if col in ("rank", "probability", "confidence") else "left")
    for r, s in enumerate(suggestions, 1):
        desc = s.description
        if s.path:
            desc = " > ".join(f"{p['code']} {p['description']}" for p in s.path)
        if s.support:
            desc += "\n  like: " + "; ".join(f"{x['text']} ({x['similarity']:.2f})" for x in s.support)
        table.add_row(str(r), s.hs6, f"{s.probability:.4f}", *([f"{s.confidence:.4f}"] if calibrated else []), desc)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
