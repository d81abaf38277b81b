"""``bacuda-score``: score a file with an exported bundle, without torch (``bacuda_research[score]``).

    bacuda-score BUNDLE declarations.csv scores.csv          # DATE: .csv / .parquet / .jsonl out
    bacuda-score BUNDLE titles.csv suggestions.jsonl --top-k 5   # HS: JSON lines as bacuda-hs --input

DATE: a raw declarations file (CSV/Parquet, the training schema; labels not needed) -> one row per
declaration: sgd.id, illicit_probability, predicted_revenue, rank, revenue_rank and, with
``--top-k`` > 0, an explanation (the top-k leaves by attention weight as decision rules).
HS: a file with a ``text`` column (optional ``attributes``, ``category``) -> top-k HS6 codes.
The bundle is verified against its manifest first; a modified or truncated file is refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bacuda-score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", help="bundle folder written by bacuda-export")
    p.add_argument("input", help="DATE: declarations CSV/Parquet; HS: CSV/Parquet with a 'text' column")
    p.add_argument("output", help="DATE: .csv, .parquet or .jsonl; HS: .jsonl")
    p.add_argument("--top-k", type=int, default=5,
                   help="DATE: explanation leaves per row (0 = none); HS: suggestions per row (default 5)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime / XGBoost threads (default: all cores)")
    p.add_argument("--batch-size", type=int, default=None, help="rows per ONNX Runtime call")
    p.add_argument("--abstain-below", type=float, default=None, metavar="P",
                   help="HS: answer nothing when the top-1 calibrated confidence is below P (default: always answer)")
    p.add_argument("--explain", action="store_true", help="HS: add nomenclature paths and supporting training texts")
    args = p.parse_args(argv)
    if args.top_k < 0:
        p.error("--top-k must be >= 0")

    from bacuda_research.declarations.schema import DataValidationError
    from bacuda_research.bundle.runtime import load_bundle

    try:
        bundle = load_bundle(args.bundle, threads=args.threads)
        if bundle.kind == "date":
            n = bundle.score_file(args.input, args.output, top_k=args.top_k, batch_size=args.batch_size or 1024)
        else:
            if args.top_k < 1:
                p.error("--top-k must be at least 1 for an HS bundle")
            from bacuda_research.hs.suggestion import predict_file

            if args.batch_size:
                bundle.batch_size = args.batch_size
            n = predict_file(bundle, args.input, args.output, top_k=args.top_k,
                             abstain_below=args.abstain_below, explain=args.explain)
    except (FileNotFoundError, ValueError, DataValidationError) as e:
        print(f"bacuda-score: error: {e}", file=sys.stderr)
        return 2
    print(f"{n} rows -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
