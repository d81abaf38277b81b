#!/usr/bin/env python
"""Would DATE_REV rank better by expected revenue? A validation-split check, for the next DATE change.

Revenue@n% counts recovered revenue in currency units, so the ranking that maximises it in
expectation is by E[revenue] = P(illicit) x E[revenue | illicit]. DATE's revenue head, trained
with MSE on normalised log revenue (the paper's loss), estimates E[log1p(revenue)] instead, and so
does the `xgb_revenue` baseline. This script takes trained DATE runs (folders with report.json and
checkpoints/best.ckpt, e.g. from `scripts/generalization.sh`) and, on their VALIDATION split only,
compares Revenue@1/2/5/10% of these rankings:

- `revenue head`: the run's revenue head (the paper's DATE_REV; `model.revenue_ranking=head`);
- `run's DATE_REV`: for runs with `model.revenue_ranking=expected`, what the run ranks DATE_REV by;
- `xgb_revenue`: an XGBoost regressor on log1p(revenue) over all training rows (the baseline's
  settings: 300 trees, depth 6, learning rate 0.05);
- `p x cond_raw`: DATE's illicit probability x an XGBoost regressor of revenue (currency units)
  fitted on the illicit training rows only (same settings);
- `p x expm1(cond_log)`: the same with the conditional regressor on log1p(revenue);
- `p x expm1(network)`: for runs with `model.net.revenue_head=hurdle`, DATE's probability x the
  network's own conditional revenue (no extra booster).

    python scripts/expected_revenue_check.py experiments/generalization/gen1{1,2,3,4}/date_head \\
        --out experiments/generalization/expected_revenue_valid

Nothing here looks at the test split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PERCENTS = (1, 2, 5, 10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="DATE run folders (report.json, checkpoints/best.ckpt)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="write <out>.md and <out>.json (atomically)")
    args = ap.parse_args()

    import xgboost as xgb
    from omegaconf import OmegaConf

    from bacuda_research.fraud.task import build_datamodule
    from bacuda_research.metrics.selection import top_percent_metrics
    from bacuda_research.fraud.predictor import DATEPredictor

    params = dict(n_estimators=300, max_depth=6, learning_rate=0.05, tree_method="hist",
                  nthread=args.threads, random_state=0)
    results = []
    for run in map(Path, args.runs):
        report = json.loads((run / "report.json").read_text())
        cfg = OmegaConf.create(report["config"])
        dm = build_datamodule(cfg)
        dm.setup()
        train, valid = dm.splits["train"], dm.splits["valid"]
        out = DATEPredictor.from_run(run / "checkpoints" / "best.ckpt").predict(valid.frame)
        p = out["prob"]
        illicit = train.illicit == 1
        log_all = xgb.XGBRegressor(**params).fit(train.X, np.log1p(train.revenue)).predict(valid.X)
        cond_raw = xgb.XGBRegressor(**params).fit(train.X[illicit], train.revenue[illicit]).predict(valid.X)
        cond_log = xgb.XGBRegressor(**params).fit(train.X[illicit], np.log1p(train.revenue[illicit])).predict(valid.X)
        rankings = {"revenue head": out["rev_head"], "xgb_revenue": log_all, "p x cond_raw": p * cond_raw,
                    "p x expm1(cond_log)": p * np.expm1(cond_log)}
        if cfg.model.get("revenue_ranking", "head") == "expected":
            rankings["run's DATE_REV"] = out["rev_score"]
        if cfg.model.net.get("revenue_head") == "hurdle":
            network_cond = out["rev_head"] / np.maximum(p, 1e-12)
            scale = DATEPredictor.from_run(run / "checkpoints" / "best.ckpt").revenue_scale
            rankings["p x expm1(network)"] = p * np.expm1(network_cond * scale)
        for name, score in rankings.items():
            m = top_percent_metrics(score, valid.illicit, valid.revenue, PERCENTS)
            results.append({"run": str(run), "data": Path(str(cfg.data.path)).name, "ranking": name,
                            **{f"val/revenue@{k}": round(m[f"revenue@{k}"], 4) for k in PERCENTS}})
            print(results[-1], flush=True)

    lines = ["| run | ranking | " + " | ".join(f"val Revenue@{k}%" for k in PERCENTS) + " |",
             "|---|---|" + "---:|" * len(PERCENTS)]
    lines += [f"| {r['run']} | {r['ranking']} | " + " | ".join(f"{r[f'val/revenue@{k}']:.3f}" for k in PERCENTS) + " |"
              for r in results]
    table = "\n".join(lines)
    print(table)
    if args.out:
        from bacuda_research.core.io import write_json, write_text

        cmd = "python scripts/expected_revenue_check.py " + " ".join(args.runs)
        write_text(f"{args.out}.md", "## DATE_REV rankings on the validation split (never test)\n\n"
                   + table + f"\n\nGenerated by `{cmd} --out {args.out}`.\n")
        write_json(f"{args.out}.json", results)


if __name__ == "__main__":
    main()
