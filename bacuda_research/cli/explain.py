"""``bacuda-explain``: why a declaration ranks where it does, as XGBoost decision rules.

    bacuda-explain RUN_OR_CKPT declarations.csv --id SGD123 --id SGD456
    bacuda-explain RUN_OR_CKPT declarations.csv --top 20 --top-k 5 --output explanations.jsonl

For each declaration: its illicit probability, its rank in the file, and the top-k XGBoost leaves
by DATE attention weight, each with the decision path that leads to it. ``--output`` may not be the
input or the model (nor a hard link to either); any failure is one line on stderr, exit 2.
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-explain")

import argparse
import json
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bacuda-explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a DATE run folder or a .ckpt file")
    parser.add_argument("input", help="declarations file (CSV or Parquet; labels not needed)")
    parser.add_argument("--id", action="append", default=[], help="declaration id to explain (repeatable)")
    parser.add_argument("--top", type=int, default=10, help="explain the N highest-ranked declarations (default 10)")
    parser.add_argument("--top-k", type=int, default=5, help="leaves per declaration (default 5)")
    parser.add_argument("--output", help="write JSON lines here instead of printing")
    args = parser.parse_args(argv)

    from bacuda_research.cli import run_guarded

    return run_guarded("bacuda-explain", lambda: _explain(args))


def _explain(args: argparse.Namespace) -> int:
    from bacuda_research.core.io import refuse_overwrite, write_text
    from bacuda_research.fraud.predictor import DATEPredictor

    if args.output:
        refuse_overwrite(args.output, [args.input, args.model])
    predictor = DATEPredictor.from_run(args.model)
    df = predictor.read(args.input)
    explained = predictor.explain(df, top_k=args.top_k)
    if args.id:
        wanted = set(args.id)
        missing = wanted - set(df["sgd.id"])
        if missing:
            raise ValueError(f"{args.input}: {len(missing)} requested id(s) not in the file")
        rows = [e for e in explained if e["sgd.id"] in wanted]
    else:
        rows = sorted(explained, key=lambda e: e["rank"])[: args.top]
    if args.output:
        write_text(args.output, "".join(json.dumps(r) + "\n" for r in rows))
        return 0
    for r in rows:
        print(f"{r['sgd.id']}  rank {r['rank']}  illicit probability {r['illicit_probability']:.4f}")
        for leaf in r["leaves"]:
            print(f"    {leaf['weight']:.3f}  tree {leaf['tree']}: {leaf['rule']}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
