"""End-to-end throughput of ``bacuda-score`` (load + verify the bundle, read + validate the file,
features, XGBoost leaves, ONNX network, explanations, write the output), in this process.

    bacuda-export RUN /tmp/bench/bundle
    python scripts/bench_score_cli.py /tmp/bench/bundle --threads 1 --repeat 3 --out /tmp/bench/after.json
    PYTHONPATH=/path/to/other/checkout python scripts/bench_score_cli.py ...   # the same on other code

Input: the shared DATE file (100,000 declarations; ``--input`` for another). What this measures
is what a user waits for, so it includes the checks ``bacuda-score`` runs on untrusted input
(bundle verification, booster checks, value bounds, overwrite checks, CSV escaping, the sidecar).
Every figure is the median of ``--repeat`` runs after one warm-up; wall and CPU seconds both go
into the JSON with the load average before and after (other processes make figures low).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bundle", help="a DATE bundle folder (bacuda-export)")
    p.add_argument("--input", default=None, help="declarations file (default: the shared 100k DATE file)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--out", default=None, help="write the figures here as JSON")
    args = p.parse_args(argv)

    import bacuda_research
    from bacuda_research.cli.score import main as score

    src = args.input
    if src is None:
        from bacuda_research.core.paths import shared_path

        src = str(shared_path("data/date-synthetic/surrogate-imports-declarations.csv"))
    rows = sum(1 for _ in open(src, encoding="utf-8")) - 1
    load_before = os.getloadavg()
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "scores.csv")
        for i in range(args.repeat + 1):
            t, c = time.perf_counter(), time.process_time()
            rc = score([args.bundle, src, out, "--threads", str(args.threads), "--top-k", str(args.top_k)])
            if rc != 0:
                print(f"bacuda-score failed (exit {rc})", file=sys.stderr)
                return 1
            if i:  # the first run is a warm-up
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    result = {"code": str(Path(bacuda_research.__file__).parent), "input": src, "rows": rows,
              "threads": args.threads, "repeat": args.repeat, "top_k": args.top_k,
              "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "rows_per_s": round(rows / wall, 1),
              "rows_per_cpu_s": round(rows / cpu, 1), "walls": [round(w, 3) for w in walls],
              "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
