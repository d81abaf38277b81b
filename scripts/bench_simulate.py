#!/usr/bin/env python
"""Simulation speed benchmark: wall time of a whole ``bacuda-simulate`` run and its phases.

    python scripts/bench_simulate.py                                  # 50-week xgboost, 2 threads
    python scripts/bench_simulate.py strategy=date date_fit.warm_start=true --out experiments/benchmarks/sim_date_warm.json
    python scripts/bench_simulate.py --threads 1 strategy=random plan=constant

Runs in a fresh temporary folder (nothing resumed) on data=date_synthetic with the fast-linear
100% -> 10% plan unless overridden, and reports the wall time, the weeks simulated, and the sum of
each phase over the weeks (features, fit, select, evaluate; ``timings.csv``). Numbers depend on the
machine and its load: say which when you quote one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weeks", type=int, default=50)
    ap.add_argument("--out", default=None, help="write the result as JSON (atomically)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of conf/simulate.yaml")
    args = ap.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")

    import pandas as pd

    from bacuda_research.core.config import compose
    from bacuda_research.core.runtime import cpu_model
    from bacuda_research.simulation.app import simulate

    overrides = ["data=date_synthetic", "strategy=xgboost", "plan=fast_linear", f"threads={args.threads}",
                 f"simulation.weeks={args.weeks}", "simulation.plots=false", *args.overrides]
    cfg = compose(overrides, config_name="simulate")
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as tmp:
        t0 = time.perf_counter()
        record = simulate(cfg, Path(tmp) / "run")
        wall = time.perf_counter() - t0
        phases = pd.read_csv(Path(tmp) / "run" / "timings.csv").drop(columns="week").sum().round(2).to_dict()
    out = {
        "command": "python scripts/bench_simulate.py " + " ".join(args.overrides) + f" --threads {args.threads}",
        "overrides": overrides, "wall_time_s": round(wall, 2), "weeks": record["summary"].get("weeks"),
        "phases_s": phases, "threads": args.threads, "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
        "load_average_at_end": os.getloadavg(),
        "norm_precision@last13": record["summary"].get("norm_precision@last13"),
    }
    print(json.dumps(out, indent=2))
    if args.out:
        from bacuda_research.core.io import write_json

        write_json(args.out, out)


if __name__ == "__main__":
    main()
