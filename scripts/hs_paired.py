"""Paired bootstrap of two HS models on the real-description held-out rows: how sure is "A beats B"?

    python scripts/hs_paired.py --a experiments/hs/real/hs_minilm_hmrcv2_s{0,1,2} \
        --b experiments/hs/real/hs_minilm_s{0,1,2} --output experiments/hs/paired_hmrc_vs_before.json

Reads each run's ``real_predictions.csv`` (top-5 HS6 per held-out row, written by training; the
rows and their order are the same for every run, which is checked). A model given as several runs
(seeds) scores a row by the mean of its runs' hits. The rows are resampled with replacement
(``--n-boot``, seeded) and the difference A - B of HS6@1 and HS6@5 is recomputed on each resample:
the 95 % percentile interval is reported beside the observed difference. HS6 only: HS4/HS2 top-1
come from summed path probabilities, which the top-5 file does not hold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bacuda_research.core.io import write_text

KS = (1, 5)


def hits(runs: list[Path]) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """The rows (text, hs6) and, per k, the seed-mean hit@k of every row."""
    frames = [pd.read_csv(r / "real_predictions.csv", dtype=str, keep_default_na=False) for r in runs]
    rows = frames[0][["text", "hs6"]]
    for r, f in zip(runs, frames):
        if not f[["text", "hs6"]].equals(rows):
            raise ValueError(f"{r}: its held-out rows differ from {runs[0]}'s")
    out = {}
    for k in KS:
        per_run = [np.any([f[f"pred{j}"].to_numpy() == f["hs6"].to_numpy() for j in range(1, k + 1)], axis=0)
                   for f in frames]
        out[k] = np.mean(per_run, axis=0)
    return rows, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", type=Path, nargs="+", required=True, help="run folders of model A (its seeds)")
    p.add_argument("--b", type=Path, nargs="+", required=True, help="run folders of model B (its seeds)")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args(argv)
    rows_a, a = hits(args.a)
    rows_b, b = hits(args.b)
    if not rows_a.equals(rows_b):
        raise ValueError("A and B were scored on different held-out rows")
    rng = np.random.default_rng(args.seed)
    idx = rng.integers(0, len(rows_a), size=(args.n_boot, len(rows_a)))
    result = {"a": [str(r) for r in args.a], "b": [str(r) for r in args.b], "rows": len(rows_a),
              "n_boot": args.n_boot, "seed": args.seed}
    for k in KS:
        diff = a[k] - b[k]
        boot = diff[idx].mean(axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        result[f"hs6/acc@{k}"] = {"a": round(100 * a[k].mean(), 2), "b": round(100 * b[k].mean(), 2),
                                  "a_minus_b": round(100 * diff.mean(), 2),
                                  "ci95": [round(100 * lo, 2), round(100 * hi, 2)]}
        print(f"HS6@{k}: A {100 * a[k].mean():.1f}  B {100 * b[k].mean():.1f}  "
              f"A-B {100 * diff.mean():+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]")
    write_text(args.output, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
