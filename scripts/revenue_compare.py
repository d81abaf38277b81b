#!/usr/bin/env python
"""Revenue comparisons with uncertainty, generated from committed runs: DATE and the baselines.

Every model's test scores are checked against its committed report before use (recomputed test
metrics equal, else it stops): DATE from its committed id-free `test_scores.parquet`, the classic
baselines re-fitted from their reports' configs (`bench.revenue`). Then writes

- `<out>.md` / `<out>.csv`: paired-bootstrap 95 % intervals over test declarations of the
  precision@n and revenue@n differences (DATE_REV vs `largest` and `xgb_expected`, DATE_CLS vs
  `xgboost`, and between baselines), per risk-flag mode;
- `<out>_tradeoff.csv` / `<out>.png`: precision@n against revenue@n for n = 1..20 % per model
  (seed means).

    python scripts/revenue_compare.py --threads 1                   # experiments/date_synthetic/revenue_compare*
    python scripts/revenue_compare.py --generalization --threads 1  # experiments/generalization/revenue_compare*
    (both run by scripts/make_date_tables.sh; experiments/README.md pastes the tables and plots)

The shared file: 5 seeds per model (DATE's five runs per experiment). The generated files of
scripts/generalization.sh: one run per model and file, one comparison per file. A few minutes at
1 thread. Nothing is tuned or selected here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bacuda_research.bench.revenue import (
    DEFAULT_PAIRS,
    Runs,
    compare_revenue,
    interval_markdown,
    plot_tradeoff,
)
from bacuda_research.core.runtime import set_threads

BASELINES = ("random", "risky", "xgboost", "xgb_lr", "xgb_revenue", "xgb_expected", "largest")
FLAGS = ("reference", "out_of_fold")
DATE_EXPERIMENTS = {"reference": "date_synthetic", "out_of_fold": "date_synthetic_oof"}
# DATE's three rankings of one network (score columns of its test_scores.parquet): the illicit
# logit, the expected revenue P(illicit) x E[revenue | illicit] (experiment=date_synthetic's
# model.revenue_ranking), and the revenue head's own score (the paper's DATE_REV ranking)
DATE_COLUMNS = {"date_cls": "score", "date_rev (expected)": "revenue_score", "date_rev (head)": "revenue_head"}
PAIRS = (
    ("date_rev (expected)", "largest"),
    ("date_rev (expected)", "xgb_expected"),
    ("date_rev (head)", "largest"),
    ("date_cls", "xgboost"),
    *DEFAULT_PAIRS,
)
NOTE = ("DATE's rows come from the committed `test_scores.parquet` of its runs (checked: the recomputed test "
        "metrics equal the reports'); `date_rev (head)` is the same network ranked by its revenue head (the "
        "paper's DATE_REV ranking; its report has no metric to check that column against, its `score` column "
        "is checked). The plot: precision@n against revenue@n for n = 1..20 % (seed means).")


def shared_file_runs(root: Path, seeds: list[int]) -> dict[str, dict[str, Runs]]:
    runs: dict[str, dict[str, Runs]] = {}
    for f in FLAGS:
        runs[f] = {m: Runs(tuple(root / "baselines" / f"{m}-{f}-s{s}" for s in seeds)) for m in BASELINES}
        date = tuple(root / "date" / f"{DATE_EXPERIMENTS[f]}-s{s}" for s in seeds)
        runs[f].update({name: Runs(date, col) for name, col in DATE_COLUMNS.items()})
    # the paper's DATE_REV (experiment=date_synthetic_paper: 100 classifier trees, ranked by the head;
    # reference risk flags only)
    runs["reference"]["date_paper_rev (head)"] = Runs(
        tuple(root / "date" / f"date_synthetic_paper-s{s}" for s in seeds), "revenue_score")
    return runs


def generalization_runs(gen: Path) -> dict[str, dict[str, Runs]]:
    """One comparison per generated file and risk-flag mode (key ``gen<seed>/<flags>``)."""
    runs: dict[str, dict[str, Runs]] = {}
    for d in sorted(p for p in gen.glob("gen*") if p.is_dir()):
        for f in FLAGS:
            sfx = "" if f == "reference" else "_oof"
            models = {m: Runs((d / f"{m}{sfx}",)) for m in BASELINES if (d / f"{m}{sfx}" / "DONE").exists()}
            if (d / f"date{sfx}" / "DONE").exists():
                models.update({name: Runs((d / f"date{sfx}",), col) for name, col in DATE_COLUMNS.items()})
            if models:
                runs[f"{d.name}/{f}"] = models
    return runs


def summary_markdown(curves, percents=(1, 2, 5, 10)) -> str:
    """Every model's seed-mean revenue@n and precision@n at the reported percents, one row per
    (comparison, model): the models side by side, from the same checked scores as the intervals."""
    head = ("| risk flags | model | " + " | ".join(f"Rev@{n}" for n in percents) + " | "
            + " | ".join(f"P@{n}" for n in percents) + " | runs |")
    lines = ["## Every model at 1, 2, 5 and 10 % (seed means)", "", head, "|---|---|" + "---|" * (2 * len(percents) + 1)]
    for (flags, model), c in curves.groupby(["features.risk_flags", "model"], sort=False):
        c = c.set_index("percent")
        cells = [f"{c.loc[n, 'revenue']:.3f}" for n in percents] + [f"{c.loc[n, 'precision']:.3f}" for n in percents]
        lines.append(f"| {flags} | {model} | " + " | ".join(cells) + f" | {int(c['runs'].iloc[0])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="experiments/date_synthetic", help="folder with baselines/ and date/")
    ap.add_argument("--generalization", action="store_true",
                    help="compare the runs of scripts/generalization.sh (experiments/generalization) instead")
    ap.add_argument("--out", default=None, help="output prefix (default: <root>/revenue_compare)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1, help="threads for re-fitting (results do not depend on it: "
                                                           "the re-scored metrics are checked against the reports)")
    args = ap.parse_args()
    set_threads(args.threads)
    if args.generalization:
        root = Path("experiments/generalization") if args.root == ap.get_default("root") else Path(args.root)
        runs = generalization_runs(root)
        what = "the generated files of scripts/generalization.sh (one run per model and file)"
    else:
        root = Path(args.root)
        runs = shared_file_runs(root, args.seeds)
        what = f"shared DATE-schema file, seeds {','.join(map(str, args.seeds))}"
    out = Path(args.out) if args.out else root / "revenue_compare"
    missing = [str(p) for m in runs.values() for r in m.values() for p in r.folders if not (Path(p) / "DONE").exists()]
    if missing or not runs:
        raise SystemExit(f"runs not done (bacuda-bench date_synthetic / scripts/generalization.sh): {missing[:4]}")
    intervals, curves = compare_revenue(runs, PAIRS, n_boot=args.n_boot, threads=args.threads)
    intervals.to_csv(f"{out}.csv", index=False, float_format="%.6g")
    curves.to_csv(f"{out}_tradeoff.csv", index=False, float_format="%.6g")
    flag = " --generalization" if args.generalization else ""
    text = [summary_markdown(curves), interval_markdown(intervals, f"Revenue and precision differences, with 95 % paired-bootstrap "
                              f"intervals ({what})"), NOTE,
            "", f"generated by `python scripts/revenue_compare.py{flag} --threads {args.threads}` "
            f"(every run's test metrics checked equal to its report; {args.n_boot} resamples)", ""]
    Path(f"{out}.md").write_text("\n".join(text), encoding="utf-8")
    plot_tradeoff(curves, f"{out}.png", f"Precision@n vs revenue@n, n = 1..20 % ({what}; test split)")
    print(Path(f"{out}.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
