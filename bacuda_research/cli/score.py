"""``bacuda-score``: score a file with an exported bundle, without torch (``bacuda_research[score]``).

    bacuda-score BUNDLE declarations.csv scores.csv          # DATE: .csv / .parquet / .jsonl out
    bacuda-score BUNDLE titles.csv suggestions.jsonl --top-k 5   # HS: JSON lines as bacuda-hs --input

DATE: a raw declarations file (CSV/Parquet, the training schema; labels not needed) -> one row per
declaration: sgd.id, illicit_probability, predicted_revenue, rank, revenue_rank and, with
``--top-k`` > 0, an explanation (the top-k leaves by attention weight as decision rules).
HS: a file with a ``text`` column (optional ``attributes``, ``category``) -> top-k HS6 codes.
The bundle is verified against its manifest first; a modified or truncated file is refused.
``--expect-sha256 HEX`` (the manifest digest ``bacuda-export`` printed) refuses any other bundle,
even one whose manifest was recomputed. Every output gets a sidecar ``OUTPUT.meta.json`` naming the
bundle's manifest sha256, the input's sha256 and the row count. The output may not be the input
(nor a hard link to it) nor lie inside the bundle. Any failure is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

#: the sidecar written next to every score file: OUTPUT + this suffix
META_SUFFIX = ".meta.json"


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
    p.add_argument("--expect-sha256", default=None, metavar="HEX",
                   help="refuse the bundle unless its manifest.json has this sha256 (bacuda-export prints it)")
    p.add_argument("--abstain-below", type=float, default=None, metavar="P",
                   help="HS: answer nothing when the top-1 calibrated confidence is below P (default: always answer)")
    p.add_argument("--explain", action="store_true", help="HS: add nomenclature paths and supporting training texts")
    args = p.parse_args(argv)
    if args.top_k < 0:
        p.error("--top-k must be >= 0")
    if args.expect_sha256 is not None and not _is_sha256(args.expect_sha256):
        p.error("--expect-sha256 must be 64 hexadecimal digits (the sha256 bacuda-export prints)")

    from bacuda_research.cli import run_guarded

    return run_guarded("bacuda-score", lambda: _score(args, p))


def _is_sha256(text: str) -> bool:
    text = text.strip()
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _score(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from bacuda_research.bundle.runtime import load_bundle
    from bacuda_research.core.io import refuse_overwrite

    meta_path = Path(str(args.output) + META_SUFFIX)
    for out in (args.output, meta_path):
        refuse_overwrite(out, [args.input, args.bundle])
    bundle = load_bundle(args.bundle, threads=args.threads, expect_sha256=args.expect_sha256)
    meta_path.unlink(missing_ok=True)  # a stale sidecar must never describe the new output
    if bundle.kind == "date":
        n = bundle.score_file(args.input, args.output, top_k=args.top_k, batch_size=args.batch_size or 1024)
    else:
        if args.top_k < 1:
            parser.error("--top-k must be at least 1 for an HS bundle")
        from bacuda_research.hs.suggestion import predict_file

        if args.batch_size:
            bundle.batch_size = args.batch_size
        n = predict_file(bundle, args.input, args.output, top_k=args.top_k,
                         abstain_below=args.abstain_below, explain=args.explain)
    write_meta(meta_path, bundle, args.bundle, args.input, args.output, n)
    print(f"{n} rows -> {args.output} (bundle manifest sha256 {bundle.manifest_sha256}; {meta_path.name})",
          file=sys.stderr)
    return 0


def write_meta(path: Path, bundle: object, bundle_dir: str, input_path: str, output: str, rows: int) -> None:
    """The sidecar: which bundle (manifest sha256, the trust anchor) scored which input into ``output``."""
    import datetime

    import bacuda_research
    from bacuda_research.core.io import sha256_file, write_json

    write_json(path, {
        "output": Path(output).name, "rows": int(rows), "bundle": str(bundle_dir),
        "bundle_kind": getattr(bundle, "kind", None), "manifest_sha256": getattr(bundle, "manifest_sha256", None),
        "input": str(input_path), "input_sha256": sha256_file(input_path),
        "bacuda_research": bacuda_research.__version__,
        "scored_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })


if __name__ == "__main__":
    sys.exit(main())
