"""``bacuda-bench``: run a benchmark suite (models x datasets x seeds), resumably; check a report.

    bacuda-bench --list                                # the suites in conf/bench/
    bacuda-bench date_synthetic --dry-run              # the runs, and which are done already
    bacuda-bench date_synthetic                        # run what is not done (same config + data => skipped;
                                                       #   code is not compared: --force after a code change)
    bacuda-bench suite=date_synthetic --group baselines --seeds 0 1
    bacuda-bench date_synthetic --force --root /tmp/fresh   # re-run all into /tmp/fresh/experiments/...
    bacuda-bench --check experiments/date_synthetic/baselines/xgboost-reference-s0/report.json
    bacuda-bench --compare experiments/date_synthetic/baselines /tmp/fresh/experiments/date_synthetic/baselines

Each run writes ``report.json`` + ``DONE`` (and ``train.log``) into the folder the suite names.
``--check`` re-runs a report's recorded config (recorded seed and thread count, fresh cache) and
compares every metric exactly; it exits 1 on any difference. Tables: ``scripts/make_table.py``.
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-bench")

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bacuda-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", nargs="?", help="suite name in conf/bench/ (or suite=NAME, or a YAML path)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status; run nothing")
    p.add_argument("--force", action="store_true", help="re-run finished runs too")
    p.add_argument("--root", default=None, help="folder the suite's run paths are relative to (default: the repository)")
    p.add_argument("--group", nargs="+", default=None, help="only these groups of the suite")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="only these seeds")
    p.add_argument("--keep-going", action="store_true", help="continue after a failed run (exit 1 at the end)")
    p.add_argument("--check", nargs="+", metavar="REPORT", default=None,
                   help="re-run these report.json files (or run folders) and compare every metric exactly")
    p.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE",
                   help="with --check: change the recorded config (e.g. data.path=... on another machine)")
    p.add_argument("--reuse-cache", action="store_true",
                   help="with --check: reuse cached data/XGBoost stages instead of a fresh cache")
    p.add_argument("--compare", nargs=2, metavar=("RECORDED", "OTHER"),
                   help="compare every metric of the finished runs under OTHER with the runs at the same relative "
                        "paths under RECORDED (exit 1 on any difference)")
    p.add_argument("--list", action="store_true", help="list the suites")
    return p


def _quiet() -> None:
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] %(message)s",
                        datefmt="%H:%M:%S")


def _check(args: argparse.Namespace) -> int:
    from bacuda_research.bench.suites import check_report

    failed = 0
    for item in args.check:
        res = check_report(item, overrides=args.override, reuse_cache=args.reuse_cache)
        for n in res.notes:
            print(f"note: {res.report}: {n}")
        if res.ok:
            print(f"OK {res.report}: every metric equal ({res.seconds:.1f} s)")
        else:
            failed += 1
            print(f"DIFFERENT {res.report} ({len(res.differences)} differences, {res.seconds:.1f} s):")
            for d in res.differences:
                print(f"  {d}")
    print(f"checked {len(args.check)} report(s): {len(args.check) - failed} equal, {failed} different")
    return 1 if failed else 0


def _compare(args: argparse.Namespace) -> int:
    from bacuda_research.bench.suites import compare_trees

    out = compare_trees(*args.compare)
    bad = {k: v for k, v in out.items() if v}
    for k, v in bad.items():
        print(f"DIFFERENT {k}:")
        for d in v:
            print(f"  {d}")
    print(f"compared {len(out)} run(s) of {args.compare[1]} with {args.compare[0]}: "
          f"{len(out) - len(bad)} with every metric equal, {len(bad)} different")
    return 1 if bad or not out else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        from bacuda_research.bench.suites import suite_names

        print("\n".join(suite_names()))
        return 0
    _quiet()
    if args.check:
        return _check(args)
    if args.compare:
        return _compare(args)
    if not args.suite:
        _parser().error("name a suite (see --list), or use --check / --compare")

    from bacuda_research.bench.suites import execute, load_suite, plan, resolve_statuses
    from bacuda_research.core.paths import project_dir

    name = args.suite.split("=", 1)[1] if args.suite.startswith("suite=") else args.suite
    root = Path(args.root) if args.root else project_dir()
    try:
        suite = load_suite(name)
        runs = plan(suite, root=root, groups=args.group, seeds=args.seeds)
    except (FileNotFoundError, ValueError) as e:
        print(f"bacuda-bench: {e}", file=sys.stderr)
        return 2
    resolve_statuses(runs, force=args.force)
    todo = [r for r in runs if r.status != "done"]
    for r in runs:
        rel = os.path.relpath(r.run_dir, root)
        print(f"{r.status:8s} {rel}  [{' '.join(r.overrides)}]" + (f"  ({r.reason})" if r.reason and r.status == "changed" else ""))
    print(f"suite {suite.name}: {len(runs)} runs, {len(runs) - len(todo)} done, {len(todo)} to run")
    if args.dry_run or not todo:
        return 0

    t0, failed = time.perf_counter(), []
    for i, r in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {os.path.relpath(r.run_dir, root)}", flush=True)
        try:
            t = time.perf_counter()
            execute(r)
            print(f"[{i}/{len(todo)}] done in {time.perf_counter() - t:.1f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - reported, then re-raised or counted
            if not args.keep_going:
                raise
            logging.getLogger("bacuda_research").exception("run failed: %s", r.run_dir)
            failed.append((r, e))
    print(f"suite {suite.name}: ran {len(todo) - len(failed)} of {len(todo)} in {time.perf_counter() - t0:.1f} s")
    for r, e in failed:
        print(f"FAILED {r.run_dir}: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
